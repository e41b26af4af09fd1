"""tfc_add_table_s8: TFLite Micro's int8 ADD with each input's rescaling from a table. The C
(portable and emulated-DSP builds, ASan/UBSan through run_c_exact and the strict host builds, and
the emulated Cortex-M7) equals the int8 interpreter, whose twin is arm_elementwise_add_s8's
reference, bit for bit; the model
agrees with onnxruntime; a small add keeps the table-free kernel, and says why. Raw parameters
(Hypothesis, both builds, in place): tests/backends/cmsis/test_cmsis_kernels.py."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact, int8_inputs, onnxruntime_on_grid
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc import interp
from tfc.kernels import select
from tfc.kernels.add_table import AddTable, rescaled_inputs, table_decline
from tfc.quant import fixed_point as fp
from tfc.quant import reference as ref
from tfc.quant.kernel_params import add_params

SHAPE = (1, 8, 6, 6)       # 288 elements: above the tables' minimum


def residual_model(relu: bool) -> onnx.ModelProto:
    """x + conv1x1(x) (two activations), then + a constant (flash), optionally a ReLU (clamp)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.4, (8, 8, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.5, SHAPE).astype(np.float32), "c")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["x", "y"], ["s"]),
             helper.make_node("Add", ["s", "c"], ["t" if relu else "out"])]
    if relu:
        nodes.append(helper.make_node("Relu", ["t"], ["out"]))
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(SHAPE))], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compiled(relu: bool, target: str = "cortex-m7"):
    model = residual_model(relu)
    rng = np.random.default_rng(1)
    cm = tfc.compile(model, target=target, calibration=rng.normal(0, 1, (16, *SHAPE)).astype(np.float32))
    return model, cm, int8_inputs(cm.ir, [rng.normal(0, 0.8, (4, *SHAPE)).astype(np.float32)])


@pytest.mark.parametrize("relu", [False, True], ids=["full range", "relu clamp"])
def test_builds_equal_the_interpreter_and_onnxruntime(relu, tmp_path, qemu):  # noqa: F811
    model, cm, (x,) = compiled(relu)
    adds = cm.ir.nodes_of("add")
    assert [select(n).name for n in adds] == ["add_table", "add_table"]
    want = np.stack([interp.run(cm.ir, [s])[0] for s in x])
    assert_both_host_builds_exact(cm.ir, x, want, tmp_path, "m")
    assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 vs the int8 interpreter")
    near = onnxruntime_on_grid(model, cm.ir, [x])[0]
    assert np.abs(want.astype(int) - near.astype(int)).max() <= 2


def test_a_small_add_keeps_the_table_free_kernel():
    model = residual_model(False)
    small = [1, 8, 2, 2]
    for v in (*model.graph.input, *model.graph.output):
        v.type.tensor_type.shape.Clear()
        v.type.tensor_type.shape.dim.extend([onnx.TensorShapeProto.Dimension(dim_value=d) for d in small])
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.ones(small, np.float32), "c"))
    cm = tfc.compile(model, target="cortex-m7", calibration=np.random.default_rng(0).normal(0, 1, (4, *small))
                     .astype(np.float32))
    add = cm.ir.nodes_of("add")[0]
    assert select(add).name == "add"
    assert "32 elements" in AddTable().decline(add)


def test_tables_hold_twice_the_reference_rescaling():
    p = add_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
    r1, r2 = rescaled_inputs(p)
    a = np.arange(-128, 128, dtype=np.int8)
    b = a[::-1].copy()
    # the sum of the two rescaled values, requantized, is the reference add
    got = np.clip(fp.requantize(r1[a.astype(int) + 128] + r2[b.astype(int) + 128], p.out_mult, p.out_shift) + p.out_offset,
                  -128, 127).astype(np.int8)
    assert_exact(got, ref.add(a, b, p), "tables' sum vs arm_elementwise_add_s8's reference")
    assert table_decline(p) is None
    assert "monotone" in table_decline(dataclasses.replace(p, input_1_offset=2000))
