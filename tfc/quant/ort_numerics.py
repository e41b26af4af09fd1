"""onnxruntime's int8 arithmetic, for graphs a QDQ model defined (node attribute numerics="onnxruntime").

A QDQ model means "what onnxruntime computes": its CPU provider fuses DequantizeLinear -> op ->
QuantizeLinear into QLinearConv / QLinearMatMul / QGemm / QLinearSoftmax and runs ReduceMean in
float between DQ and Q. Measured node by node on onnxruntime's own int8 tensors, tfc's
TFLite-style kernels differ from those at near-ties (0.1-0.5 % of conv/linear outputs, ~12 % of
softmax scores, ~6 % of token means), and a transformer amplifies them. The kernels below follow
onnxruntime's arithmetic instead, in float32 (the Cortex-M7 has a single-precision FPU):

- conv / linear / batch_matmul (QLinearConv, QLinearMatMul, QGemm; MLAS MlasRequantizeOutput):
  y = clamp(rint(float(acc) * scale_c) + z_y), acc the exact int32 sum plus the int32 bias,
  scale_c = float32(float32(s_x * s_w[c]) / s_y), rint rounding half to even;
- softmax (QLinearSoftmax): a float table t[d] = float32(exp((d + b) s_x)) for d = x - row max in
  -255..0, b = max(0, log(FLT_MAX / D) - 5) / s_x; per row the float32 sum of t in index order,
  y = clamp(rint(float32(t * floor(1 / s_y)) / sum) + z_y);
- reduce_mean (float ReduceMean between DQ and Q): the float32 sum of float32((q - z_x) s_x) in
  index order over the reduced axis, divided by the count, then divided by s_y, rint, plus z_y;
- layernorm (float LayerNormalization between DQ and Q): per row of dequantized x, sum(x) and
  sum(x * x) in 8 float lanes (x[h] into lane h % 8) reduced as a tree (lane i + i+4, then
  j + j+2, then 0 + 1), mean = sum / C, r = 1 / sqrt(sum2 / C - mean * mean + eps), then
  y = (x - mean) * r * gamma + beta, gamma and beta dequantized as DequantizeLinear does, then
  y / s_y, rint, plus z_y. That is the order the x86-64 (AVX) build of onnxruntime 1.32 matches
  on every LayerNorm output of the hybrid test model (its C++ reference loop, sequential with a
  division, does not); another build may sum in other lanes.

- add (fused QLinearAdd, x86-64 MLAS): tfc/kernels/ort_add.py, float32 with explicit fused
  multiply-adds (fmaf), the one exception to the rule below.

Everything is float32 arithmetic, one IEEE operation at a time (numpy float32 here; plain float
in C, no fused multiply-add by construction), so the interpreter and the C agree bit for bit.
These are tfc_ort_* kernels; CMSIS-NN's arm_* functions keep their own arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.errors import QuantizationError, UnsupportedError
from tfc.ir.graph import Node
from tfc.quant import kernel_params as kp
from tfc.quant.fixed_point import wrap_int32
from tfc.quant.operands import per_tensor
from tfc.quant.reference import _windows
from tfc.quant.transformer_params import batch_dims, check_batch_broadcast
from tfc.quant.transformer_params import mean_params as fixed_mean_params

ONNXRUNTIME = "onnxruntime"
f32 = np.float32


def onnxruntime_session(model):
    """The onnxruntime CPU session whose int8 arithmetic the tfc_ort_* kernels follow, for a QDQ
    model (a path or ModelProto). session.qdqisint8allowed=1 (onnxruntime's
    session_options_config_keys.h: 1 for Arm): int8 Q/DQ kept as int8, every node unit fused.
    x86's default (0) rewrites int8 to uint8 only partly and runs the mixed units in float."""
    import onnxruntime
    opts = onnxruntime.SessionOptions()
    opts.add_session_config_entry("session.qdqisint8allowed", "1")
    opts.intra_op_num_threads = 1          # one thread: the same results, no pool per session
    opts.log_severity_level = 3
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return onnxruntime.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def uses_onnxruntime(node: Node) -> bool:
    numerics = node.attrs.get("numerics", "cmsis")
    if numerics not in ("cmsis", ONNXRUNTIME):
        raise QuantizationError(f"numerics={numerics!r} (expected 'cmsis' or 'onnxruntime')", node=node.name, op=node.op)
    return numerics == ONNXRUNTIME


def output_scales(sx: float, sw, sy: float) -> tuple[float, ...]:
    """float32(float32(s_x * s_w) / s_y) per channel, as onnxruntime computes its output scale."""
    s = (f32(sx) * np.atleast_1d(np.asarray(sw, dtype=f32))) / f32(sy)
    return tuple(float(v) for v in s.astype(f32))


