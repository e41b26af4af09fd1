"""From a node of the int8 IR to the integer parameters of the fixed-point kernels (conv,
depthwise, fully connected, add/mul, pooling, softmax, requantize): multipliers, shifts, offsets
and clamps exactly as TFLite Micro derives them. The kernels of tfc.kernels call these; the
interpreter and the C backend both ask the kernels, so the two cannot drift apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.errors import QuantizationError, UnsupportedError
from tfc.ir.graph import Node
from tfc.ir.types import QuantParams
from tfc.quant import kernel_params as kp
from tfc.quant.operands import per_tensor as _per_tensor
from tfc.quant.fixed_point import quantize_multiplier


def _round_half_away_f32(x: np.float32) -> int:
    t = np.trunc(x)
    return int(t + (np.sign(x) if abs(x - t) >= 0.5 else 0))


def clamp_range(act_min: float, act_max: float, out: QuantParams) -> kp.ActivationRange:
    """A real-valued clamp [act_min, act_max] on the int8 grid of `out`, computed as TFLite's
    CalculateActivationRangeQuantized does (float32 division, round half away from zero)."""
    scale, zp = np.float32(out.scale[0]), out.zero_point[0]
    lo, hi = kp.INT8_MIN, kp.INT8_MAX
    if not math.isinf(act_min):
        lo = max(lo, zp + _round_half_away_f32(np.float32(act_min) / scale))
    if not math.isinf(act_max):
        hi = min(hi, zp + _round_half_away_f32(np.float32(act_max) / scale))
    if lo > hi:
        raise QuantizationError(f"activation range [{act_min}, {act_max}] is empty on the output grid")
    return kp.ActivationRange(lo, hi)


def is_depthwise(node: Node) -> bool:
    x, w = node.inputs[0], node.inputs[1]
    group = node.attrs["group"]
    return group > 1 and group == x.shape[3] and w.shape[3] == 1


def is_pointwise_fast(node: Node) -> bool:
    """arm_convolve_1x1_s8_fast: 1x1, no padding, stride 1, no dilation, no groups."""
    a, w = node.attrs, node.inputs[1]
    return (w.shape[1:3] == (1, 1) and a["pad"] == [0, 0, 0, 0] and a["stride"] == [1, 1]
            and a["dilation"] == [1, 1] and a["group"] == 1)


def conv_params(node: Node):
    x, w = node.inputs[0], node.inputs[1]
    xq, yq = _per_tensor(x, "input", node), _per_tensor(node.output, "output", node)
    wq = w.quant
    if wq is None or any(z != 0 for z in wq.zero_point):
        raise QuantizationError("conv weights must be int8, symmetric (zero point 0)", node=node.name, op=node.op)
    a = node.attrs
    act = clamp_range(a["act_min"], a["act_max"], yq)
    common = dict(out_channels=w.shape[0], stride=tuple(a["stride"]), padding=(a["pad"][0], a["pad"][1]),
                  dilation=tuple(a["dilation"]))
    if is_depthwise(node):
        p = kp.depthwise_conv_params(xq.scale[0], xq.zero_point[0], wq.scale, yq.scale[0], yq.zero_point[0],
                                     ch_mult=w.shape[0] // x.shape[3], **common)
    else:
        p = kp.conv_params(xq.scale[0], xq.zero_point[0], wq.scale, yq.scale[0], yq.zero_point[0], **common)
    return _with_activation(p, act)


@dataclass(frozen=True)
class ConvAddParams:
    """conv2d_add: the conv onto the mid grid, then the add of residual and conv result."""

    conv: kp.ConvParams
    add: kp.AddParams
    residual_first: bool


def mid_params(node: Node) -> QuantParams:
    a = node.attrs
    if a["mid_scale"] <= 0:
        raise QuantizationError(f"{node.op} has no mid grid (mid_scale) on an int8 graph", node=node.name, op=node.op)
    return QuantParams((a["mid_scale"],), (a["mid_zero_point"],))


def conv_add_params(node: Node) -> ConvAddParams:
    if node.attrs["group"] != 1:
        raise UnsupportedError("conv2d_add with groups", node=node.name, op=node.op)
    return ConvAddParams(conv_mid_params(node), residual_add_params(node), node.attrs["residual_first"])


def conv_mid_params(node: Node) -> kp.ConvParams:
    """A fused conv2d_* node's conv: onto its mid grid, with its own clamp."""
    x, w = node.inputs[0], node.inputs[1]
    xq, mq = _per_tensor(x, "input", node), mid_params(node)
    a = node.attrs
    conv = kp.conv_params(xq.scale[0], xq.zero_point[0], w.quant.scale, mq.scale[0], mq.zero_point[0],
                          out_channels=w.shape[0], stride=tuple(a["stride"]), padding=(a["pad"][0], a["pad"][1]),
                          dilation=tuple(a["dilation"]))
    return _with_activation(conv, clamp_range(a["act_min"], a["act_max"], mq))


def linear_mid_params(node: Node) -> kp.FullyConnectedParams:
    """A fused linear_* node's linear layer: onto its mid grid, with its own clamp."""
    x, w = node.inputs[0], node.inputs[1]
    xq, mq = _per_tensor(x, "input", node), mid_params(node)
    p = kp.fully_connected_params(xq.scale[0], xq.zero_point[0], w.quant.scale, mq.scale[0], mq.zero_point[0])
    return _with_activation(p, clamp_range(node.attrs["act_min"], node.attrs["act_max"], mq))


