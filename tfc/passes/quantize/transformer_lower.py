"""Quantization steps specific to the transformer ops, called by PTQ and by the int8 lowering.

LayerNorm's gamma and beta never meet int8 data: the kernel folds them into per-channel
multipliers and biases at compile time. They become int32 constants on a fine per-tensor grid
(24 significant bits, exact in float32), so the int8 graph holds no float constant and the
interpreter runs the op's integer reference.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams

AFFINE_BITS = 24


def layernorm_constants_to_int32(graph: Graph) -> int:
    fired = 0
    for node in graph.nodes_of("layernorm"):
        for index in range(1, len(node.inputs)):
            v = node.inputs[index]
            if v.data is None or not v.dtype.is_float:
                continue
            data = v.data.astype(np.float64)
            top = float(np.abs(data).max(initial=0.0)) or 1.0
            scale = float(np.float32(top / (1 << AFFINE_BITS)))
            q = QuantParams((scale,), (0,), None, DType.I32)
            ints = np.round(data / scale).astype(np.int32)
            node.set_input(index, graph.add_constant(graph.fresh_name(v.name + "_i32"), ints, quant=q))
            fired += 1
    graph.remove_unused_constants()
    return fired


SOFTMAX_OUTPUT = QuantParams((1 / 256,), (-128,))


def softmax_onto_fixed_grid(graph: Graph) -> int:
    """arm_softmax_s8 writes on the grid scale 1/256, zero point -128. A softmax whose output
    carries other params (onnxruntime's QDQ uses 1/255) computes onto the fixed grid, then a
    requantize moves it to the wanted one (one extra rounding: at most 1 LSB). A softmax with
    grid="output" (tfc's PTQ) writes onto its output's grid itself."""
    fired = 0
    for node in list(graph.nodes_of("softmax")):
        out = node.output
        if out.quant is None or out.dtype.is_float or out.quant == SOFTMAX_OUTPUT or node.attrs["grid"] == "output":
            continue
        if node.attrs["numerics"] == "onnxruntime":
            continue  # tfc_ort_softmax_s8 writes onto any grid, as onnxruntime's QLinearSoftmax does
        from tfc.passes.quantize.lower import compute_on_grid  # lower imports this module
        compute_on_grid(graph, node, SOFTMAX_OUTPUT)
        fired += 1
    return fired
