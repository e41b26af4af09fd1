"""tfc_sparse_depthwise_conv_s8 (encoding dw-taps) equals the dense depthwise reference
(tfc.quant.reference.depthwise_conv2d, what arm_depthwise_conv_s8 computes) bit for bit on the
host: plain C, emulated DSP and ASan/UBSan builds, over Hypothesis-drawn layers (channels, kernels
3/5/7, strides 1/2, paddings, tap densities 0..1 with all-zero and fully dense channels, every
requantization kind, activation clamps, input offsets at the int8 extremes)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.quant import reference as ref
from tfc.quant.kernel_params import ActivationRange, DepthwiseConvParams
from tfc.backends.cmsis import sparse_harness as H
from tfc.sparse.depthwise import flash_bytes, sparse_depthwise_layer
from tfc.sparse.reference import RQ_GENERIC, RQ_LEFT, RQ_RIGHT

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.fixture(scope="module")
def exes(tmp_path_factory):
    root = tmp_path_factory.mktemp("dw")
    return {v: H.build_host(v, root / v) for v in ("portable", "dsp", "sanitize")}


layer_spec = st.fixed_dictionaries({
    "channels": st.integers(1, 20), "k": st.sampled_from([3, 5, 7]), "stride": st.sampled_from([1, 2]),
    "pad": st.sampled_from(["none", "same", "one"]), "density": st.sampled_from([0.0, 0.15, 0.3, 0.5, 1.0]),
    "hw": st.integers(5, 11), "clamp": st.booleans(), "rq": st.sampled_from(["right", "mixed"]),
    "input_offset": st.sampled_from([-127, -3, 0, 9, 128]), "batch": st.sampled_from([1, 1, 2]),
    "seed": st.integers(0, 2**31), "luts": st.booleans(),
})


def _layer(s):
    """(input, SparseDepthwiseLayer, bias, params) for a spec; channel 0 empty, channel 1 fully dense."""
    rng = np.random.default_rng(s["seed"])
    c, k = s["channels"], s["k"]
    keep = rng.random((c, k * k)) < s["density"]
    w = (rng.integers(-127, 128, (c, k * k)) * keep).astype(np.int8)
    if c > 2:
        w[0] = 0
        w[1] = rng.integers(1, 128, k * k) * rng.choice([-1, 1], k * k)
    w = w.reshape(c, k, k)
    bias = rng.integers(-5000, 5000, c).astype(np.int32)
    mult = [int(m) for m in rng.integers(1 << 30, 1 << 31, c)]
    shift = [int(v) for v in rng.integers(-12, -1, c)]
    if s["rq"] == "mixed":  # LEFT (shift >= 0) and GENERIC (accumulator bound past 2^31) channels
        shift = [int(v) for v in rng.integers(-12, 3, c)]
        bias[::3] = rng.integers(-(2**31) + 1, 2**31 - 1, len(bias[::3]))
    pad = {"none": 0, "same": k // 2, "one": 1}[s["pad"]]
    if s["hw"] + 2 * pad < k:
        pad = (k - s["hw"] + 1) // 2
    act = ActivationRange(-90, 100) if s["clamp"] else ActivationRange()
    p = DepthwiseConvParams(input_offset=s["input_offset"], output_offset=-4, ch_mult=1, multipliers=tuple(mult),
                            shifts=tuple(shift), stride=(s["stride"], s["stride"]), padding=(pad, pad),
                            activation=act)
    x = rng.integers(-128, 128, (s["batch"], s["hw"], s["hw"] + 1, c)).astype(np.int8)
    layer = sparse_depthwise_layer(w, bias, mult, shift, input_offset=p.input_offset, output_offset=-4,
                                   activation=act, luts=s.get("luts", False))
    return x, layer, bias, p


def _check(exe, variant, specs):
    items = [_layer(s) for s in specs]
    outs = H.run_host(exe, [H.sparse_depthwise_case(x, layer, p) for x, layer, _, p in items])
    for s, (x, layer, bias, p), got in zip(specs, items, outs):
        want = ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p)
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)
            first = tuple(int(i) for i in bad[0])
            raise AssertionError(f"{variant}: sparse depthwise differs from the reference for {s}: {len(bad)} of "
                                 f"{got.size} outputs, first at {first}: {int(got[first])} != {int(want[first])}")


@settings(max_examples=6, deadline=None)
@given(st.lists(layer_spec, min_size=4, max_size=8))
def test_sparse_depthwise_equals_dense_reference(exes, specs):
    for variant in ("portable", "dsp"):
        _check(exes[variant], variant, specs)


@settings(max_examples=3, deadline=None)
@given(st.lists(layer_spec, min_size=4, max_size=6))
def test_sparse_depthwise_clean_under_asan_ubsan(exes, specs):
    _check(exes["sanitize"], "sanitize", specs)


def test_every_requant_kind_and_tap_count_is_exercised(exes):
    """The 'mixed' layers really hold RIGHT, LEFT and GENERIC channels, and counts 0..9 taps (the
    specialised 1/2/3-tap loops and the list loop), so the tests above reach every path."""
    kinds, counts = set(), set()
    specs = []
    for seed in range(6):
        s = {"channels": 20, "k": 3, "stride": 1 + seed % 2, "pad": "same", "density": 0.1 + 0.15 * seed,
             "hw": 6, "clamp": seed % 2 == 0, "rq": "mixed", "input_offset": (-127, 128)[seed % 2], "batch": 1,
             "seed": seed}
        _, layer, _, _ = _layer(s)
        kinds.update(int(k) for k in layer.records["kind"])
        counts.update(int(c) for c in layer.records["count"])
        specs.append(s)
    assert {RQ_RIGHT, RQ_LEFT, RQ_GENERIC} <= kinds, kinds
    assert set(range(10)) <= counts, sorted(counts)
    _check(exes["dsp"], "dsp", specs)


def test_flash_is_records_two_bytes_per_tap_and_with_luts_a_table_per_one_tap_channel():
    s = {"channels": 16, "k": 3, "stride": 1, "pad": "same", "density": 0.15, "hw": 6, "clamp": False,
         "rq": "right", "input_offset": 0, "batch": 1, "seed": 1}
    plain = _layer(s)[1]
    assert plain.encoding == "dw-taps" and plain.flash_bytes() == flash_bytes(16, plain.nonzero_taps)
    _, layer, _, _ = _layer({**s, "luts": True})
    assert layer.encoding == "dw-taps-lut"
    one = int((layer.records["count"] == 1).sum())
    assert one > 0 and layer.one_tap_channels == one
    assert layer.flash_bytes() == len(layer.records_bytes()) + 2 * layer.nonzero_taps + 256 * one
    assert layer.flash_bytes() == flash_bytes(16, layer.nonzero_taps, one)
    assert layer.flash_bytes() == 12 * 16 + 2 * layer.nonzero_taps + 256 * one


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31), stride=st.sampled_from([1, 2, 3]), clamp=st.booleans(),
       rq=st.sampled_from(["right", "mixed"]), input_offset=st.sampled_from([-127, 0, 128]))
def test_one_tap_channels_by_table_equal_the_reference(exes, seed, stride, clamp, rq, input_offset):
    """Layers of mostly one-tap channels (the table path: strides 1, 2 and other, every
    requantization kind, clamps, the padding's zero point) on the DSP and sanitized builds."""
    s = {"channels": 12, "k": 3, "stride": stride, "pad": "one", "density": 1 / 9, "hw": 9, "clamp": clamp,
         "rq": rq, "input_offset": input_offset, "batch": 1, "seed": seed, "luts": True}
    assert _layer(s)[1].one_tap_channels > 0 or _layer(s)[1].nonzero_taps == 0
    for variant in ("dsp", "sanitize"):
        _check(exes[variant], variant, [s])


def test_one_tap_table_is_the_dense_layer_on_every_input_byte():
    """lut[(uint8)x] equals the dense reference of a 1x1 one-tap depthwise for all 256 bytes."""
    from tfc.sparse.depthwise import one_tap_lut
    act = ActivationRange(-90, 100)
    for w, bias, mult, shift, off in ((-127, 5000, 1 << 30, -3, 128), (77, -2**31 + 1, 2**31 - 1, 2, -127),
                                      (2, 0, 1518500250, -12, 0)):
        lut = one_tap_lut(bias, w, mult, shift, input_offset=off, output_offset=-4, activation=act)
        x = np.arange(256, dtype=np.uint8).view(np.int8).reshape(1, 1, 256, 1)
        p = DepthwiseConvParams(input_offset=off, output_offset=-4, ch_mult=1, multipliers=(mult,),
                                shifts=(shift,), stride=(1, 1), padding=(0, 0), activation=act)
        want = ref.depthwise_conv2d(x, np.full((1, 1, 1, 1), w, np.int8), np.array([bias], np.int32), p)
        assert np.array_equal(lut, want.reshape(256))


def whole_row_layer(seed: int, stride: int, relu: bool, luts: bool, out_w: int, channels: int = 12, pad: int = 1):
    """(input, layer, bias, params): a 3x3 layer on input rows of out_w * stride pixels, so rows of
    out_w outputs with pad 1 (a multiple of 8: the eight-per-step loops); taps 1..3 per channel
    mostly; relu: output zero point -128 and shifts 7..9 (the immediate-shift loops, no sign
    correction)."""
    rng = np.random.default_rng(seed)
    c = channels
    w = np.zeros((c, 9), np.int8)
    for ch in range(c):
        idx = rng.choice(9, size=1 + ch % 3 if ch % 5 else 4, replace=False)
        w[ch, idx] = rng.integers(1, 128, len(idx)) * rng.choice([-1, 1], len(idx))
    bias = rng.integers(-4000, 4000, c).astype(np.int32)
    out_off = -128 if relu else 5
    shifts = rng.choice([-7, -8, -9], c) if relu else rng.integers(-10, -3, c)
    p = DepthwiseConvParams(input_offset=128 if relu else -11, output_offset=out_off, ch_mult=1,
                            multipliers=tuple(int(m) for m in rng.integers(1 << 30, 1 << 31, c)),
                            shifts=tuple(int(s) for s in shifts), stride=(stride, stride), padding=(pad, pad))
    x = rng.integers(-128, 128, (1, 3 * stride, out_w * stride, c)).astype(np.int8)
    layer = sparse_depthwise_layer(w.reshape(c, 3, 3), bias, p.multipliers, p.shifts, input_offset=p.input_offset,
                                   output_offset=out_off, luts=luts)
    return x, layer, bias, p


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("relu", [True, False], ids=["relu", "plain"])
@pytest.mark.parametrize("luts", [True, False], ids=["luts", "taps"])
def test_rows_of_eight_equal_the_reference(exes, stride, relu, luts):
    """Output rows of 8 and 16 pixels take the eight-per-step loops (one-tap tables, 1..3-tap
    immediate-shift loops): plain C, DSP and sanitized builds give the reference's bytes."""
    items = [whole_row_layer(seed, stride, relu, luts, out_w) for seed, out_w in ((1, 8), (2, 16), (3, 24))]
    for variant in ("portable", "dsp", "sanitize"):
        outs = H.run_host(exes[variant], [H.sparse_depthwise_case(x, layer, p) for x, layer, _, p in items])
        for (x, layer, bias, p), got in zip(items, outs):
            want = ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p)
            assert np.array_equal(got, want), f"{variant}: {np.count_nonzero(got != want)} outputs differ"


@pytest.mark.parametrize("pad", [0, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_whole_input_rows_with_other_paddings_equal_the_reference(exes, pad, stride):
    """Input rows of 8k pixels copy into the planes eight words per step after the padding alone is
    written: no padding and two rows and columns of it, plain C, DSP and sanitized builds."""
    items = [whole_row_layer(seed, stride, True, luts, 16 // stride, pad=pad) for seed, luts in ((4, True), (5, False))]
    for variant in ("portable", "dsp", "sanitize"):
        outs = H.run_host(exes[variant], [H.sparse_depthwise_case(x, layer, p) for x, layer, _, p in items])
        for (x, layer, bias, p), got in zip(items, outs):
            want = ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p)
            assert np.array_equal(got, want), f"{variant}: {np.count_nonzero(got != want)} outputs differ"