@dataclass(frozen=True)
class FloatRequant:
    """int32 accumulator -> int8: clamp(rint(float(acc) * scales[c]) + output_offset)."""

    scales: tuple[float, ...]      # float32 values; one (per tensor) or one per output channel
    output_offset: int
    activation: kp.ActivationRange


def requantize(acc: np.ndarray, r: FloatRequant) -> np.ndarray:
    """tfc_ort_requantize on int32 accumulators (last axis = channels)."""
    v = acc.astype(np.int32).astype(f32) * np.asarray(r.scales, dtype=f32)
    lo, hi = f32(r.activation.min - r.output_offset), f32(r.activation.max - r.output_offset)
    v = np.clip(v, lo, hi).astype(f32)
    return (np.rint(v).astype(np.int64) + r.output_offset).astype(np.int8)


# ---- matmul: linear, batch_matmul, pointwise conv -----------------------------------------------

@dataclass(frozen=True)
class MatmulParams:
    """tfc_ort_matmul_s8: out[b][m][n] = requant(sum_k (lhs[m][k] + lhs_offset)(rhs[n][k] +
    rhs_offset) + bias[n]) per batch; lhs batches (lhs_n, lhs_h), rhs (rhs_n, rhs_h), a size-1
    batch dim broadcast (arm_batch_matmul_s8's rule)."""

    rows: int
    cols: int
    depth: int
    lhs_batch: tuple[int, int]
    rhs_batch: tuple[int, int]
    lhs_offset: int
    rhs_offset: int
    requant: FloatRequant


def _act(node: Node, yq) -> kp.ActivationRange:
    from tfc.quant.node_params import clamp_range
    return clamp_range(node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf), yq)


def _weights_scales(node: Node) -> tuple:
    w = node.inputs[1]
    if w.quant is None or w.dtype.is_float or any(z != 0 for z in w.quant.zero_point):
        raise QuantizationError(f"{node.op} weights must be int8, symmetric (zero point 0)", node=node.name, op=node.op)
    return w.quant.scale


def is_pointwise(node: Node) -> bool:
    """A 1x1 conv with stride 1, no padding, no groups: a matmul over the pixels."""
    a, w = node.attrs, node.inputs[1]
    return (node.op == "conv2d" and w.shape[1:3] == (1, 1) and a["pad"] == [0, 0, 0, 0]
            and a["stride"] == [1, 1] and a["group"] == 1)


def matmul_params(node: Node) -> MatmulParams:
    x, y = node.inputs[0], node.output
    xq, yq = per_tensor(x, "input", node), per_tensor(y, "output", node)
    if node.op == "batch_matmul":
        check_batch_broadcast(node)
        b = node.inputs[1]
        bq = per_tensor(b, "rhs", node)
        if node.attrs["alpha"] != 1.0:
            raise UnsupportedError("onnxruntime numerics for a batch_matmul with a folded scale (alpha != 1)",
                                   node=node.name, op=node.op)
        scales = output_scales(xq.scale[0], bq.scale[0], yq.scale[0])
        return MatmulParams(x.shape[-2], b.shape[-2], x.shape[-1], batch_dims(x.shape), batch_dims(b.shape),
                            -xq.zero_point[0], -bq.zero_point[0],
                            FloatRequant(scales, yq.zero_point[0], _act(node, yq)))
    w = node.inputs[1]          # linear [out, in]; pointwise conv [out, 1, 1, in]
    depth = w.shape[-1]
    scales = output_scales(xq.scale[0], _weights_scales(node), yq.scale[0])
    return MatmulParams(x.type.size // depth, w.shape[0], depth, (1, 1), (1, 1), -xq.zero_point[0], 0,
                        FloatRequant(scales, yq.zero_point[0], _act(node, yq)))


def matmul(lhs: np.ndarray, rhs: np.ndarray, bias, p: MatmulParams) -> np.ndarray:
    """tfc_ort_matmul_s8 on int8 arrays; returns [batches, rows, cols] (batches = broadcast n * h)."""
    ln, lh = p.lhs_batch
    rn, rh = p.rhs_batch
    a = lhs.astype(np.int64).reshape(ln, lh, p.rows, p.depth) + p.lhs_offset
    b = rhs.astype(np.int64).reshape(rn, rh, p.cols, p.depth) + p.rhs_offset
    acc = a @ np.swapaxes(b, -1, -2)
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.int64)
    return requantize(wrap_int32(acc), p.requant)


# ---- convolution --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvParams:
    """tfc_ort_conv_s8: a grouped conv (depthwise: groups = input channels) over NHWC with OHWI
    weights [Cout, Kh, Kw, Cin / groups], float requantization per output channel."""

    stride: tuple[int, int]
    padding: tuple[int, int]       # top, left
    dilation: tuple[int, int]
    groups: int
    input_offset: int
    requant: FloatRequant


