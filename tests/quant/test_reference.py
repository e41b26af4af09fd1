"""The numpy int8 reference kernels against float math (an oracle independent of the fixed point):
dequantized int8 results stay within rounding of the float computation."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.quant import kernel_params as kp
from tfc.quant import reference as ref

CI = settings.get_profile("ci")


def _conv_float(x, w, stride, pad):
    """Direct float convolution, NHWC / OHWI, zero padding."""
    n, h, wd, cin = x.shape
    cout, kh, kw, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    oh = (h + 2 * pad[0] - kh) // stride[0] + 1
    ow = (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((n, oh, ow, cout))
    for oy in range(oh):
        for ox in range(ow):
            patch = xp[:, oy * stride[0]:oy * stride[0] + kh, ox * stride[1]:ox * stride[1] + kw, :]
            out[:, oy, ox, :] = np.einsum("nhwc,ohwc->no", patch, w)
    return out


@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(0, 1))
@settings(CI)
def test_conv_reference_tracks_float(seed, stride, pad):
    rng = np.random.default_rng(seed)
    x_q = rng.integers(-128, 128, size=(1, 6, 6, 3)).astype(np.int8)
    w_q = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    si, zi, so, zo = 0.02, -10, 0.5, 3
    sw = rng.uniform(0.001, 0.01, size=4)
    sw = sw.astype(np.float32).astype(np.float64)
    bias = rng.integers(-1000, 1000, size=4).astype(np.int32)
    p = kp.conv_params(si, zi, sw, so, zo, stride=(stride, stride), padding=(pad, pad))
    got = ref.conv2d(x_q, w_q, bias, p)
    xf = (x_q.astype(np.float64) - zi) * si
    wf = w_q.astype(np.float64) * sw[:, None, None, None]
    yf = _conv_float(xf, wf, (stride, stride), (pad, pad)) + bias * si * sw
    want = np.clip(np.round(yf / so) + zo, -128, 127)
    assert np.abs(got.astype(np.int64) - want).max() <= 1


def test_avgpool_rounds_half_away_from_zero():
    p = kp.PoolParams(filter=(1, 2), stride=(1, 2))
    x = np.array([[[[1], [2], [-1], [-2], [3], [-4]]]], dtype=np.int8)
    # sums 3, -3, -1 over 2 taps: 1.5 -> 2, -1.5 -> -2, -0.5 -> -1
    assert ref.avg_pool(x, p)[0, 0, :, 0].tolist() == [2, -2, -1]


def test_avgpool_counts_only_real_pixels():
    p = kp.PoolParams(filter=(3, 3), stride=(1, 1), padding=(1, 1))
    x = np.full((1, 2, 2, 1), 10, dtype=np.int8)
    assert (ref.avg_pool(x, p) == 10).all()  # padding never dilutes the average


def test_softmax_reference_tracks_float():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(8, 10)).astype(np.int8)
    scale = 0.1
    got = ref.softmax(x, kp.softmax_params(scale)).astype(np.int64)
    z = x.astype(np.float64) * scale
    e = np.exp(z - z.max(axis=1, keepdims=True))
    want = np.clip(np.round(e / e.sum(axis=1, keepdims=True) * 256) - 128, -128, 127)
    assert np.abs(got - want).max() <= 1


def test_add_and_mul_track_float():
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, size=1000).astype(np.int8)
    b = rng.integers(-128, 128, size=1000).astype(np.int8)
    s1, z1, s2, z2, so, zo = 0.05, 3, 0.08, -7, 0.1, 2
    af, bf = (a.astype(np.float64) - z1) * s1, (b.astype(np.float64) - z2) * s2
    got = ref.add(a, b, kp.add_params(s1, z1, s2, z2, so, zo)).astype(np.int64)
    assert np.abs(got - np.clip(np.round((af + bf) / so) + zo, -128, 127)).max() <= 1
    so = 0.5
    got = ref.mul(a, b, kp.mul_params(s1, z1, s2, z2, so, zo)).astype(np.int64)
    assert np.abs(got - np.clip(np.round(af * bf / so) + zo, -128, 127)).max() <= 1


def test_depthwise_equals_grouped_conv():
    """Depthwise with ch_mult m is grouped convolution with Cin groups of one channel."""
    rng = np.random.default_rng(3)
    cin, m = 3, 2
    x = rng.integers(-128, 128, size=(1, 5, 5, cin)).astype(np.int8)
    w_dw = rng.integers(-127, 128, size=(1, 3, 3, cin * m)).astype(np.int8)
    mult, shift = (1 << 30,) * (cin * m), (-8,) * (cin * m)
    dw = kp.DepthwiseConvParams(input_offset=5, output_offset=-3, ch_mult=m, multipliers=mult, shifts=shift,
                                padding=(1, 1))
    conv = kp.ConvParams(input_offset=5, output_offset=-3, multipliers=mult, shifts=shift, padding=(1, 1))
    w_conv = np.transpose(w_dw, (3, 1, 2, 0))  # [Cout, Kh, Kw, 1]
    assert (ref.depthwise_conv2d(x, w_dw, None, dw) == ref.conv2d(x, w_conv, None, conv)).all()
