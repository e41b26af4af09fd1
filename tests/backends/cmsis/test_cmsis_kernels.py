"""Every C kernel of tfc's CMSIS-NN runtime equals the numpy reference bit for bit.

Runs against both builds (plain C and TFC_EMULATE_DSP, which executes the SIMD loops) over
random shapes, strides, paddings, dilations, groups, channel multipliers, zero points,
multipliers, shifts and activation ranges.
"""
from __future__ import annotations

import ctypes as C
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tfc.kernels.add_table import rescaled_inputs, table_decline
from tfc.quant import reference as ref
from tfc.quant.kernel_params import (
    ActivationRange, AddParams, BatchMatmulParams, ConvParams, DepthwiseConvParams, FullyConnectedParams,
    MulParams, PoolParams, add_params, conv_output_size, mul_params, softmax_params,
)

CI = settings.get_profile("ci")


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Exact equality; on failure say where and by how much the C output differs."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    diff = got.astype(np.int32) - want.astype(np.int32)
    if np.any(diff):
        idx = np.argwhere(diff)
        first = tuple(int(i) for i in idx[0])
        raise AssertionError(
            f"{what}: {len(idx)} of {diff.size} outputs differ; first at {first}: "
            f"C={int(got[first])} reference={int(want[first])}; max |diff|={int(np.abs(diff).max())}")


