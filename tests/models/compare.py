"""Relative comparison of model outputs that says where and by how much they differ."""
from __future__ import annotations

import numpy as np


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max |expected|: logits near zero make elementwise rtol meaningless."""
    scale = float(np.max(np.abs(expected)))
    return float(np.max(np.abs(actual - expected))) / max(scale, np.finfo(np.float32).tiny)


def assert_close(actual, expected, rtol: float, what: str) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    err = relative_error(actual, expected)
    if not err <= rtol:  # also catches NaN
        where = np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)
        raise AssertionError(
            f"{what}: relative error {err:.3g} > {rtol:g} (max |diff| over max |expected| "
            f"{np.max(np.abs(expected)):.4g}); worst at index {tuple(int(i) for i in where)}: "
            f"got {actual[where]:.6g}, expected {expected[where]:.6g}")
