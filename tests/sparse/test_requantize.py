"""The kernels' 5-instruction requantization equals tfc.quant.fixed_point.requantize exactly,
wherever requant_kind picks it (and the choice covers every accumulator the bound allows)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.quant import fixed_point as fp
from tfc.sparse.reference import (RQ_GENERIC, RQ_LEFT, RQ_RIGHT, fast_requantize, requant_kind,
                                  sign_fix_needed)


def _edge_accumulators(bound: int, shift: int, rng) -> np.ndarray:
    """Random values plus those around rounding ties (multiples of 2^(r-1)) and the bound."""
    r = max(-shift, 0)
    ties = np.arange(-40, 41, dtype=np.int64) * (1 << max(r - 1, 0))
    vals = np.concatenate([rng.integers(-bound, bound + 1, 3000), ties, [0, 1, -1, bound, -bound,
                                                                         bound - 1, -bound + 1]])
    return np.clip(vals, -bound, bound)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, (1 << 31) - 1), st.integers(-31, 8), st.integers(-128, 127),
       st.integers(1, (1 << 31) - 1), st.integers(0, 2**32 - 1))
def test_fast_requantize_is_exact(mult, shift, out_offset, bound, seed):
    kind, sh, rnd = requant_kind(bound, mult, shift, out_offset)
    rng = np.random.default_rng(seed)
    acc = _edge_accumulators(bound, shift, rng)
    want = fp.requantize(acc, mult, shift).astype(np.int64) + out_offset
    got = fast_requantize(acc, mult, kind, sh, rnd)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"kind {kind} (m={mult}, shift={shift}, zp={out_offset}, bound={bound}): "
                           f"{bad.size} differ, e.g. acc={acc[bad[0]]}: {got[bad[0]]} != {want[bad[0]]}")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, (1 << 31) - 1), st.integers(-31, -1), st.integers(-128, 127), st.integers(-128, 127),
       st.integers(1, (1 << 29) - 1), st.integers(0, 2**32 - 1))
def test_right_form_without_the_sign_fix_is_exact_where_the_clamp_hides_it(mult, shift, out_offset, lo, bound, seed):
    kind, sh, rnd = requant_kind(bound, mult, shift, out_offset)
    if kind != RQ_RIGHT or sign_fix_needed(out_offset, lo):
        return
    acc = _edge_accumulators(bound, shift, np.random.default_rng(seed))
    want = np.clip(fp.requantize(acc, mult, shift).astype(np.int64) + out_offset, lo, 127)
    got = np.clip(fast_requantize(acc, mult, kind, sh, rnd, sign_fix=False), lo, 127)
    assert np.array_equal(got, want)


def test_the_sign_fix_matters_above_the_clamp():
    """Without the correction a negative tie rounds the other way: visible when zp > the minimum."""
    mult, shift, zp = 1 << 30, -2, 0          # x = a / 2, then / 4 rounded half away from zero
    kind, sh, rnd = requant_kind(1000, mult, shift, zp)
    acc = np.array([-4])                       # x = -2: -0.5 rounds to -1, the floor form gives 0
    assert fast_requantize(acc, mult, kind, sh, rnd)[0] == fp.requantize(acc, mult, shift)[0] + zp == -1
    assert fast_requantize(acc, mult, kind, sh, rnd, sign_fix=False)[0] == 0
    assert sign_fix_needed(zp, -128) and not sign_fix_needed(-128, -128) and not sign_fix_needed(-5, 0)


def test_typical_layers_take_the_fast_forms():
    assert requant_kind(1 << 24, 1 << 30, -9, -3)[0] == RQ_RIGHT
    assert requant_kind(1 << 20, 1 << 30, 2, 5)[0] == RQ_LEFT
    assert requant_kind(1 << 30, 1 << 30, -9, 0)[0] == RQ_GENERIC  # 2 * acc would overflow
    assert requant_kind(1 << 29, 1 << 30, 3, 0)[0] == RQ_GENERIC   # acc << 4 would overflow
