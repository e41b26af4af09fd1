"""numpy int8 reference kernels, bit-exact with tfc's C runtime (and so with TFLite Micro).

Layouts are CMSIS-NN's: activations NHWC; convolution weights OHWI [Cout, Kh, Kw, Cin/groups];
depthwise weights [1, Kh, Kw, Cout]; fully connected weights [out, in]; batch matmul operands
[..., rows, cols] with the right-hand side transposed. Each kernel takes the parameter
dataclass of tfc.quant.kernel_params. Accumulators are summed in int64 and wrapped to int32, as
the C code accumulates modulo 2^32.
"""
from __future__ import annotations

import numpy as np

from tfc.errors import QuantizationError
from tfc.quant import fixed_point as fp
from tfc.quant.kernel_params import (
    ActivationRange,
    AddParams,
    BatchMatmulParams,
    ConvParams,
    DepthwiseConvParams,
    FullyConnectedParams,
    MulParams,
    PoolParams,
    RequantizeParams,
    SoftmaxParams,
    conv_output_size,
)


def _check_int8(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.int8:
        raise TypeError(f"{name} must be int8, got {a.dtype}")
    return a


def _output_s8(acc: np.ndarray, mult, shift, out_offset: int, act: ActivationRange) -> np.ndarray:
    """Requantize int32 accumulators, add the output zero point, clamp, narrow to int8."""
    out = fp.requantize(fp.wrap_int32(acc), mult, shift).astype(np.int64) + out_offset
    return np.clip(out, act.min, act.max).astype(np.int8)


def _windows(xv: np.ndarray, out_hw, kernel_hw, stride, padding, dilation):
    """Yield (ky, kx, taps) where taps[n, oy, ox, c] is the input under filter tap (ky, kx), with
    zeros where the tap falls outside xv (xv already holds x + input_offset)."""
    n, h, w, c = xv.shape
    (oh, ow), (kh, kw) = out_hw, kernel_hw
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    need_h = max(py + h, (oh - 1) * sy + (kh - 1) * dy + 1)
    need_w = max(px + w, (ow - 1) * sx + (kw - 1) * dx + 1)
    padded = np.zeros((n, need_h, need_w, c), dtype=np.int64)
    padded[:, py:py + h, px:px + w, :] = xv
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dy, kx * dx
            yield ky, kx, padded[:, y0:y0 + (oh - 1) * sy + 1:sy, x0:x0 + (ow - 1) * sx + 1:sx, :]


def _out_hw(in_hw, kernel_hw, stride, padding, dilation, output_hw):
    if output_hw is not None:
        return tuple(output_hw)
    return tuple(conv_output_size(in_hw[i], kernel_hw[i], stride[i], padding[i], padding[i],
                                  dilation[i]) for i in range(2))


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: ConvParams, *,
           output_hw: tuple[int, int] | None = None,
           upscale: tuple[int, int] = (1, 1)) -> np.ndarray:
    """arm_convolve_s8. x [N,H,W,Cin], w [Cout,Kh,Kw,Ck] with Cin = groups * Ck.

    output_hw defaults to symmetric padding. upscale (2 on an axis) reads the input with a zero
    inserted after every pixel, as arm_convolve_s8's upscale_dims does (the C call then gets the
    upscaled size, 2 * H or 2 * W, in input_dims).
    """
    x, w = _check_int8("input", x), _check_int8("filter", w)
    n, h, wd, cin = x.shape
    cout, kh, kw, ck = w.shape
    if cin % ck or cout % (cin // ck):
        raise QuantizationError(f"grouped convolution: Cin={cin}, Ck={ck}, Cout={cout} do not divide")
    groups = cin // ck
    uy, ux = upscale
    xv = np.zeros((n, h * uy, wd * ux, cin), dtype=np.int64)
    xv[:, ::uy, ::ux, :] = x.astype(np.int64) + p.input_offset
    oh, ow = _out_hw(xv.shape[1:3], (kh, kw), p.stride, p.padding, p.dilation, output_hw)
    acc = np.zeros((n, oh, ow, cout), dtype=np.int64)
    w64 = w.astype(np.int64)
    cpg = cout // groups
    for ky, kx, taps in _windows(xv, (oh, ow), (kh, kw), p.stride, p.padding, p.dilation):
        for g in range(groups):
            acc[..., g * cpg:(g + 1) * cpg] += taps[..., g * ck:(g + 1) * ck] @ w64[g * cpg:(g + 1) * cpg, ky, kx, :].T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _output_s8(acc, np.asarray(p.multipliers), np.asarray(p.shifts), p.output_offset, p.activation)


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: DepthwiseConvParams, *,
                     output_hw: tuple[int, int] | None = None) -> np.ndarray:
    """arm_depthwise_conv_s8. x [N,H,W,Cin], w [1,Kh,Kw,Cin*ch_mult]; out channel ic*ch_mult+m reads ic."""
    x, w = _check_int8("input", x), _check_int8("filter", w)
    n, h, wd, cin = x.shape
    _, kh, kw, cout = w.shape
    if cout != cin * p.ch_mult:
        raise QuantizationError(f"depthwise: Cout={cout} != Cin={cin} * ch_mult={p.ch_mult}")
    xv = x.astype(np.int64) + p.input_offset
    oh, ow = _out_hw((h, wd), (kh, kw), p.stride, p.padding, p.dilation, output_hw)
    acc = np.zeros((n, oh, ow, cout), dtype=np.int64)
    w64 = w.astype(np.int64)
    for ky, kx, taps in _windows(xv, (oh, ow), (kh, kw), p.stride, p.padding, p.dilation):
        acc += np.repeat(taps, p.ch_mult, axis=-1) * w64[0, ky, kx, :]
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _output_s8(acc, np.asarray(p.multipliers), np.asarray(p.shifts), p.output_offset, p.activation)


