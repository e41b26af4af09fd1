"""The kernel tests again, with the runtime built under -fsanitize=address,undefined.

ctypes loads the instrumented library into this interpreter only with the ASan runtime
preloaded, so the tests rerun in a child pytest with LD_PRELOAD set and fewer examples.
Any out-of-bounds access or undefined behaviour aborts the child (-fno-sanitize-recover).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SANITIZED_CHILD = os.environ.get("TFC_CMSIS_SANITIZE") == "1"


def _libasan() -> str | None:
    res = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True)
    path = res.stdout.strip()
    return path if res.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.skipif(SANITIZED_CHILD, reason="already the sanitized child run")
def test_kernels_clean_under_asan_ubsan(tmp_path):
    asan = _libasan()
    if asan is None:
        pytest.skip("gcc has no libasan.so")
    env = dict(os.environ,
               TFC_CMSIS_SANITIZE="1",
               TFC_HYPOTHESIS_EXAMPLES=os.environ.get("TFC_SANITIZE_EXAMPLES", "15"),
               LD_PRELOAD=asan,
               # CPython's own allocations are not our concern; leaks at exit are noise.
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           str(HERE / "test_cmsis_kernels.py"), "--basetemp", str(tmp_path / "child")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    tail = (res.stdout + res.stderr)[-6000:]
    assert res.returncode == 0, f"sanitized kernel tests failed (rc={res.returncode}):\n{tail}"
    assert "passed" in res.stdout, tail
