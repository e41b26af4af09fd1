"""The reference interpreter: runs any IR graph with the ops' numpy references.

Float ops read integer tensors that carry QuantParams as reals (dequantized), and a float value
that carries QuantParams is rounded onto its grid (fake quantization), which is exactly how
onnxruntime evaluates QDQ graphs. Data-movement ops work on the stored integers.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from tfc.errors import ShapeError, TfcError
from tfc.ir.graph import Graph, Value
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.kernels import kernels_for, select


def _as_real(array: np.ndarray, value: Value) -> np.ndarray:
    if value.quant is not None and not value.dtype.is_float:
        return dequantize_array(array, value.quant)
    return array


def _fake_quant(array: np.ndarray, value: Value) -> np.ndarray:
    q = value.quant
    return dequantize_array(quantize_array(array, q, q.storage), q)


def bind_inputs(graph: Graph, inputs) -> dict[int, np.ndarray]:
    """Map user inputs (a list in graph order, or a dict by input name) to the graph inputs."""
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise TfcError(f"missing input(s) {missing}", hint=f"inputs are {[v.name for v in graph.inputs]}")
        arrays = [inputs[v.name] for v in graph.inputs]
    else:
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(arrays) != len(graph.inputs):
        raise TfcError(f"graph takes {len(graph.inputs)} input(s), got {len(arrays)}")
    env = {}
    for value, array in zip(graph.inputs, arrays):
        array = np.asarray(array)
        if tuple(array.shape) != value.shape:
            raise ShapeError(f"input {value.name}: expected shape {list(value.shape)}, got {list(array.shape)}")
        array = array.astype(value.dtype.numpy, copy=False)
        # A float input carrying QuantParams is rounded onto its grid on entry, as the int8 API
        # quantizes it (canonicalize may move a rounding from after a transpose onto the input).
        env[id(value)] = _fake_quant(array, value) if value.quant is not None and value.dtype.is_float else array
    return env


def run(graph: Graph, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray] | np.ndarray,
        *, keep: bool = False) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Run `graph` on `inputs`; returns the outputs in order, or every value by name if `keep`."""
    env = bind_inputs(graph, inputs)
    for value in graph.constants.values():
        env[id(value)] = value.data
    for node in graph.nodes:
        results = eval_node(node, [env[id(v)] for v in node.inputs])
        for value, result in zip(node.outputs, results):
            env[id(value)] = result
    if keep:
        return {v.name: env[id(v)] for v in graph.values()}
    return [env[id(v)] for v in graph.outputs]


def eval_node(node, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One node's outputs from its input arrays, with the interpreter's quantization rules.

    Constant folding uses this too, so a folded constant holds exactly what `run` computes."""
    spec = node.spec
    # Integer kernels are for quantized tensors; plain integer arithmetic (an ONNX int8 Add with
    # no scale, int64 shape math) keeps numpy's integer semantics through the float reference.
    integer_kernel = bool(kernels_for(node.op)) and all(
        not v.dtype.is_float for v in node.inputs + node.outputs) and all(
        v.quant is not None for v in (node.inputs[0], node.outputs[0]))
    if integer_kernel:
        results = select(node).evaluate(node, list(args))
    else:
        if not spec.moves_data:
            args = [_as_real(a, v) for a, v in zip(args, node.inputs)]
        results = spec.reference(node, list(args))
    out = []
    for value, result in zip(node.outputs, results):
        result = np.asarray(result)
        if result.shape != value.shape:
            raise TfcError(f"reference produced shape {list(result.shape)} for {value.ref} "
                           f"typed {value.type}", node=node.name, op=node.op)
        if value.quant is not None and value.dtype.is_float:
            result = _fake_quant(result, value)
        out.append(result.astype(value.dtype.numpy, copy=False))
    return out
