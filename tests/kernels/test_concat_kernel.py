"""tfc_concat_s8: calibrated float ONNX models with Concat reach int8 C that equals the int8
interpreter bit for bit (strict build, ASan/UBSan). Inputs on the output grid are copied (then
onnxruntime agrees exactly); inputs on other grids are rescaled with tfc_requantize_s8's fixed
point (== a requantize node, then the copy), within one output step of onnxruntime's float
rescale. Slice, Pad and Concat together pass quantize-int8's kernel check and the planner."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

import tfc
from tests.kernels.host_check import c_and_onnxruntime, int8_inputs, onnxruntime_on_grid, run_c_exact
from tfc.kernels import select
from tfc.kernels.lowering import lower_for
from tfc.memory.check import check_plan
from tfc.quant import reference as ref


def _model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "concat", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                                for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _compile(model, shapes, seed, scales=None):
    rng = np.random.default_rng(seed)
    scales = scales or [1.0] * len(shapes)
    calibration = {name: rng.normal(0, s, (16, *shape)).astype(np.float32)
                   for (name, shape), s in zip(shapes, scales)}
    cm = tfc.compile(model, target="host", calibration=calibration)
    samples = [rng.normal(0, 1.3 * s, (6, *shape)).astype(np.float32) for (_, shape), s in zip(shapes, scales)]
    return cm, int8_inputs(cm.ir, samples)


def test_concat_of_inputs_on_other_grids_and_a_constant(tmp_path):
    shapes = [("a", [1, 4, 6]), ("b", [1, 3, 6])]
    c = np.random.default_rng(7).uniform(-4, 4, (1, 2, 6)).astype(np.float32)
    model = _model([helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=1),
                    helper.make_node("Concat", ["a", "a"], ["z"], axis=-1)],
                   shapes, [("y", [1, 9, 6]), ("z", [1, 4, 12])], [onnx.numpy_helper.from_array(c, "c")])
    cm, ints = _compile(model, shapes, seed=0, scales=[1.0, 3.0])
    y, z = cm.ir.nodes_of("concat")
    py, pz = select(y).params(y), select(z).params(z)
    # b, the widest, sets the output's range: copied; a and the constant are rescaled.
    assert [g.identity for g in py.grids] == [False, True, False]
    assert [g.identity for g in pz.grids] == [True, True]              # concat(a, a) keeps a's grid
    assert py.outer == 1 and py.sizes == (24, 18, 12) and pz.outer == 4 and pz.sizes == (6, 6)
    got, want = c_and_onnxruntime(cm, model, ints, tmp_path)
    np.testing.assert_array_equal(got[1], want[1], err_msg="same-grid concat: C vs onnxruntime")
    diff = np.abs(got[0].astype(int) - want[0].astype(int))
    assert diff.max() <= 1, f"rescaled concat: C vs onnxruntime differ by {diff.max()} steps"
    # The rescale is the requantize kernel's: concat == requantize each input, then concatenate.
    by_name = {v.name: x for v, x in zip(cm.ir.inputs, ints)}
    parts = [ref.requantize(by_name[v.name], g) if v.data is None else
             np.broadcast_to(ref.requantize(v.data, g), (len(ints[0]), *v.shape))
             for v, g in zip(y.inputs, py.grids)]
    np.testing.assert_array_equal(got[0], np.concatenate(parts, axis=2))
    info = cm.save(tmp_path / "project")
    assert info.scratch_bytes == 0 and info.layers[0].weight_bytes == c.size   # the constant, int8 in flash


def test_float_model_with_slice_pad_concat_reaches_int8_c_with_a_sound_plan(tmp_path):
    """A conv's output split by Slices, one half padded, then concatenated: the whole chain passes
    quantize-int8's kernel check, each value gets its own arena bytes (no kernel here is in place),
    and the C equals the interpreter and stays near onnxruntime (the conv and the rescale round)."""
    w = np.random.default_rng(3).normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    ints64 = lambda name, v: helper.make_tensor(name, TensorProto.INT64, [len(v)], v)  # noqa: E731
    inits = [onnx.numpy_helper.from_array(w, "w"), ints64("s0", [0]), ints64("e0", [4]), ints64("s1", [4]),
             ints64("e1", [8]), ints64("ax", [1]), ints64("pads", [0, 0, 0, 1, 0, 0, 0, 0]),
             ints64("e6", [6]), ints64("ax3", [3]),
             helper.make_tensor("fill", TensorProto.FLOAT, [], [0.5])]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Slice", ["c", "s0", "e0", "ax"], ["lo"]),
             helper.make_node("Slice", ["c", "s1", "e1", "ax"], ["hi"]),
             helper.make_node("Pad", ["hi", "pads", "fill"], ["hp"]),
             helper.make_node("Slice", ["hp", "s0", "e6", "ax3"], ["hp6"]),   # shifted right by one column
             helper.make_node("Concat", ["lo", "hp6"], ["y"], axis=1)]
    shapes = [("x", [1, 3, 6, 6])]
    model = _model(nodes, shapes, [("y", [1, 8, 6, 6])], inits)
    cm, ints = _compile(model, shapes, seed=4)
    kernels = {select(n).name for n in cm.ir.nodes}
    assert {"slice", "pad", "concat"} <= kernels, cm.ir
    lowered = lower_for(cm.ir, target="host")
    check_plan(lowered.allocation.buffers, lowered.plan)
    by_value = lowered.allocation.value_buffer
    for node in cm.ir.nodes:
        if node.op in ("slice", "pad", "concat"):
            assert all(by_value[v.name] != by_value[node.output.name] for v in node.inputs if v.data is None)
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    want = onnxruntime_on_grid(model, cm.ir, ints)[0]
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2


def _qdq(name: str, scale: float, zero: int, nodes: list, inits: list) -> str:
    """name -> QuantizeLinear -> DequantizeLinear, as onnxruntime's quantizer writes it."""
    inits += [helper.make_tensor(f"{name}_s", TensorProto.FLOAT, [], [scale]),
              helper.make_tensor(f"{name}_z", TensorProto.INT8, [], [zero])]
    nodes += [helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
              helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"])]
    return f"{name}_dq"


def test_qdq_concat_equals_onnxruntime_on_every_input_value(tmp_path):
    """A QDQ model's concat (numerics="onnxruntime": tfc_concat_lut_s8) equals onnxruntime
    exactly for all 256 values of each rescaled input, a constant's among them. The fixed-point
    rescale rounds twice and misses by one step where the float result is not near a tie (a ViT's
    class token, scale 0.002 -> 0.037: 0.488 steps became 1)."""
    nodes, inits = [], [onnx.numpy_helper.from_array(
        (np.arange(-128, 128, dtype=np.float32) * 0.002013867 + 0.002013867).reshape(1, 256, 1), "c")]
    a, b, c = (_qdq("a", 0.0173, 3, nodes, inits), _qdq("b", 0.037118476, 0, nodes, inits),
               _qdq("c", 0.002013867, -1, nodes, inits))
    nodes.append(helper.make_node("Concat", [c, a, b], ["y"], axis=1))
    y = _qdq("y", 0.037118476, 0, nodes, inits)
    nodes.append(helper.make_node("Identity", [y.replace("_dq", "_q")], ["out"]))
    graph = helper.make_graph(nodes, "qdq_concat", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 256, 1]),
                                                    helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 8, 1])],
                              [helper.make_tensor_value_info("out", TensorProto.INT8, [1, 520, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    cm = tfc.compile(model, target="host", numerics="onnxruntime")
    (node,) = cm.ir.nodes_of("concat")
    assert select(node).name == "ort_concat"
    xa = ((np.arange(-128, 128) - 3) * np.float32(0.0173)).astype(np.float32).reshape(1, 256, 1)
    xb = np.linspace(-4, 4, 8, dtype=np.float32).reshape(1, 8, 1)
    ints = int8_inputs(cm.ir, [xa[None], xb[None]])
    got = run_c_exact(cm.ir, ints, tmp_path)[0]
    import onnxruntime as ort
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"a": xa, "b": xb})[0]
    np.testing.assert_array_equal(got.reshape(want.shape), want)
