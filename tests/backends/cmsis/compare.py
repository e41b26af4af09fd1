"""Exact comparison of int8 arrays with a message that says what differed, where and by how much."""
from __future__ import annotations

import numpy as np


def assert_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != expected {want.shape}"
    diff = got.astype(np.int64) - want.astype(np.int64)
    bad = np.argwhere(diff != 0)
    if len(bad):
        first = tuple(int(i) for i in bad[0])
        raise AssertionError(
            f"{what}: {len(bad)} of {diff.size} values differ, max |diff| {int(np.abs(diff).max())} LSB; "
            f"first at {first}: got {int(got[first])}, expected {int(want[first])}")
