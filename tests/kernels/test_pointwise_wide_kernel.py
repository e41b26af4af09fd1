"""tfc_pointwise_wide_s8: 1x1 int8 conv2d layers of the shapes it takes (4, 8, 12 and 64 input
channels: no loop, an odd and an even count of blocks after the first, a long loop; a strided 1x1;
an odd pixel count) give the int8 interpreter's integers (the dense conv twin) bit for bit: portable
and emulated-DSP host builds under ASan/UBSan, and the emulated Cortex-M7 (the assembly), whole
and on bands of rows (fused tiles), at the full int8 range and a narrower activation range.
tflite-micro agreement on real models: tests/backends/cmsis/test_models.py."""
from __future__ import annotations

import dataclasses

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
from tfc.kernels.conv_wide import ConvWide
from tfc.kernels.lowering import lower_for
from tfc.kernels.pointwise_wide import PointwiseWide, pointwise_records, pointwise_weights
from tfc.kernels.tiles import mark_region
from tfc.quant import node_params as npar

# (c_out, stride, relu) applied in a chain from SHAPE's channels, all 1x1
CHAIN = [(8, 1, True),      # 4 input channels: one block, no loop
         (12, 1, True),     # 8: one block after the first (the loop's second half)
         (64, 2, False),    # 12: two blocks after the first; strided; the full int8 range, no relu
         (16, 1, True),     # 64: a long loop
         (6, 1, True)]      # 16 -> 6 output channels: declined (not a multiple of 4)
SHAPE = (1, 4, 9, 7)        # 63 pixels, 15 after the stride: odd counts


def pointwise_chain(seed=0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits, cin, last = [], [], SHAPE[1], "x"
    for k, (cout, stride, relu) in enumerate(CHAIN):
        inits += [numpy_helper.from_array(rng.normal(0, 0.4, (cout, cin, 1, 1)).astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(rng.normal(0, 0.3, cout).astype(np.float32), f"b{k}")]
        nodes.append(helper.make_node("Conv", [last, f"w{k}", f"b{k}"], [f"c{k}"], kernel_shape=[1, 1],
                                      strides=[stride, stride]))
        last = f"c{k}"
        if relu:
            nodes.append(helper.make_node("Relu", [last], [f"r{k}"]))
            last = f"r{k}"
        cin = cout
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))
    y = helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, CHAIN[-1][0], 5, 4])
    graph = helper.make_graph(nodes, "pointwise_chain", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compile_chain():
    rng = np.random.default_rng(1)
    calibration = rng.normal(0, 1, (16, *SHAPE)).astype(np.float32).transpose(0, 1, 3, 4, 2)   # NHWC
    cm = tfc.compile(pointwise_chain(), target="cortex-m7", input_layout="nhwc", calibration=calibration)
    shape = tuple(cm.ir.inputs[0].shape)
    x = rng.integers(-128, 128, (5, *shape), dtype=np.int8)
    return cm, x


@pytest.fixture(scope="module")
def chain():
    return compile_chain()


def _builds_equal_the_interpreter(cm, x, tmp_path, what: str = "") -> None:
    """Both host builds (ASan/UBSan) and the emulated M7 give the int8 interpreter's integers."""
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "m")
    assert_exact(cm.run(x, raw=True)[0], want, f"emulated Cortex-M7{what} vs the int8 interpreter")


def test_the_pointwise_kernel_takes_every_1x1_in_fours(chain):
    cm, _ = chain
    nodes = cm.ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["pointwise_wide"] * 4 + ["conv_wide"]
    assert "in fours" in PointwiseWide().decline(nodes[-1])
    assert [npar.conv_params(n).activation.min for n in nodes[:4]] == [-128] * 4    # the full-range clamp


def test_builds_equal_the_interpreter(chain, tmp_path, qemu):  # noqa: F811
    cm, x = chain
    _builds_equal_the_interpreter(cm, x, tmp_path)


