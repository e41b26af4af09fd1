"""Neural-network ops, activations in NHWC: convolution, linear layers, pooling, normalization."""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tfc.ir.ops.base import (ACTIVATION_ATTRS, CELLS_ATTRS, LAYOUTS, NUMERICS_ATTR, OUTPUT_CLAMP, TO_NCHW, TO_NHWC,
                             Attr, OpSpec, apply_activation, broadcast_shapes, get_op, normalize_axis, real_type,
                             register_op, shape_error)
from tfc.ir.types import TensorType


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int) -> int:
    return (size + pad_begin + pad_end - (dilation * (kernel - 1) + 1)) // stride + 1


def _windows(x: np.ndarray, kernel, stride, dilation, pad, fill) -> np.ndarray:
    """[N,H,W,C] -> [N,OH,OW,Kh,Kw,C] windows of a padded NHWC tensor (a strided view)."""
    top, left, bottom, right = pad
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    kh, kw = kernel
    dh, dw = dilation
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    win = win[:, ::stride[0], ::stride[1], :, ::dh, ::dw]          # [N,OH,OW,C,Kh,Kw]
    return win.transpose(0, 1, 2, 4, 5, 3)


class _Windowed(OpSpec):
    """Shared shape rule of convolution and pooling over NHWC inputs."""

    def _spatial(self, node, x_shape, kernel):
        if len(x_shape) != 4:
            raise shape_error(node, f"expects a 4-D NHWC input, got shape {list(x_shape)}")
        a = node.attrs
        if len(a["stride"]) != 2 or len(a["pad"]) != 4 or len(a.get("dilation", [1, 1])) != 2:
            raise shape_error(node, "stride and dilation take 2 values, pad takes 4 (top, left, bottom, right)")
        dil = a.get("dilation", [1, 1])
        oh = conv_out_size(x_shape[1], kernel[0], a["stride"][0], dil[0], a["pad"][0], a["pad"][2])
        ow = conv_out_size(x_shape[2], kernel[1], a["stride"][1], dil[1], a["pad"][1], a["pad"][3])
        if oh <= 0 or ow <= 0:
            raise shape_error(node, f"window {kernel} does not fit input {list(x_shape)} with the given padding")
        return oh, ow


_CONV_ATTRS = {"stride": Attr("ints", [1, 1]), "dilation": Attr("ints", [1, 1]),
               "pad": Attr("ints", [0, 0, 0, 0]), "group": Attr("int", 1), **ACTIVATION_ATTRS, **NUMERICS_ATTR}


def conv_layouts(node) -> tuple[str, str]:
    """(input layout, output layout) of a conv2d: "nhwc" unless fuse folded a transpose into it."""
    keys = get_op(node.op).layout_attrs
    if not keys:
        return "nhwc", "nhwc"
    return node.attrs.get(keys[0], "nhwc"), node.attrs.get(keys[1], "nhwc")


def nhwc_shape(shape, layout: str) -> tuple[int, ...]:
    """A 4-D shape stored in `layout`, as NHWC."""
    return tuple(shape[p] for p in TO_NHWC) if layout == "nchw" else tuple(shape)


