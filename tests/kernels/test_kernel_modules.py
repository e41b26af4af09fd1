"""A kernel is one module of tfc.kernels: importing the package registers every module there, and
the C backend serves a kernel's inline template under its template name."""
from __future__ import annotations

import pkgutil

import pytest

import tfc.kernels
from tfc.backends.cmsis import emit
from tfc.kernels import Kernel, registered_kernels


def test_every_kernel_module_is_imported_and_registers_kernels():
    modules = {f"tfc.kernels.{m.name}" for m in pkgutil.iter_modules(tfc.kernels.__path__)
               if m.name not in tfc.kernels._MACHINERY}
    registering = {type(k).__module__ for k in registered_kernels()}
    assert registering == modules


class _Inline(Kernel):
    name = "inline_probe"
    ops = ()
    template_source = ('{% import "_macros.j2" as m %}{% macro data(layer) %}{% endmacro %}'
                       '{% macro call(layer) %}probe({{ m.at(layer.output) }});{% endmacro %}')


def test_inline_template_is_served_with_the_shared_macros(monkeypatch):
    monkeypatch.setattr(emit, "registered_kernels", lambda: (_Inline(),))
    template = emit.environment().get_template("kernels/inline_probe.c.j2")

    class Layer:
        class output:
            offset = 48
    assert template.module.call(Layer).strip() == "probe(arena + 48);"


def test_inline_template_may_not_hide_a_template_file(monkeypatch):
    class Shadow(_Inline):
        name = "gather"
    monkeypatch.setattr(emit, "registered_kernels", lambda: (Shadow(),))
    with pytest.raises(ValueError, match="would hide"):
        emit.environment()
