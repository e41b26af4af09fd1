"""tfc_convolve_first_s8: first layers (1 to 3 input channels) of the MLPerf Tiny shapes and around
them (VWW's 3x3/s2 with padding after, ResNet-8's 3x3 same padding, KWS's 10x4/s2 on 1 channel,
odd widths whose pixel pairs span two rows, ReLU, ReLU6 and the full int8 range) give the int8
interpreter's integers (the dense conv twin) bit for bit: portable and emulated-DSP host builds
under ASan/UBSan, and the emulated Cortex-M7 (inline assembly), whole and on bands of rows (fused
tiles). tflite-micro agreement on real models: tests/backends/cmsis/test_models.py and
tests/targets/cortex_m/."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc import interp
from tfc.kernels import select
from tfc.kernels.conv_first import ConvFirst, first_stream, folded_records
from tfc.kernels.lowering import lower_for
from tfc.kernels.tiles import mark_region

# name: (input C, H, W), c_out, kernel (h, w), stride, pads [top, left, bottom, right], activation
LAYERS = {
    "vww": ((3, 11, 13), 8, (3, 3), 2, [0, 0, 1, 1], "relu6"),    # padding after, odd output width
    "resnet": ((3, 7, 9), 16, (3, 3), 1, [1, 1, 1, 1], "relu"),   # stride 1 on 3 channels: odd columns
    "kws": ((1, 21, 10), 6, (10, 4), 2, [4, 1, 5, 1], "relu"),    # 10 rows of 4: a window of 40
    "full": ((2, 6, 5), 4, (2, 2), 1, [0, 0, 0, 0], None),        # no activation: the int8 range (SSAT)
}


def conv_model(name: str, seed=0) -> onnx.ModelProto:
    (cin, h, w), cout, (kh, kw), stride, pads, act = LAYERS[name]
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.4, (cout, cin, kh, kw)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.3, cout).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[kh, kw], strides=[stride, stride],
                              pads=pads)]
    if act == "relu":
        nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    elif act == "relu6":
        inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
        nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["c"], ["y"]))
    oh, ow = (h + pads[0] + pads[2] - kh) // stride + 1, (w + pads[1] + pads[3] - kw) // stride + 1
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, oh, ow])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compiled(name: str, seed=1):
    rng = np.random.default_rng(seed)
    shape = (1, *LAYERS[name][0])
    calibration = rng.normal(0, 1, (16, *shape)).astype(np.float32).transpose(0, 1, 3, 4, 2)   # NHWC
    cm = tfc.compile(conv_model(name), target="cortex-m7", input_layout="nhwc", calibration=calibration)
    x = rng.integers(-128, 128, (4, *cm.ir.inputs[0].shape), dtype=np.int8)
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    return cm, x, want


@pytest.fixture(scope="module", params=list(LAYERS))
def layer(request):
    return compiled(request.param)


def test_the_kernel_takes_the_first_layer(layer):
    cm, _, _ = layer
    assert [select(n).name for n in cm.ir.nodes_of("conv2d")] == ["conv_first"]


def test_both_host_builds_equal_the_interpreter(layer, tmp_path):
    cm, x, want = layer
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "first")


def test_emulated_m7_equals_the_interpreter(layer, qemu):  # noqa: F811
    cm, x, want = layer
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 (inline assembly) vs the int8 interpreter")


def test_the_stream_holds_biases_doubled_weights_and_records():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (4, 1, 2, 3)).astype(np.int8)           # K = 6 -> 2 blocks
    records = np.array([[10 * c - 7, 1 << 30, 5 + c, 3] for c in range(4)], np.int64)
    s = first_stream(w, records).reshape(2, -1)                          # [pair, 2 + 2 x 2 x 4 + 6 int32 words]
    assert s.shape[1] == 4 + 16 + 12
    flat = w.reshape(4, 6).astype(np.int16)
    for c in range(4):
        pair, ch = s[c // 2], c % 2
        assert pair[:4].view(np.int32)[ch] == records[c, 0]
        blocks = pair[4:20].reshape(2, 2, 4)                             # [block, channel, 4 values]
        assert (blocks[:, ch].reshape(-1)[:6] == 2 * flat[c]).all() and (blocks[:, ch].reshape(-1)[6:] == 0).all()
        assert (pair[20:].view(np.int32).reshape(2, 3)[ch] == records[c, 1:]).all()


def test_records_fold_the_output_offset_and_double_the_bias(layer):
    cm, _, _ = layer
    node = cm.ir.nodes_of("conv2d")[0]
    p = ConvFirst().params(node)
    rows = folded_records(node.inputs[1].data, node.inputs[2].data, p)
    assert (rows[:, 0] == 2 * node.inputs[2].data.astype(np.int64)).all()
    r = rows[:, 3]
    assert (rows[:, 2] == (1 << (r - 1)) + p.output_offset * (1 << r)).all()


def test_layers_outside_the_kernel_are_declined():
    def node_of(cin, cout, k):
        rng = np.random.default_rng(2)
        inits = [numpy_helper.from_array(rng.normal(0, 0.3, (cout, cin, *k)).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.normal(0, 0.3, cout).astype(np.float32), "b")]
        graph = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=list(k))], "m",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 9, 9])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, 9 - k[0] + 1,
                                                                                         9 - k[1] + 1])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        calibration = rng.normal(0, 1, (4, 1, 9, 9, cin)).astype(np.float32)
        return tfc.compile(model, target="cortex-m7", input_layout="nhwc", calibration=calibration).ir.nodes_of("conv2d")[0]
    assert "8 input channels" in ConvFirst().decline(node_of(8, 8, (3, 3)))
    assert "a window of 75 values" in ConvFirst().decline(node_of(3, 8, (5, 5)))
    assert "odd number of output channels" in ConvFirst().decline(node_of(3, 5, (3, 3)))


@pytest.mark.parametrize("name, order, reuse, rows", [("resnet", "top-down", True, 1), ("kws", "bottom-up", False, 4)])
def test_the_kernel_on_bands_equals_the_interpreter(name, order, reuse, rows, tmp_path, qemu):  # noqa: F811
    # The layer alone as a fused-tile region: each band's call keeps the whole geometry and gets its
    # output rows and the row its input pointer is at (halo rows kept or recomputed).
    cm, x, _ = compiled(name)
    g = cm.ir
    h = g.nodes_of("conv2d")[0].output.shape[1]
    mark_region(g.nodes_of("conv2d"), [*range(0, h, rows), h], order, reuse=reuse)
    cm = tfc.compile(g, target="cortex-m7", pipeline="plan-memory{reorder=false}")
    (region,) = lower_for(cm.ir, target="cortex-m7").regions
    assert len(region.bands) == -(-h // rows)
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "first_bands")
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7, on bands, vs the int8 interpreter")
