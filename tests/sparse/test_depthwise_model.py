"""A model whose depthwise convs sparsify prunes runs tfc_sparse_depthwise_conv_s8 and gives exactly
the outputs of the same pruned weights compiled dense: on the host under ASan/UBSan and on the
emulated Cortex-M7; the per-layer table shows them as sparse b1 dw-taps."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import tfc
from tfc.passes.sparsify import dense_twin
from tfc.backends.cmsis import HostRunner, write_project
from tfc.kernels.lowering import lower
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType

from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _float_graph(seed=0) -> Graph:
    """conv 1x1 -> depthwise 3x3 (pad 1, relu) -> depthwise 5x5 stride 2 (pad 2) -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("sparse_dw")
    x = g.add_input("x", TensorType((1, 9, 9, 4), DType.F32))

    def const(name, shape, scale=0.4):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    h = g.add_node("conv2d", [x, const("w1", (12, 1, 1, 4)), const("b1", (12,))]).output
    h = g.add_node("conv2d", [h, const("w2", (12, 3, 3, 1)), const("b2", (12,))],
                   {"pad": [1, 1, 1, 1], "group": 12}).output
    h = g.add_node("relu", [h]).output
    h = g.add_node("conv2d", [h, const("w3", (12, 5, 5, 1)), const("b3", (12,))],
                   {"pad": [2, 2, 2, 2], "group": 12, "stride": [2, 2]}).output          # 1,5,5,12
    flat = g.add_node("reshape", [h], {"shape": [1, 300]}).output
    y = g.add_node("linear", [flat, const("w4", (10, 300), 0.1), const("b4", (10,))]).output
    g.outputs.append(y)
    return g


@pytest.fixture(scope="module")
def compiled():
    rng = np.random.default_rng(1)
    cal = rng.standard_normal((6, 1, 9, 9, 4)).astype(np.float32)
    cm = tfc.compile(_float_graph(), "cortex-m7", calibration=cal, sparsity={"density": 0.15, "block": 4})
    samples = rng.integers(-128, 128, (4, 1, 9, 9, 4)).astype(np.int8)
    return cm, samples


def _dense(graph: Graph) -> Graph:
    return dense_twin(graph)


def _assert_same(got, want, what):
    diff = np.asarray(got).astype(np.int32) - np.asarray(want).astype(np.int32)
    if np.any(diff):
        idx = np.argwhere(diff)
        first = tuple(int(i) for i in idx[0])
        raise AssertionError(f"{what}: {len(idx)} of {diff.size} outputs differ; first at {first}: "
                             f"sparse={int(np.asarray(got)[first])} dense={int(np.asarray(want)[first])}, "
                             f"max |diff| {int(np.abs(diff).max())}")


def test_depthwise_layers_run_the_sparse_kernel(compiled):
    cm, _ = compiled
    model = lower(cm.ir, name="m", build="dsp")
    dw = [layer for layer in model.layers if layer.kernel == "sparse_depthwise"]
    assert len(dw) == 2, {layer.node: layer.kernel for layer in model.layers}
    assert all(layer.function == "tfc_sparse_depthwise_conv_s8" for layer in dw)
    for layer in dw:
        w = next(n for n in cm.ir.nodes if n.name == layer.node).inputs[1]
        taps = np.count_nonzero(w.data.reshape(w.shape[0], -1), axis=1)
        per_channel = 0.15 * w.shape[1] * w.shape[2]
        # prune_blocks keeps round(density x all taps) in the layer, floor or ceil per channel.
        assert taps.sum() <= round(per_channel * w.shape[0]), f"{layer.node}: {taps.sum()} taps"
        assert (taps <= np.ceil(per_channel)).all(), f"{layer.node}: taps per channel {taps.tolist()}"


def test_sparse_build_equals_dense_build_under_asan(compiled, tmp_path):
    cm, samples = compiled
    sparse_info = write_project(cm.ir, tmp_path / "sparse", target="cortex-m7", name="sp")
    dense_info = write_project(_dense(cm.ir), tmp_path / "dense", target="cortex-m7", name="dn")
    rows = [r for r in sparse_info.layers if r.kernel == "sparse_depthwise"]
    # dw-taps-lut: the default policy takes the one-tap tables where the flash budget allows
    assert len(rows) == 2 and all(r.storage.startswith("sparse b1 d=")
                                  and r.storage.endswith(("dw-taps", "dw-taps-lut")) for r in rows), sparse_info.table()
    assert "dw-taps" in sparse_info.table()
    got = HostRunner(sparse_info, sanitize=True).run(samples, raw=True)
    want = HostRunner(dense_info).run(samples, raw=True)
    _assert_same(got, want, "sparse depthwise build vs dense build on the host")


@pytest.mark.slow
def test_sparse_build_equals_dense_build_on_the_emulated_m7(compiled, tmp_path, qemu):  # noqa: F811
    from tfc.backends.cmsis import TargetRunner
    cm, samples = compiled
    sparse = TargetRunner(write_project(cm.ir, tmp_path / "sparse", target="cortex-m7", name="m")).run(samples, raw=True)
    dense = TargetRunner(write_project(_dense(cm.ir), tmp_path / "dense", target="cortex-m7", name="m")).run(
        samples, raw=True)
    _assert_same(sparse, dense, "sparse depthwise vs dense on the emulated M7")
