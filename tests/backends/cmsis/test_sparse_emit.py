"""A model compiled with sparsify runs the sparse kernels and gives exactly the outputs of the same
(pruned) weights compiled dense: brle streams and per-layer generated code, on the host under
ASan/UBSan and on the emulated Cortex-M7. The per-layer table says how each layer is stored, and
the stream encoding keeps its flash promise."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

import tfc
from tfc.backends.cmsis import HostRunner, write_project
from tfc.kernels.lowering import lower
from tfc.kernels.sparse import flash_bound
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.sparse.codegen import UNROLLED

from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _float_graph(seed=0) -> Graph:
    """conv 3x3 (pad, relu) -> conv 1x1 -> conv 3x3 stride 2 -> linear over 4 tokens -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("sparse_cnn")
    x = g.add_input("x", TensorType((1, 10, 10, 8), DType.F32))

    def const(name, shape, scale=0.3):
        return g.add_constant(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    h = g.add_node("conv2d", [x, const("w1", (16, 3, 3, 8)), const("b1", (16,))], {"pad": [1, 1, 1, 1]}).output
    h = g.add_node("relu", [h]).output
    h = g.add_node("conv2d", [h, const("w2", (32, 1, 1, 16)), const("b2", (32,))]).output
    h = g.add_node("conv2d", [h, const("w3", (16, 3, 3, 32)), const("b3", (16,))],
                   {"pad": [1, 1, 1, 1], "stride": [2, 2]}).output                       # 1,5,5,16
    flat = g.add_node("reshape", [h], {"shape": [4, 100]}).output                         # 4 tokens
    y = g.add_node("linear", [flat, const("w4", (24, 100), 0.1), const("b4", (24,))]).output
    y = g.add_node("reshape", [y], {"shape": [1, 96]}).output
    y = g.add_node("linear", [y, const("w5", (10, 96), 0.1), const("b5", (10,))]).output
    g.outputs.append(y)
    return g


@pytest.fixture(scope="module")
def compiled():
    rng = np.random.default_rng(1)
    cal = rng.standard_normal((6, 1, 10, 10, 8)).astype(np.float32)
    # Every layer sparse (its fastest form), stored as brle streams: under sparsify's default flash
    # budget this model is too small for its weight savings to pay for the kernels' code.
    pipeline = "canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,fuse,plan-memory"
    cm = tfc.compile(_float_graph(), "cortex-m7", calibration=cal, pipeline=pipeline,
                     sparsity={"density": 0.3, "block": 4, "layers": {"conv2d_2": {"block": 8}}})
    for v in cm.ir.constants.values():
        if v.sparse is not None:
            v.sparse = replace(v.sparse, encoding="brle")
    samples = rng.integers(-128, 128, (5, 1, 10, 10, 8)).astype(np.int8)
    return cm, samples


def _with_encoding(graph: Graph, encoding: str | None) -> Graph:
    """A copy whose sparse weights use `encoding` (None: every weight dense)."""
    g = graph.copy()
    for v in g.constants.values():
        if v.sparse is not None:
            v.sparse = None if encoding is None else replace(v.sparse, encoding=encoding)
    return g


def _assert_same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    diff = got.astype(np.int32) - want.astype(np.int32)
    if np.any(diff):
        idx = np.argwhere(diff)
        first = tuple(int(i) for i in idx[0])
        raise AssertionError(f"{what}: {len(idx)} of {diff.size} outputs differ; first at {first}: "
                             f"sparse={int(got[first])} dense={int(want[first])}, max |diff| {int(np.abs(diff).max())}")


def test_sparse_layers_are_emitted(compiled):
    cm, _ = compiled
    sparse = [v for v in cm.ir.constants.values() if v.sparse is not None]
    assert len(sparse) >= 4, f"expected the conv/linear weights to be sparse, got {[v.name for v in sparse]}"
    model = lower(cm.ir, name="m", build="dsp")
    kernels = {layer.node: layer.kernel for layer in model.layers}
    assert sum(k in ("sparse_conv", "sparse_fc") for k in kernels.values()) == len(sparse), kernels


@pytest.mark.parametrize("encoding", ["brle", UNROLLED])
def test_sparse_build_equals_dense_build_under_asan(compiled, tmp_path, encoding):
    cm, samples = compiled
    sparse_info = write_project(_with_encoding(cm.ir, encoding), tmp_path / "sparse", target="cortex-m7", name="sp")
    dense_info = write_project(_with_encoding(cm.ir, None), tmp_path / "dense", target="cortex-m7", name="dn")
    sparse_nodes = {n.name for n in cm.ir.nodes if n.op in ("conv2d", "linear") and n.inputs[1].sparse}
    storages = {r.node: r.storage for r in sparse_info.layers if r.node in sparse_nodes}
    assert len(storages) >= 4 and all(s.startswith("sparse") and s.endswith(encoding)
                                      for s in storages.values()), storages
    assert all(r.storage == "dense" for r in dense_info.layers), [r.storage for r in dense_info.layers]
    assert "sparse b4" in sparse_info.table() and "sparse b8" in sparse_info.table(), sparse_info.table()
    got = HostRunner(sparse_info, sanitize=True).run(samples, raw=True)
    want = HostRunner(dense_info).run(samples, raw=True)
    _assert_same(got, want, f"{encoding} build vs dense build on the host")


def test_stream_flash_within_bound(compiled):
    cm, _ = compiled
    model = lower(cm.ir, name="m", build="dsp")
    for layer in model.layers:
        if layer.kernel not in ("sparse_conv", "sparse_fc"):
            continue
        a = layer.args
        stored = sum(arr.nbytes for arr in a.flash_arrays)
        s = a.layer
        nnz = s.encoded.nonzero_blocks * s.block
        bound = nnz * (1 + 1 / s.block) + 20 * (s.rows + 1) + s.encoded.escapes * (s.block + 1)
        assert stored <= bound and stored == flash_bound(s), (
            f"{layer.node}: {stored} flash bytes, bound nnz*(1+1/B)+records = {bound:.0f} (nnz {nnz}, B {s.block})")
        dense_bytes = s.rows * (s.kh * s.kw * s.cin + 12)  # int8 weights, int32 bias, multiplier, shift
        assert stored < dense_bytes, f"{layer.node}: sparse {stored} B not below dense {dense_bytes} B"


@pytest.mark.slow
def test_sparse_build_equals_dense_build_on_the_emulated_m7(compiled, tmp_path, qemu):  # noqa: F811
    from tfc.backends.cmsis import TargetRunner
    cm, samples = compiled
    infos = {enc: write_project(_with_encoding(cm.ir, enc), tmp_path / str(enc), target="cortex-m7", name="m")
             for enc in ("brle", UNROLLED, None)}
    outs = {enc: TargetRunner(info).run(samples, raw=True) for enc, info in infos.items()}
    host = HostRunner(infos["brle"]).run(samples, raw=True)
    _assert_same(outs["brle"], outs[None], "brle vs dense on the emulated M7")
    _assert_same(outs[UNROLLED], outs[None], "generated code vs dense on the emulated M7")
    _assert_same(outs["brle"], host, "emulated M7 vs host")
