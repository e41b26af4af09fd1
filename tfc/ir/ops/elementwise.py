"""Elementwise ops: unary activations and broadcasting binary arithmetic."""
from __future__ import annotations

import math

import numpy as np

from tfc.ir.ops.base import (ACTIVATION_ATTRS, NUMERICS_ATTR, OUTPUT_CLAMP, Attr, OpSpec, apply_activation, broadcast_shapes,
                             real_type, register_op, shape_error)
from tfc.ir.types import DType, TensorType

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _int8_grid(q):
    """The same reals on int8 codes (uint8 params shift their zero point by -128)."""
    if q is None:
        raise ValueError("an op with a lookup table needs QuantParams on its input and output")
    if q.storage == DType.U8:
        return type(q)(q.scale, tuple(z - 128 for z in q.zero_point), q.axis, DType.I8)
    return q


def _table_reference(node, inputs):
    """out = table[in + 128] on the int8 grids of the node's input and output, read as reals."""
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    xq, yq = _int8_grid(node.inputs[0].quant), _int8_grid(node.output.quant)
    codes = quantize_array(inputs[0], xq, DType.I8).astype(np.int64) + 128
    return [dequantize_array(np.asarray(node.attrs["table"], dtype=np.int8)[codes], yq).astype(inputs[0].dtype)]


class UnaryOp(OpSpec):
    num_inputs = (1, 1)
    elementwise = True
    layout_agnostic = True

    def infer(self, node):
        return [real_type(node.inputs[0])]

    def reference(self, node, inputs):
        x = inputs[0]
        return [np.asarray(self.compute(x, node.attrs)).astype(x.dtype, copy=False)]

    def compute(self, x, attrs):
        raise NotImplementedError


@register_op
class Relu(UnaryOp):
    name = "relu"
    is_clamp = True
    grid_transparent = True
    attrs = dict(NUMERICS_ATTR)
    compute = staticmethod(lambda x, a: np.maximum(x, 0))

    def clamp_bounds(self, attrs):
        return 0.0, math.inf


@register_op
class Clip(UnaryOp):
    """Clamp to [min, max]; ReLU6 is clip{min=0, max=6}."""
    name = "clip"
    is_clamp = True
    grid_transparent = True
    attrs = {"min": Attr("float", -math.inf), "max": Attr("float", math.inf), **NUMERICS_ATTR}

    def clamp_bounds(self, attrs):
        return attrs["min"], attrs["max"]
    compute = staticmethod(lambda x, a: np.clip(x, a["min"], a["max"]))


@register_op
class Sigmoid(UnaryOp):
    name = "sigmoid"
    fixed_int8_output = (1 / 256, -128)
    any_int8_output_grid = True      # tfc_lut_s8
    compute = staticmethod(lambda x, a: 1.0 / (1.0 + np.exp(-x.astype(np.float64))))


@register_op
class Tanh(UnaryOp):
    name = "tanh"
    fixed_int8_output = (1 / 128, 0)
    any_int8_output_grid = True      # tfc_lut_s8
    compute = staticmethod(lambda x, a: np.tanh(x))


