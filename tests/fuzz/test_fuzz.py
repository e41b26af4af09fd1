"""The fuzzer in CI: a fixed-seed slice of mutated models, each ending in success or a TfcError.

The slice (CI_CASES cases, seed CI_SEED) runs in every CI run (measured on a two-core machine:
60 s at load average 2-4, 9.5 minutes at load average 14; no assertion depends on time); the long
run (`pytest -m slow tests/fuzz`, TFC_FUZZ_CASES cases, default 10,000) is the same code with
more cases. A failure prints the case's index, seed model, mutation and error; the case replays
alone with `python -m tests.fuzz.harness --seed S --start INDEX --cases 1`.
"""
from __future__ import annotations

import os
import time

import pytest

import tfc
from tests.fuzz import harness
from tests.fuzz.harness import Pool, make_case, run, seeds

CI_SEED = 2026
CI_CASES = int(os.environ.get("TFC_FUZZ_CI_CASES", "200"))
CI_C_CHECKS = 3          # each builds the runtime kernels' users with ASan/UBSan: seconds apiece
# A case took up to 22 s at load average 14 (2.2 s at 2-4); the hangs the fuzzer found took
# minutes or forever. CI's limit sits far above any load, so a slow machine cannot fail it; the
# long run keeps issue 19's 30 s.
CI_HANG_S = 120.0


def _report(summary) -> str:
    return summary.text() + "\nby first mutation: " + ", ".join(
        f"{k} {v}" for k, v in summary.by_mutation.items())


def test_fuzz_ci_slice(capsys):
    summary = run(cases=CI_CASES, seed=CI_SEED, timeout=CI_HANG_S, max_c_checks=CI_C_CHECKS)
    with capsys.disabled():
        print("\n" + _report(summary))
    assert not summary.failures, _report(summary)
    assert summary.outcomes.get("ok", 0) > 0 and summary.outcomes.get("tfc_error", 0) > 0, summary.outcomes
    assert summary.c_checked > 0, "no accepted case had its C built"


@pytest.mark.slow
def test_fuzz_long_run(capsys):
    cases = int(os.environ.get("TFC_FUZZ_CASES", "10000"))
    summary = run(cases=cases, seed=1, timeout=30.0, max_c_checks=int(os.environ.get("TFC_FUZZ_C_CHECKS", "200")))
    with capsys.disabled():
        print("\n" + _report(summary))
    assert not summary.failures, _report(summary)


def test_a_case_replays_from_its_seed_and_index():
    s = seeds()
    a, b = make_case(s, 5, 17), make_case(s, 5, 17)
    assert a[0] == b[0] and a[1] == b[1]
    assert make_case(s, 5, 18)[1] != a[1] or make_case(s, 5, 18)[0] != a[0]


def test_the_harness_sees_crashes_and_hangs(monkeypatch, tmp_path):
    """The oracle can fail: a non-tfc exception is a crash, no answer in time is a hang (the
    worker is replaced and the next case runs)."""
    data = seeds(include_mlperf=False)[0].data

    def broken(*a, **kw):
        raise KeyError("a bug")

    monkeypatch.setattr(tfc, "compile", broken)
    pool = Pool(tmp_path)                      # forked now: the worker has the patched compile
    try:
        outcome, message, _ = pool.run(0, data, False, timeout=30)
        assert outcome == "crash" and "KeyError" in message
    finally:
        pool.close()

    # A compile that never answers (10 minutes against a 2 s limit: no load makes that close).
    monkeypatch.setattr(tfc, "compile", lambda *a, **kw: time.sleep(600))
    pool = Pool(tmp_path)
    try:
        start = time.time()
        outcome, _, _ = pool.run(1, data, False, timeout=2)
        assert outcome == "hang" and time.time() - start < 300
        monkeypatch.undo()
    finally:
        pool.close()


def test_the_c_check_sees_a_project_that_does_not_build(tmp_path):
    cm = tfc.compile(seeds(include_mlperf=False)[0].data)
    info = cm.save(tmp_path / "p")
    with open(info.path / "model.c", "a") as f:
        f.write("\nint unused_and_broken(void) { return undeclared; }\n")
    outcome, message = harness.CBuilder(tmp_path / "work").check(info.path, 3072)
    assert outcome == "c_build" and "undeclared" in message