def conv_shapes(node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The NHWC shapes of a conv2d's input and output, whatever layouts it reads and writes."""
    lin, lout = conv_layouts(node)
    return nhwc_shape(node.inputs[0].type.shape, lin), nhwc_shape(node.output.type.shape, lout)


@register_op
class Conv2d(_Windowed):
    """2-D convolution. x: [N,H,W,Cin]; w: [Cout,Kh,Kw,Cin/group] (OHWI); b: [Cout].

    group == Cin == (Cout / multiplier) is a depthwise convolution. in_layout/out_layout "nchw":
    x is [N,Cin,H,W] / the result [N,Cout,H,W] (a model-boundary transpose folded in by fuse)."""

    name = "conv2d"
    output_clamp = OUTPUT_CLAMP
    weight_input = 1
    num_inputs = (2, 3)
    layout_attrs = ("in_layout", "out_layout")
    attrs = {**_CONV_ATTRS, "in_layout": Attr("str", "nhwc", quiet=True), "out_layout": Attr("str", "nhwc", quiet=True),
             **CELLS_ATTRS}

    def _layouts(self, node) -> tuple[str, str]:
        if self.layout_attrs is None:
            return "nhwc", "nhwc"
        lin, lout = (node.attrs[k] for k in self.layout_attrs)
        if lin not in LAYOUTS or lout not in LAYOUTS:
            raise shape_error(node, f"layouts {lin!r}, {lout!r}: each is one of {', '.join(LAYOUTS)}")
        return lin, lout

    def infer(self, node):
        lin, lout = self._layouts(node)
        [y] = self._infer_nhwc(node, lin)
        return [y.with_shape(tuple(y.shape[p] for p in TO_NCHW))] if lout == "nchw" else [y]

    def _infer_nhwc(self, node, lin):
        x, w = real_type(node.inputs[0]), real_type(node.inputs[1])
        if lin == "nchw":
            if x.rank != 4:
                raise shape_error(node, f"expects a 4-D NCHW input, got shape {list(x.shape)}")
            x = x.with_shape(nhwc_shape(x.shape, lin))
        g = node.attrs["group"]
        if len(w.shape) != 4:
            raise shape_error(node, f"weight must be 4-D [Cout,Kh,Kw,Cin/group], got {list(w.shape)}")
        if g <= 0 or x.shape[3] % g or w.shape[0] % g or w.shape[3] * g != x.shape[3]:
            raise shape_error(node, f"input channels {x.shape[3]}, weight {list(w.shape)} and group {g} disagree")
        if len(node.inputs) == 3 and tuple(node.inputs[2].shape) != (w.shape[0],):
            raise shape_error(node, f"bias shape {list(node.inputs[2].shape)} != [{w.shape[0]}]")
        oh, ow = self._spatial(node, x.shape, w.shape[1:3])
        return [TensorType((x.shape[0], oh, ow, w.shape[0]), x.dtype)]

    def macs(self, node):
        # Every output value reduces one Kh x Kw x Cin/group window (depthwise: Kh x Kw).
        return math.prod(node.outputs[0].shape) * math.prod(node.inputs[1].shape[1:])

    def reference(self, node, inputs):
        lin, lout = self._layouts(node)
        x, w = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        if lin == "nchw":
            x = x.transpose(TO_NHWC)
        [y] = self._reference_nhwc(node, x, w, inputs)
        return [np.ascontiguousarray(y.transpose(TO_NCHW))] if lout == "nchw" else [y]

    def _reference_nhwc(self, node, x, w, inputs):
        a = node.attrs
        g = a["group"]
        win = _windows(x, w.shape[1:3], a["stride"], a["dilation"], a["pad"], 0.0)
        cin_g, cout_g = w.shape[3], w.shape[0] // g
        outs = []
        for gi in range(g):
            wg = w[gi * cout_g:(gi + 1) * cout_g]
            xg = win[..., gi * cin_g:(gi + 1) * cin_g]
            outs.append(np.einsum("nhwijc,oijc->nhwo", xg, wg, optimize=True))
        y = np.concatenate(outs, axis=-1)
        if len(inputs) == 3:
            y = y + inputs[2].astype(np.float64)
        return [apply_activation(y, a).astype(np.float32)]


@register_op
class Linear(OpSpec):
    """Fully connected: y = x @ w.T + b, with w: [out, in] over the last axis of x."""

    name = "linear"
    output_clamp = OUTPUT_CLAMP
    weight_input = 1
    num_inputs = (2, 3)
    attrs = {**ACTIVATION_ATTRS, **NUMERICS_ATTR, **CELLS_ATTRS}

    def infer(self, node):
        x, w = real_type(node.inputs[0]), real_type(node.inputs[1])
        if len(w.shape) != 2 or x.shape[-1] != w.shape[1]:
            raise shape_error(node, f"input {list(x.shape)} does not match weight [out,in] {list(w.shape)}")
        if len(node.inputs) == 3 and tuple(node.inputs[2].shape) != (w.shape[0],):
            raise shape_error(node, f"bias shape {list(node.inputs[2].shape)} != [{w.shape[0]}]")
        return [TensorType(x.shape[:-1] + (w.shape[0],), x.dtype)]

    def macs(self, node):
        return math.prod(node.outputs[0].shape) * node.inputs[1].shape[1]

    def reference(self, node, inputs):
        y = inputs[0].astype(np.float64) @ inputs[1].astype(np.float64).T
        if len(inputs) == 3:
            y = y + inputs[2]
        return [apply_activation(y, node.attrs).astype(np.float32)]


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """np.matmul's result shape, from the shapes alone (shape inference must not allocate: a
    fuzzed dim of 2^31 would ask for terabytes); None if they cannot be multiplied."""
    if not a or not b:
        return None
    a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        return None
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        return None
    return (*batch, *(a2[-2:-1] if len(a) > 1 else ()), *(b2[-1:] if len(b) > 1 else ()))


@register_op
class MatMul(OpSpec):
    """numpy/ONNX matmul of two tensors (activations or constants), broadcasting batch dims."""

    name = "matmul"
    num_inputs = (2, 2)

    def infer(self, node):
        a, b = (real_type(v) for v in node.inputs)
        shape = matmul_shape(a.shape, b.shape)
        if shape is None:
            raise shape_error(node, f"cannot multiply {list(a.shape)} by {list(b.shape)}")
        return [TensorType(shape, a.dtype)]

    def macs(self, node):
        return math.prod(node.outputs[0].shape) * node.inputs[0].shape[-1]

    def reference(self, node, inputs):
        return [np.matmul(inputs[0].astype(np.float64), inputs[1].astype(np.float64)).astype(np.float32)]


@register_op
class AvgPool2d(_Windowed):
    name = "avgpool2d"
    same_grid_int8 = True
    output_clamp = OUTPUT_CLAMP
    attrs = {"kernel": Attr("ints"), "stride": Attr("ints", [1, 1]), "pad": Attr("ints", [0, 0, 0, 0]),
             "count_include_pad": Attr("bool", False), **ACTIVATION_ATTRS}

    def infer(self, node):
        x = real_type(node.inputs[0])
        oh, ow = self._spatial(node, x.shape, node.attrs["kernel"])
        return [TensorType((x.shape[0], oh, ow, x.shape[3]), x.dtype)]

    def reference(self, node, inputs):
        a = node.attrs
        x = inputs[0].astype(np.float64)
        win = _windows(x, a["kernel"], a["stride"], [1, 1], a["pad"], 0.0)
        total = win.sum(axis=(3, 4))
        if a["count_include_pad"]:
            count = a["kernel"][0] * a["kernel"][1]
        else:
            ones = np.ones(x.shape[:3] + (1,))
            count = _windows(ones, a["kernel"], a["stride"], [1, 1], a["pad"], 0.0).sum(axis=(3, 4))
        return [apply_activation(total / count, a).astype(np.float32)]


@register_op
class MaxPool2d(_Windowed):
    name = "maxpool2d"
    same_grid_int8 = True
    grid_transparent = True
    output_clamp = OUTPUT_CLAMP
    attrs = {"kernel": Attr("ints"), "stride": Attr("ints", [1, 1]), "pad": Attr("ints", [0, 0, 0, 0]),
             "dilation": Attr("ints", [1, 1]), **ACTIVATION_ATTRS}

    def infer(self, node):
        x = real_type(node.inputs[0])
        oh, ow = self._spatial(node, x.shape, node.attrs["kernel"])
        return [TensorType((x.shape[0], oh, ow, x.shape[3]), x.dtype)]

    def reference(self, node, inputs):
        a = node.attrs
        x = inputs[0]
        win = _windows(x, a["kernel"], a["stride"], a["dilation"], a["pad"], -np.inf)
        return [apply_activation(win.max(axis=(3, 4)), a).astype(x.dtype)]


@register_op
class ReduceMean(OpSpec):
    name = "reduce_mean"
    layout_agnostic = True
    calibration_headroom = True
    axis_attrs = ("axes",)
    sorted_axes = True
    # int8 rounding (tfc.quant.transformer_params.MeanParams): "tflite" = TFLite Micro's MEAN
    # integers, bit-exact with tflite-micro; "nearest" = the mean rounded once to the nearest
    # output level, for graphs tfc's own PTQ quantized (no oracle's integers to reproduce).
    attrs = {"axes": Attr("ints"), "keepdims": Attr("bool", True), **NUMERICS_ATTR,
             "rounding": Attr("str", "tflite", quiet=True)}

    def _axes(self, node, rank):
        return sorted({normalize_axis(node, a, rank) for a in node.attrs["axes"]})

    def infer(self, node):
        x = real_type(node.inputs[0])
        axes = self._axes(node, x.rank)
        if node.attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [x.with_shape(shape)]

    def reference(self, node, inputs):
        x = inputs[0]
        axes = tuple(self._axes(node, x.ndim))
        return [x.astype(np.float64).mean(axis=axes, keepdims=node.attrs["keepdims"]).astype(x.dtype)]


@register_op
class Softmax(OpSpec):
    name = "softmax"
    fixed_int8_output = (1 / 256, -128)
    any_int8_output_grid = True      # tfc_softmax_scaled_s8, with grid="output"
    # A row's largest probability is an extreme that moves from sample to sample (attention).
    calibration_headroom = True
    layout_agnostic = True
    axis_attrs = ("axis",)
    # int8 output grid: "tflite" = arm_softmax_s8's fixed 1/256, -128 (bit-exact with TFLite
    # Micro; another grid on the output is reached by a requantize after it); "output" = the
    # kernel writes onto the output's own scale (zero point -128) with one rounding, for graphs
    # tfc's own PTQ calibrated.
    attrs = {"axis": Attr("int", -1), **NUMERICS_ATTR, "grid": Attr("str", "tflite", quiet=True)}

    def infer(self, node):
        x = real_type(node.inputs[0])
        normalize_axis(node, node.attrs["axis"], x.rank)
        return [x]

    def reference(self, node, inputs):
        x = inputs[0].astype(np.float64)
        axis = node.attrs["axis"]
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return [(e / e.sum(axis=axis, keepdims=True)).astype(np.float32)]


@register_op
class LayerNorm(OpSpec):
    """Normalize over axes [axis, rank), then scale by gamma and shift by beta (optional)."""

    name = "layernorm"
    num_inputs = (2, 3)
    attrs = {"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5), **NUMERICS_ATTR, **CELLS_ATTRS}

    def infer(self, node):
        x = real_type(node.inputs[0])
        axis = normalize_axis(node, node.attrs["axis"], x.rank)
        norm_shape = x.shape[axis:]
        for v in node.inputs[1:]:
            broadcast_shapes(node, norm_shape, v.shape)
        return [x]

    def reference(self, node, inputs):
        x = inputs[0].astype(np.float64)
        axes = tuple(range(normalize_axis(node, node.attrs["axis"], x.ndim), x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + node.attrs["epsilon"]) * inputs[1]
        if len(inputs) == 3:
            y = y + inputs[2]
        return [y.astype(np.float32)]


@register_op
class BatchNorm(OpSpec):
    """Inference batch normalization along `axis`: inputs x, scale, bias, mean, var."""

    name = "batchnorm"
    layout_agnostic = True
    axis_attrs = ("axis",)
    layout_operands = 1       # scale, bias, mean and var are per-channel vectors
    num_inputs = (5, 5)
    attrs = {"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5), **NUMERICS_ATTR}

    def infer(self, node):
        x = real_type(node.inputs[0])
        axis = normalize_axis(node, node.attrs["axis"], x.rank)
        for v in node.inputs[1:]:
            if v.shape != (x.shape[axis],):
                raise shape_error(node, f"parameter shape {list(v.shape)} != [{x.shape[axis]}]")
        return [x]

    def reference(self, node, inputs):
        x, scale, bias, mean, var = (np.asarray(v, np.float64) for v in inputs)
        shape = [1] * x.ndim
        shape[node.attrs["axis"]] = -1
        r = lambda v: v.reshape(shape)
        y = (x - r(mean)) / np.sqrt(r(var) + node.attrs["epsilon"]) * r(scale) + r(bias)
        return [y.astype(np.float32)]


# ---- sparse output epilogues (tfc.passes.fusion.epilogue) -------------------------------------------
# A conv2d or linear with sparse generated-code weights that absorbed the elementwise node after
# it: the layer's result is rounded onto the grid the unfused layer wrote (mid_scale,
# mid_zero_point), then the node's integers are applied before the store. `fused_from` names the
# two ops it replaces (dense twins of a sparse build split it back: unfold_epilogues).
_MID_ATTRS = {"mid_scale": Attr("float", 0.0), "mid_zero_point": Attr("int", 0)}
_ADD_EPILOGUE_ATTRS = {"residual_first": Attr("bool", True), **_MID_ATTRS,
                       "add_act_min": Attr("float", float("-inf")), "add_act_max": Attr("float", float("inf"))}
_LUT_EPILOGUE_ATTRS = {"table": Attr("ints"), **_MID_ATTRS}


def _on_mid_grid(node, y):
    """The float result y as the unfused producer wrote it (rounded onto the mid grid)."""
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    from tfc.ir.types import QuantParams
    a = node.attrs
    if a["mid_scale"] <= 0:
        return y
    mid = QuantParams((a["mid_scale"],), (a["mid_zero_point"],))
    return dequantize_array(quantize_array(y, mid, mid.storage), mid)


def _add_epilogue_reference(node, y, residual):
    a = node.attrs
    total = _on_mid_grid(node, y).astype(np.float64) + residual.astype(np.float64)
    return [np.clip(total, a["add_act_min"], a["add_act_max"]).astype(np.float32)]


def _lut_epilogue_reference(node, y):
    """table[code] with the code on the mid grid, read on the output's grid."""
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    from tfc.ir.types import DType, QuantParams
    a = node.attrs
    mid = QuantParams((a["mid_scale"],), (a["mid_zero_point"],))
    codes = quantize_array(y, mid, DType.I8).astype(np.int64) + 128
    return [dequantize_array(np.asarray(a["table"], dtype=np.int8)[codes], node.output.quant).astype(np.float32)]


def _residual_type(node, y):
    residual = real_type(node.inputs[3])
    if residual.shape != y.shape:
        raise shape_error(node, f"residual shape {list(residual.shape)} != the layer's output {list(y.shape)}")
    return [y.with_dtype(residual.dtype) if not residual.dtype.is_float else y]


@register_op
class Conv2dAdd(Conv2d):
    """conv2d whose result is added to `residual`, written over the residual's bytes.

    Inputs: x, w, b, residual. The conv part is conv2d's (its clamp is act_min/act_max); on an
    int8 graph the conv result is first rounded onto the grid (mid_scale, mid_zero_point) the
    separate conv2d wrote, so the fused op computes exactly what conv2d then add computed. The
    add's own clamp is add_act_min/add_act_max; `residual_first` keeps the add's operand order
    (it decides which int8 rescaling each operand gets). The fuse pass makes this op so a
    residual block never holds the conv output and the skip tensor at once.
    """

    name = "conv2d_add"
    output_clamp = None       # act_min/act_max clamp the conv, before the add
    num_inputs = (4, 4)
    layout_attrs = None       # NHWC only
    attrs = {**_CONV_ATTRS, **_ADD_EPILOGUE_ATTRS}
    fused_from = ("conv2d", "add")

    def infer(self, node):
        return _residual_type(node, super().infer(node)[0])

    def reference(self, node, inputs):
        [y] = super().reference(node, inputs[:3])
        return _add_epilogue_reference(node, y, inputs[3])


@register_op
class LinearAdd(Linear):
    """linear whose result is added to `residual` (inputs: x, w, b, residual): conv2d_add's
    arithmetic for a linear layer (act_min/act_max clamp the layer, add_act_min/max the sum)."""

    name = "linear_add"
    output_clamp = None
    num_inputs = (4, 4)
    attrs = {**ACTIVATION_ATTRS, **NUMERICS_ATTR, **_ADD_EPILOGUE_ATTRS}
    fused_from = ("linear", "add")

    def infer(self, node):
        return _residual_type(node, super().infer(node)[0])

    def reference(self, node, inputs):
        [y] = super().reference(node, inputs[:3])
        return _add_epilogue_reference(node, y, inputs[3])


@register_op
class Conv2dLut(Conv2d):
    """conv2d whose int8 result (on the mid grid) indexes `table`: conv2d then lut."""

    name = "conv2d_lut"
    output_clamp = None
    attrs = {**Conv2d.attrs, **_LUT_EPILOGUE_ATTRS}
    fused_from = ("conv2d", "lut")

    def reference(self, node, inputs):
        return _lut_epilogue_reference(node, super().reference(node, inputs)[0])


@register_op
class LinearLut(Linear):
    """linear whose int8 result (on the mid grid) indexes `table`: linear then lut."""

    name = "linear_lut"
    output_clamp = None
    attrs = {**Linear.attrs, **_LUT_EPILOGUE_ATTRS}
    fused_from = ("linear", "lut")

    def reference(self, node, inputs):
        return _lut_epilogue_reference(node, super().reference(node, inputs)[0])


@register_op
class LinearHeads(Linear):
    """linear whose result is stored as reshape(split) then transpose(perm) of it (a q/k/v projection
    storing its heads apart, or transposed): linear, the reshapes, then the transpose. Made in sparse
    builds only (tfc.passes.fusion.heads), where the generated code stores each channel at its own
    offset; unfold_heads splits it again."""

    name = "linear_heads"
    producer = "linear"   # the op it folds (tfc.passes.fusion.heads)
    attrs = {**Linear.attrs, "split": Attr("ints"), "perm": Attr("ints")}

    def infer(self, node):
        [y] = super().infer(node)
        split, perm = tuple(node.attrs["split"]), tuple(node.attrs["perm"])
        if math.prod(split) != math.prod(y.shape) or sorted(perm) != list(range(len(split))):
            raise shape_error(node, f"split {list(split)} / perm {list(perm)} do not fit the result {list(y.shape)}")
        return [y.with_shape(tuple(split[p] for p in perm))]

    def reference(self, node, inputs):
        [y] = super().reference(node, inputs)
        return [np.ascontiguousarray(y.reshape(node.attrs["split"]).transpose(node.attrs["perm"]))]
