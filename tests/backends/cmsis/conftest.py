"""Fixtures for the CMSIS-NN runtime tests: the runtime compiled once per session and build."""
from __future__ import annotations

import os

import pytest

from cmsis_ctypes import Runtime, build

# Hypothesis profiles (`ci`, `slow`) live in tests/conftest.py only.

# Set by test_cmsis_sanitizers.py when it reruns the kernel tests under ASan/UBSan.
SANITIZE = os.environ.get("TFC_CMSIS_SANITIZE") == "1"


@pytest.fixture(scope="session", params=["portable", "dsp"])
def runtime(request, tmp_path_factory) -> Runtime:
    """The runtime built with -Wall -Wextra -Werror, plain C or with TFC_EMULATE_DSP."""
    dsp = request.param == "dsp"
    out = tmp_path_factory.mktemp(f"cmsis_{request.param}")
    return Runtime(build(out, dsp=dsp, sanitize=SANITIZE), dsp)