@st.composite
def quant(draw, channels: int):
    """Per-channel multipliers in [2^30, 2^31) and shifts around a drawn base, as numpy arrays."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = draw(st.integers(-20, 2))
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=channels, endpoint=True)
    shift = np.clip(base + rng.integers(-2, 3, size=channels), -31, 30)
    return tuple(int(m) for m in mult), tuple(int(s) for s in shift)


@st.composite
def activation(draw):
    lo = draw(st.integers(-128, 127))
    hi = draw(st.integers(lo, 127))
    return draw(st.sampled_from([ActivationRange(), ActivationRange(lo, hi)]))


offsets_in = st.integers(-127, 128)  # minus an int8 zero point
offsets_out = st.integers(-128, 127)


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _int8(rng, shape):
    return rng.integers(-128, 127, size=shape, endpoint=True).astype(np.int8)


def _bias(draw, rng, n):
    if draw(st.booleans()):
        return None
    return rng.integers(-(1 << 16), 1 << 16, size=n).astype(np.int32)


@st.composite
def conv_case(draw):
    rng = _rng(draw)
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    ck, cpg = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    upscale = draw(st.sampled_from([(1, 1), (1, 1), (1, 1), (2, 2), (1, 2)]))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)), groups * ck))
    w = _int8(rng, (groups * cpg, kh, kw, ck))
    mult, shift = draw(quant(groups * cpg))
    p = ConvParams(
        input_offset=draw(offsets_in), output_offset=draw(offsets_out), multipliers=mult, shifts=shift,
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=(draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))),
        dilation=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), activation=draw(activation()))
    # Any output size is legal: taps past the input read padding.
    output_hw = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return x, w, _bias(draw, rng, groups * cpg), p, output_hw, upscale


@given(conv_case())
@settings(CI)
def test_convolve_s8(runtime, case):
    x, w, bias, p, output_hw, upscale = case
    want = ref.conv2d(x, w, bias, p, output_hw=output_hw, upscale=upscale)
    got = runtime.conv2d(x, w, bias, p, output_hw=output_hw, upscale=upscale)
    assert_same(got, want, f"arm_convolve_s8 ({'dsp' if runtime.dsp else 'portable'})")


@st.composite
def conv_patch_case(draw):
    """Shapes that take the 4-pixel widened-patch path of the DSP build: channels a multiple of 4,
    kernel width >= 3, stride_x 1, no dilation or groups; any height stride, padding, output size."""
    rng = _rng(draw)
    cin, cout = 4 * draw(st.integers(1, 4)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(3, 5))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 9)), cin))
    w = _int8(rng, (cout, kh, kw, cin))
    mult, shift = draw(quant(cout))
    p = ConvParams(input_offset=draw(offsets_in), output_offset=draw(offsets_out), multipliers=mult, shifts=shift,
                   stride=(draw(st.integers(1, 3)), 1), padding=(draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))),
                   activation=draw(activation()))
    output_hw = (draw(st.integers(1, 5)), draw(st.integers(1, 9)))
    return x, w, _bias(draw, rng, cout), p, output_hw


@given(conv_patch_case())
@settings(CI)
def test_convolve_s8_patch_path(runtime, case):
    x, w, bias, p, output_hw = case
    want = ref.conv2d(x, w, bias, p, output_hw=output_hw)
    assert_same(runtime.conv2d(x, w, bias, p, output_hw=output_hw), want,
                f"arm_convolve_s8 patch path ({'dsp' if runtime.dsp else 'portable'})")


@st.composite
def conv_1x1_case(draw):
    rng = _rng(draw)
    cin, cout = draw(st.integers(1, 24)), draw(st.integers(1, 9))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), cin))
    w = _int8(rng, (cout, 1, 1, cin))
    mult, shift = draw(quant(cout))
    p = ConvParams(input_offset=draw(offsets_in), output_offset=draw(offsets_out), multipliers=mult,
                   shifts=shift, activation=draw(activation()))
    return x, w, _bias(draw, rng, cout), p


@given(conv_1x1_case())
@settings(CI)
def test_convolve_1x1_s8_fast(runtime, case):
    x, w, bias, p = case
    assert_same(runtime.conv2d(x, w, bias, p, fast_1x1=True), ref.conv2d(x, w, bias, p),
                "arm_convolve_1x1_s8_fast")


@st.composite
def depthwise_case(draw):
    rng = _rng(draw)
    cin, ch_mult = draw(st.integers(1, 11)), draw(st.sampled_from([1, 1, 2, 3]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 8)), draw(st.integers(1, 8)), cin))
    w = _int8(rng, (1, kh, kw, cin * ch_mult))
    mult, shift = draw(quant(cin * ch_mult))
    p = DepthwiseConvParams(
        input_offset=draw(offsets_in), output_offset=draw(offsets_out), ch_mult=ch_mult, multipliers=mult,
        shifts=shift, stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=(draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), activation=draw(activation()))
    output_hw = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return x, w, _bias(draw, rng, cin * ch_mult), p, output_hw


def _check_depthwise(runtime, case, what=""):
    """arm_depthwise_conv_s8, and arm_depthwise_conv_s8_opt where it applies, against the reference."""
    x, w, bias, p, output_hw = case
    want = ref.depthwise_conv2d(x, w, bias, p, output_hw=output_hw)
    assert_same(runtime.depthwise_conv2d(x, w, bias, p, output_hw=output_hw), want, f"arm_depthwise_conv_s8{what}")
    if p.ch_mult == 1:
        assert_same(runtime.depthwise_conv2d(x, w, bias, p, output_hw=output_hw, opt=True), want,
                    f"arm_depthwise_conv_s8_opt{what}")


@given(depthwise_case())
@settings(CI)
def test_depthwise_conv_s8(runtime, case):
    _check_depthwise(runtime, case)


@st.composite
def depthwise_3x3_case(draw):
    """The shapes of the 3x3 channel-pair path: ch_mult 1, channels a multiple of 4, stride_x 1 or
    2, no dilation; widths up to its 64-column row slots and past them (the general path)."""
    rng = _rng(draw)
    cin = 4 * draw(st.integers(1, 3))
    wide = draw(st.sampled_from([False, False, False, True]))
    in_w = draw(st.integers(30, 40)) if wide else draw(st.integers(1, 9))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 9)), in_w, cin))
    w = _int8(rng, (1, 3, 3, cin))
    mult, shift = draw(quant(cin))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    p = DepthwiseConvParams(
        input_offset=draw(offsets_in), output_offset=draw(offsets_out), ch_mult=1, multipliers=mult, shifts=shift,
        stride=stride, padding=pad, activation=draw(activation()))
    natural = tuple(conv_output_size(n, 3, s, q, q) for n, s, q in zip(x.shape[1:3], stride, pad))
    output_hw = tuple(max(1, n + draw(st.integers(-1, 1))) for n in natural)
    return x, w, _bias(draw, rng, cin), p, output_hw


@given(depthwise_3x3_case())
@settings(CI)
def test_depthwise_conv_s8_3x3(runtime, case):
    _check_depthwise(runtime, case, " 3x3")


@st.composite
def depthwise_column_case(draw):
    """str_ww's shape: a k x 1 kernel down a one-pixel-wide image, no padding, (mostly) every
    channel with a right shift and the full int8 range: the column path's fast loop."""
    rng = _rng(draw)
    cin, kh = 4 * draw(st.integers(1, 3)) + draw(st.sampled_from([0, 0, 0, 1, 3])), draw(st.integers(1, 15))
    stride, dil = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    in_h = (kh - 1) * dil + 1 + draw(st.integers(0, 12))
    x = _int8(rng, (1, in_h, 1, cin))
    w = _int8(rng, (1, kh, 1, cin))
    mult, shift = draw(quant(cin))
    shift = tuple(min(s, -1) for s in shift)
    p = DepthwiseConvParams(
        input_offset=draw(offsets_in), output_offset=draw(offsets_out), ch_mult=1, multipliers=mult, shifts=shift,
        stride=(stride, 1), dilation=(dil, 1),
        activation=draw(st.sampled_from([ActivationRange(), ActivationRange(), ActivationRange(-128, 100)])))
    output_hw = (conv_output_size(in_h, kh, stride, 0, 0, dil), 1)
    return x, w, _bias(draw, rng, cin), p, output_hw


