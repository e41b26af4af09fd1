"""Pipelines as plain data: text like `canonicalize,sparsify{block=4},fuse` <-> pass instances.

Grammar: passes separated by commas; each is a kebab-case name, optionally followed by
`{key=value, ...}` where a value is an integer, a float, true/false, a bare word or a "quoted
string", or a [list, of, values]. Values are coerced to the types the pass's Options declare.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

from tfc.errors import TfcError
from tfc.passes.base import Pass, get_pass, registered_passes

# The order DESIGN.md fixes, as (pass, options); `default_pipeline()` keeps the ones registered
# so far. `fuse` runs twice, for two different jobs (see default_pipeline).
DEFAULT_STAGES = (("canonicalize", {}), ("fuse", {"residual": False}), ("sparsify", {}),
                  ("quantize-int8", {}), ("fuse", {}), ("tile", {}), ("plan-memory", {}))
DESIGN_ORDER = tuple(name for name, _ in DEFAULT_STAGES)

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+))
  | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<punct>[{}\[\],=])
""", re.VERBOSE)


def default_pipeline() -> list[Pass]:
    """canonicalize, fuse{residual=false}, sparsify, quantize-int8, fuse, tile, plan-memory: those
    registered, in that order.

    `fuse` runs before quantization as well as after it. Before: composite ops that exporters
    decompose (GELU from Erf, LayerNorm from ReduceMean/Sub/Pow/Sqrt/Div, attention's scaled
    MatMuls) must be whole ops when quantize-int8 calibrates and lowers them: the int8 kernels
    exist for the composites (a GELU table, the integer LayerNorm, batch_matmul with the scale in
    its multiplier), not for Erf or a Div by sqrt(2), and calibration should observe only the
    tensors the kernels really write. After: the rules that need the int8 grids (activations
    into their producer's clamp, the residual Add into a conv with its mid grid), so the first
    run leaves the residual rule off.
    """
    registered = registered_passes()
    return [registered[name](**options) for name, options in DEFAULT_STAGES if name in registered]


def parse_pipeline(spec: str | Sequence[str | Pass] | None) -> list[Pass]:
    """Pass instances from pipeline text, or from a list of names, pipeline texts and instances."""
    if spec is None:
        return default_pipeline()
    if isinstance(spec, str):
        return _parse_text(spec)
    passes: list[Pass] = []
    for item in spec:
        if isinstance(item, Pass):
            passes.append(item)
        elif isinstance(item, type) and issubclass(item, Pass):
            passes.append(item())
        elif isinstance(item, str):
            passes.extend(_parse_text(item))
        else:
            raise TfcError(f"a pipeline entry must be a pass name or a Pass instance, got {item!r}")
    return passes


def format_pipeline(passes: Sequence[Pass]) -> str:
    return ",".join(p.spec for p in passes)


def format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", value) and value not in (
            "true", "false", "none") else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_option(v) for v in value) + "]"
    return json.dumps(str(value))


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.items: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(f"unexpected character {text[pos]!r}", pos)
            if m.lastgroup != "ws":
                self.items.append((m.lastgroup, m.group(), pos))
            pos = m.end()
        self.i = 0

    def fail(self, message: str, pos: int | None = None):
        if pos is None:
            pos = self.items[self.i][2] if self.i < len(self.items) else len(self.text)
        raise TfcError(f"bad pipeline {self.text!r} at column {pos + 1}: {message}",
                       hint="write it like: canonicalize,sparsify{block=4},quantize-int8")

    def peek(self, value: str | None = None) -> bool:
        return self.i < len(self.items) and (value is None or self.items[self.i][1] == value)

    def next(self, kind: str | None = None, what: str = "") -> str:
        if self.i >= len(self.items):
            self.fail(f"expected {what or kind or 'more'}, got the end")
        k, v, _ = self.items[self.i]
        if kind and k != kind:
            self.fail(f"expected {what or kind}, got {v!r}")
        self.i += 1
        return v

    def value(self) -> Any:
        if self.peek("["):
            self.next()
            items = []
            while not self.peek("]"):
                items.append(self.value())
                if not self.peek("]"):
                    if self.next() != ",":
                        self.i -= 1
                        self.fail("expected ',' or ']'")
            self.next()
            return items
        kind, text = (self.items[self.i][0], self.items[self.i][1]) if self.peek() else (None, None)
        if kind is None or kind == "punct":
            self.fail("expected a value")
        self.next()
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        return {"true": True, "false": False, "none": None}.get(text, text)


def _parse_text(text: str) -> list[Pass]:
    reader = _Reader(text)
    passes: list[Pass] = []
    if not reader.peek():
        return passes
    while True:
        name = reader.next("word", "a pass name")
        options: dict[str, Any] = {}
        if reader.peek("{"):
            reader.next()
            while not reader.peek("}"):
                if not reader.peek():
                    reader.fail(f"missing '}}' after the options of {name}")
                key = reader.next("word", "an option name")
                if key in options:
                    reader.fail(f"option {key} given twice")
                if reader.next() != "=":
                    reader.i -= 1
                    reader.fail("expected '=' after the option name")
                options[key] = reader.value()
                if not reader.peek():
                    reader.fail(f"missing '}}' after the options of {name}")
                if not reader.peek("}"):
                    if reader.next() != ",":
                        reader.i -= 1
                        reader.fail("expected ',' or '}'")
            reader.next()
        passes.append(get_pass(name)(**options))
        if not reader.peek():
            return passes
        if reader.next() != ",":
            reader.i -= 1
            reader.fail("expected ',' between passes")
