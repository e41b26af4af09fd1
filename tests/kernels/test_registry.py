"""The kernel registry: every kernel is one object that knows its ops, why it declines a node,
its C function and template; `select` tries an op's kernels by priority and, when none runs the
node, says what each one said. The verifier's trait invariant and the QDQ Gather that a missing
op-name entry once made 2-3x wrong (issue 13) are checked here too."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfc.errors import UnsupportedError, VerificationError
from tfc.ir.graph import Graph
from tfc.ir.ops import registered_ops
from tfc.ir.types import DType, QuantParams, SparseLayout, TensorType
from tfc.ir.verify import verify
from tfc.kernels import get_kernel, kernels_for, registered_kernels, select

TEMPLATES = Path(__file__).resolve().parents[2] / "tfc" / "backends" / "cmsis" / "templates"
Q = QuantParams((0.05,), (0,))


def test_every_kernel_runs_registered_ops_and_has_a_template():
    ops = registered_ops()
    for kernel in registered_kernels():
        assert kernel.ops and all(op in ops for op in kernel.ops), kernel
        assert kernel.template_source or (TEMPLATES / kernel.template_name).is_file(), kernel
        assert kernel in kernels_for(kernel.ops[0])
    assert get_kernel("conv").function == "arm_convolve_s8"


def _conv_graph(kernel=(3, 3), group=1, cin=8, cout=8, numerics="cmsis", sparse=False) -> tuple[Graph, object]:
    g = Graph("k")
    x = g.add_input("x", TensorType((1, 6, 6, cin), DType.I8), quant=Q)
    w = np.ones((cout, *kernel, cin // group), np.int8)
    wq = QuantParams((0.01,) * cout, (0,) * cout, axis=0)
    wv = g.add_constant("w", w, quant=wq)
    if sparse:
        wv.sparse = SparseLayout(block=4, density=1.0)
    pad = [k // 2 for k in kernel] * 2
    node = g.add_node("conv2d", [x, wv], {"group": group, "pad": pad, "numerics": numerics})
    node.output.quant = QuantParams((0.1,), (3,))
    g.outputs = [node.output]
    return g, node


def test_select_tries_the_specialised_kernels_first():
    assert select(_conv_graph()[1]).name == "conv"
    assert select(_conv_graph(kernel=(1, 1))[1]).name == "conv_1x1"
    assert select(_conv_graph(group=8, cout=8)[1]).name == "depthwise_conv"
    assert select(_conv_graph(numerics="onnxruntime")[1]).name == "ort_conv"
    assert select(_conv_graph(kernel=(1, 1), numerics="onnxruntime")[1]).name == "ort_matmul"
    assert select(_conv_graph(sparse=True)[1]).name == "sparse_conv"
    # on an int8 graph with int8 weights, the pre-widened conv takes the 3x3 (not the 8-channel 1x1)
    g, node = _conv_graph()
    node.output.type = TensorType(node.output.shape, DType.I8)
    node.inputs[1].data = np.ones((8, 3, 3, 8), np.int8)
    assert select(node).name == "conv_wide"


def test_a_pinned_node_runs_its_kernel_or_says_why_not():
    from tfc.kernels.base import KERNEL_KEY
    g, node = _conv_graph()
    node.output.type = TensorType(node.output.shape, DType.I8)
    node.inputs[1].data = np.ones((8, 3, 3, 8), np.int8)
    node.meta[KERNEL_KEY] = "conv"              # CMSIS-NN's arm_convolve_s8, not the faster conv_wide
    assert select(node).name == "conv"
    node.meta[KERNEL_KEY] = "conv_1x1"          # declines a 3x3: no other kernel may run it then
    with pytest.raises(UnsupportedError, match="conv_wide: the node is pinned to kernel conv_1x1"):
        select(node)


def test_only_kernels_that_read_a_layout_run_a_node_naming_it():
    g, node = _conv_graph(sparse=True)
    node.attrs["in_layout"] = "nchw"             # what fuse-layout writes; the shapes are not re-inferred here
    assert select(node).name == "sparse_conv"
    node.inputs[1].sparse = None
    with pytest.raises(UnsupportedError, match=r"conv: reads and writes nhwc only \(in_layout=nchw\)"):
        select(node)


def test_a_node_no_kernel_runs_gets_every_kernels_reason():
    g, node = _conv_graph(kernel=(1, 1))
    [kernel] = [k for k in kernels_for("conv2d") if k.name == "sparse_conv"]
    assert "dense" in kernel.decline(node)
    g2 = Graph("none")
    x = g2.add_input("x", TensorType((1, 4), DType.I8), quant=Q)
    n = g2.add_node("neg", [x])
    with pytest.raises(UnsupportedError, match="no int8 kernel for op neg"):
        select(n)


def test_the_verifier_rejects_data_movement_that_changes_the_int8_grid():
    g = Graph("mv")
    x = g.add_input("x", TensorType((1, 2, 3), DType.I8), quant=Q)
    node = g.add_node("reshape", [x], {"shape": [1, 6]})
    node.output.quant = QuantParams((0.11,), (5,))
    g.outputs = [node.output]
    with pytest.raises(VerificationError, match="must keep the grid"):
        verify(g)
    node.output.quant = Q
    verify(g)


def _qdq_gather_model():
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh
    inits = [nh.from_array(np.array(0.05, np.float32), "s1"), nh.from_array(np.array(0, np.int8), "z1"),
             nh.from_array(np.array(0.11, np.float32), "s2"), nh.from_array(np.array(5, np.int8), "z2"),
             nh.from_array(np.array([3, 1, 7], np.int64), "idx")]
    nodes = [h.make_node("QuantizeLinear", ["x", "s1", "z1"], ["q1"]),
             h.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["d1"]),
             h.make_node("Gather", ["d1", "idx"], ["g"], axis=1),
             h.make_node("QuantizeLinear", ["g", "s2", "z2"], ["q2"]),
             h.make_node("DequantizeLinear", ["q2", "s2", "z2"], ["y"])]
    graph = h.make_graph(nodes, "gq", [h.make_tensor_value_info("x", T.FLOAT, [1, 10])],
                         [h.make_tensor_value_info("y", T.FLOAT, [1, 3])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _gather_c_and_onnxruntime(model, **compile_options):
    """tfc's generated C (host) and onnxruntime on 64 random inputs, as floats on the output grid."""
    ort = pytest.importorskip("onnxruntime")
    import tfc
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    xs = np.random.default_rng(0).uniform(-7, 7, (64, 1, 10)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = np.stack([session.run(None, {"x": x})[0] for x in xs])
    cm = tfc.compile(model, target="host", **compile_options)
    assert [n.op for n in cm.ir.nodes] == ["gather", "quantize"]
    inq, outq = cm.ir.inputs[0].quant, cm.ir.outputs[0].quant
    raw = np.asarray(cm.run(np.stack([quantize_array(x, inq, inq.storage) for x in xs]), on="host", raw=True))
    return cm, dequantize_array(raw.reshape(want.shape), outq), want


def test_qdq_gather_onto_another_grid_equals_onnxruntime():
    """x -> Q/DQ(0.05, 0) -> Gather(axis 1, [3, 1, 7]) -> Q/DQ(0.11, 5): tfc gave [-1.54, -5.28, 6.05]
    (the gathered integers read on the output grid), onnxruntime [-1.98, -4.62, 3.3]. A requantize
    now follows the gather, and in a QDQ model that is not a TFLite conversion a pure requantization
    follows what the graph means (DequantizeLinear then QuantizeLinear in float32) by default, so
    the C equals onnxruntime exactly."""
    cm, got, want = _gather_c_and_onnxruntime(_qdq_gather_model())
    assert select(cm.ir.nodes[1]).name == "ort_requantize"
    assert np.array_equal(got, want), np.abs(got - want).max()


def test_qdq_gather_with_tflite_numerics_is_within_one_step():
    """numerics="cmsis" asks for TFLite Micro's fixed-point requantization throughout: its
    double rounding may differ from onnxruntime's float rounding by one step of the output grid,
    never more."""
    cm, got, want = _gather_c_and_onnxruntime(_qdq_gather_model(), numerics="cmsis")
    assert select(cm.ir.nodes[1]).name == "requantize"
    assert 0 < np.abs(got - want).max() <= 0.11 + 1e-6


def test_a_tf2onnx_model_keeps_tflite_requantization():
    """The same graph signed by tf2onnx (a TFLite conversion: TFLite Micro defines its results)."""
    model = _qdq_gather_model()
    model.producer_name = "tf2onnx"
    cm, _, _ = _gather_c_and_onnxruntime(model)
    assert select(cm.ir.nodes[1]).name == "requantize"


def test_tfc_ops_lists_traits_and_kernels():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "tfc.cli", "ops"], capture_output=True, text=True, check=True).stdout
    block = out.split("\nconv2d\n")[1].split("\n")[:2]
    assert "weight input 1" in block[0] and "output clamp" in block[0]
    assert "conv (arm_convolve_s8)" in block[1] and "sparse_conv" in block[1]
    assert "gather\n    traits:  moves-data" in out