@given(depthwise_column_case())
@settings(CI)
def test_depthwise_conv_s8_column(runtime, case):
    _check_depthwise(runtime, case, " k x 1")


@st.composite
def fc_case(draw):
    rng = _rng(draw)
    depth, out_c = draw(st.integers(1, 40)), draw(st.integers(1, 9))
    per_channel = draw(st.booleans())
    mult, shift = draw(quant(out_c if per_channel else 1))
    p = FullyConnectedParams(
        input_offset=draw(offsets_in), filter_offset=draw(st.sampled_from([0, 0, 5, -127, 128])),
        output_offset=draw(offsets_out), multipliers=mult, shifts=shift, activation=draw(activation()))
    x = _int8(rng, (draw(st.integers(1, 5)), depth))
    return x, _int8(rng, (out_c, depth)), _bias(draw, rng, out_c), p


@given(fc_case())
@settings(CI)
def test_fully_connected_s8(runtime, case):
    x, w, bias, p = case
    assert_same(runtime.fully_connected(x, w, bias, p), ref.fully_connected(x, w, bias, p),
                "arm_fully_connected_s8" + ("_per_channel" if p.per_channel else ""))


@st.composite
def bmm_case(draw):
    rng = _rng(draw)
    n, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rows, cols, out_cols = draw(st.integers(1, 6)), draw(st.integers(1, 20)), draw(st.integers(1, 6))
    ln, lh = draw(st.sampled_from([1, n])), draw(st.sampled_from([1, h]))
    rn, rh = draw(st.sampled_from([1, n])), draw(st.sampled_from([1, h]))
    (m,), (s,) = draw(quant(1))
    p = BatchMatmulParams(input_offset=draw(offsets_in), filter_offset=draw(offsets_in),
                          output_offset=draw(offsets_out), multiplier=m, shift=s, activation=draw(activation()))
    return _int8(rng, (ln, lh, rows, cols)), _int8(rng, (rn, rh, out_cols, cols)), p


@given(bmm_case())
@settings(CI)
def test_batch_matmul_s8(runtime, case):
    lhs, rhs, p = case
    want = ref.batch_matmul(lhs, rhs, p)
    got = runtime.batch_matmul(lhs, rhs, p)
    assert_same(got, np.broadcast_to(want, got.shape), "arm_batch_matmul_s8")


@given(st.data())
@settings(CI)
def test_batch_matmul_s8_attention_shapes(runtime, data):
    """Four or more lhs rows of whole 4-column blocks with a nonzero rhs offset (attention's q k^T
    and p v): the path that moves the offset out of the dot products, at its int16 limits too."""
    d = data.draw
    rng = _rng(d)
    rows, cols, out_cols = d(st.integers(4, 9)), 4 * d(st.integers(1, 12)), d(st.integers(1, 9))
    (m,), (s,) = d(quant(1))
    rhs_offset = d(st.one_of(st.integers(-128, 128).filter(lambda o: o != 0), st.sampled_from([-32640, 32640])))
    p = BatchMatmulParams(input_offset=d(st.one_of(offsets_in, st.sampled_from([-32640, 32640]))),
                          filter_offset=rhs_offset, output_offset=d(offsets_out), multiplier=m, shift=s,
                          activation=d(activation()))
    lhs, rhs = _int8(rng, (1, d(st.integers(1, 3)), rows, cols)), _int8(rng, (1, 1, out_cols, cols))
    got = runtime.batch_matmul(lhs, rhs, p)
    assert_same(got, np.broadcast_to(ref.batch_matmul(lhs, rhs, p), got.shape), "arm_batch_matmul_s8 (rhs offset)")


