"""tfc_convolve_wide_s8: int8 conv2d layers of the shapes it takes (first layers with 1 and 3 input
channels and asymmetric padding, a window row not a multiple of 4, 3x3 bodies, strided 1x1) run on
int16-widened weights and give the int8 interpreter's integers (the dense conv twin) bit for bit:
portable and emulated-DSP host builds under ASan/UBSan, and the emulated Cortex-M7 (inline
assembly), whole and on bands of rows (fused tiles). tflite-micro agreement on real models:
tests/backends/cmsis/test_models.py."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact
from tests.kernels.test_tiles import _chain_graph
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc import interp
from tfc.kernels import select
from tfc.kernels.conv_wide import ConvWide, channel_records, ring_bytes, wide_conv_decline, wide_conv_weights
from tfc.kernels.lowering import lower_for
from tfc.kernels.tiles import mark_region

# (c_out, kernel (h, w), stride, pads [top, left, bottom, right]) applied in a chain from 3 channels
CHAIN = [(8, (3, 3), 2, [0, 0, 1, 1]),     # VWW's first layer: 3 channels, asymmetric padding
         (6, (3, 5), 1, [1, 2, 1, 2]),     # window rows of 5 x 8 = 40 values: widened straight
         (10, (1, 1), 2, [0, 0, 0, 0]),    # a strided 1x1 (ResNet's shortcut)
         (4, (3, 3), 1, [1, 1, 1, 1]),     # window rows of 30 values: through the int8 column
         (5, (1, 1), 1, [0, 0, 0, 0])]     # odd C_OUT: declined, runs arm_convolve_1x1_s8_fast
SHAPE = (1, 3, 11, 13)


def conv_chain(seed=0, chain=CHAIN, shape=SHAPE) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits, cin, last, (h, w) = [], [], shape[1], "x", shape[2:]
    for k, (cout, (kh, kw), stride, pads) in enumerate(chain):
        inits += [numpy_helper.from_array(rng.normal(0, 0.4, (cout, cin, kh, kw)).astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(rng.normal(0, 0.3, cout).astype(np.float32), f"b{k}")]
        nodes += [helper.make_node("Conv", [last, f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[kh, kw],
                                   strides=[stride, stride], pads=pads),
                  helper.make_node("Relu", [f"c{k}"], [f"r{k}"])]
        cin, last = cout, f"r{k}"
        h, w = (h + pads[0] + pads[2] - kh) // stride + 1, (w + pads[1] + pads[3] - kw) // stride + 1
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, chain[-1][0], h, w])
    graph = helper.make_graph(nodes, "conv_chain", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def chain():
    rng = np.random.default_rng(1)
    calibration = rng.normal(0, 1, (16, *SHAPE)).astype(np.float32).transpose(0, 1, 3, 4, 2)   # NHWC
    cm = tfc.compile(conv_chain(), target="cortex-m7", input_layout="nhwc", calibration=calibration)
    shape = tuple(cm.ir.inputs[0].shape)
    x = rng.integers(-128, 128, (5, *shape), dtype=np.int8)
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    return cm, x, want


def test_the_wide_kernel_takes_every_even_conv(chain):
    cm, _, _ = chain
    # the 3-channel first layer runs tfc_convolve_first_s8 (tfc.kernels.conv_first)
    assert [select(n).name for n in cm.ir.nodes_of("conv2d")] == ["conv_first"] + ["conv_wide"] * 3 + ["conv_1x1"]
    assert "odd number of output channels" in wide_conv_decline(cm.ir.nodes_of("conv2d")[-1])


def test_both_host_builds_equal_the_interpreter(chain, tmp_path):
    cm, x, want = chain
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "conv_chain")


def test_emulated_m7_equals_the_interpreter(chain, qemu):  # noqa: F811
    cm, x, want = chain
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 (inline assembly) vs the int8 interpreter")


def test_wide_layout_holds_each_weight_once_in_the_kernel_order():
    w = np.random.default_rng(0).integers(-127, 128, (4, 1, 2, 3)).astype(np.int8)   # K = 6 -> Kp = 8
    wide = wide_conv_weights(w).reshape(2, 2, 2, 4)        # [pair, block, channel, 4 values]
    flat = w.reshape(4, 6)
    for c in range(4):
        for i in range(6):
            assert wide[c // 2, i // 4, c % 2, [0, 2, 1, 3].index(i % 4)] == flat[c, i], (c, i)
    assert np.count_nonzero(wide) == np.count_nonzero(w)


def test_a_channel_outside_the_folded_requantization_is_declined(chain):
    cm, _, _ = chain
    node = cm.ir.nodes_of("conv2d")[0]
    p = ConvWide().params(node)
    wide = p.__class__(**{**p.__dict__, "shifts": (3,) + p.shifts[1:]})      # a left shift on channel 0
    assert "output channel 0" in channel_records(node.inputs[1].data, None, wide)


def test_a_target_without_the_flash_keeps_int8_weights(chain):
    cm, _, _ = chain
    m7 = lower_for(cm.ir, target="cortex-m7")
    assert [la.kernel for la in m7.layers if la.op == "conv2d"].count("conv_wide") == 3
    # The same graph against a flash budget the widened weights overflow: the widest go back.
    from tfc.kernels.lowering import CODE_RESERVE_BYTES, lower
    int8_bytes = sum(v.type.nbytes for v in cm.ir.constants.values())
    tight = lower(cm.ir, name="m", build="dsp", flash_bytes=int8_bytes + CODE_RESERVE_BYTES + 1)
    assert not {"conv_wide", "conv_first"} & {la.kernel for la in tight.layers}


def residual_block(c=8, hw=(6, 7), seed=2) -> onnx.ModelProto:
    """x -> conv 3x3 -> relu -> conv 3x3 -> + x -> relu: fuse makes the second conv a conv2d_add."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (c, c, 3, 3)).astype(np.float32), f"w{k}") for k in (0, 1)]
    inits += [numpy_helper.from_array(rng.normal(0, 0.2, c).astype(np.float32), f"b{k}") for k in (0, 1)]
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c1", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    shape = [1, c, *hw]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_conv_add_on_the_wide_conv_equals_the_interpreter(tmp_path, qemu):  # noqa: F811
    rng = np.random.default_rng(3)
    calibration = rng.normal(0, 1, (16, 1, 6, 7, 8)).astype(np.float32)
    cm = tfc.compile(residual_block(), target="cortex-m7", input_layout="nhwc", calibration=calibration)
    assert [select(n).name for n in cm.ir.nodes] == ["conv_wide", "conv_add_wide"]
    _builds_equal_the_interpreter(cm, rng.integers(-128, 128, (4, 1, 6, 7, 8), dtype=np.int8), tmp_path)


