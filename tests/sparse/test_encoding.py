"""brle encoding: exact round trip and the flash bound, over shapes, block sizes, densities."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.sparse.encoding import (BLOCK_SIZES, MAX_SKIP, block_mask, conv_from_virtual,
                                 conv_virtual_matrix, decode, encode)
from tfc.sparse.layer import RECORD_BYTES


@st.composite
def sparse_matrices(draw):
    rows = draw(st.integers(1, 12))
    cols = draw(st.integers(1, 70))
    block = draw(st.sampled_from(BLOCK_SIZES))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (rows, cols)).astype(np.int8)
    nb = -(-cols // block)
    keep = np.repeat(rng.random((rows, nb)) < density, block, axis=1)[:, :cols]
    w = (w * keep).astype(np.int8)
    if rows > 2:  # always an empty row and a fully dense row
        w[0] = 0
        w[1] = rng.integers(1, 128, cols)
    return w, block


def _check_round_trip(w, block):
    bs = encode(w, block)
    back = decode(bs)
    bad = np.argwhere(back != w)
    assert bad.size == 0, f"{len(bad)} values differ after decode, first at {tuple(bad[0])}: " \
                          f"{back[tuple(bad[0])]} != {w[tuple(bad[0])]}"
    return bs


@settings(max_examples=150, deadline=None)
@given(sparse_matrices())
def test_round_trip_and_flash_bound(case):
    w, block = case
    bs = _check_round_trip(w, block)
    nnz_blocks = int(block_mask(w, block).sum())
    assert bs.nonzero_blocks == nnz_blocks
    nnz_weights = nnz_blocks * block  # the values stored: every weight of a non-zero block
    bound = nnz_weights * (1 + 1 / block) + RECORD_BYTES * (bs.rows + 1) + bs.escapes * (block + 1)
    size = bs.stream_bytes() + RECORD_BYTES * (bs.rows + 1)
    assert size <= bound, f"{size} bytes > bound {bound} (block {block}, {nnz_blocks} blocks)"
    if bs.blocks_per_row <= MAX_SKIP + 1:
        assert bs.escapes == 0, f"{bs.escapes} escapes in rows of only {bs.blocks_per_row} blocks"


def test_long_zero_runs_use_escape_blocks():
    w = np.zeros((2, 1000), np.int8)
    w[0, 999] = 5      # 999 zero blocks (block 1) before it: 3 escapes of 256
    w[1, 0] = -3
    bs = _check_round_trip(w, 1)
    assert bs.escapes == 3, f"expected 3 escapes for a run of 999, got {bs.escapes}"
    assert list(bs.counts) == [4, 1]
    assert list(bs.skips) == [255, 255, 255, 999 - 3 * 256, 0]


def test_values_of_blocks_stay_word_aligned():
    """Values are one stream of whole blocks: block k starts at k * B, so 4/8/16-value blocks load as
    aligned words from an 8-byte-aligned array."""
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (5, 64)).astype(np.int8) * (rng.random((5, 64)) < 0.2)
    bs = encode(w.astype(np.int8), 8)
    assert bs.values.size == bs.stored_blocks * 8


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.integers(1, 20),
       st.sampled_from(BLOCK_SIZES), st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_conv_virtual_matrix_round_trip(cout, kh, kw, cin, block, extra, seed):
    rng = np.random.default_rng(seed)
    w = (rng.integers(-128, 128, (cout, kh, kw, cin)) * (rng.random((cout, kh, kw, cin)) < 0.4)).astype(np.int8)
    width = kw + extra
    v = conv_virtual_matrix(w, block, width)
    assert np.count_nonzero(v) == np.count_nonzero(w)
    back = conv_from_virtual(decode(encode(v, block)), kh, kw, cin, block, width)
    assert np.array_equal(back, w), f"OHWI weights differ after the virtual round trip at " \
                                    f"{np.argwhere(back != w)[:3].tolist()}"