def fully_connected(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                    p: FullyConnectedParams) -> np.ndarray:
    """arm_fully_connected_s8 (per-channel: arm_fully_connected_per_channel_s8).
    x [N, in] (any shape whose trailing size is in), w [out, in] -> [N, out]."""
    x, w = _check_int8("input", x), _check_int8("filter", w)
    out_c, depth = w.shape
    xv = x.reshape(-1, depth).astype(np.int64) + p.input_offset
    acc = xv @ (w.astype(np.int64) + p.filter_offset).T
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return _output_s8(acc, np.asarray(p.multipliers), np.asarray(p.shifts), p.output_offset, p.activation)


def batch_matmul(lhs: np.ndarray, rhs_t: np.ndarray, p: BatchMatmulParams) -> np.ndarray:
    """arm_batch_matmul_s8: lhs [..., rows, cols] x rhs_t[..., out_cols, cols]^T, leading dims
    broadcast as numpy does."""
    lhs, rhs_t = _check_int8("lhs", lhs), _check_int8("rhs", rhs_t)
    a = lhs.astype(np.int64) + p.input_offset
    b = rhs_t.astype(np.int64) + p.filter_offset
    acc = a @ np.swapaxes(b, -1, -2)
    return _output_s8(acc, p.multiplier, p.shift, p.output_offset, p.activation)


def _pool_windows(x: np.ndarray, p: PoolParams, output_hw):
    """The output array and, per output pixel, (oy, ox, window) with the window clipped to the
    input (padding is never counted)."""
    n, h, w, c = x.shape
    oh, ow = _out_hw((h, w), p.filter, p.stride, p.padding, (1, 1), output_hw)
    out = np.zeros((n, oh, ow, c), dtype=np.int8)
    wins = []
    for oy in range(oh):
        y0 = oy * p.stride[0] - p.padding[0]
        for ox in range(ow):
            x0 = ox * p.stride[1] - p.padding[1]
            wins.append((oy, ox, x[:, max(y0, 0):min(y0 + p.filter[0], h),
                                   max(x0, 0):min(x0 + p.filter[1], w), :]))
    return out, wins


def avg_pool(x: np.ndarray, p: PoolParams, *, output_hw: tuple[int, int] | None = None) -> np.ndarray:
    """arm_avgpool_s8: sum / count of the in-bounds taps, rounded half away from zero."""
    out, wins = _pool_windows(_check_int8("input", x), p, output_hw)
    for oy, ox, win in wins:
        count = win.shape[1] * win.shape[2]
        if count == 0:
            raise QuantizationError(f"average pool window at ({oy}, {ox}) covers no input pixel")
        s = win.astype(np.int64).sum(axis=(1, 2))
        half = count // 2
        avg = np.where(s > 0, (s + half) // count, -((half - s) // count))  # C's truncating division
        out[:, oy, ox, :] = np.clip(avg, p.activation.min, p.activation.max)
    return out


def max_pool(x: np.ndarray, p: PoolParams, *, output_hw: tuple[int, int] | None = None) -> np.ndarray:
    """arm_max_pool_s8: maximum of the in-bounds taps (-128 for none), then clamped."""
    out, wins = _pool_windows(_check_int8("input", x), p, output_hw)
    for oy, ox, win in wins:
        m = win.max(axis=(1, 2)) if win.size else np.full((x.shape[0], x.shape[3]), -128)
        out[:, oy, ox, :] = np.clip(m.astype(np.int64), p.activation.min, p.activation.max)
    return out


def softmax(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    """arm_softmax_s8 over the last axis; output scale 1/256, zero point -128, or with
    p.out_mult the scale it stands for (tfc_softmax_scaled_s8): the per-row reciprocal times
    out_mult, the exponent less out_shift."""
    x = _check_int8("input", x)
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True).astype(np.int64)
    live = diff >= p.diff_min
    scaled = fp.saturating_rounding_doubling_high_mul(fp.shl_wrap(diff, p.shift), p.mult)
    e = fp.exp_on_negative_values(scaled)
    terms = np.where(live, fp.rounding_divide_by_pot(e, 12).astype(np.int64), 0)
    total = fp.wrap_int32(terms.sum(axis=-1, keepdims=True))
    headroom = fp.count_leading_zeros_u32(total).astype(np.int64)
    shifted = fp.wrap_int32(((total.astype(np.int64) & 0xFFFFFFFF) << (headroom & 31)) - (1 << 31))
    scale = fp.one_over_one_plus_x_for_x_in_0_1(shifted)
    exponent = (12 - headroom) + 31 - 8
    if p.out_mult:
        scale = fp.saturating_rounding_doubling_high_mul(scale, p.out_mult)
        exponent = exponent - p.out_shift
    y = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(scale, e), exponent)
    y = np.clip(y.astype(np.int64) - 128, -128, 127)
    return np.where(live, y, -128).astype(np.int8)


