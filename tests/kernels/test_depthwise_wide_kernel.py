"""tfc_depthwise_3x3_wide_s8: 3x3 depthwise layers of the shapes it takes (stride 1 and 2, same and
asymmetric padding, odd widths, runs down the columns of a tall output, ReLU and ReLU6 ranges) give
the int8 interpreter's integers (the dense depthwise twin) bit for bit: portable and emulated-DSP
host builds under ASan/UBSan, and the emulated Cortex-M7 (inline assembly). tflite-micro agreement
on real models: tests/backends/cmsis/test_models.py and tests/targets/cortex_m/."""
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
from tfc.kernels.depthwise_wide import DepthwisePlane, DepthwiseWide, dw3_channels, dw3_weights, transposed

C = 8
# (kernel, stride, pads [top, left, bottom, right], clip max or None) applied in a chain
CHAIN = [((3, 3), 1, [1, 1, 1, 1], None),     # same padding, an odd width (blocks of 4 + a rest)
         ((3, 3), 2, [0, 0, 1, 1], 6.0),      # VWW's stride 2 (padding after), ReLU6: a narrower range
         ((3, 3), 1, [0, 0, 0, 0], None),     # valid padding
         ((5, 5), 1, [2, 2, 2, 2], None)]     # 5x5: declined, runs arm_depthwise_conv_s8
SHAPE = (1, C, 29, 7)                         # taller than wide: the first layers run down the columns


def dw_chain(shape=SHAPE, chain=CHAIN, seed=0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    c = shape[1]
    nodes, inits, last, (h, w) = [], [], "x", shape[2:]
    for k, ((kh, kw), stride, pads, clip) in enumerate(chain):
        h, w = (h + pads[0] + pads[2] - kh) // stride + 1, (w + pads[1] + pads[3] - kw) // stride + 1
        inits += [numpy_helper.from_array(rng.normal(0, 0.5, (c, 1, kh, kw)).astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(rng.normal(0, 0.3, c).astype(np.float32), f"b{k}")]
        nodes.append(helper.make_node("Conv", [last, f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[kh, kw],
                                      strides=[stride, stride], pads=pads, group=c))
        if clip is None:
            nodes.append(helper.make_node("Relu", [f"c{k}"], [f"r{k}"]))
        else:
            inits += [numpy_helper.from_array(np.float32(0), f"lo{k}"), numpy_helper.from_array(np.float32(clip), f"hi{k}")]
            nodes.append(helper.make_node("Clip", [f"c{k}", f"lo{k}", f"hi{k}"], [f"r{k}"]))
        last = f"r{k}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, c, h, w])
    graph = helper.make_graph(nodes, "dw_chain", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compiled(model, shape, seed=1):
    rng = np.random.default_rng(seed)
    calibration = rng.normal(0, 1, (16, *shape)).astype(np.float32).transpose(0, 1, 3, 4, 2)   # NHWC
    cm = tfc.compile(model, target="cortex-m7", input_layout="nhwc", calibration=calibration)
    x = rng.integers(-128, 128, (4, *cm.ir.inputs[0].shape), dtype=np.int8)
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    return cm, x, want


@pytest.fixture(scope="module")
def chain():
    return compiled(dw_chain(), SHAPE)


def test_the_kernel_takes_the_3x3_layers(chain):
    cm, _, _ = chain
    nodes = cm.ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["depthwise_wide"] * 3 + ["depthwise_conv"]
    assert [transposed(n) for n in nodes[:3]] == [True, True, True]
    assert "3x3" in DepthwiseWide().decline(nodes[-1])


def test_both_host_builds_equal_the_interpreter(chain, tmp_path):
    cm, x, want = chain
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "dw_chain")


def test_emulated_m7_equals_the_interpreter(chain, qemu):  # noqa: F811
    cm, x, want = chain
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 (inline assembly) vs the int8 interpreter")


def test_wide_rows_run_along_the_rows_on_the_m7(qemu):  # noqa: F811
    # wider than tall: runs along the rows; 12 channels (three groups of four planes); an odd
    # input width with stride 2
    shape = (1, 12, 9, 29)
    cm, x, want = compiled(dw_chain(shape, CHAIN[:3], seed=4), shape, seed=5)
    nodes = cm.ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["depthwise_wide"] * 3
    assert not transposed(nodes[0])
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 vs the int8 interpreter")


def test_weights_hold_each_tap_doubled_in_row_pairs():
    w = np.random.default_rng(0).integers(-127, 128, (4, 3, 3, 1)).astype(np.int8)
    wide = dw3_weights(w).reshape(4, 3, 4)
    assert (wide[:, :, :3] == 2 * w[..., 0].astype(np.int16)).all() and (wide[:, :, 3] == 0).all()
    assert (dw3_weights(w, transposed=True).reshape(4, 3, 4)[:, :, :3] == 2 * w[..., 0].astype(np.int16).transpose(0, 2, 1)).all()


def test_the_bias_takes_the_input_offset(chain):
    cm, _, _ = chain
    node = cm.ir.nodes_of("conv2d")[0]
    p = DepthwiseWide().params(node)
    w, b = node.inputs[1].data, node.inputs[2].data
    rows = dw3_channels(w, b, p).reshape(-1, 4)
    want = 2 * (b.astype(np.int64) + p.input_offset * w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1))
    assert (rows[:, 0] == want).all()


def test_short_runs_are_declined():
    shape = (1, 8, 6, 6)
    cm, _, _ = compiled(dw_chain(shape, CHAIN[:1]), shape)
    node = cm.ir.nodes_of("conv2d")[0]
    assert "runs of 6 outputs" in DepthwiseWide().decline(node)


def test_channels_not_in_groups_of_four_are_declined():
    shape = (1, 6, 13, 13)
    model = dw_chain(shape, CHAIN[:1])
    cm, _, _ = compiled(model, shape)
    node = cm.ir.nodes_of("conv2d")[0]
    assert "multiple of 4" in DepthwiseWide().decline(node)
    assert select(node).name == "depthwise_conv"


# Small maps (VWW's 6x6 and 3x3): stride 1 same padding, stride 2 with the padding after and ReLU6,
# stride 1 on a 3x3 map, valid padding; 12 channels (three groups of four planes)
SMALL = [((3, 3), 1, [1, 1, 1, 1], None),
         ((3, 3), 2, [0, 0, 1, 1], 6.0),
         ((3, 3), 1, [1, 1, 1, 1], None),
         ((3, 3), 1, [0, 0, 0, 0], None)]


@pytest.fixture(scope="module")
def small_maps():
    shape = (1, 12, 6, 7)
    return compiled(dw_chain(shape, SMALL, seed=6), shape, seed=7)


def test_short_runs_take_the_whole_plane_kernel(small_maps):
    cm, _, _ = small_maps
    nodes = cm.ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["depthwise_plane"] * 4
    assert "runs of 7 outputs" in DepthwiseWide().decline(nodes[0])
    assert "tfc_depthwise_3x3_wide_s8 runs them" in DepthwisePlane().decline(compiled(dw_chain(), SHAPE)[0]
                                                                            .ir.nodes_of("conv2d")[0])


def test_whole_planes_on_both_host_builds_equal_the_interpreter(small_maps, tmp_path):
    cm, x, want = small_maps
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "dw_small")


def test_whole_planes_on_the_m7_equal_the_interpreter(small_maps, qemu):  # noqa: F811
    cm, x, want = small_maps
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 (inline assembly) vs the int8 interpreter")