def test_a_narrower_activation_range_and_pruned_channels_equal_the_interpreter(tmp_path, qemu):  # noqa: F811
    # The relus of layers 0 and 1 become clamps to [0.1, 1.0]: the kernel's SSUB16/SEL clamp
    # instead of SSAT16 (layer 2 keeps the full range). Layer 3 gets two pruned channels (zero
    # weights) with VWW's +-2^30 biases, too large for the folded requantization: they output a
    # constant. Its own model: the fixture's firmware is built.
    cm, x = compile_chain()
    for n in cm.ir.nodes_of("conv2d")[:2]:
        n.attrs.update(act_min=0.1, act_max=1.0)
    pruned = cm.ir.nodes_of("conv2d")[3]
    pruned.inputs[1].data[5:7] = 0
    pruned.inputs[2].data[5:7] = [2 ** 30, -2 ** 30]
    wq = pruned.inputs[1].quant               # channel 6's scale as VWW's (shift -26: no offset fold)
    pruned.inputs[1].quant = dataclasses.replace(wq, scale=tuple(s * (1e-6 if c == 6 else 1)
                                                                 for c, s in enumerate(wq.scale)))
    assert npar.conv_params(pruned).shifts[6] < -24
    assert "requantization" in ConvWide().decline(pruned)
    ranges = [npar.conv_params(n).activation for n in cm.ir.nodes_of("conv2d")[:3]]
    assert all(r.min > -128 and r.max < 127 for r in ranges[:2]) and (ranges[2].min, ranges[2].max) == (-128, 127)
    assert [select(n).name for n in cm.ir.nodes_of("conv2d")[:4]] == ["pointwise_wide"] * 4
    _builds_equal_the_interpreter(cm, x, tmp_path, " (activation range)")


def test_weights_hold_each_weight_once_doubled_in_the_kernel_order():
    w = np.random.default_rng(0).integers(-127, 128, (8, 1, 1, 12)).astype(np.int8)
    wide = pointwise_weights(w).reshape(2, 3, 2, 4, 2)      # [quad, block, word, channel, half]
    for c in range(8):
        for i in range(12):
            assert wide[c // 4, i // 4, i % 2, c % 4, (i % 4) // 2] == 2 * int(w[c, 0, 0, i]), (c, i)


def test_records_group_biases_then_requantization_by_quad(chain):
    cm, _ = chain
    node = cm.ir.nodes_of("conv2d")[1]
    p = npar.conv_params(node)
    rec = pointwise_records(node.inputs[1].data, node.inputs[2].data, p).reshape(-1, 16)
    assert rec.shape == (3, 16)
    assert list(rec[:, 4::3].reshape(-1)) == list(p.multipliers)
    assert list(rec[:, 6::3].reshape(-1)) == [-s for s in p.shifts]
    w = node.inputs[1].data.reshape(12, -1).astype(np.int64)
    assert list(rec[:, :4].reshape(-1)) == list(2 * (node.inputs[2].data + p.input_offset * w.sum(axis=1)))


def test_on_bands_equal_the_interpreter(tmp_path, qemu):  # noqa: F811
    # tests/kernels/test_tiles.py's chain (its 1x1 on 8 channels in a fused-tile region): each
    # band's call keeps the layer's geometry and gets its output rows and its input row.
    g = _chain_graph()
    last = next(i for i, n in enumerate(g.nodes) if n.op == "conv2d_add")
    mark_region(g.nodes[:last + 1], [*range(0, g.nodes[last].output.shape[1], 2), g.nodes[last].output.shape[1]],
                "top-down", reuse=True)
    assert "pointwise_wide" in {select(n).name for n in g.nodes[:last + 1]}
    cm = tfc.compile(g, target="cortex-m7", pipeline="plan-memory{reorder=false}")
    assert len(lower_for(cm.ir, target="cortex-m7").regions) == 1
    x = np.random.default_rng(4).integers(-128, 128, (3, *g.inputs[0].shape), dtype=np.int8)
    _builds_equal_the_interpreter(cm, x, tmp_path, ", on bands,")