def softmax_exp_table(p: SoftmaxParams) -> tuple[int, ...]:
    """tfc_softmax_s8's table (uint32): entry diff + 255 is e + 2^11, e the exp() term softmax
    computes above for an element diff = x - row max (-255..0), in Q0.31, and 0 where diff <
    diff_min (a term of 0 adds nothing to the sum and gives output -128, as a dead element does).
    The bias 2^11 turns each rounded sum term rdbpot(e, 12) into one shift; the kernel takes it
    back out of the product."""
    diff = np.arange(-255, 1, dtype=np.int64)
    e = fp.exp_on_negative_values(fp.saturating_rounding_doubling_high_mul(fp.shl_wrap(diff, p.shift), p.mult))
    return tuple(int(v) + (1 << 11) for v in np.where(diff >= p.diff_min, e.astype(np.int64), 0))


def add(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """arm_elementwise_add_s8 on equal-shaped inputs."""
    a, b = _check_int8("input 1", a), _check_int8("input 2", b)
    sa = fp.requantize(fp.shl_wrap(a.astype(np.int64) + p.input_1_offset, p.left_shift),
                       p.input_1_mult, p.input_1_shift)
    sb = fp.requantize(fp.shl_wrap(b.astype(np.int64) + p.input_2_offset, p.left_shift),
                       p.input_2_mult, p.input_2_shift)
    return _output_s8(sa.astype(np.int64) + sb, p.out_mult, p.out_shift, p.out_offset, p.activation)


def sub(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """TFLite Micro's int8 SUB (tfc_sub_s8): add's rescaling, the rescaled inputs subtracted;
    operands broadcast as numpy does."""
    a, b = _check_int8("input 1", a), _check_int8("input 2", b)
    sa = fp.requantize(fp.shl_wrap(a.astype(np.int64) + p.input_1_offset, p.left_shift),
                       p.input_1_mult, p.input_1_shift)
    sb = fp.requantize(fp.shl_wrap(b.astype(np.int64) + p.input_2_offset, p.left_shift),
                       p.input_2_mult, p.input_2_shift)
    return _output_s8(sa.astype(np.int64) - sb, p.out_mult, p.out_shift, p.out_offset, p.activation)


def mul(a: np.ndarray, b: np.ndarray, p: MulParams) -> np.ndarray:
    """arm_elementwise_mul_s8 (TFLite Micro's MUL); operands broadcast as numpy does."""
    a, b = _check_int8("input 1", a), _check_int8("input 2", b)
    prod = (a.astype(np.int64) + p.input_1_offset) * (b.astype(np.int64) + p.input_2_offset)
    return _output_s8(prod, p.out_mult, p.out_shift, p.out_offset, p.activation)


def relu(x: np.ndarray) -> np.ndarray:
    """arm_relu_q7 on raw int8 values."""
    return np.maximum(_check_int8("input", x), 0).astype(np.int8)


def relu6(x: np.ndarray) -> np.ndarray:
    """arm_relu6_s8 on raw int8 values."""
    return np.clip(_check_int8("input", x), 0, 6).astype(np.int8)


def depthwise_weights(w: np.ndarray) -> np.ndarray:
    """IR OHWI [Cout,Kh,Kw,1] -> CMSIS-NN depthwise [1,Kh,Kw,Cout]."""
    return np.ascontiguousarray(w.transpose(3, 1, 2, 0))


def requantize(x: np.ndarray, p: RequantizeParams) -> np.ndarray:
    """tfc_requantize_s8: int8 -> int8 through the double-rounding multiplier, then clamp."""
    v = x.astype(np.int64)
    if not p.identity:
        v = fp.requantize(v + p.input_offset, p.multiplier, p.shift).astype(np.int64) + p.output_offset
    return np.clip(v, p.activation.min, p.activation.max).astype(np.int8)
