"""The C sparse kernels (portable, emulated-DSP and ASan/UBSan builds) equal the dense numpy
reference (tfc.quant.reference) bit for bit: random shapes, block sizes, densities 0..1 with
empty and full rows, paddings, strides, activation clamps, requantization kinds."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfc.quant import reference as ref
from tfc.quant.kernel_params import ActivationRange, ConvParams, FullyConnectedParams
from tfc.backends.cmsis import sparse_harness as H
from tfc.sparse.encoding import BLOCK_SIZES
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer

VARIANTS = ("portable", "dsp", "sanitize")

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    out = tmp_path_factory.mktemp("sparse_host")
    return {v: H.build_host(v, out) for v in VARIANTS}


def _weights(rng, rows, cols, block, density):
    w = rng.integers(-128, 128, (rows, cols)).astype(np.int8)
    nb = -(-cols // block)
    keep = np.repeat(rng.random((rows, nb)) < density, block, axis=1)[:, :cols]
    w = (w * keep).astype(np.int8)
    if rows > 2:
        w[0] = 0                              # an empty row
        w[1] = rng.integers(1, 128, cols)     # a fully dense row
    return w


def _quant(rng, rows, big_shift=False):
    mults = [int(m) for m in rng.integers(1 << 30, 1 << 31, rows)]
    lo, hi = (-8, 2) if big_shift else (-12, 0)
    shifts = [int(s) for s in rng.integers(lo, hi, rows)]
    act = ActivationRange() if rng.random() < 0.5 else ActivationRange(int(rng.integers(-128, 0)),
                                                                       int(rng.integers(0, 128)))
    return mults, shifts, act


def _compare(got, want, what):
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{what}: {len(bad)} of {want.size} outputs differ, first at {tuple(bad[0])}: "
                           f"got {got[tuple(bad[0])]}, want {want[tuple(bad[0])]}")


@st.composite
def conv_cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.sampled_from([1, 1, 3, 2]))
    cin = draw(st.integers(1, 20))
    cout = draw(st.integers(1, 9))
    h, w = draw(st.integers(k, 7)), draw(st.integers(k, 11))
    pad = draw(st.integers(0, k // 2 + (k == 2)))
    stride = draw(st.sampled_from([1, 1, 1, 2]))
    block = draw(st.sampled_from(BLOCK_SIZES))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    n = draw(st.integers(1, 2))
    wt = _weights(rng, cout, k * k * cin, block, density).reshape(cout, k, k, cin)
    mults, shifts, act = _quant(rng, cout, big_shift=draw(st.booleans()))
    bias = None if rng.random() < 0.2 else rng.integers(-(1 << 20), 1 << 20, cout).astype(np.int32)
    p = ConvParams(input_offset=int(rng.integers(-127, 129)), output_offset=int(rng.integers(-128, 128)),
                   multipliers=tuple(mults), shifts=tuple(shifts), stride=(stride, stride),
                   padding=(pad, pad), activation=act)
    x = rng.integers(-128, 128, (n, h, w, cin)).astype(np.int8)
    return x, wt, bias, p, block


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conv_cases())
def test_sparse_conv_matches_dense_reference(drivers, case):
    x, w, bias, p, block = case
    kh, kw = w.shape[1:3]
    out_hw = H.conv_out_hw(x.shape, kh, kw, p)
    width = H.padded_width(x.shape[2], kw, p.stride[1], p.padding[1], out_hw[1])
    layer = sparse_conv_layer(w, bias, p.multipliers, p.shifts, block=block, width=width,
                              output_offset=p.output_offset, activation=p.activation)
    want = ref.conv2d(x, w, bias, p, output_hw=out_hw)
    for variant, exe in drivers.items():
        got = H.run_host(exe, [H.sparse_conv_case(x, layer, p, out_hw)])[0]
        _compare(got, want, f"{variant} conv {w.shape} x {x.shape} block {block} stride {p.stride} "
                            f"pad {p.padding}")


@st.composite
def fc_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, depth, out_c = draw(st.integers(1, 9)), draw(st.integers(1, 80)), draw(st.integers(1, 12))
    block = draw(st.sampled_from(BLOCK_SIZES))
    w = _weights(rng, out_c, depth, block, draw(st.sampled_from([0.0, 0.05, 0.4, 1.0])))
    mults, shifts, act = _quant(rng, out_c, big_shift=draw(st.booleans()))
    bias = None if rng.random() < 0.2 else rng.integers(-(1 << 20), 1 << 20, out_c).astype(np.int32)
    p = FullyConnectedParams(input_offset=int(rng.integers(-127, 129)), filter_offset=0,
                             output_offset=int(rng.integers(-128, 128)), multipliers=tuple(mults),
                             shifts=tuple(shifts), activation=act)
    x = rng.integers(-128, 128, (n, depth)).astype(np.int8)
    return x, w, bias, p, block


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fc_cases())
def test_sparse_fully_connected_matches_dense_reference(drivers, case):
    x, w, bias, p, block = case
    layer = sparse_linear_layer(w, bias, p.multipliers, p.shifts, block=block, vectors=x.shape[0],
                                output_offset=p.output_offset, activation=p.activation)
    want = ref.fully_connected(x, w, bias, p)
    for variant, exe in drivers.items():
        got = H.run_host(exe, [H.sparse_fc_case(x, layer, p)])[0]
        _compare(got, want, f"{variant} fc {w.shape} x {x.shape} block {block}")


def test_generic_requantization_path(drivers):
    """Huge biases force the generic (64-bit) requantization; it must agree too."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (5, 40)).astype(np.int8)
    w = _weights(rng, 6, 40, 4, 0.5)
    bias = np.array([2**30, -2**30, 2**29, 5, -(2**31) + 1, 2**31 - 1], np.int32)
    p = FullyConnectedParams(input_offset=3, filter_offset=0, output_offset=-7,
                             multipliers=(1 << 30,) * 6, shifts=(-20, -3, 1, -31, -25, 0))
    layer = sparse_linear_layer(w, bias, p.multipliers, p.shifts, block=4, vectors=5, output_offset=-7)
    assert {int(k) for k in layer.records["kind"]} >= {2}
    for variant, exe in drivers.items():
        _compare(H.run_host(exe, [H.sparse_fc_case(x, layer, p)])[0], ref.fully_connected(x, w, bias, p),
                 f"{variant} generic requantization")