@st.composite
def pool_case(draw):
    rng = _rng(draw)
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = _int8(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)),
                    draw(st.integers(1, 10))))
    p = PoolParams(filter=(fh, fw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                   padding=(draw(st.integers(0, fh - 1)), draw(st.integers(0, fw - 1))),
                   activation=draw(activation()))
    # Windows larger than the input still cover pixels: at least one output per axis.
    out_hw = tuple(max(1, conv_output_size(x.shape[1 + i], p.filter[i], p.stride[i], p.padding[i], p.padding[i]))
                   for i in range(2))
    return x, p, out_hw


@given(pool_case())
@settings(CI)
def test_avgpool_s8(runtime, case):
    x, p, out_hw = case
    want = ref.avg_pool(x, p, output_hw=out_hw)
    assert_same(runtime.avg_pool(x, p, output_hw=out_hw), want, "arm_avgpool_s8")


@given(pool_case())
@settings(CI)
def test_max_pool_s8(runtime, case):
    x, p, out_hw = case
    assert_same(runtime.max_pool(x, p, output_hw=out_hw), ref.max_pool(x, p, output_hw=out_hw), "arm_max_pool_s8")


@st.composite
def softmax_case(draw):
    rng = _rng(draw)
    scale = draw(st.floats(1e-3, 2.0))
    beta = draw(st.sampled_from([1.0, 1.0, 0.5, 2.0]))
    x = _int8(rng, (draw(st.integers(1, 4)), draw(st.integers(1, 70))))
    if draw(st.booleans()):  # many equal maxima and deep negatives exercise diff_min
        x[..., ::3] = 127
    return x, softmax_params(scale, beta)


@given(softmax_case())
@settings(CI)
def test_softmax_s8(runtime, case):
    x, p = case
    assert_same(runtime.softmax(x, p), ref.softmax(x, p), "arm_softmax_s8")


@st.composite
def long_softmax_rows(draw):
    """Rows long enough that the sum of exponentials leaves fewer than 4 bits of headroom, so
    the output rounding shift passes 31 (every output is then -128)."""
    x, p = draw(softmax_case())
    rng = _rng(draw)
    n = draw(st.integers(400, 1100))
    rows = _int8(rng, (2, n))
    rows[:, : draw(st.integers(1, n))] = 127
    return rows, p


@given(st.one_of(softmax_case(), long_softmax_rows()))
@settings(CI)
def test_tfc_softmax_s8_equals_arm_softmax_reference(runtime, case):
    """tfc_softmax_s8 reads exp() from the layer's table and rounds once: the same integers."""
    x, p = case
    assert_same(runtime.tfc_softmax(x, p), ref.softmax(x, p), "tfc_softmax_s8")


scales = st.floats(1e-4, 1.0)
zero_points = st.integers(-128, 127)


@given(st.data())
@settings(CI)
def test_elementwise_add_s8(runtime, data):
    rng = _rng(data.draw)
    p = add_params(data.draw(scales), data.draw(zero_points), data.draw(scales), data.draw(zero_points),
                   data.draw(scales), data.draw(zero_points),
                   activation=data.draw(st.sampled_from([None, "relu", "relu6"])))
    n = data.draw(st.integers(1, 300))
    a, b = _int8(rng, n), _int8(rng, n)
    assert_same(runtime.add(a, b, p), ref.add(a, b, p), "arm_elementwise_add_s8")


@given(st.data())
@settings(CI)
def test_elementwise_mul_s8(runtime, data):
    rng = _rng(data.draw)
    p = mul_params(data.draw(scales), data.draw(zero_points), data.draw(scales), data.draw(zero_points),
                   data.draw(scales), data.draw(zero_points),
                   activation=data.draw(st.sampled_from([None, "relu", "relu6"])))
    n = data.draw(st.integers(1, 300))
    a, b = _int8(rng, n), _int8(rng, n)
    assert_same(runtime.mul(a, b, p), ref.mul(a, b, p), "arm_elementwise_mul_s8")


def test_relu_and_relu6(runtime):
    x = np.arange(-128, 128, dtype=np.int8)
    assert_same(runtime.relu(x), ref.relu(x), "arm_relu_q7")
    assert_same(runtime.relu6(x), ref.relu6(x), "arm_relu6_s8")


def test_requantize_extremes_through_fc(runtime):
    """Shifts from -31 to +30 and accumulators near the int32 limits (wrapping left shifts)."""
    rng = np.random.default_rng(7)
    x = _int8(rng, (64, 1))
    w = np.ones((1, 1), dtype=np.int8)
    for shift in (-31, -30, -1, 0, 1, 7, 30):
        for mult in (1 << 30, (1 << 31) - 1, 1, 0):
            bias = np.array([rng.integers(-(1 << 31), (1 << 31) - 200)], dtype=np.int32)
            p = FullyConnectedParams(input_offset=0, filter_offset=0, output_offset=0,
                                     multipliers=(mult,), shifts=(shift,))
            assert_same(runtime.fully_connected(x, w, bias, p), ref.fully_connected(x, w, bias, p),
                        f"requantize mult={mult} shift={shift}")


def test_avgpool_empty_window_is_an_error(runtime):
    x = np.zeros((1, 2, 2, 1), dtype=np.int8)
    p = PoolParams(filter=(1, 1), stride=(1, 1), padding=(1, 1))
    with pytest.raises(RuntimeError):
        runtime.avg_pool(x, p, output_hw=(3, 3))


# ---- arm_elementwise_add_s8 / _mul_s8: every branch of the fast path, its fallbacks, in place ----

def _elementwise(runtime, kind: str, a, b, p, in_place: int | None):
    """The kernel's output, computed into a fresh buffer or over input 1 or 2 (`in_place`)."""
    if in_place is None:
        return runtime.add(a, b, p) if kind == "add" else runtime.mul(a, b, p)
    a, b = np.array(a, np.int8), np.array(b, np.int8)
    out = a if in_place == 1 else b
    pa, pb, po = (x.ctypes.data_as(C.POINTER(C.c_int8)) for x in (a, b, out))
    if kind == "add":
        st = runtime.lib.arm_elementwise_add_s8(
            pa, pb, p.input_1_offset, p.input_1_mult, p.input_1_shift, p.input_2_offset, p.input_2_mult,
            p.input_2_shift, p.left_shift, po, p.out_offset, p.out_mult, p.out_shift, p.activation.min,
            p.activation.max, a.size)
    else:
        st = runtime.lib.arm_elementwise_mul_s8(pa, pb, p.input_1_offset, p.input_2_offset, po, p.out_offset,
                                                p.out_mult, p.out_shift, p.activation.min, p.activation.max, a.size)
    assert st == 0, f"arm_elementwise_{kind}_s8 returned status {st}"
    return out


HALF = 1 << 30          # multiplier 2^30 with shift 0: TFLite's rescale of the larger-scale input
NARROW = ActivationRange(-20, 90)
# name: (AddParams changes) -- the fast path's three loops, the swap, and each reason to fall back.
ADD_BRANCHES = {
    "half_right": {},
    "right_half (swapped)": dict(input_1_mult=1_415_621_248, input_1_shift=-1, input_2_mult=HALF,
                                 input_2_shift=0),
    "half_half": dict(input_2_mult=HALF, input_2_shift=0),
    "right_right": dict(input_1_mult=1_300_000_000, input_1_shift=-2, input_2_shift=-3),
    "small multipliers": dict(input_1_mult=12_345, input_1_shift=-1, input_2_mult=1, out_mult=77),
    "shift -31 inputs": dict(input_1_mult=HALF + 5, input_1_shift=-31, input_2_shift=-31),
    "fallback: left shift 19": dict(left_shift=19),
    "fallback: output shift 0": dict(out_shift=0),
    "fallback: unshifted input, multiplier not 2^30": dict(input_1_mult=HALF + 1),
    "fallback: offset 300": dict(input_2_offset=300),
    "fallback: offset folded past int32": dict(out_shift=-25, out_offset=100),
    "fallback: activation past int8": dict(activation=ActivationRange(-300, 300)),
}


@pytest.mark.parametrize("branch", list(ADD_BRANCHES))
@pytest.mark.parametrize("act", ["full", "narrow"])
def test_elementwise_add_s8_branches_in_place(runtime, branch, act):
    """Each fast-path loop (and its clamp), each fallback; sizes around multiples of 4 for the
    tail; output over input 1, over input 2, and separate."""
    base = add_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
    p = replace(base, **ADD_BRANCHES[branch])
    if act == "narrow" and "activation" not in ADD_BRANCHES[branch]:
        p = replace(p, activation=NARROW)
    rng = np.random.default_rng(len(branch))
    for n in (0, 1, 3, 4, 5, 7, 8, 33):
        a, b = _int8(rng, n), _int8(rng, n)
        a[:2], b[:2] = (-128, 127)[:min(n, 2)], (127, -128)[:min(n, 2)]   # the extremes
        want = ref.add(a, b, p)
        for in_place in (None, 1, 2):
            got = _elementwise(runtime, "add", a, b, p, in_place)
            assert_same(got, want, f"arm_elementwise_add_s8 [{branch}, {act}, n={n}, in_place={in_place}]")


MUL_BRANCHES = {
    "right": {},
    "left shift 0": dict(out_shift=0),
    "left shift 12": dict(out_shift=12, out_mult=HALF + 99),
    "small multiplier": dict(out_mult=3),
    "shift -31": dict(out_shift=-31),
    "fallback: left shift 13, offsets 256": dict(out_shift=13, input_1_offset=256, input_2_offset=-256),
    "fallback: offset 257": dict(input_1_offset=257),
    "fallback: offset folded past int32": dict(out_shift=-25, out_offset=100),
    "fallback: activation past int8": dict(activation=ActivationRange(-129, 127)),
}


@pytest.mark.parametrize("branch", list(MUL_BRANCHES))
@pytest.mark.parametrize("act", ["full", "narrow"])
def test_elementwise_mul_s8_branches_in_place(runtime, branch, act):
    p = replace(mul_params(0.0625, -3, 0.0412, 11, 0.0874, -7), **MUL_BRANCHES[branch])
    if act == "narrow" and "activation" not in MUL_BRANCHES[branch]:
        p = replace(p, activation=NARROW)
    rng = np.random.default_rng(len(branch))
    for n in (0, 1, 3, 4, 5, 7, 8, 33):
        a, b = _int8(rng, n), _int8(rng, n)
        a[:2], b[:2] = (-128, 127)[:min(n, 2)], (-128, -128)[:min(n, 2)]
        want = ref.mul(a, b, p)
        for in_place in (None, 1, 2):
            got = _elementwise(runtime, "mul", a, b, p, in_place)
            assert_same(got, want, f"arm_elementwise_mul_s8 [{branch}, {act}, n={n}, in_place={in_place}]")


multipliers = st.one_of(st.just(1 << 30), st.integers(1 << 30, 2**31 - 1), st.integers(0, 2**31 - 1))


@given(st.data())
@settings(CI)
def test_elementwise_add_s8_raw_params(runtime, data):
    """Raw parameters around the fast path's limits (offsets past 256, shifts -31..0, any
    non-negative multiplier, left shifts other than 20), in place or not."""
    d = data.draw
    offsets = st.one_of(st.integers(-128, 128), st.integers(-300, 300))
    p = AddParams(input_1_offset=d(offsets), input_1_mult=d(multipliers), input_1_shift=d(st.integers(-31, 0)),
                  input_2_offset=d(offsets), input_2_mult=d(multipliers), input_2_shift=d(st.integers(-31, 0)),
                  left_shift=d(st.sampled_from([20, 20, 20, 0, 12, 21])), out_offset=d(offsets_out),
                  out_mult=d(multipliers), out_shift=d(st.integers(-31, 0)), activation=d(activation()))
    rng = _rng(d)
    n = d(st.integers(0, 40))
    a, b = _int8(rng, n), _int8(rng, n)
    in_place = d(st.sampled_from([None, 1, 2]))
    assert_same(_elementwise(runtime, "add", a, b, p, in_place), ref.add(a, b, p),
                f"arm_elementwise_add_s8 {p} in_place={in_place}")


# tfc_add_table_s8: the tables tfc.kernels.add_table writes, any parameters it accepts.
def _add_table(runtime, a: np.ndarray, b: np.ndarray, p: AddParams, in_place: int | None) -> np.ndarray:
    r1, r2 = rescaled_inputs(p)
    t1, t2 = (np.ascontiguousarray(2 * r, dtype=np.int32) for r in (r1, r2))
    a, b = np.array(a, np.int8), np.array(b, np.int8)
    out = {None: np.zeros_like(a), 1: a, 2: b}[in_place]
    s8, i32 = C.POINTER(C.c_int8), C.POINTER(C.c_int32)
    runtime.lib.tfc_add_table_s8.restype = None
    runtime.lib.tfc_add_table_s8(a.ctypes.data_as(s8), b.ctypes.data_as(s8), t1.ctypes.data_as(i32),
                                 t2.ctypes.data_as(i32), out.ctypes.data_as(s8), a.size, p.out_offset, p.out_mult,
                                 p.out_shift, p.activation.min, p.activation.max)
    return out


@given(st.data())
@settings(CI)
def test_add_table_s8_raw_params(runtime, data):
    """Any parameters the kernel accepts (offsets to 300, shifts -31..0, any non-negative
    multiplier, output shifts that leave the fast path), every activation range, in place or not."""
    d = data.draw
    offsets = st.one_of(st.integers(-128, 128), st.integers(-300, 300))
    lo = d(st.integers(-128, 127))
    p = AddParams(input_1_offset=d(offsets), input_1_mult=d(multipliers), input_1_shift=d(st.integers(-31, 0)),
                  input_2_offset=d(offsets), input_2_mult=d(multipliers), input_2_shift=d(st.integers(-31, 0)),
                  left_shift=d(st.sampled_from([20, 20, 0, 12])), out_offset=d(st.integers(-128, 127)),
                  out_mult=d(multipliers), out_shift=d(st.integers(-31, 4)),
                  activation=d(st.sampled_from([ActivationRange(), ActivationRange(lo, d(st.integers(lo, 127)))])))
    assume(table_decline(p) is None)
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    n = d(st.integers(0, 40))
    a, b = (rng.integers(-128, 128, n, dtype=np.int8) for _ in range(2))
    a[:2], b[:2] = (-128, 127)[:min(n, 2)], (127, -128)[:min(n, 2)]
    in_place = d(st.sampled_from([None, 1, 2]))
    assert_same(_add_table(runtime, a, b, p, in_place), ref.add(a, b, p),
                f"tfc_add_table_s8 {p} in_place={in_place}")


@given(st.data())
@settings(CI)
def test_elementwise_mul_s8_raw_params(runtime, data):
    d = data.draw
    offsets = st.one_of(st.integers(-128, 128), st.integers(-300, 300))
    p = MulParams(input_1_offset=d(offsets), input_2_offset=d(offsets), out_offset=d(offsets_out),
                  out_mult=d(multipliers), out_shift=d(st.integers(-31, 12)), activation=d(activation()))
    rng = _rng(d)
    n = d(st.integers(0, 40))
    a, b = _int8(rng, n), _int8(rng, n)
    in_place = d(st.sampled_from([None, 1, 2]))
    assert_same(_elementwise(runtime, "mul", a, b, p, in_place), ref.mul(a, b, p),
                f"arm_elementwise_mul_s8 {p} in_place={in_place}")


@given(st.data())
@settings(CI)
def test_transpose_s8_every_permutation(runtime, data):
    """tfc_transpose_s8 equals numpy's transpose for every rank-4 permutation: the matrix tiles
    (last two axes swapped), whole rows (last axis fixed, runs of any length) and the element walk."""
    d = data.draw
    perm = tuple(d(st.permutations(range(4))))
    dims = tuple(d(st.integers(1, 9)) for _ in range(4))
    x = _int8(_rng(d), dims)
    out = np.zeros(x.size, np.int8)
    i32, s8 = C.POINTER(C.c_int32), C.POINTER(C.c_int8)
    runtime.lib.tfc_transpose_s8.restype = None
    runtime.lib.tfc_transpose_s8(x.ctypes.data_as(s8), out.ctypes.data_as(s8), np.array(dims, np.int32).ctypes.data_as(i32),
                                 np.array(perm, np.int32).ctypes.data_as(i32))
    assert_same(out, x.transpose(perm).reshape(-1), f"tfc_transpose_s8 dims={dims} perm={perm}")