def conv_params(node: Node) -> ConvParams:
    x, y = node.inputs[0], node.output
    xq, yq = per_tensor(x, "input", node), per_tensor(y, "output", node)
    a = node.attrs
    scales = output_scales(xq.scale[0], _weights_scales(node), yq.scale[0])
    return ConvParams(tuple(a["stride"]), (a["pad"][0], a["pad"][1]), tuple(a["dilation"]), a["group"],
                      -xq.zero_point[0], FloatRequant(scales, yq.zero_point[0], _act(node, yq)))


def conv(x: np.ndarray, w: np.ndarray, bias, p: ConvParams, out_shape) -> np.ndarray:
    cout, kh, kw, ck = w.shape
    cpg = cout // p.groups
    xv = x.astype(np.int64) + p.input_offset
    acc = np.zeros(tuple(out_shape[:3]) + (cout,), dtype=np.int64)
    w64 = w.astype(np.int64)
    for ky, kx, taps in _windows(xv, out_shape[1:3], (kh, kw), p.stride, p.padding, p.dilation):
        for g in range(p.groups):
            acc[..., g * cpg:(g + 1) * cpg] += taps[..., g * ck:(g + 1) * ck] @ w64[g * cpg:(g + 1) * cpg, ky, kx, :].T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return requantize(wrap_int32(acc), p.requant)


# ---- softmax ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SoftmaxParams:
    """tfc_ort_softmax_s8 over the last axis."""

    table: tuple[float, ...]       # 256 float32: entry (x - row max) + 255
    y_scale: float                 # floor(1 / s_y) in float32
    output_offset: int


def softmax_table(sx: float, row_size: int) -> np.ndarray:
    """onnxruntime's QLinearSoftmax table: exp((d + b) s_x) in double, stored as float32."""
    fmax = f32(np.finfo(np.float32).max)
    shift = max(0.0, math.log(float(fmax / f32(row_size))) - 5.0) / float(f32(sx))
    d = np.arange(-255, 1, dtype=np.float64)
    return np.exp((d + shift) * float(f32(sx))).astype(f32)


def softmax_params(node: Node) -> SoftmaxParams:
    x = node.inputs[0]
    if node.attrs["axis"] % x.type.rank != x.type.rank - 1:
        raise UnsupportedError("int8 softmax runs over the last axis only", node=node.name, op=node.op)
    xq, yq = per_tensor(x, "input", node), per_tensor(node.output, "output", node)
    table = softmax_table(xq.scale[0], x.shape[-1])
    return SoftmaxParams(tuple(float(v) for v in table), float(np.floor(f32(1.0) / f32(yq.scale[0]))),
                         yq.zero_point[0])


