"""The IR's op semantics against ONNX's own backend node tests (see onnx_backend_sweep.py).

Every in-scope case that imports is run by tfc.interp and compared with the stored outputs within
the case's rtol/atol. Skips carry a reason and are never counted as passes; `pytest -s` prints the
per-op table."""
from __future__ import annotations

import pytest

from tests.ir.onnx_backend_sweep import TARGET_OPS, summary, sweep

# What the sweep passed when it was written (onnx 1.23): a floor, so a change that quietly turns
# passes into skips fails here instead of looking green.
MIN_PASSES = 320


@pytest.mark.parametrize("op", TARGET_OPS)
def test_backend_cases_of_op(op):
    results = [r for r in sweep() if r.op == op]
    failures = [f"{r.name}: {r.reason}" for r in results if r.status == "fail"]
    assert not failures, f"{len(failures)} ONNX backend case(s) of {op} failed:\n  " + "\n  ".join(failures)


def test_backend_sweep_summary():
    results = sweep()
    print("\n" + summary(results))
    passes = sum(r.status.startswith("pass") for r in results)
    assert passes >= MIN_PASSES, f"only {passes} backend cases pass (expected >= {MIN_PASSES})\n{summary(results)}"


@pytest.mark.parametrize("op", ["Conv", "Gemm", "MatMul", "LayerNormalization", "AveragePool",
                                "MaxPool", "Softmax", "Gelu", "Concat", "Split"])
def test_core_ops_have_passing_cases(op):
    results = [r for r in sweep() if r.op == op]
    assert any(r.status == "pass" for r in results), \
        f"no backend case of {op} passes without freezing inputs: " + \
        "; ".join(f"{r.name}: {r.status} {r.reason}" for r in results)
