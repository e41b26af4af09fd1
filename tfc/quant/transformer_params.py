"""Integer parameters of the transformer kernels: LayerNorm, lookup tables (GELU, HardSwish,
Sigmoid, Tanh, Erf), batch matmul of two activations, mean over tokens and gather.

The kernels of tfc.kernels.transformer derive their parameters here, so the int8 interpreter
(through tfc.quant.transformer_ops) and the C backend read the same integers.

Integer-only LayerNorm (`tfc_layernorm_s8`), per row of width C, from the int8 input q:
    sum   = sum_i q_i                          the zero point cancels in (q - mean): not needed
    d_i   = C * q_i - sum                      = C (q_i - mean), exact, |d_i| <= 255 C
    V     = (C (C sum_i q_i^2 - sum^2) << 2E) + eps_term
                                           = (sum_i d_i^2 << 2E) + eps_term = 4^E C^3 (var_q + eps / s_x^2),
                                             eps_term = round(4^E C^3 eps / s_x^2)
    k     = (clz64(V) - 2) / 2                 normalise: V << 2k lies in [2^60, 2^62)
    x     = (V << 2k) >> 30                    Q30 in [1, 4)
    R     = min(rsqrt(x), 2^31 - 1)            ~ 2^31 / sqrt(x / 2^30) = 2^(61-k) / sqrt(V), in (2^30, 2^31)
    a     = min(k + E, 31)                     |d_i| <= sqrt(V / 4^E) < 2^(31-k-E), so |d_i 2^a| < 2^31
    n_i   = floor((d_i 2^a R + 2^31) / 2^32)   (SMMULR) = 2^29 d_i / sqrt(V / 4^E) within 2^-29 relative
E (0..15, the most that keeps V < 2^62 for this width) gives epsilon fraction bits: without them
eps / s_x^2 rounds away when the input scale is coarse and the row nearly constant. V = 0 (a constant
row and no epsilon) gives n_i = 0. Since (x - mean) / sqrt(var + eps) = sqrt(C) d_i / sqrt(V / 4^E)
= sqrt(C) n_i / 2^29, the affine part is, per channel c,
    t_i   = B_c + floor((n_i M_c + 2^31) / 2^32)   (SMMLAR) M_c = round(gamma_c sqrt(C) 2^(P+3) / s_y)
    y_i   = clamp(t_i >> P, act_min, act_max)      B_c = round(beta_c 2^P / s_y) + z_y 2^P + 2^(P-1)
rsqrt: y = LAYERNORM_RSQRT_SEED[(x >> 26) - 16], then three times y = floor(y (3 2^30 - floor(x
floor(y^2 / 2^31) / 2^31)) / 2^31) (Newton steps for 1/sqrt, rounding down; relative error < 2^-29).
P (extra fraction bits, 1..16) is the largest that keeps |M_c| < 2^31 and |t_i| < 2^30; the 2^(P-1)
in B_c makes the final shift round half up. Everything is exact integer arithmetic (64-bit for V and
the Newton products, per row; per element one multiply-add, two rounding high multiplies and a
shift), so C and numpy agree bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.errors import QuantizationError, UnsupportedError
from tfc.ir.graph import Node
from tfc.ir.ops.elementwise import HardSwish
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.ir.types import DType, QuantParams
from tfc.quant import kernel_params as kp
from tfc.quant.fixed_point import quantize_multiplier
from tfc.quant.tflm_hardswish import hardswish_table
from tfc.quant.operands import per_tensor as _per_tensor

LAYERNORM_FRAC_BITS = 29           # n_i = 2^29 d_i / sqrt(V / 4^E)
LAYERNORM_MAX_EXTRA_BITS = 16      # P: fraction bits kept between the affine and the output rounding
# 2^31 / sqrt((m + 1/2) / 16) rounded down for m = 16..63: seeds of the reciprocal square root of a
# Q30 value in [1, 4) by its top bits (rsqrt_seed in tfc_layernorm_s8.c).
LAYERNORM_RSQRT_SEED = tuple(math.isqrt((1 << 67) // (2 * m + 1)) for m in range(16, 64))
LAYERNORM_MAX_WIDTH = 4096         # keeps |d_i| < 2^20 and sum d_i^2 < 2^52
EPS_TERM_MAX = 1 << 61             # keeps V < 2^62


def _f32(x: float) -> float:
    return float(np.float32(x))


# ---- lookup tables ------------------------------------------------------------------------------

# Ops whose table is TFLite Micro's integer kernel evaluated at every code, not the float function
# rounded onto the grid (keyed by the op's class).
INTEGER_TABLES = {HardSwish: hardswish_table}

@dataclass(frozen=True)
class LutParams:
    """tfc_lut_s8: out = table[in + 128]; the table is quantize(f(dequantize(q))) for q in -128..127."""

    table: tuple[int, ...]


def lut_params(node: Node, *, float_function: bool = False) -> LutParams:
    """The node's table; `float_function`: quantize(f(dequantize(q))) also for an op TFLite Micro
    computes in fixed point (onnxruntime's QDQ arithmetic)."""
    xq = _per_tensor(node.inputs[0], "input", node)
    yq = _per_tensor(node.output, "output", node)
    lo, hi = node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf)
    integer_table = None if float_function else INTEGER_TABLES.get(type(node.spec))
    if node.attrs.get("table") or integer_table is not None:
        # `lut`: a QDQ graph's own table (tfc.passes.fusion.qdq_table); or TFLM's integer kernel at
        # every code. A fused clamp on top.
        table = np.asarray(node.attrs["table"] if integer_table is None else integer_table(xq, yq), dtype=np.int64)
        if table.shape != (256,):
            raise QuantizationError(f"lookup table of {table.size} entries (256 expected)", node=node.name, op=node.op)
        for bound, pick in ((lo, np.maximum), (hi, np.minimum)):
            if math.isfinite(bound):
                table = pick(table, int(quantize_array(np.array([bound], dtype=np.float32), yq, DType.I8)[0]))
        return LutParams(tuple(int(v) for v in table))
    real = dequantize_array(np.arange(-128, 128, dtype=np.int8), xq)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.asarray(node.spec.compute(real, node.attrs), dtype=np.float64)
    undefined = np.isnan(y)
    y = np.clip(np.where(undefined, 0.0, y), lo, hi).astype(np.float32)
    # A code outside the function's domain (sqrt of a negative real: the grid of a norm's input
    # may reach below 0) gives NaN, which onnxruntime's QuantizeLinear turns into -128.
    table = np.where(undefined, -128, quantize_array(y, yq, DType.I8))
    return LutParams(tuple(int(v) for v in table))


