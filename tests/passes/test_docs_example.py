"""docs/writing-a-pass.md holds a complete worked example: extract its code blocks and run them,
so the document cannot drift from the API."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from tfc.passes import base

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-pass.md"


def test_writing_a_pass_example_runs(monkeypatch, capsys):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # the example's pass goes away after
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 2, f"expected the example's code blocks in {DOC}"
    module = types.ModuleType("writing_a_pass_example")   # dataclasses look their module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), module.__dict__)
    assert "merge-relus" in base._REGISTRY
    assert "clip(" in capsys.readouterr().out
