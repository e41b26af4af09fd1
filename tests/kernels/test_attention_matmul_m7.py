"""The attention core's batch matmuls (q k^T and p v: two activations, both with zero points, so
arm_batch_matmul_s8 runs its rhs-offset path) and the head split/merge transposes, on every build:
portable and emulated-DSP host builds under ASan/UBSan and the emulated Cortex-M7 give the int8
interpreter's integers bit for bit. Bounds against onnxruntime: tests/backends/cmsis/
test_attention_blocks.py."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import STRICT, int8_inputs
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc import interp
from tfc.backends.cmsis import HostRunner, write_project


def attention_model(heads: int, tokens: int, width: int) -> onnx.ModelProto:
    """softmax(q k^T / sqrt(d)) v on [1, heads, tokens, width] inputs, k given untransposed."""
    shape = [1, heads, tokens, width]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("q", "k", "v")]
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Mul", ["s", "scale"], ["s2"]),
             helper.make_node("Softmax", ["s2"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["o"])]
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [width ** -0.5])
    graph = helper.make_graph(nodes, "attention", io, [helper.make_tensor_value_info("o", TensorProto.FLOAT, shape)],
                              [scale])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("heads, tokens, width", [(2, 16, 24), (3, 9, 20)])
def test_attention_core_equals_the_interpreter_on_every_build(heads, tokens, width, tmp_path, qemu):  # noqa: F811
    rng = np.random.default_rng(tokens)
    shape = (6, 1, heads, tokens, width)
    samples = {n: rng.normal(0, s, shape).astype(np.float32) for n, s in (("q", 1.0), ("k", 1.0), ("v", 0.7))}
    cm = tfc.compile(attention_model(heads, tokens, width), target="cortex-m7", calibration=samples)
    assert "batch_matmul" in [n.op for n in cm.ir.nodes] or "attention" in [n.op for n in cm.ir.nodes]
    assert any(v.quant.zero_point[0] != 0 for v in cm.ir.inputs[1:])        # an rhs with an offset
    ints = int8_inputs(cm.ir, [samples[v.name][:3] for v in cm.ir.inputs])
    want = np.stack([interp.run(cm.ir, [x[i] for x in ints])[0] for i in range(3)])
    for target in ("host", "cortex-m7"):
        info = write_project(cm.ir, tmp_path / target, target=target, name="m")
        got = HostRunner(info, cflags=STRICT, sanitize=True).run_raw(ints)[0]
        assert_exact(got.reshape(want.shape), want, f"{target} host build (ASan/UBSan) vs the int8 interpreter")
    got = np.asarray(cm.run(ints, raw=True)[0]).reshape(want.shape)
    assert_exact(got, want, "emulated Cortex-M7 vs the int8 interpreter")