@register_op
class HardSigmoid(UnaryOp):
    name = "hardsigmoid"
    attrs = {"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}
    compute = staticmethod(lambda x, a: np.clip(np.float32(a["alpha"]) * x + np.float32(a["beta"]), 0, 1))


@register_op
class HardSwish(UnaryOp):
    name = "hardswish"
    # cmsis: TFLite Micro's integer HARD_SWISH as a table; onnxruntime: the float function's table.
    attrs = dict(NUMERICS_ATTR)
    compute = staticmethod(lambda x, a: x * np.clip(x / np.float32(6) + np.float32(0.5), 0, 1))


@register_op
class Gelu(UnaryOp):
    """GELU, exact (erf) or with the tanh approximation."""
    name = "gelu"
    attrs = {"approximate": Attr("str", "none")}

    def compute(self, x, a):
        x64 = x.astype(np.float64)
        if a["approximate"] == "tanh":
            return 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
        return 0.5 * x64 * (1 + _erf(x64 / math.sqrt(2)))


@register_op
class Lut(UnaryOp):
    """An elementwise chain of a QDQ graph as its int8 table: out = table[in + 128] on the
    input's and output's grids (tfc.passes.fusion.qdq_table), with the QDQ graph's intermediate
    roundings, so it matches onnxruntime (a QDQ GELU decomposition; attention's scalar scale)."""
    name = "lut"
    attrs = {"table": Attr("ints")}
    reference = staticmethod(lambda node, inputs: _table_reference(node, inputs))


@register_op
class Erf(UnaryOp):
    name = "erf"
    compute = staticmethod(lambda x, a: _erf(x.astype(np.float64)))


@register_op
class Sqrt(UnaryOp):
    name = "sqrt"
    compute = staticmethod(lambda x, a: np.sqrt(x))


@register_op
class Exp(UnaryOp):
    name = "exp"
    compute = staticmethod(lambda x, a: np.exp(x))


@register_op
class Neg(UnaryOp):
    name = "neg"
    compute = staticmethod(lambda x, a: -x)


@register_op
class Abs(UnaryOp):
    name = "abs"
    compute = staticmethod(lambda x, a: np.abs(x))


@register_op
class Reciprocal(UnaryOp):
    name = "reciprocal"
    compute = staticmethod(lambda x, a: 1 / x)


@register_op
class Cast(OpSpec):
    name = "cast"
    elementwise = True
    layout_agnostic = True
    attrs = {"to": Attr("str")}

    def infer(self, node):
        try:
            return [node.inputs[0].type.with_dtype(DType(node.attrs["to"]))]
        except ValueError:
            raise shape_error(node, f"cannot cast to '{node.attrs['to']}'") from None

    def reference(self, node, inputs):
        return [inputs[0].astype(DType(node.attrs["to"]).numpy)]


class BinaryOp(OpSpec):
    num_inputs = (2, 2)
    elementwise = True
    broadcasting_binary = True
    layout_agnostic = True

    def infer(self, node):
        a, b = (real_type(v) for v in node.inputs)
        dtype = a.dtype if a.dtype.is_float or not b.dtype.is_float else b.dtype
        return [TensorType(broadcast_shapes(node, a.shape, b.shape), dtype)]

    def reference(self, node, inputs):
        out_dtype = node.outputs[0].dtype.numpy if node.outputs else np.result_type(*inputs)
        y = np.asarray(self.compute(inputs[0], inputs[1]))
        if "act_min" in self.attrs:
            y = apply_activation(y, node.attrs)
        return [y.astype(out_dtype, copy=False)]


def _binary(op_name, fn, doc="", fused_activation=False, numerics=False, **traits):
    attrs = {**(ACTIVATION_ATTRS if fused_activation else {}), **(NUMERICS_ATTR if numerics else {})}
    cls = type(op_name.capitalize(), (BinaryOp,), {
        "name": op_name, "doc": doc, "compute": staticmethod(fn), "attrs": attrs,
        "output_clamp": OUTPUT_CLAMP if fused_activation else None, **traits})
    return register_op(cls)


def _divide(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(a / b).astype(np.result_type(a, b))  # ONNX integer Div truncates
    return a / b


# numerics: onnxruntime's QLinearAdd (tfc/kernels/ort_add.py) for a QDQ model's add.
Add = _binary("add", np.add, fused_activation=True, numerics=True)
Sub = _binary("sub", np.subtract, fused_activation=True, calibration_method="mse")
Mul = _binary("mul", np.multiply, fused_activation=True)
Div = _binary("div", _divide)


@register_op
class Pow(BinaryOp):
    """x ** y; the result has the base's type (ONNX), e.g. int32 ** float32 is int32."""
    name = "pow"

    def infer(self, node):
        a, b = (real_type(v) for v in node.inputs)
        return [TensorType(broadcast_shapes(node, a.shape, b.shape), a.dtype)]

    @staticmethod
    def compute(a, b):
        return np.power(a.astype(np.float64), b.astype(np.float64))


Maximum = _binary("max", np.maximum)
Minimum = _binary("min", np.minimum)
