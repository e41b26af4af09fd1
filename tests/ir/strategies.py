"""Hypothesis strategies for IR graphs, shared by the text round-trip and pass property tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams, SparseLayout, TensorType

SCALES = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def graphs(draw) -> Graph:
    """Small random graphs over the op families the text form must carry: elementwise with
    attributes, broadcasting constants, data movement, conv with per-channel int8 weights and
    sparse layouts, quantize/dequantize with u8/i8 storage, multi-output split."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    g = Graph(draw(st.sampled_from(["model", "net.v2", "m_1"])))
    h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    x = g.add_input("x", TensorType((1, h, w, c), DType.F32))
    current = x
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["relu", "clip", "add_const", "transpose", "reshape", "conv",
                                     "qdq", "split_concat", "softmax"]))
        shape = current.shape
        if kind == "relu":
            current = g.add_node("relu", [current]).output
        elif kind == "clip":
            lo = draw(st.floats(-10, 0, allow_nan=False))
            current = g.add_node("clip", [current], {"min": lo, "max": draw(st.floats(0.5, 10))}).output
        elif kind == "add_const":
            k = g.add_constant(f"k{i}", rng.standard_normal(shape[-1:]).astype(np.float32))
            current = g.add_node(draw(st.sampled_from(["add", "mul", "sub"])), [current, k]).output
        elif kind == "transpose":
            perm = list(draw(st.permutations(range(len(shape)))))
            current = g.add_node("transpose", [current], {"perm": perm}, name=f"t{i}").output
        elif kind == "reshape" and len(shape) == 4:
            current = g.add_node("reshape", [current], {"shape": [shape[0], shape[1] * shape[2], shape[3]]}).output
            current = g.add_node("reshape", [current], {"shape": list(shape)}).output
        elif kind == "conv" and len(shape) == 4:
            cout = draw(st.integers(1, 4))
            per_channel = QuantParams(tuple(draw(st.lists(SCALES, min_size=cout, max_size=cout))),
                                      (0,) * cout, axis=0)
            wq = g.add_constant(f"w{i}", rng.integers(-127, 128, (cout, 1, 1, shape[3])).astype(np.int8),
                                quant=per_channel,
                                sparse=draw(st.sampled_from([None, SparseLayout(1, 0.5), SparseLayout(4, 0.25, "brle")])))
            b = g.add_constant(f"b{i}", rng.standard_normal(cout).astype(np.float32))
            current = g.add_node("conv2d", [current, wq, b], {"pad": [0, 0, 0, 0]}, name=f"conv {i}").output
        elif kind == "qdq":
            storage = draw(st.sampled_from([DType.I8, DType.U8]))
            q = g.add_node("quantize", [current], {"dtype": storage.value})
            q.output.quant = QuantParams((draw(SCALES),), (draw(st.integers(-128, 127)) if storage == DType.I8
                                                          else draw(st.integers(0, 255)),), storage=storage)
            current = g.add_node("dequantize", [q.output]).output
        elif kind == "split_concat" and shape[-1] >= 2:
            parts = g.add_node("split", [current], {"axis": -1, "sizes": [1, shape[-1] - 1]}).outputs
            current = g.add_node("concat", [parts[1], parts[0]], {"axis": -1}).output
        elif kind == "softmax":
            current = g.add_node("softmax", [current], {"axis": -1}).output
            if draw(st.booleans()):
                current.quant = QuantParams((1 / 256,), (-128,))
    g.outputs = [current]
    return g
