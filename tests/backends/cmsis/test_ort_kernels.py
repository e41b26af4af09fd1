"""The tfc_ort_* kernels (numerics="onnxruntime": onnxruntime's float32 requantization, its
QLinearSoftmax and its float ReduceMean; tfc/quant/ort_numerics.py) as generated C, built on the
host with the emulated DSP path, the portable path and under ASan/UBSan: each equals the int8
interpreter byte for byte. The graph reaches every branch of the kernels: a grouped dilated conv
and a channel-multiplier depthwise (patch gather), a depthwise with one channel per input channel
(4-channel SIMD and scalar tail), a strided conv with padding, a 1x1 conv and a linear layer
(matmul rows, odd column tail), a broadcasting batch matmul with zero points on both operands,
a softmax onto onnxruntime's 1/255 grid, a mean over tokens and a float LayerNorm (eight lanes
and a tail of two)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tfc.backends.cmsis import HostRunner, write_project
from tfc.interp import run
from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams, TensorType
from tfc.passes import PassContext, PassManager

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def float_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("ortk")
    a = g.add_input("a", TensorType((1, 9, 9, 4), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    conv = g.add_node("conv2d", [a, const("w_grouped", (8, 3, 3, 2)), const("b_grouped", (8,))],
                      {"group": 2, "dilation": [2, 2], "pad": [2, 1, 2, 1], "stride": [1, 2]}).output  # 1,9,4,8
    mult2 = g.add_node("conv2d", [conv, const("w_dw2", (16, 3, 3, 1)), const("b_dw2", (16,))],
                       {"group": 8, "pad": [1, 1, 1, 1], "stride": [2, 1]}).output                       # 1,5,4,16
    dw = g.add_node("conv2d", [mult2, const("w_dw", (16, 3, 3, 1)), const("b_dw", (16,))],
                    {"group": 16, "pad": [1, 0, 1, 2], "stride": [1, 1], "dilation": [1, 2]}).output       # 1,5,4,16
    dw6 = g.add_node("conv2d", [conv, const("w_dw6", (8, 2, 2, 1))],
                     {"group": 8, "pad": [1, 1, 0, 0]}).output                                             # 1,9,4,8
    strided = g.add_node("conv2d", [dw6, const("w_s", (5, 3, 3, 8)), const("b_s", (5,))],
                         {"pad": [1, 1, 1, 1], "stride": [2, 2]}).output                                   # 1,5,2,5
    pw = g.add_node("conv2d", [dw, const("w_pw", (7, 1, 1, 16)), const("b_pw", (7,))]).output           # 1,5,2,7
    rows = g.add_node("reshape", [pw], {"shape": [1, 1, 10, 7]}).output
    lhs = g.add_node("reshape", [strided], {"shape": [1, 2, 5, 5]}).output
    fc = g.add_node("linear", [rows, const("w_fc", (5, 7), 0.4), const("b_fc", (5,))]).output            # 1,1,10,5
    scores = g.add_node("batch_matmul", [lhs, fc]).output                                                  # 1,2,5,10
    probs = g.add_node("softmax", [scores], {"axis": -1}).output
    mean = g.add_node("reduce_mean", [probs], {"axes": [2], "keepdims": False}).output                     # 1,2,10
    normed = g.add_node("layernorm", [scores, const("gamma", (10,), 1.0), const("beta", (10,))]).output
    g.outputs.extend([mean, probs, normed])
    return g


def int8_graph(seed: int) -> Graph:
    g = float_graph(seed)
    rng = np.random.default_rng(seed + 1)
    calibration = {v.name: rng.standard_normal((8, *v.shape)).astype(np.float32) for v in g.inputs}
    PassManager("canonicalize,quantize-int8{numerics=onnxruntime},fuse").run(
        g, PassContext(options={"calibration": calibration}))
    probs = g.outputs[1]
    probs.quant = QuantParams((float(np.float32(1 / 255)),), (-128,))   # onnxruntime's softmax grid
    return g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ort_kernels_equal_the_interpreter(seed, tmp_path):
    g = int8_graph(seed)
    kernels = {n.op: n.attrs.get("numerics") for n in g.nodes if "numerics" in n.attrs}
    assert set(kernels.values()) == {"onnxruntime"}, kernels
    info = write_project(g, tmp_path / "p", target="cortex-m7", name="ortk")
    rng = np.random.default_rng(seed + 2)
    x = rng.integers(-128, 128, size=(6, *g.inputs[0].shape), dtype=np.int8)
    want = [np.stack([run(g, [xi])[k] for xi in x]) for k in range(len(g.outputs))]
    builds = {"dsp-emulated": dict(), "portable": dict(cflags=("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                                                                   "-UTFC_EMULATE_DSP")),
              "asan-ubsan": dict(sanitize=True)}
    for label, options in builds.items():
        got = HostRunner(info, cache_dir=tmp_path / label, **options).run_raw([x])
        for k, (g_k, w_k) in enumerate(zip(got, want)):
            d = np.abs(g_k.reshape(w_k.shape).astype(int) - w_k.astype(int))
            assert d.max() == 0, (f"seed {seed}, {label} build, output {k}: C differs from the interpreter by up to "
                                  f"{d.max()} LSB at {np.unravel_index(int(d.argmax()), d.shape)} ({int((d > 0).sum())} values)")
