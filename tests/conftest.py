"""Shared test set-up: Hypothesis profiles and the shared data directory.

Hypothesis profiles, registered here only (one home: a conftest further down that registered
its own `ci` would win or lose by collection order): `ci` (derandomized: every run draws the same
examples, so CI cannot flake on a rare draw; no deadline, so no assertion depends on timing; no
example database, so a local run cannot differ from a fresh clone), `dev` (the default locally:
random, to find new failures) and `slow` (many examples, for `pytest -m slow` runs). Choose one
with HYPOTHESIS_PROFILE=...; CI=true picks `ci`. TFC_HYPOTHESIS_EXAMPLES sets `ci`'s examples.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

# 60: what the kernel and quantization tests ran with under `ci` before (their conftests had it).
CI_EXAMPLES = int(os.environ.get("TFC_HYPOTHESIS_EXAMPLES", "60"))
settings.register_profile("ci", max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=2000, deadline=None,
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
