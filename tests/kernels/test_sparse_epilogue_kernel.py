"""Sparse generated-code layers with the next elementwise node in their stores (conv2d_lut,
conv2d_add, linear_lut, linear_add: tfc.kernels.sparse_epilogue, made by fuse's
fuse-sparse-epilogue rule). The C (portable and emulated-DSP host builds, strict, under
ASan/UBSan, the same bytes twice; and the emulated Cortex-M7) equals the int8 interpreter bit for
bit, and that equals the unfused graph's integers and its dense twin's (the nodes split back)."""
from __future__ import annotations

import numpy as np
import pytest

import tfc
from tests.kernels.host_check import assert_both_host_builds_exact, assert_outputs_exact, interp_outputs
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.kernels.lowering import lower
from tfc.kernels.sparse_epilogue import fast_sum
from tfc.passes.sparsify import dense_twin
from tfc.quant.kernel_params import add_params

SPEED = ("canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,"
         "fuse{residual=false%s},plan-memory")
EPILOGUE_KERNELS = ["sparse_conv_lut", "sparse_conv_add", "sparse_fc_lut", "sparse_fc_add"]


def _float_graph(seed=0) -> Graph:
    """conv 1x1 -> hardswish -> conv 1x1 -> conv 1x1 -> + (the hardswish) -> tokens -> linear ->
    gelu -> linear -> + (the tokens); and a conv whose result is also a graph output (no fusion)."""
    rng = np.random.default_rng(seed)
    g = Graph("sparse_epilogue")
    x = g.add_input("x", TensorType((1, 8, 8, 16), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def conv(name, h):
        return g.add_node("conv2d", [h, const(f"w{name}", (16, 1, 1, 16)), const(f"b{name}", (16,))]).output

    h1 = g.add_node("hardswish", [conv(1, x)]).output
    c3 = conv(3, conv(2, h1))
    r = g.add_node("add", [c3, h1]).output                      # the residual second
    t = g.add_node("reshape", [r], {"shape": [1, 64, 16]}).output
    f = g.add_node("linear", [t, const("w4", (32, 16)), const("b4", (32,))]).output
    f = g.add_node("gelu", [f]).output
    f = g.add_node("linear", [f, const("w5", (16, 32), 0.2), const("b5", (16,))]).output
    y = g.add_node("add", [t, f]).output                        # the residual first
    side = g.add_node("conv2d", [x, const("w6", (16, 1, 1, 16)), const("b6", (16,))]).output
    g.outputs += [y, g.add_node("hardswish", [side]).output, side]
    return g


def _compile(epilogue: bool):
    rng = np.random.default_rng(1)
    cal = rng.standard_normal((6, 1, 8, 8, 16)).astype(np.float32)
    return tfc.compile(_float_graph(), "cortex-m7", calibration=cal, sparsity={"density": 0.3, "block": 4},
                       pipeline=SPEED % ("" if epilogue else ",epilogue=false"))


@pytest.fixture(scope="module")
def fused():
    return _compile(True)


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(2).integers(-128, 128, (3, 1, 8, 8, 16)).astype(np.int8)


def test_each_epilogue_fires_where_the_layer_is_the_only_reader(fused):
    kernels = [layer.kernel for layer in lower(fused.ir, name="m", build="dsp").layers]
    assert sorted(k for k in kernels if k in EPILOGUE_KERNELS) == sorted(EPILOGUE_KERNELS), kernels
    # the side conv's result is a graph output: it keeps its own store, the hardswish its pass
    assert kernels.count("lut") == 1 and kernels.count("sparse_conv") == 2, kernels
    assert not fused.ir.nodes_of("add")


def test_c_equals_the_interpreter_under_sanitizers(fused, samples, tmp_path):
    want = interp_outputs(fused.ir, samples)
    # assert_both_host_builds_exact compares the first output; the others through run_raw below
    assert_both_host_builds_exact(fused.ir, samples, want[0], tmp_path, "m")


def test_fused_integers_equal_the_unfused_and_the_dense_twin(fused, samples):
    unfused = _compile(False)
    assert not any(n.spec.fused_from for n in unfused.ir.nodes)
    want = interp_outputs(unfused.ir, samples)
    twin = dense_twin(fused.ir)
    # the same C functions as the unfused graph's dense twin (an activation comes back as its table)
    functions = [[layer.function for layer in lower(g, name="m", build="dsp").layers] for g in (twin, dense_twin(unfused.ir))]
    assert functions[0] == functions[1]
    for got, what in ((interp_outputs(fused.ir, samples), "fused"), (interp_outputs(twin, samples), "dense twin")):
        assert_outputs_exact(got, want, f"{what} vs unfused")


def test_emulated_cortex_m7_equals_the_interpreter(fused, samples, qemu):  # noqa: F811
    assert_outputs_exact(fused.run(samples, raw=True), interp_outputs(fused.ir, samples),
                         "emulated Cortex-M7 vs the int8 interpreter")


def test_an_add_off_the_fast_form_is_left_apart():
    p = add_params(0.05, 3, 0.04, -7, 0.06, 2)
    assert not isinstance(fast_sum(p), str)
    # tfc_add_table_s8 would take its exact loop: the epilogue has the fast form only
    assert "shifts left" in fast_sum(add_params(0.05, 3, 0.04, -7, 1e-7, 2))   # a tiny output scale
    assert "leave int32" in fast_sum(add_params(0.05, 3, 0.04, -7, 100.0, 127))  # a huge rounding constant