# ---- LayerNorm ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerNormParams:
    """tfc_layernorm_s8 over the last axis (see the module docstring for the arithmetic)."""

    width: int
    prescale: int                   # E: sum d_i^2 is shifted left by 2E before adding eps_term
    eps_term: int                   # uint64 in C
    multipliers: tuple[int, ...]    # M_c = round(gamma_c sqrt(C) 2^(P+3) / s_y), per channel
    biases: tuple[int, ...]         # B_c = round(beta_c 2^P / s_y) + z_y 2^P + 2^(P-1)
    extra_bits: int                 # P
    activation: kp.ActivationRange = kp.ActivationRange()


def layernorm_params(node: Node) -> LayerNormParams:
    x = node.inputs[0]
    xq, yq = _per_tensor(x, "input", node), _per_tensor(node.output, "output", node)
    rank = x.type.rank
    if node.attrs["axis"] % rank != rank - 1:
        raise UnsupportedError("int8 layernorm normalizes over the last axis only", node=node.name, op=node.op)
    width = x.shape[-1]
    if not 1 <= width <= LAYERNORM_MAX_WIDTH:
        raise UnsupportedError(f"int8 layernorm over {width} channels (at most {LAYERNORM_MAX_WIDTH})",
                               node=node.name, op=node.op)
    gamma = _real_constant(node, 1, width, "gamma")
    beta = _real_constant(node, 2, width, "beta") if len(node.inputs) > 2 else np.zeros(width)
    sx, sy = float(np.float32(xq.scale[0])), float(np.float32(yq.scale[0]))
    prescale = layernorm_prescale(width)
    eps_term = min(int(round(4.0 ** prescale * width ** 3 * node.attrs["epsilon"] / (sx * sx))), EPS_TERM_MAX)
    extra = layernorm_extra_bits(gamma, beta, width, sy)
    if extra < 1:
        raise QuantizationError(f"layernorm output scale {sy:g} is too fine for gamma/beta up to "
                                f"{float(np.max(np.abs(gamma) * math.sqrt(width) + np.abs(beta))):g}",
                                node=node.name, op=node.op, hint="recalibrate: the output range is implausibly small")
    zy = int(yq.zero_point[0])
    scale = math.sqrt(width) * 2.0 ** (extra + 32 - LAYERNORM_FRAC_BITS) / sy
    mults = tuple(int(np.round(g * scale)) for g in gamma)
    biases = tuple(int(np.round(b * 2.0 ** extra / sy)) + (zy << extra) + (1 << (extra - 1)) for b in beta)
    return LayerNormParams(width, prescale, eps_term, mults, biases, extra)


