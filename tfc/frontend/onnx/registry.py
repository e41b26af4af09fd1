"""The converter registry: one function per ONNX op type, `fn(ctx, node) -> None`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

_CONVERTERS: dict[str, Callable] = {}


@dataclass
class OnnxNode:
    """One ONNX node with its attributes decoded to Python values."""

    op_type: str
    name: str                      # the sanitized, unique IR node name
    onnx_name: str                 # as written in the model ('' if unnamed)
    inputs: list[str]              # '' marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, index: int) -> str:
        """The name of input `index`, or '' when it is omitted."""
        return self.inputs[index] if index < len(self.inputs) else ""

    def output(self, index: int) -> str:
        return self.outputs[index] if index < len(self.outputs) else ""


def converter(*op_types: str):
    """Register the decorated function as the converter of these ONNX op types."""
    def wrap(fn):
        for op_type in op_types:
            if op_type in _CONVERTERS:
                raise ValueError(f"ONNX op {op_type} has two converters")
            _CONVERTERS[op_type] = fn
        return fn
    return wrap


def get_converter(op_type: str) -> Callable | None:
    return _CONVERTERS.get(op_type)


def supported_ops() -> list[str]:
    return sorted(_CONVERTERS)