def _builds_equal_the_interpreter(cm, x, tmp_path, what: str = "") -> None:
    """Both host builds (ASan/UBSan) and the emulated M7 give the int8 interpreter's integers."""
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "m")
    assert_exact(cm.run(x, raw=True)[0], want, f"emulated Cortex-M7{what} vs the int8 interpreter")


@pytest.mark.parametrize("order, reuse, rows", [("top-down", True, 1), ("bottom-up", False, 2)])
def test_the_wide_kernels_on_bands_equal_the_interpreter(order, reuse, rows, tmp_path, qemu):  # noqa: F811
    # A fused-tile region through conv_wide and conv_add_wide (tests/kernels/test_tiles.py's chain):
    # each band's call keeps the layer's whole geometry and gets its output rows and the row its
    # input pointer is at; halo rows kept or recomputed, on both host builds and the M7.
    g = _chain_graph()
    last = next(i for i, n in enumerate(g.nodes) if n.op == "conv2d_add")
    h = g.nodes[last].output.shape[1]
    mark_region(g.nodes[:last + 1], [*range(0, h, rows), h], order, reuse=reuse)
    assert {"conv_first", "conv_add_wide"} <= {select(n).name for n in g.nodes[:last + 1]}
    cm = tfc.compile(g, target="cortex-m7", pipeline="plan-memory{reorder=false}")
    (region,) = lower_for(cm.ir, target="cortex-m7").regions
    assert len(region.bands) == -(-h // rows)
    x = np.random.default_rng(4).integers(-128, 128, (3, *g.inputs[0].shape), dtype=np.int8)
    _builds_equal_the_interpreter(cm, x, tmp_path, ", wide kernels on bands,")


# Input channels in fours: the ring of widened input rows. Stride 2 on an odd output width (the
# last pixel pairs with one beyond the row), asymmetric padding, a 3x5 window at stride 1, and a
# strided 1x1 (no ring: its window is one pixel).
RING_CHAIN = [(8, (3, 3), 2, [0, 0, 1, 1]), (8, (3, 5), 1, [1, 2, 1, 2]), (6, (1, 1), 2, [0, 0, 0, 0])]


def test_the_ring_of_input_rows_equals_the_interpreter(tmp_path, qemu):  # noqa: F811
    shape = (1, 8, 10, 11)     # 8 input channels: conv_first takes first layers of up to 4
    rng = np.random.default_rng(6)
    calibration = rng.normal(0, 1, (16, *shape)).astype(np.float32).transpose(0, 1, 3, 4, 2)   # NHWC
    cm = tfc.compile(conv_chain(5, RING_CHAIN, shape), target="cortex-m7", input_layout="nhwc",
                     calibration=calibration)
    nodes = cm.ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["conv_wide"] * 3
    assert [ring_bytes(n) > 0 for n in nodes] == [True, True, False]
    assert nodes[0].output.shape[2] % 2 == 1
    _builds_equal_the_interpreter(cm, rng.integers(-128, 128, (3, *cm.ir.inputs[0].shape), dtype=np.int8), tmp_path)
