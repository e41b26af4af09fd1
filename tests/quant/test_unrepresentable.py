"""Models the int8 kernels cannot compute exactly are refused at compile time, naming the node
and tensor (found by fuzzing, issue 19): requantization shifts past 30, int32 accumulators that
can overflow, integer inputs or weights in a float model, models too large to fit the target
before calibration allocates for them."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfc
from tfc.errors import QuantizationError, TargetError
from tfc.quant.fixed_point import quantize_multiplier


def _qdq_gemm(s_x=0.02, s_w=0.01, s_y=0.05, w=None, bias=None):
    """x -> Q/DQ -> Gemm(DQ(int8 W), DQ(int32 bias)) -> Q/DQ -> y, all scales given."""
    w = np.arange(-8, 8, dtype=np.int8).reshape(4, 4) if w is None else w
    bias = np.zeros(4, np.int32) if bias is None else bias
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("sx", np.array(s_x, np.float32)), ("zx", np.array(0, np.int8)), ("W", w),
        ("sw", np.array(s_w, np.float32)), ("zw", np.array(0, np.int8)), ("B", bias),
        ("sb", np.array(s_x * s_w, np.float32)), ("zb", np.array(0, np.int32)),
        ("sy", np.array(s_y, np.float32)), ("zy", np.array(0, np.int8))]]
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             helper.make_node("DequantizeLinear", ["W", "sw", "zw"], ["wd"]),
             helper.make_node("DequantizeLinear", ["B", "sb", "zb"], ["bd"]),
             helper.make_node("Gemm", ["xd", "wd", "bd"], ["g"], name="fc", transB=1),
             helper.make_node("QuantizeLinear", ["g", "sy", "zy"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_baseline_compiles():
    tfc.compile(_qdq_gemm())


@pytest.mark.parametrize("s_y", [1e-38, 1e-30], ids=["1e-38", "1e-30"])
def test_a_requantization_shift_past_30_is_refused(s_y):
    with pytest.raises(QuantizationError, match=r"needs a left shift of \d+, at most 30") as e:
        tfc.compile(_qdq_gemm(s_y=s_y))
    assert "fc" in str(e.value)


def test_quantize_multiplier_is_bounded_on_both_sides():
    assert quantize_multiplier(2.0 ** -40) == (0, 0)          # flushed: exact, as TFLite does
    assert quantize_multiplier(2.0 ** 29)[1] == 30
    with pytest.raises(QuantizationError, match="left shift of 31"):
        quantize_multiplier(2.0 ** 30)


def test_an_accumulator_that_can_overflow_int32_is_refused():
    bias = np.array([2**31 - 1, 0, 0, 0], np.int32)
    with pytest.raises(QuantizationError, match="output channel 0 can reach an int32 accumulator") as e:
        tfc.compile(_qdq_gemm(bias=bias))
    assert e.value.node and "@B" in str(e.value)


def _float_conv(in_type=TensorProto.FLOAT, w_dtype=np.float32, pads=(1, 1, 1, 1), w_scale=1.0, b=None):
    x = helper.make_tensor_value_info("x", in_type, [1, 3, 8, 8])
    inits = [numpy_helper.from_array((np.ones((4, 3, 3, 3)) * w_scale).astype(w_dtype), "w")]
    inputs = ["x", "w"]
    if b is not None:
        inits.append(numpy_helper.from_array(np.asarray(b, np.float32), "b"))
        inputs.append("b")
    out = 8 + pads[0] + pads[2] - 2
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, out, 8 + pads[1] + pads[3] - 2])
    graph = helper.make_graph([helper.make_node("Conv", inputs, ["y"], name="conv", pads=list(pads))],
                              "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CALIBRATION = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("in_type", [TensorProto.INT16, TensorProto.INT32, TensorProto.INT64])
def test_an_integer_input_of_a_float_model_is_refused(in_type):
    with pytest.raises(QuantizationError, match="graph input %x is i(16|32|64)"):
        tfc.compile(_float_conv(in_type=in_type), calibration=CALIBRATION)


def test_integer_weights_without_params_are_refused():
    with pytest.raises(QuantizationError, match="weights @w are i32 without quantization parameters") as e:
        tfc.compile(_float_conv(w_dtype=np.int32), calibration=CALIBRATION)
    assert e.value.node == "conv"


def test_the_fit_is_checked_before_calibration(monkeypatch):
    """pads of 1000 once made calibration allocate gigabytes before the fit check (checked by
    what ran, not by time: calibration must not start)."""
    from tfc.passes.quantize import ptq

    def calibrate(*a, **kw):
        raise AssertionError("calibration ran before the fit check")

    monkeypatch.setattr(ptq, "annotate", calibrate)
    with pytest.raises(TargetError, match=r"cannot fit cortex-m7 \(SRAM: conv2d 'conv' alone needs"):
        tfc.compile(_float_conv(pads=(1000,) * 4), calibration=CALIBRATION)


def test_a_channel_whose_bias_dwarfs_its_weights_gets_a_coarser_weight_scale():
    """PTQ keeps the int32 bias within half of int32 (not clipped, no overflow in the kernel)."""
    cm = tfc.compile(_float_conv(w_scale=1e-9, b=[1e3, 0, 0, 0]), calibration=CALIBRATION, target="host")
    conv = next(n for n in cm.ir.nodes if n.op == "conv2d")
    bias = conv.inputs[2].data.astype(np.int64)
    assert abs(bias[0]) <= 2**30, bias
    y = cm.run(CALIBRATION[:1])[0]
    assert np.all(np.isfinite(y))