def residual_add_params(node: Node) -> kp.AddParams:
    """A fused *_add node's add of its residual (input 3) and the layer's result on the mid grid,
    operands in the unfused add's order."""
    rq, yq, mq = _per_tensor(node.inputs[3], "residual", node), _per_tensor(node.output, "output", node), mid_params(node)
    a = node.attrs
    first, second = (rq, mq) if a["residual_first"] else (mq, rq)
    add = kp.add_params(first.scale[0], first.zero_point[0], second.scale[0], second.zero_point[0],
                        yq.scale[0], yq.zero_point[0])
    return _with_activation(add, clamp_range(a["add_act_min"], a["add_act_max"], yq))


def _with_activation(p, act: kp.ActivationRange):
    from dataclasses import replace
    return replace(p, activation=act)


def linear_params(node: Node) -> kp.FullyConnectedParams:
    x, w = node.inputs[0], node.inputs[1]
    xq, yq = _per_tensor(x, "input", node), _per_tensor(node.output, "output", node)
    wq = w.quant
    if wq is None or any(z != 0 for z in wq.zero_point):
        raise QuantizationError("linear weights must be int8, symmetric (zero point 0)", node=node.name, op=node.op)
    p = kp.fully_connected_params(xq.scale[0], xq.zero_point[0], wq.scale, yq.scale[0], yq.zero_point[0])
    return _with_activation(p, clamp_range(node.attrs["act_min"], node.attrs["act_max"], yq))


def binary_params(node: Node, *, broadcast: bool = False):
    """add/mul (TFLite's ADD and MUL Prepare; SUB's is ADD's). `broadcast`: the kernel walks
    operands of any broadcasting shapes, else only a constant operand may broadcast."""
    a, b = node.inputs
    aq, bq, yq = (_per_tensor(v, n, node) for v, n in ((a, "input 1"), (b, "input 2"), (node.output, "output")))
    if not broadcast and any(v.shape != node.output.shape and not v.is_constant for v in (a, b)):
        raise UnsupportedError(f"int8 {node.op} of shapes {list(a.shape)} and {list(b.shape)}: "
                               "broadcasting is not supported by the int8 kernels", node=node.name, op=node.op)
    act = clamp_range(node.attrs["act_min"], node.attrs["act_max"], yq)
    if node.op == "add" or node.op == "sub":
        p = kp.add_params(aq.scale[0], aq.zero_point[0], bq.scale[0], bq.zero_point[0], yq.scale[0], yq.zero_point[0])
    elif node.op == "mul":
        p = kp.mul_params(aq.scale[0], aq.zero_point[0], bq.scale[0], bq.zero_point[0], yq.scale[0], yq.zero_point[0])
    else:
        raise UnsupportedError(f"no int8 kernel for {node.op}", node=node.name, op=node.op)
    return _with_activation(p, act)


def pool_params(node: Node) -> kp.PoolParams:
    xq, yq = _per_tensor(node.inputs[0], "input", node), _per_tensor(node.output, "output", node)
    if xq != yq:
        raise QuantizationError("int8 pooling needs the same quantization on input and output",
                                node=node.name, op=node.op, hint="the quantize-int8 pass shares them")
    a = node.attrs
    if node.op == "avgpool2d" and a["count_include_pad"] and any(a["pad"]):
        raise UnsupportedError("int8 average pooling that counts padded pixels", node=node.name, op=node.op,
                               hint="CMSIS-NN averages over in-bounds pixels only (count_include_pad=0)")
    return kp.PoolParams(filter=tuple(a["kernel"]), stride=tuple(a["stride"]), padding=(a["pad"][0], a["pad"][1]),
                         activation=clamp_range(a["act_min"], a["act_max"], yq))


SOFTMAX_GRIDS = ("tflite", "output")     # the softmax op's `grid` attribute


def softmax_params(node: Node, *, any_axis: bool = False) -> kp.SoftmaxParams:
    """TFLite's SOFTMAX Prepare; `any_axis`: the kernel walks an axis other than the last."""
    x = node.inputs[0]
    if not any_axis and node.attrs["axis"] % x.type.rank != x.type.rank - 1:
        raise UnsupportedError("int8 softmax runs over the last axis only", node=node.name, op=node.op)
    grid = node.attrs.get("grid", "tflite")
    if grid not in SOFTMAX_GRIDS:
        raise QuantizationError(f"softmax grid={grid!r} (expected one of {', '.join(SOFTMAX_GRIDS)})",
                                node=node.name, op=node.op)
    xq, yq = _per_tensor(x, "input", node), _per_tensor(node.output, "output", node)
    return kp.softmax_params(xq.scale[0], output_scale=yq.scale[0], output_zero_point=yq.zero_point[0],
                             any_grid=grid == "output")


def requantize_params(node: Node) -> kp.RequantizeParams:
    """For quantize (int8 -> int8), relu and clip: rescale, then clamp."""
    xq, yq = _per_tensor(node.inputs[0], "input", node), _per_tensor(node.output, "output", node)
    act = clamp_range(*node.spec.clamp_bounds(node.attrs), yq) if node.spec.is_clamp else kp.ActivationRange()
    return grid_change(xq, yq, act)


def grid_change(xq: QuantParams, yq: QuantParams, act: kp.ActivationRange = kp.ActivationRange()
                ) -> kp.RequantizeParams:
    """tfc_requantize_s8's parameters moving int8 values from per-tensor grid xq onto yq."""
    # Identity only when scale AND zero point agree; equal scales with other zero points still
    # shift the integers (the multiplier is then exactly 1.0 and requantize adds the offset).
    same = xq.scale == yq.scale and xq.zero_point == yq.zero_point
    mult, shift = (0, 0) if same else quantize_multiplier(float(np.float32(xq.scale[0])) / float(np.float32(yq.scale[0])))
    return kp.RequantizeParams(-xq.zero_point[0], mult, shift, yq.zero_point[0], act, same)
