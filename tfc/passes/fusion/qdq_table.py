"""The int8 lookup table of an elementwise chain in a QDQ graph, with the graph's own roundings.

onnxruntime runs a QDQ model's decomposed activation (GELU as Div, Erf, Add, Mul, Mul with a
Q/DQ pair after most steps) in float, rounding onto each intermediate grid. A chain that reads
one int8 tensor x has only 256 possible inputs, so evaluating the chain itself, roundings
included, on those 256 values gives a table that reproduces the QDQ graph exactly; a table of the
exact function (quantize(f(dequantize(q)))) drops the intermediate roundings and differs from
onnxruntime by up to a few LSB once errors add up downstream.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Node, Value
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.ir.types import DType
from tfc.passes.quantize.lower import as_int8_storage


def carries_qdq_rounding(nodes: list[Node], out: Value) -> bool:
    """True when some intermediate result of the chain has its own grid (a QDQ graph)."""
    return any(v.quant is not None for n in nodes for v in n.outputs if v is not out)


def chain_table(x: Value, nodes: list[Node], out: Value) -> tuple[int, ...]:
    """table[q + 128] = the chain's int8 output for int8 input code q, rounding every
    intermediate that carries QuantParams as the interpreter (and onnxruntime) does.

    `nodes` must be elementwise, read only x, each other's results and scalar constants, and
    be given in execution order; x and out must carry QuantParams."""
    xq, yq = as_int8_storage(x.quant), as_int8_storage(out.quant)
    env = {id(x): dequantize_array(np.arange(-128, 128, dtype=np.int8), xq)}
    for node in nodes:
        args = []
        for v in node.inputs:
            if id(v) in env:
                args.append(env[id(v)])
            elif v.data is not None and v.data.size == 1:
                data = v.data if v.dtype.is_float or v.quant is None else dequantize_array(v.data, v.quant)
                args.append(np.asarray(data, dtype=np.float32).reshape(()))
            else:
                raise ValueError(f"{node.op} '{node.name}' reads {v.ref}, which is not in the chain")
        result = np.asarray(node.spec.reference(node, args)[0], dtype=np.float32)
        q = node.output.quant
        if q is not None and node.output is not out:
            q = as_int8_storage(q)
            result = dequantize_array(quantize_array(result, q, DType.I8), q)
        env[id(node.output)] = result
    return tuple(int(v) for v in quantize_array(env[id(out)], yq, DType.I8))