def test_qdq_gather_with_onnxruntime_numerics_equals_onnxruntime():
    """The same model with onnxruntime's arithmetic (quantize-int8{numerics=onnxruntime}, what tfc
    picks for models onnxruntime.quantization wrote): the requantize after the gather becomes
    tfc_ort_requantize_s8 and the generated C equals onnxruntime exactly."""
    ort = pytest.importorskip("onnxruntime")
    import tfc
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    model = _qdq_gather_model()
    xs = np.random.default_rng(0).uniform(-7, 7, (64, 1, 10)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = np.stack([session.run(None, {"x": x})[0] for x in xs])
    pipeline = "canonicalize,fuse{residual=false},sparsify,quantize-int8{numerics=onnxruntime},fuse,plan-memory"
    cm = tfc.compile(model, target="host", pipeline=pipeline)
    assert [n.op for n in cm.ir.nodes] == ["gather", "quantize"]
    assert select(cm.ir.nodes[1]).name == "ort_requantize"
    inq, outq = cm.ir.inputs[0].quant, cm.ir.outputs[0].quant
    raw = np.asarray(cm.run(np.stack([quantize_array(x, inq, inq.storage) for x in xs]), on="host", raw=True))
    got = dequantize_array(raw.reshape(want.shape), outq)
    assert np.array_equal(got, want), np.abs(got - want).max()
