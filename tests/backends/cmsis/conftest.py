"""Fixtures for the CMSIS-NN runtime tests: the runtime compiled once per session and build."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from cmsis_ctypes import Runtime, build

# "ci" keeps each Hypothesis test to a few seconds on two cores; "slow" digs deeper.
_CI_EXAMPLES = int(os.environ.get("TFC_HYPOTHESIS_EXAMPLES", "60"))
settings.register_profile("ci", max_examples=_CI_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])

# Set by test_cmsis_sanitizers.py when it reruns the kernel tests under ASan/UBSan.
SANITIZE = os.environ.get("TFC_CMSIS_SANITIZE") == "1"


@pytest.fixture(scope="session", params=["portable", "dsp"])
def runtime(request, tmp_path_factory) -> Runtime:
    """The runtime built with -Wall -Wextra -Werror, plain C or with TFC_EMULATE_DSP."""
    dsp = request.param == "dsp"
    out = tmp_path_factory.mktemp(f"cmsis_{request.param}")
    return Runtime(build(out, dsp=dsp, sanitize=SANITIZE), dsp)
