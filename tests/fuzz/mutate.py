"""Mutations of ONNX models for the fuzzer: byte-level (the file) and structural (the graph).

Each mutation is a function (model bytes, rng) -> (mutated bytes, description); the description
says exactly what changed, so a failing case can be read without re-running it. Structural
mutations parse the model with onnx, change one thing a user's broken exporter or a corrupt file
could change, and serialize it again; all choices come from `rng`, so a case is reproducible from
(seed, index).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

Mutation = Callable[[bytes, np.random.Generator], tuple[bytes, str]]

_DIMS = [0, 1, 2, 3, 7, 64, 1000, 10**6, 2**20, 2**31, 2**40]
_ELEM_TYPES = [TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
               TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL]
_INTS = [0, -1, 1, 2, 3, 1000, 2**31 - 1, -2**31, 2**40]
_FLOATS = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e38, 1e-45, 0.0, 3.4e38]
_SCALES = [1e-45, 1e-38, 1e-30, 1e-12, 1e12, 1e30, 1e38, 0.0, -1.0, np.nan, np.inf]
_OPS = ["Relu", "Add", "Conv", "MatMul", "Reshape", "Softmax", "Transpose", "Identity", "AveragePool",
        "MaxPool", "Gemm", "Concat", "Sigmoid", "Mul", "Flatten", "GlobalAveragePool", "NoSuchOp"]


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


# ------------------------------------------------------------------------------------- bytes
def flip_bytes(data: bytes, rng) -> tuple[bytes, str]:
    b = bytearray(data)
    k = int(rng.integers(1, 17))
    at = sorted(int(i) for i in rng.integers(0, len(b), size=k))
    for i in at:
        b[i] ^= int(rng.integers(1, 256))
    return bytes(b), f"flip {k} byte(s) at {at[:6]}{'...' if k > 6 else ''}"


def truncate(data: bytes, rng) -> tuple[bytes, str]:
    n = int(rng.integers(0, len(data)))
    return data[:n], f"truncate to {n} of {len(data)} bytes"


def splice(data: bytes, rng) -> tuple[bytes, str]:
    """Delete a chunk, or insert random bytes, or duplicate a chunk."""
    i = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, 64))
    kind = _pick(rng, ["delete", "insert", "duplicate"])
    if kind == "delete":
        return data[:i] + data[i + n:], f"delete {n} bytes at {i}"
    if kind == "insert":
        return data[:i] + rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() + data[i:], f"insert {n} bytes at {i}"
    return data[:i + n] + data[i:i + n] + data[i + n:], f"duplicate {n} bytes at {i}"


BYTE_MUTATIONS: dict[str, Mutation] = {"flip_bytes": flip_bytes, "truncate": truncate, "splice": splice}


# ------------------------------------------------------------------------------- structural
def _structural(change: Callable[[onnx.ModelProto, np.random.Generator], str]) -> Mutation:
    def mutate(data: bytes, rng) -> tuple[bytes, str]:
        model = onnx.load_from_string(data)
        what = change(model, rng)
        return model.SerializeToString(), what
    mutate.__name__ = change.__name__
    return mutate


def _real_inputs(model):
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def input_dim(model, rng) -> str:
    inp = _pick(rng, _real_inputs(model))
    dims = inp.type.tensor_type.shape.dim
    k = int(rng.integers(len(dims)))
    value = _pick(rng, _DIMS)
    dims[k].Clear()
    dims[k].dim_value = value
    return f"input {inp.name} dim {k} = {value}"


def input_dtype(model, rng) -> str:
    inp = _pick(rng, _real_inputs(model))
    t = _pick(rng, _ELEM_TYPES)
    inp.type.tensor_type.elem_type = t
    return f"input {inp.name} elem_type = {TensorProto.DataType.Name(t)}"


def drop_outputs(model, rng) -> str:
    outs = model.graph.output
    if len(outs) > 1 and rng.random() < 0.5:
        k = int(rng.integers(len(outs)))
        name = outs[k].name
        del outs[k]
        return f"drop graph output {name}"
    del outs[:]
    return "drop every graph output"


def output_shape(model, rng) -> str:
    out = _pick(rng, list(model.graph.output))
    dims = out.type.tensor_type.shape.dim
    if not dims:
        return "output has no dims (no change)"
    k = int(rng.integers(len(dims)))
    value = _pick(rng, _DIMS[1:6])
    dims[k].Clear()
    dims[k].dim_value = value
    return f"output {out.name} declared dim {k} = {value}"


def drop_node(model, rng) -> str:
    k = int(rng.integers(len(model.graph.node)))
    node = model.graph.node[k]
    del model.graph.node[k]
    return f"drop node {node.name or k} ({node.op_type})"


def rewire(model, rng) -> str:
    names = [i.name for i in model.graph.input] + [o for n in model.graph.node for o in n.output]
    node = _pick(rng, [n for n in model.graph.node if n.input])
    k = int(rng.integers(len(node.input)))
    new = _pick(rng, names)
    node.input[k] = new
    return f"node {node.name} ({node.op_type}) input {k} = {new}"


def change_op(model, rng) -> str:
    node = _pick(rng, list(model.graph.node))
    old, new = node.op_type, _pick(rng, _OPS)
    node.op_type = new
    return f"node {node.name} op {old} -> {new}"


def attribute(model, rng) -> str:
    nodes = [n for n in model.graph.node if any(a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS,
                                                           onnx.AttributeProto.FLOAT) for a in n.attribute)]
    if not nodes:
        return "no int attributes (no change)"
    node = _pick(rng, nodes)
    attr = _pick(rng, [a for a in node.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS,
                                                                onnx.AttributeProto.FLOAT)])
    if attr.type == onnx.AttributeProto.INT:
        attr.i = _pick(rng, _INTS[:8])
        return f"node {node.name} {attr.name} = {attr.i}"
    if attr.type == onnx.AttributeProto.FLOAT:
        attr.f = float(_pick(rng, _FLOATS))
        return f"node {node.name} {attr.name} = {attr.f}"
    if not attr.ints:
        return f"node {node.name} {attr.name} empty (no change)"
    k = int(rng.integers(len(attr.ints)))
    attr.ints[k] = _pick(rng, _INTS[:8])
    return f"node {node.name} {attr.name}[{k}] = {attr.ints[k]}"


def _set_initializer(model, k, array):
    name = model.graph.initializer[k].name
    model.graph.initializer[k].CopyFrom(numpy_helper.from_array(array, name))


def initializer_values(model, rng) -> str:
    inits = [k for k, t in enumerate(model.graph.initializer) if numpy_helper.to_array(t).size]
    k = _pick(rng, inits)
    a = numpy_helper.to_array(model.graph.initializer[k]).copy()
    flat = a.reshape(-1)
    n = int(rng.integers(1, min(flat.size, 8) + 1))
    at = rng.integers(0, flat.size, size=n)
    if np.issubdtype(a.dtype, np.floating):
        value = _pick(rng, _FLOATS)
    else:
        info = np.iinfo(a.dtype) if np.issubdtype(a.dtype, np.integer) else None
        value = _pick(rng, [info.max, info.min, 0, -1, 1]) if info else 1
    flat[at] = value
    _set_initializer(model, k, a)
    return f"initializer {model.graph.initializer[k].name} {n} value(s) = {value}"


def _qdq_params(model, index):
    """Initializer indices of Q/DQ scales (index 1) or zero points (index 2)."""
    names = {n.input[index] for n in model.graph.node
             if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > index}
    return [k for k, t in enumerate(model.graph.initializer) if t.name in names]


def qdq_scale(model, rng) -> str:
    ks = _qdq_params(model, 1)
    if not ks:
        return "no Q/DQ scales (no change)"
    k = _pick(rng, ks)
    a = numpy_helper.to_array(model.graph.initializer[k]).astype(np.float32).copy()
    value = _pick(rng, _SCALES)
    a.reshape(-1)[int(rng.integers(a.size))] = value
    _set_initializer(model, k, a)
    return f"scale {model.graph.initializer[k].name} = {value}"


def zero_point_type(model, rng) -> str:
    ks = _qdq_params(model, 2)
    if not ks:
        return "no Q/DQ zero points (no change)"
    k = _pick(rng, ks)
    a = numpy_helper.to_array(model.graph.initializer[k])
    new = {np.dtype(np.int8): np.uint8, np.dtype(np.uint8): np.int8}.get(a.dtype, np.int8)
    _set_initializer(model, k, a.astype(new))
    return f"zero point {model.graph.initializer[k].name} {a.dtype} -> {np.dtype(new)}"


def shape_constant(model, rng) -> str:
    """An int64 initializer (Reshape shapes, axes, pads) made float with a NaN, or given extreme ints."""
    ks = [k for k, t in enumerate(model.graph.initializer) if t.data_type == TensorProto.INT64]
    if not ks:
        return "no int64 constants (no change)"
    k = _pick(rng, ks)
    a = numpy_helper.to_array(model.graph.initializer[k])
    if rng.random() < 0.5 and a.size:
        f = a.astype(np.float32)
        f.reshape(-1)[int(rng.integers(f.size))] = np.nan
        _set_initializer(model, k, f)
        return f"int64 constant {model.graph.initializer[k].name} -> float32 with a NaN"
    a = a.copy()
    if a.size:
        a.reshape(-1)[int(rng.integers(a.size))] = _pick(rng, [-5, 0, 2**31, 2**40, -2**40])
    _set_initializer(model, k, a)
    return f"int64 constant {model.graph.initializer[k].name} = {a.reshape(-1)[:6].tolist()}"


def opset(model, rng) -> str:
    v = _pick(rng, [1, 6, 9, 11, 13, 17, 19, 21, 99])
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = v
    return f"opset {v}"


STRUCTURAL_MUTATIONS: dict[str, Mutation] = {f.__name__: _structural(f) for f in (
    input_dim, input_dtype, drop_outputs, output_shape, drop_node, rewire, change_op, attribute,
    initializer_values, qdq_scale, zero_point_type, shape_constant, opset)}

MUTATIONS: dict[str, Mutation] = {**BYTE_MUTATIONS, **STRUCTURAL_MUTATIONS}