def softmax(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    q = x.astype(np.int64)
    t = np.asarray(p.table, dtype=f32)[q - q.max(axis=-1, keepdims=True) + 255]
    total = np.zeros(q.shape[:-1], dtype=f32)
    for j in range(q.shape[-1]):           # onnxruntime sums in index order, in float
        total = (total + t[..., j]).astype(f32)
    v = ((t * f32(p.y_scale)).astype(f32) / total[..., None]).astype(f32)
    y = np.rint(v).astype(np.int64) + p.output_offset
    return np.clip(y, -128, 127).astype(np.int8)


# ---- mean ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeanParams:
    """tfc_ort_mean_s8 over the middle axis of [outer, reduce, inner]."""

    outer: int
    reduce: int
    inner: int
    dequantized: tuple[float, ...]   # 256 float32: (q - z_x) s_x for q = -128..127
    output_scale: float
    output_offset: int


def mean_params(node: Node) -> MeanParams:
    p = fixed_mean_params(node)
    xq = per_tensor(node.inputs[0], "input", node)
    yq = per_tensor(node.output, "output", node)
    q = np.arange(-128, 128, dtype=np.int64)
    deq = ((q - xq.zero_point[0]).astype(f32) * f32(xq.scale[0])).astype(f32)
    return MeanParams(p.outer, p.reduce, p.inner, tuple(float(v) for v in deq), float(f32(yq.scale[0])),
                      yq.zero_point[0])


def mean(x: np.ndarray, p: MeanParams) -> np.ndarray:
    r = np.asarray(p.dequantized, dtype=f32)[x.astype(np.int64).reshape(p.outer, p.reduce, p.inner) + 128]
    total = r[:, 0].copy()
    for j in range(1, p.reduce):            # in index order, in float (onnxruntime's ReduceMean)
        total = (total + r[:, j]).astype(f32)
    v = ((total / f32(p.reduce)).astype(f32) / f32(p.output_scale)).astype(f32)
    v = np.clip(v, f32(-128 - p.output_offset), f32(127 - p.output_offset))
    return (np.rint(v).astype(np.int64) + p.output_offset).astype(np.int8)


# ---- layernorm ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerNormParams:
    """tfc_ort_layernorm_s8 over the last axis."""

    width: int
    dequantized: tuple[float, ...]   # 256 float32: (q - z_x) s_x for q = -128..127
    gamma: tuple[float, ...]         # float32 per channel
    beta: tuple[float, ...]
    epsilon: float                   # float32
    output_scale: float
    output_offset: int


def _dequantized_constant(node: Node, index: int, width: int) -> np.ndarray:
    """A gamma/beta constant as onnxruntime's DequantizeLinear gives it: float32((q - z) * s)."""
    if index >= len(node.inputs):
        return np.zeros(width, dtype=f32)
    v = node.inputs[index]
    if v.data is None:
        raise UnsupportedError(f"layernorm operand {v.ref} must be a constant", node=node.name, op=node.op)
    data = np.asarray(v.data)
    if v.quant is not None and not v.dtype.is_float:
        scale = np.asarray(v.quant.scale, dtype=f32)
        zero = np.asarray(v.quant.zero_point, dtype=np.int64)
        data = ((data.astype(np.int64) - zero).astype(f32) * scale).astype(f32)
    return np.broadcast_to(data.astype(f32).reshape(-1), (width,))


def requantize_table(xq, yq) -> np.ndarray:
    """int8 q on grid xq -> onnxruntime's DequantizeLinear then QuantizeLinear onto yq, for all
    256 q (entry q + 128): rint(float32((q - z_x) s_x) / s_y) + z_y, saturated."""
    q = np.arange(-128, 128, dtype=np.int64)
    v = (((q - xq.zero_point[0]).astype(f32) * f32(xq.scale[0])).astype(f32) / f32(yq.scale[0])).astype(f32)
    return np.clip(np.rint(v).astype(np.int64) + yq.zero_point[0], -128, 127).astype(np.int8)


def layernorm_params(node: Node) -> LayerNormParams:
    x = node.inputs[0]
    rank = x.type.rank
    if node.attrs["axis"] % rank != rank - 1:
        raise UnsupportedError("int8 layernorm normalizes over the last axis only", node=node.name, op=node.op)
    xq, yq = per_tensor(x, "input", node), per_tensor(node.output, "output", node)
    width = x.shape[-1]
    q = np.arange(-128, 128, dtype=np.int64)
    deq = ((q - xq.zero_point[0]).astype(f32) * f32(xq.scale[0])).astype(f32)
    return LayerNormParams(width, tuple(float(v) for v in deq),
                           tuple(float(v) for v in _dequantized_constant(node, 1, width)),
                           tuple(float(v) for v in _dequantized_constant(node, 2, width)),
                           float(f32(node.attrs["epsilon"])), float(f32(yq.scale[0])), yq.zero_point[0])


LAYERNORM_LANES = 8


def lane_sums(v: np.ndarray) -> np.ndarray:
    """Row sums of float32 v [rows, C] in LAYERNORM_LANES lanes, reduced as a tree."""
    lanes = np.zeros((v.shape[0], LAYERNORM_LANES), dtype=f32)
    for h in range(v.shape[1]):
        lanes[:, h % LAYERNORM_LANES] = (lanes[:, h % LAYERNORM_LANES] + v[:, h]).astype(f32)
    while lanes.shape[1] > 1:
        half = lanes.shape[1] // 2
        lanes = (lanes[:, :half] + lanes[:, half:]).astype(f32)
    return lanes[:, 0]


def layernorm(x: np.ndarray, p: LayerNormParams) -> np.ndarray:
    v = np.asarray(p.dequantized, dtype=f32)[x.astype(np.int64).reshape(-1, p.width) + 128]
    n = f32(p.width)
    mean = (lane_sums(v) / n).astype(f32)
    squares = lane_sums((v * v).astype(f32))
    var = (((squares / n).astype(f32) - (mean * mean).astype(f32)).astype(f32) + f32(p.epsilon)).astype(f32)
    inv = (f32(1.0) / np.sqrt(var).astype(f32)).astype(f32)
    y = ((((v - mean[:, None]).astype(f32) * inv[:, None]).astype(f32) * np.asarray(p.gamma, dtype=f32)).astype(f32)
         + np.asarray(p.beta, dtype=f32)).astype(f32)
    y = np.clip((y / f32(p.output_scale)).astype(f32), f32(-128 - p.output_offset), f32(127 - p.output_offset))
    return (np.rint(y).astype(np.int64) + p.output_offset).astype(np.int8).reshape(x.shape)