def layernorm_extra_bits(gamma: np.ndarray, beta: np.ndarray, width: int, sy: float) -> int:
    """P: the most fraction bits (at most 16) with |M_c| < 2^31 and |t_i| < 2^30 for every input
    (|n_i| <= 2^29 (1 + 2^-29) + 1, |z_y| <= 128, plus the rounding half); below 1: none fits."""
    slope = float(np.max(np.abs(gamma))) * math.sqrt(width) / sy       # |M_c| = slope 2^(P+3)
    worst = float(np.max(np.abs(gamma) * math.sqrt(width) + np.abs(beta))) / sy + 130
    extra = LAYERNORM_MAX_EXTRA_BITS
    while extra >= 1 and (slope * 2.0 ** (extra + 32 - LAYERNORM_FRAC_BITS) >= (1 << 31) - 1
                          or worst * 2.0 ** extra >= 1 << 30):
        extra -= 1
    return extra


def layernorm_prescale(width: int) -> int:
    """E: the largest shift (at most 15) with (sum d_i^2 << 2E) < 2^61 for every int8 row."""
    worst = 65025 * width ** 3          # sum of (255 C)^2 over C channels
    return max(0, min(15, (61 - worst.bit_length()) // 2))


def _real_constant(node: Node, index: int, width: int, what: str) -> np.ndarray:
    v = node.inputs[index]
    if v.data is None:
        raise UnsupportedError(f"layernorm {what} {v.ref} must be a constant", node=node.name, op=node.op)
    data = v.data.astype(np.float64)
    if v.quant is not None and not v.dtype.is_float:
        data = dequantize_array(v.data, v.quant).astype(np.float64)
    return np.broadcast_to(data.reshape(-1) if data.size == width else data, (width,)).astype(np.float64)


# ---- batch matmul -------------------------------------------------------------------------------

def batch_matmul_params(node: Node) -> kp.BatchMatmulParams:
    """TFLite's BatchMatMul rule (float32 product of the input scales), times the folded alpha."""
    a, b = node.inputs
    aq, bq = _per_tensor(a, "lhs", node), _per_tensor(b, "rhs", node)
    yq = _per_tensor(node.output, "output", node)
    return _bmm_params(aq, bq, yq, node.attrs["alpha"], node)


def _bmm_params(aq, bq, yq, alpha: float, node: Node) -> kp.BatchMatmulParams:
    product = float(np.float32(aq.scale[0]) * np.float32(bq.scale[0]))
    m, s = quantize_multiplier(product * alpha / _f32(yq.scale[0]))
    if m < 0:
        # arm_batch_matmul_s8 takes the multiplier as it is, but a negative alpha would also
        # flip the roles of the activation clamp; the graphs tfc sees never need it.
        raise UnsupportedError("batch_matmul with a negative alpha", node=node.name, op=node.op)
    return kp.BatchMatmulParams(input_offset=-aq.zero_point[0], filter_offset=-bq.zero_point[0],
                                output_offset=yq.zero_point[0], multiplier=m, shift=s)


# ---- attention, one head at a time ------------------------------------------------------------

@dataclass(frozen=True)
class AttentionParams:
    """tfc_attention_s8: the integers of the three kernels it calls per head, exactly those of
    batch_matmul (q, k -> scores), softmax (scores -> probabilities on probs_scale, -128) and
    batch_matmul (probabilities, vt -> output) as separate nodes."""

    qk: kp.BatchMatmulParams
    softmax: kp.SoftmaxParams
    pv: kp.BatchMatmulParams
    heads: int     # product of the leading dims
    rows: int      # M: query tokens
    cols: int      # N: key tokens (a row of scores)
    depth: int     # K: q/k width
    width: int     # D: v width


def attention_params(node: Node) -> AttentionParams:
    q, k, vt = node.inputs
    qq, kq, vq = (_per_tensor(v, role, node) for v, role in zip(node.inputs, ("q", "k", "vt")))
    yq = _per_tensor(node.output, "output", node)
    sq = QuantParams((float(node.attrs["scores_scale"]),), (int(node.attrs["scores_zero_point"]),))
    pq = QuantParams((float(node.attrs["probs_scale"]),), (kp.SOFTMAX_OUTPUT_ZERO_POINT,))
    return AttentionParams(qk=_bmm_params(qq, kq, sq, node.attrs["alpha"], node),
                           softmax=kp.softmax_params(sq.scale[0], output_scale=pq.scale[0], any_grid=True),
                           pv=_bmm_params(pq, vq, yq, node.attrs["pv_alpha"], node),
                           heads=math.prod(q.shape[:-2]), rows=q.shape[-2], cols=k.shape[-2],
                           depth=q.shape[-1], width=vt.shape[-2])


def batch_dims(shape: tuple[int, ...]) -> tuple[int, int]:
    """Leading dims of a batch_matmul operand folded into CMSIS-NN's (n, h)."""
    lead = tuple(shape[:-2])
    if len(lead) <= 2:
        return tuple([1] * (2 - len(lead)) + list(lead))
    return (math.prod(lead[:-1]), lead[-1])


def check_batch_broadcast(node: Node) -> None:
    """arm_batch_matmul_s8 broadcasts n and h; more leading dims must agree exactly."""
    a, b = node.inputs
    la, lb = a.shape[:-2], b.shape[:-2]
    if len(la) > 2 or len(lb) > 2:
        if la != lb:
            raise UnsupportedError(f"batch_matmul of {list(a.shape)} and {list(b.shape)}: broadcasting over "
                                   "more than two leading dims", node=node.name, op=node.op)


# ---- mean over axes -----------------------------------------------------------------------------

@dataclass(frozen=True)
class MeanParams:
    """tfc_mean_s8: input viewed as [outer, reduce, inner]; out = clamp(z_y + requantize(
    sum_r (q + input_offset) << left_shift, multiplier, shift)), with TFLite Micro's MEAN
    multiplier (mean_multiplier), so int8 TFLite models match tflite-micro bit for bit.

    TFLite Micro requantizes the bare sum (left_shift 0): with a sum of a few hundred and a
    right shift of 2 or 3, the high multiply rounds the product to 2-3 fraction bits and the shift
    rounds again, 1 LSB off the nearest level on ~12 % of outputs, away from zero (2.7 dB of the
    corpus MobileNetV1's classifier SQNR). rounding="nearest" (tfc's PTQ) shifts the sum left as
    far as int32 allows first, so only the final shift rounds, at the nearest level."""

    outer: int
    reduce: int
    inner: int
    input_offset: int
    multiplier: int
    shift: int
    output_offset: int
    left_shift: int = 0


MEAN_ROUNDINGS = ("tflite", "nearest")


def mean_params(node: Node) -> MeanParams:
    x = node.inputs[0]
    xq, yq = _per_tensor(x, "input", node), _per_tensor(node.output, "output", node)
    rank = x.type.rank
    axes = sorted({a % rank for a in node.attrs["axes"]})
    # Axes of size 1 do not matter; the others must be contiguous.
    real_axes = [a for a in axes if x.shape[a] != 1] or axes[:1]
    if real_axes != list(range(real_axes[0], real_axes[-1] + 1)):
        raise UnsupportedError(f"int8 reduce_mean over non-contiguous axes {axes} of {list(x.shape)}",
                               node=node.name, op=node.op)
    lo, hi = real_axes[0], real_axes[-1] + 1
    outer = math.prod(x.shape[:lo])
    reduce = math.prod(x.shape[a] for a in axes)
    inner = math.prod(d for i, d in enumerate(x.shape) if i >= hi and i not in axes)
    m, s = mean_multiplier(float(np.float32(xq.scale[0])) / float(np.float32(yq.scale[0])), reduce)
    rounding = node.attrs.get("rounding", "tflite")
    if rounding not in MEAN_ROUNDINGS:
        raise QuantizationError(f"reduce_mean rounding={rounding!r} (expected one of {', '.join(MEAN_ROUNDINGS)})",
                                node=node.name, op=node.op)
    left = 0
    if rounding == "nearest" and s < 0:
        # |sum| <= 255 reduce must stay inside int32, and the right shift at most 31.
        left = max(0, min(31 - (255 * reduce).bit_length(), 31 + s))
    return MeanParams(outer, reduce, inner, -xq.zero_point[0], m, s - left, yq.zero_point[0], left)


def mean_multiplier(ratio: float, count: int) -> tuple[int, int]:
    """TFLite Micro's MEAN (int8, every axis set): the multiplier of s_x / s_y is divided by the
    element count in integers, floor(m 2^k / count) with 2^k <= count kept as extra shift, rather
    than quantizing s_x / (s_y count) directly. The multipliers differ in their low bits, enough
    to move 5% of keras_mobilenetv2's pooled outputs by 1 LSB (tests/quant/test_tflm_pool.py)."""
    m, s = quantize_multiplier(ratio)
    k = min(count.bit_length() - 1, 32, 31 + s)
    return (m << k) // count, s - k


# ---- gather with constant indices ---------------------------------------------------------------

@dataclass(frozen=True)
class GatherParams:
    """tfc_gather_s8: input viewed as [outer, axis_len, inner]; out[o, j, :] = in[o, indices[j], :]."""

    outer: int
    axis_len: int
    inner: int
    indices: tuple[int, ...]


def gather_params(node: Node) -> GatherParams:
    x, idx = node.inputs
    if idx.data is None:
        raise UnsupportedError("int8 gather needs constant indices", node=node.name, op=node.op)
    axis = node.attrs["axis"] % x.type.rank
    n = x.shape[axis]
    flat = [int(i) + n if int(i) < 0 else int(i) for i in np.asarray(idx.data).reshape(-1)]
    if any(not 0 <= i < n for i in flat):
        raise UnsupportedError(f"gather index out of range 0..{n - 1}", node=node.name, op=node.op)
    return GatherParams(math.prod(x.shape[:axis]), n, math.prod(x.shape[axis + 1:]), tuple(flat))
