"""fuse's layout rule: an NCHW model's boundary transposes folded into the sparse conv that reads
its input and writes its output channels-first (conv2d in_layout/out_layout), bit-exact with the
dense build that keeps the transposes, on the host under ASan/UBSan, for both sparse encodings;
declined (and said why) where the conv's kernel reads NHWC only; undone by unfold_layouts."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

import tfc
from tfc.backends.cmsis import HostRunner, write_project
from tfc.interp import run as interpret
from tfc.passes.fusion.layout import unfold_layouts
from tfc.passes.sparsify import dense_twin
from tfc.sparse.codegen import UNROLLED
from tfc.sparse.prune import random_block_sparse

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _conv_model(cin, cout, k, h, w, *, density, block=4, seed=0, stride=1):
    """A QDQ Conv model (NCHW input, onnxruntime's per-channel quantization) whose weights have
    random non-zero blocks of `block` along the reduction axis (OHWI order)."""
    from onnx import TensorProto, helper, numpy_helper
    from tests.quant.qdq_models import ort_quantize
    rng = np.random.default_rng(seed)
    wr = random_block_sparse(rng, (cout, k * k * cin), block=block, density=density).astype(np.float32)
    wr *= 1.0 / (127.0 * np.sqrt(k * k * cin * density))
    w_oihw = np.ascontiguousarray(wr.reshape(cout, k, k, cin).transpose(0, 3, 1, 2))
    bias = rng.normal(0.0, 0.2, cout).astype(np.float32)
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[k, k], pads=[k // 2] * 4,
                            strides=[stride, stride], name="conv")
    oh, ow = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
    graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, oh, ow])],
                              initializer=[numpy_helper.from_array(w_oihw, "W"), numpy_helper.from_array(bias, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = [{"x": rng.normal(0.0, 1.0, (1, cin, h, w)).astype(np.float32)} for _ in range(4)]
    return ort_quantize(model, feeds)


# (cin, cout, k, h, w, density, block): a 1x1 over whole 4-pixel steps; a 3x3 with padding, a width
# that is not a multiple of 4 and channels that are not a multiple of 4 or of the block; block 8.
# A 1x1 on 40 channels in blocks of 16 over 5 columns: groups left partly empty, a pixel tail.
# An RGB stem, 3x3 stride 2: three planes widened into cells with a zero lane, the generated code's
# strided 4-pixel calls (5 output columns: one call and a single pixel).
CASES = {"1x1": (32, 12, 1, 6, 8, 0.25, 4), "3x3": (10, 6, 3, 5, 7, 0.3, 4), "3x3-b8": (16, 8, 3, 4, 6, 0.25, 8),
         "1x1-b16": (40, 8, 1, 3, 5, 0.25, 16), "rgb-s2": (3, 8, 3, 9, 10, 0.5, 4, 2)}


@pytest.fixture(scope="module", params=sorted(CASES))
def compiled(request):
    cin, cout, k, h, w, density, block, *stride = CASES[request.param]
    cm = tfc.compile(_conv_model(cin, cout, k, h, w, density=density, block=block, stride=(stride or [1])[0]),
                     "cortex-m7")
    samples = np.random.default_rng(3).integers(-128, 128, (3, 1, cin, h, w)).astype(np.int8)
    return cm, samples


def _with_encoding(graph, encoding):
    g = graph.copy()
    for v in g.constants.values():
        if v.sparse is not None:
            v.sparse = replace(v.sparse, encoding=encoding)
    return g


def test_both_boundary_transposes_fold_into_the_sparse_conv(compiled):
    cm, _ = compiled
    assert [n.op for n in cm.ir.nodes] == ["conv2d"], str(cm.ir)
    conv = cm.ir.nodes[0]
    assert (conv.attrs["in_layout"], conv.attrs["out_layout"]) == ("nchw", "nchw")
    assert conv.inputs[1].sparse is not None
    assert cm.ir.inputs[0].name == "x" and cm.ir.outputs[0].name == "y"
    assert 'in_layout="nchw"' in str(cm.ir)


@pytest.mark.parametrize("encoding", ["brle", UNROLLED])
def test_folded_build_equals_dense_build_under_asan(compiled, tmp_path, encoding):
    cm, samples = compiled
    dense = dense_twin(cm.ir)
    assert [n.op for n in dense.nodes] == ["transpose", "conv2d", "transpose"], str(dense)
    sparse_info = write_project(_with_encoding(cm.ir, encoding), tmp_path / "sparse", target="cortex-m7", name="sp")
    dense_info = write_project(dense, tmp_path / "dense", target="cortex-m7", name="dn")
    assert [r.kernel for r in sparse_info.layers] == ["sparse_conv"], sparse_info.table()
    got = HostRunner(sparse_info, sanitize=True).run(samples, raw=True)
    want = HostRunner(dense_info).run(samples, raw=True)
    for g, d in zip(got, want):
        assert g.shape == d.shape and np.array_equal(g, d), (
            f"{encoding}: {int(np.count_nonzero(g != d))} of {g.size} outputs differ from the dense build")


def test_folded_build_equals_dense_build_in_portable_c(compiled, tmp_path):
    """The plain-C paths (no DSP instructions, not even emulated): the "host" target's build."""
    cm, samples = compiled
    sparse_info = write_project(cm.ir, tmp_path / "sparse", target="host", name="sp")
    dense_info = write_project(dense_twin(cm.ir), tmp_path / "dense", target="host", name="dn")
    got = HostRunner(sparse_info, sanitize=True).run(samples, raw=True)
    want = HostRunner(dense_info).run(samples, raw=True)
    assert all(np.array_equal(g, d) for g, d in zip(got, want))


def test_numpy_twin_equals_the_dense_graph(compiled):
    cm, samples = compiled
    dense = dense_twin(cm.ir)
    for x in samples:
        got = interpret(cm.ir, {"x": x})
        want = interpret(dense, {"x": x})
        assert np.array_equal(np.asarray(got[0]), np.asarray(want[0]))


def test_unfold_restores_the_transposes_and_a_second_fold_is_the_same_graph(compiled):
    cm, _ = compiled
    g = cm.ir.copy()
    assert unfold_layouts(g) == 2
    assert [n.op for n in g.nodes] == ["transpose", "conv2d", "transpose"]
    assert g.outputs[0].name == "y" and g.outputs[0].shape == cm.ir.outputs[0].shape
    from tfc.passes.base import PassContext
    from tfc.passes.fusion.layout import fuse_layout_transposes
    assert fuse_layout_transposes(g, PassContext()) == 2
    assert str(g) == str(cm.ir)


def test_a_dense_conv_keeps_its_transposes_and_says_why():
    cm = tfc.compile(_conv_model(8, 8, 3, 4, 4, density=1.0), "cortex-m7")
    assert [n.op for n in cm.ir.nodes] == ["transpose", "conv2d", "transpose"], str(cm.ir)
    reasons = [d.reason for d in cm.declined if d.rule == "fuse-layout"]
    assert any("reads and writes nhwc only" in r for r in reasons), reasons


def test_a_dense_kernel_never_runs_a_channels_first_conv(compiled):
    from tfc.errors import UnsupportedError
    from tfc.kernels import select
    cm, _ = compiled
    g = cm.ir.copy()
    for v in g.constants.values():
        v.sparse = None
    with pytest.raises(UnsupportedError, match="in_layout=nchw"):
        select(g.nodes[0])
