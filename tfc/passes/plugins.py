"""Passes from the user's own code: `--plugin MODULE` and the `tfc.passes` entry-point group.

A plugin is a module that registers passes with `@register_pass` when it is imported. It comes
from `tfc compile --plugin MODULE` (a dotted name importable from sys.path or the current
directory, or the path of a .py file: `load_plugin`) or from an installed distribution that
lists it under the entry-point group `tfc.passes` (loaded once, the first time a pass is looked
up: `load_entry_points`). A plugin that fails to import, or that registers a name already taken,
is a TfcError naming the plugin. `pass_origin` says where each registered pass came from.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from tfc.errors import TfcError
from tfc.passes import base

ENTRY_POINT_GROUP = "tfc.passes"

_origins: dict[type, str] = {}        # pass class -> the plugin that registered it
_loaded: dict[str, ModuleType] = {}   # --plugin argument -> its module
_entry_points_loaded = False


def load_plugin(spec: str) -> ModuleType:
    """Import the plugin `spec` (a dotted module name, or the path of a .py file) so the passes it
    defines register. Loading the same plugin again does nothing."""
    if spec in _loaded:
        return _loaded[spec]
    is_path = spec.endswith(".py") or os.sep in spec or "/" in spec
    module = _register_from(f"plugin '{spec}'", lambda: _import_file(spec) if is_path else _import_name(spec))
    _loaded[spec] = module
    return module


def load_entry_points() -> None:
    """Import every plugin the installed distributions list under `tfc.passes`, once.

    An entry point names a module (`mypkg.passes`), which registers its passes on import, or a
    Pass subclass (`mypkg.passes:MyPass`), which is registered if it is not yet."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True    # before loading: a plugin may look passes up while importing
    try:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an unknown distribution"
            _register_from(f"entry point '{ep.name} = {ep.value}' of {dist} (group {ENTRY_POINT_GROUP})",
                           lambda ep=ep: _load_entry_point(ep))
    except TfcError:
        _entry_points_loaded = False   # report it again next time instead of running without it
        raise


def pass_origin(cls: type) -> str:
    """Where a registered pass class comes from: "built-in", the plugin, or its module."""
    if cls in _origins:
        return _origins[cls]
    if cls.__module__ == "tfc" or cls.__module__.startswith("tfc."):
        return "built-in"
    return f"module {cls.__module__}"


def _register_from(where: str, load):
    """Run `load()` (an import), turning its failures into TfcErrors naming `where` and recording
    `where` as the origin of the passes it registered."""
    base.registered_passes()   # the built-in passes first: they must not count as the plugin's
    before = dict(base._REGISTRY)
    try:
        loaded = load()
    except Exception as e:  # noqa: BLE001 - anything the plugin's own code raises while importing
        base._REGISTRY.clear()   # a half-imported plugin leaves none of its passes behind
        base._REGISTRY.update(before)
        if isinstance(e, TfcError):   # e.g. a pass name registered twice
            raise TfcError(f"{where}: {e.message}", file=e.file, node=e.node, op=e.op,
                           hint=e.hint or "rename the pass (names are global across tfc and plugins)") from e
        raise TfcError(f"{where} failed to import: {type(e).__name__}: {e}",
                       hint="fix the plugin; `tfc --debug ...` shows the traceback") from e
    added = [cls for name, cls in base._REGISTRY.items() if before.get(name) is not cls]
    for cls in added:
        _origins[cls] = where
    return loaded


def _import_name(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    # `tfc` run as a console script does not search the current directory; `python -m` does.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):  # not its imports
            raise TfcError(f"no module named '{e.name}' on sys.path or in {os.getcwd()}",
                           hint="give a dotted module name importable from here, or the path of a .py "
                                "file") from None
        raise


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).resolve()
    if not path.is_file():
        raise TfcError("no such file", hint="give the path of a .py file, or a module name")
    name = path.stem
    if not name.isidentifier():
        raise TfcError(f"'{name}' is not a valid module name",
                       hint="name the file like a Python module (letters, digits, underscores)")
    old = sys.modules.get(name)
    if old is not None:
        if getattr(old, "__file__", None) and Path(old.__file__).resolve() == path:
            return old
        raise TfcError(f"a module named '{name}' is already imported "
                       f"(from {getattr(old, '__file__', None) or 'a built-in'})",
                       hint="rename the plugin file")
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module   # dataclasses and typing look the module up while it runs
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_entry_point(ep) -> object:
    loaded = ep.load()
    if isinstance(loaded, type) and issubclass(loaded, base.Pass) \
            and base._REGISTRY.get(getattr(loaded, "name", None)) is not loaded:
        base.register_pass(loaded)
    return loaded
