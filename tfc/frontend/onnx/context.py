"""The import context: maps ONNX tensor names to IR values and constants while nodes convert.

Initializers stay plain arrays until a node reads them, so a converter can store a weight in the
layout tfc wants (OIHW -> OHWI) without leaving the original behind. `DequantizeLinear` of an
integer initializer is kept pending the same way: materialized as `dequantize(@int_const)` on
first use, or transposed first when it is a conv weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tfc.errors import TfcError, UnsupportedError
from tfc.frontend.onnx.registry import OnnxNode
from tfc.ir.graph import Graph, Value, sanitize_name
from tfc.ir.ops import get_op
from tfc.ir.types import QuantParams


@dataclass
class PendingDequantize:
    """DequantizeLinear of an integer initializer, not yet placed in the graph."""

    data: np.ndarray
    quant: QuantParams
    const_name: str
    node_name: str


class ImportContext:
    def __init__(self, graph: Graph, file: str, opset: int):
        self.graph = graph
        self.file = file
        self.opset = opset
        self.node: OnnxNode | None = None          # the ONNX node being converted
        self._values: dict[str, Value] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._pending: dict[str, PendingDequantize] = {}
        self._weights: dict[tuple[str, tuple[int, ...]], Value] = {}

    # ---- errors ------------------------------------------------------------------------
    def error(self, cls: type[TfcError], message: str, hint: str | None = None) -> TfcError:
        node = self.node
        return cls(message, file=self.file, node=node.onnx_name or node.name if node else None,
                   op=node.op_type if node else None, hint=hint)

    def unsupported(self, message: str, hint: str | None = None) -> UnsupportedError:
        return self.error(UnsupportedError, message, hint)

    # ---- lookup ------------------------------------------------------------------------
    def is_defined(self, name: str) -> bool:
        return name in self._values or name in self._arrays or name in self._pending

    def const(self, name: str) -> np.ndarray | None:
        """The constant contents of tensor `name`, or None when it is computed at run time."""
        if name in self._arrays:
            return self._arrays[name]
        value = self._values.get(name)
        if value is not None and value.is_constant and value.quant is None:
            return value.data
        return None

    def require_const(self, name: str, what: str) -> np.ndarray:
        """The constant contents of `name`, where a parameter must be one (shapes, axes, pads...):
        also evaluates a small subgraph of constants that import left in the graph, such as
        the DequantizeLinear of an integer constant an onnxruntime-quantized Pad value passes
        through, or a QuantizeLinear/DequantizeLinear pair around a constant."""
        array = self.folded_const(name)
        if array is None:
            raise self.unsupported(f"{what} ('{name}') must be a constant, but it is computed at run time",
                                   hint="tfc needs static shapes and parameters; fold them in the "
                                        "exporter (e.g. onnxsim, or torch.onnx.export with constant folding)")
        return array

    def require_ints(self, name: str, what: str) -> np.ndarray:
        """A constant that ONNX types as integers (shapes, axes, pads, slice bounds); a float one
        (NaN, say) is refused here rather than misread by int()."""
        array = self.require_const(name, what)
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise self.unsupported(f"{what} ('{name}') must hold integers (ONNX types it int64), "
                                   f"but it is {array.dtype}", hint="the model is not valid ONNX; re-export it")
        return array

    def folded_const(self, name: str) -> np.ndarray | None:
        """const(name), or the reals a subgraph of constants computes (None if it reads an input)."""
        array = self.const(name)
        if array is not None:
            return array
        if name in self._pending and name not in self._values:
            p = self._pending[name]
            from tfc.ir.ops.quant import dequantize_array
            return dequantize_array(p.data, p.quant)
        value = self._values.get(name)
        data = None if value is None else _constant_data(value)
        if data is not None and value.quant is not None and not value.dtype.is_float:
            from tfc.ir.ops.quant import dequantize_array
            data = dequantize_array(data, value.quant)    # an integer tensor: its reals
        return data

    def shape_of(self, name: str) -> tuple[int, ...]:
        if name in self._pending and name not in self._values:
            return tuple(self._pending[name].data.shape)
        array = self.const(name)
        return tuple(array.shape) if array is not None else self.value(name).shape

    def value(self, name: str) -> Value:
        """The IR value of tensor `name`, placing a pending constant in the graph if needed."""
        if name in self._values:
            return self._values[name]
        if name in self._arrays:
            value = self.graph.add_constant(name, self._arrays[name])
        elif name in self._pending:
            p = self._pending[name]
            const = self.graph.add_constant(p.const_name, p.data, quant=p.quant)
            value = self.graph.add_node("dequantize", [const], name=p.node_name, output_names=[name]).output
        else:
            raise self.error(TfcError, f"input '{name}' is not defined by any node, initializer or graph input",
                             hint="the model is malformed: an initializer is missing or a node refers to "
                                  "a tensor nobody produces; re-export it")
        self._values[name] = value
        return value

    def values(self, names: Sequence[str]) -> list[Value]:
        return [self.value(n) for n in names if n]

    def weight(self, name: str, perm: Sequence[int]) -> Value:
        """Tensor `name` transposed by `perm`, done on the stored data when it is a constant
        (a float initializer, or the integer initializer under a DequantizeLinear)."""
        perm = tuple(perm)
        key = (name, perm)
        if key in self._weights:
            return self._weights[key]
        if name in self._pending:
            p = self._pending[name]
            q = p.quant
            if q.axis is not None:
                q = QuantParams(q.scale, q.zero_point, perm.index(q.axis), q.storage)
            const = self.graph.add_constant(p.const_name, p.data.transpose(perm), quant=q)
            value = self.graph.add_node("dequantize", [const], name=p.node_name, output_names=[name]).output
        elif self.const(name) is not None:
            value = self.graph.add_constant(name, self.const(name).transpose(perm))
        else:
            value = self.emit("transpose", [self.value(name)], {"perm": list(perm)},
                              name=f"{self.node.name}_{sanitize_name(name)}_t")[0]
        self._weights[key] = value
        return value

    # ---- definition --------------------------------------------------------------------
    def define(self, name: str, value: Value) -> None:
        self._values[name] = value

    def set_const(self, name: str, array: np.ndarray) -> None:
        self._arrays[name] = np.require(array, requirements="C")

    def set_pending_dequantize(self, name: str, pending: PendingDequantize) -> None:
        self._pending[name] = pending

    def alias_pending(self, source: str, target: str) -> bool:
        """Make `target` its own pending DequantizeLinear of `source`'s integers, if `source` is
        one: an exporter's Identity of a shared initializer (torch merges identical zero biases)
        then gives each layer its own constant, which onnxruntime may quantize differently."""
        p = self._pending.get(source)
        if p is None or source in self._values:
            return False
        self._pending[target] = PendingDequantize(p.data, p.quant, p.const_name, sanitize_name(target))
        return True

    def emit(self, op: str, inputs: Sequence[Value], attrs: dict | None = None, *,
             outputs: Sequence[str] | str | None = None, name: str | None = None,
             fold: bool = True) -> list[Value]:
        """Add an IR node; ONNX `outputs` name its results (internal values get fresh names).

        When every input is a constant the node is evaluated with the op's reference and its
        results become constants: import needs static shapes, e.g. Shape->Gather->Concat->Reshape.
        """
        if isinstance(outputs, str):
            outputs = [outputs]
        name = name or self.node.name
        names = list(outputs) if outputs else [self.graph.fresh_name(name)]
        node = self.graph.add_node(op, list(inputs), attrs or {}, name=name, output_names=names)
        if fold and inputs and all(v.is_constant for v in inputs) and not get_op(op).quant_boundary:
            return self._fold(node, outputs)
        if outputs:
            for onnx_name, value in zip(outputs, node.outputs):
                self._values[onnx_name] = value
        return node.outputs

    def _fold(self, node, outputs) -> list[Value]:
        from tfc.interp import eval_node     # the interpreter's rules, so folding == running
        results = eval_node(node, [v.data for v in node.inputs])
        types = [(v.type, v.quant) for v in node.outputs]
        self.graph.remove_node(node)
        values = []
        for i, (result, (t, quant)) in enumerate(zip(results, types)):
            array = np.asarray(result).astype(t.dtype.numpy, copy=False).reshape(t.shape)
            onnx_name = outputs[i] if outputs else None
            if onnx_name and quant is None:
                self.set_const(onnx_name, array)
                values.append(self.value(onnx_name))
            else:
                value = self.graph.add_constant(onnx_name or f"{node.name}_folded", array, quant=quant)
                if onnx_name:
                    self._values[onnx_name] = value
                values.append(value)
        return values


def _constant_data(value: Value, budget: int = 16) -> np.ndarray | None:
    """What `value` stores when it depends on constants only (at most `budget` nodes deep),
    computed with the interpreter's rules; None when it depends on a graph input."""
    if value.is_constant:
        return value.data
    node = value.producer
    if node is None or budget == 0:
        return None
    args = [_constant_data(v, budget - 1) for v in node.inputs]
    if any(a is None for a in args):
        return None
    from tfc.interp import eval_node
    return eval_node(node, args)[node.outputs.index(value)]
