"""A sparse generated-code linear layer storing the layout of the reshape -> transpose after it
(linear_heads: tfc.kernels.sparse_heads, made by fuse's fuse-sparse-heads rule). The C (portable
and emulated-DSP host builds, strict, under ASan/UBSan, the same bytes twice; and the emulated
Cortex-M7) equals the int8 interpreter bit for bit, and that equals the unfused graph's integers
and its dense twin's (linear, reshape and transpose back); on the hybrid it folds q/k/v's transposes."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

import tfc
from tests.kernels.host_check import assert_both_host_builds_exact, assert_outputs_exact, interp_outputs
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.kernels.lowering import lower
from tfc.kernels.sparse_heads import output_order
from tfc.passes.sparsify import dense_twin

SPEED = ("canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,"
         "fuse{residual=false%s},plan-memory")


def _float_graph(seed=0) -> Graph:
    """tokens [1, 16, 32] -> three linears, each viewed as 2 heads of 16 and transposed: heads
    apart ([0, 2, 1, 3]), heads apart and transposed ([0, 2, 3, 1]), and a split whose transpose
    is no one step per vector ([1, 4, 4, 32] -> [0, 2, 1, 3]: left apart); a fourth linear's result
    is also a graph output (left apart)."""
    rng = np.random.default_rng(seed)
    g = Graph("sparse_heads")
    x = g.add_input("x", TensorType((1, 16, 32), DType.F32))

    def linear(name):
        w = g.add_constant(f"w{name}", (rng.standard_normal((32, 32)) * 0.3).astype(np.float32))
        b = g.add_constant(f"b{name}", (rng.standard_normal(32) * 0.3).astype(np.float32))
        return g.add_node("linear", [x, w, b]).output

    def heads(y, split, perm):
        v = g.add_node("reshape", [y], {"shape": split}).output
        return g.add_node("transpose", [v], {"perm": perm}).output

    side = linear(4)
    g.outputs += [heads(linear(1), [1, 16, 2, 16], [0, 2, 1, 3]), heads(linear(2), [1, 16, 2, 16], [0, 2, 3, 1]),
                  heads(linear(3), [1, 4, 4, 32], [0, 2, 1, 3]), heads(side, [1, 16, 2, 16], [0, 2, 1, 3]), side]
    return g


def _compile(heads: bool):
    cal = np.random.default_rng(1).standard_normal((6, 1, 16, 32)).astype(np.float32)
    return tfc.compile(_float_graph(), "cortex-m7", calibration=cal, sparsity={"density": 0.3, "block": 4},
                       pipeline=SPEED % ("" if heads else ",heads=false"))


@pytest.fixture(scope="module")
def fused():
    return _compile(True)


@pytest.fixture(scope="module")
def samples():
    return np.random.default_rng(2).integers(-128, 128, (3, 1, 16, 32)).astype(np.int8)


def test_output_order_is_one_step_per_vector_or_none():
    assert output_order(16, 32, [1, 16, 2, 16], [0, 2, 1, 3]) == (16, tuple(h * 256 + d for h in range(2)
                                                                          for d in range(16)))
    assert output_order(16, 32, [1, 16, 2, 16], [0, 2, 3, 1]) == (1, tuple(h * 256 + d * 16 for h in range(2)
                                                                         for d in range(16)))
    assert output_order(16, 32, [1, 4, 4, 32], [0, 2, 1, 3]) is None


def test_fires_where_the_transpose_is_the_only_reader_and_one_step_per_vector(fused):
    layers = lower(fused.ir, name="m", build="dsp").layers
    kernels = [layer.kernel for layer in layers]
    assert kernels.count("sparse_fc_heads") == 2, kernels
    assert [n.attrs["perm"] for n in fused.ir.nodes_of("linear_heads")] == [[0, 2, 1, 3], [0, 2, 3, 1]]
    assert len(fused.ir.nodes_of("transpose")) == 2   # the odd split's and the side linear's


def test_c_equals_the_interpreter_under_sanitizers(fused, samples, tmp_path):
    assert_both_host_builds_exact(fused.ir, samples, interp_outputs(fused.ir, samples)[0], tmp_path, "m")


def test_fused_integers_equal_the_unfused_and_the_dense_twin(fused, samples):
    unfused = _compile(False)
    assert not unfused.ir.nodes_of("linear_heads")
    want = interp_outputs(unfused.ir, samples)
    twin = dense_twin(fused.ir)
    assert not twin.nodes_of("linear_heads")
    functions = [[layer.function for layer in lower(g, name="m", build="dsp").layers] for g in (twin, dense_twin(unfused.ir))]
    assert functions[0] == functions[1]
    for got, what in ((interp_outputs(fused.ir, samples), "fused"), (interp_outputs(twin, samples), "dense twin")):
        assert_outputs_exact(got, want, f"{what} vs unfused")


def test_emulated_cortex_m7_equals_the_interpreter(fused, samples, qemu):  # noqa: F811
    assert_outputs_exact(fused.run(samples, raw=True), interp_outputs(fused.ir, samples),
                         "emulated Cortex-M7 vs the int8 interpreter")


def test_the_hybrid_stores_q_k_v_in_the_attention_layout():
    pytest.importorskip("torch", reason="the hybrid is exported from PyTorch")
    pytest.importorskip("onnxscript", reason="torch's dynamo ONNX exporter needs onnxscript")
    from benchmarks.sparse_end_to_end import INPUT_SHAPES, calibration, hybrid_onnx
    shape = INPUT_SHAPES["hybrid"]
    with tempfile.TemporaryDirectory() as tmp:
        sparse = tfc.compile(str(hybrid_onnx(Path(tmp) / "hybrid.onnx")), "cortex-m7", calibration=calibration(shape),
                             sparsity={"density": 0.15, "block": 4})
    heads = sparse.ir.nodes_of("linear_heads")
    assert sorted(n.name for n in heads) == sorted(f"node_MatMul_{k}" for k in (86, 88, 90, 129, 131, 133))
    x = np.random.default_rng(1).integers(-128, 128, (1, *shape)).astype(np.int8)
    assert_outputs_exact(interp_outputs(sparse.ir, x), interp_outputs(dense_twin(sparse.ir), x),
                         "hybrid: sparse build vs its dense twin")
