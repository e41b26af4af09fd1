"""Shared test set-up: Hypothesis profiles and the shared data directory.

Hypothesis profiles: `ci` (few examples, no deadline: CI machines are small and shared), `dev`
(the default locally) and `slow` (many examples, for `pytest -m slow` runs). Choose one with
HYPOTHESIS_PROFILE=...; CI=true picks `ci`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

settings.register_profile("ci", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile("slow", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
_default = "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory (`../shared/data` beside the repository); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data directory {SHARED_DATA} is absent (it sits beside the repository "
                    "as ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mlperf_onnx(shared_data) -> Path:
    """The MLPerf Tiny ONNX models (see ../shared/data/mlperf_tiny/README.md)."""
    path = shared_data / "mlperf_tiny" / "onnx"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path
