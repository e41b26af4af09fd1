"""tfc_fully_connected_wide_s8: int8 linear layers (a QDQ ONNX chain with per-tensor weights, as
TFLite writes them) run on int16-widened weights and give the integers of the int8 interpreter
(the FullyConnected twin) bit for bit: the portable and the emulated-DSP host builds under
ASan/UBSan, and the emulated Cortex-M7 (the inline-assembly path); onnxruntime within 1 LSB."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import STRICT
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc import interp
from tfc.backends.cmsis import HostRunner, write_project
from tfc.kernels import select
from tfc.kernels.fc_wide import MAX_WIDE_BYTES, FullyConnectedWide, wide_weights

# (cols, rows, bias, relu): column and row tails (37 -> 10), AD's 8 -> 128 and 128 -> 8, odd small ones
LAYERS = [(37, 10, True, True), (10, 128, True, True), (128, 8, True, False), (8, 5, False, True),
          (5, 3, True, False)]


def qdq_chain(layers, seed=0) -> onnx.ModelProto:
    """int8 x -> DequantizeLinear -> per layer MatMul(DQ(int8 W, per tensor)) [+ DQ(int32 b)] [Relu]
    -> QuantizeLinear -> ... -> int8 y: the shape of a TFLite int8 model converted by tf2onnx."""
    rng = np.random.default_rng(seed)
    nodes, inits, scale, zp = [], [], 0.05, 3
    inits += [numpy_helper.from_array(np.array(scale, np.float32), "s0"),
              numpy_helper.from_array(np.array(zp, np.int8), "z0")]
    for k, (cols, rows, bias, relu) in enumerate(layers):
        sw, sy, zy = 0.01 + 0.002 * k, 0.06 + 0.01 * k, -20 + 7 * k
        inits += [numpy_helper.from_array(rng.integers(-127, 128, (cols, rows)).astype(np.int8), f"W{k}"),
                  numpy_helper.from_array(np.array(sw, np.float32), f"sw{k}"),
                  numpy_helper.from_array(np.array(0, np.int8), f"zw{k}"),
                  numpy_helper.from_array(np.array(sy, np.float32), f"s{k + 1}"),
                  numpy_helper.from_array(np.array(zy, np.int8), f"z{k + 1}")]
        nodes += [helper.make_node("DequantizeLinear", [f"q{k}" if k else "x", f"s{k}", f"z{k}"], [f"xf{k}"]),
                  helper.make_node("DequantizeLinear", [f"W{k}", f"sw{k}", f"zw{k}"], [f"Wf{k}"]),
                  helper.make_node("MatMul", [f"xf{k}", f"Wf{k}"], [f"m{k}"])]
        last = f"m{k}"
        if bias:
            inits += [numpy_helper.from_array(rng.integers(-4000, 4000, rows).astype(np.int32), f"b{k}"),
                      numpy_helper.from_array(np.array(scale * sw, np.float32), f"sb{k}"),
                      numpy_helper.from_array(np.array(0, np.int32), f"zb{k}")]
            nodes += [helper.make_node("DequantizeLinear", [f"b{k}", f"sb{k}", f"zb{k}"], [f"bf{k}"]),
                      helper.make_node("Add", [last, f"bf{k}"], [f"a{k}"])]
            last = f"a{k}"
        if relu:
            nodes.append(helper.make_node("Relu", [last], [f"r{k}"]))
            last = f"r{k}"
        out = "y" if k == len(layers) - 1 else f"q{k + 1}"
        nodes.append(helper.make_node("QuantizeLinear", [last, f"s{k + 1}", f"z{k + 1}"], [out]))
        scale, zp = sy, zy
    x = helper.make_tensor_value_info("x", TensorProto.INT8, [1, layers[0][0]])
    y = helper.make_tensor_value_info("y", TensorProto.INT8, [1, layers[-1][1]])
    graph = helper.make_graph(nodes, "fc_chain", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def chain():
    model = qdq_chain(LAYERS)
    cm = tfc.compile(model, target="cortex-m7", pipeline="canonicalize,quantize-int8,fuse,plan-memory")
    x = np.random.default_rng(1).integers(-128, 128, (6, 1, LAYERS[0][0]), dtype=np.int8)
    return model, cm, x


def test_wide_layout_holds_each_weight_once_in_the_kernel_order():
    w = np.random.default_rng(0).integers(-127, 128, (6, 7)).astype(np.int8)
    wide = wide_weights(w).reshape(2, 2, 4, 4)          # [group, block, row, 4 values]
    for r in range(6):
        for c in range(7):
            assert wide[r // 4, c // 4, r % 4, [0, 2, 1, 3].index(c % 4)] == w[r, c], (r, c)
    assert np.count_nonzero(wide) == np.count_nonzero(w)


def test_every_layer_runs_wide_and_equals_the_interpreter_on_both_host_builds(chain, tmp_path):
    model, cm, x = chain
    assert [select(n).name for n in cm.ir.nodes] == [FullyConnectedWide.name] * len(LAYERS)
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    for target in ("host", "cortex-m7"):        # portable C, then the DSP path emulated in C
        info = write_project(cm.ir, tmp_path / target, target=target, name="fc_chain")
        got = HostRunner(info, cflags=STRICT, sanitize=True).run_raw([x])[0]
        assert_exact(got, want, f"{target} build (ASan/UBSan) vs the int8 interpreter")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = np.stack([session.run(None, {"x": s})[0] for s in x])
    assert np.abs(want.astype(int) - theirs).max() <= 1, "int8 interpreter vs onnxruntime (QDQ in float) beyond 1 LSB"


def test_emulated_m7_equals_the_interpreter(chain, qemu):  # noqa: F811
    _, cm, x = chain
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 (inline assembly) vs the int8 interpreter")


def test_flash_reports_the_widened_weights(chain):
    _, cm, _ = chain
    wide = sum(wide_weights(n.inputs[1].data).nbytes for n in cm.ir.nodes)
    biases = sum(n.inputs[2].type.nbytes for n in cm.ir.nodes if len(n.inputs) > 2)
    assert cm.report.memory.weight_bytes == wide + biases


def test_declines_say_why():
    kernel = FullyConnectedWide()
    ptq = tfc.compile(qdq_chain([(16, 4, True, False)]), pipeline="canonicalize,quantize-int8")
    (node,) = ptq.ir.nodes
    assert kernel.decline(node) is None
    big_cols = MAX_WIDE_BYTES // 8 + 4            # 4 rows of int16 over the budget
    big = tfc.compile(qdq_chain([(big_cols, 4, True, False)]), pipeline="canonicalize,quantize-int8")
    reason = kernel.decline(big.ir.nodes[0])
    assert "exceed" in reason and f"{MAX_WIDE_BYTES:,}" in reason
    assert select(big.ir.nodes[0]).name == "fully_connected"
