"""What the kernel benchmarks share: check every library's output against the numpy reference
(and against each other), and turn instruction counts into one row per case."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def first_difference(got: bytes, want: bytes) -> str:
    a, b = np.frombuffer(got, np.int8), np.frombuffer(want, np.int8)
    if a.size != b.size:
        return f"{a.size} bytes, expected {b.size}"
    bad = np.flatnonzero(a != b)
    return (f"{bad.size} of {a.size} bytes differ; first at {bad[0]}: {a[bad[0]]} vs {b[bad[0]]}"
            if bad.size else "identical")


def cross_check_rows(cases: Sequence, results: dict, *, label: Callable, describe: Callable,
                     units: Callable, per: str) -> list[dict]:
    """One row per case: `describe(case)`'s columns, each library's instructions and instructions
    per `per` (`units(case)` of them), and with CMSIS-NN whether outputs agree and the ratio.
    `results` maps a library name to its Measurement (outputs, instructions, per case). Raises on
    any output that differs from the case's numpy reference."""
    rows = []
    for i, case in enumerate(cases):
        want = case.reference().tobytes()
        row = describe(case)
        for name, m in results.items():
            if m.outputs[i] != want:
                raise AssertionError(f"{name} {label(case)}: output != numpy reference: "
                                     f"{first_difference(m.outputs[i], want)}")
            row[f"{name}_instructions"] = m.instructions[i]
            row[f"{name}_per_{per}"] = m.instructions[i] / units(case)
        if "cmsis_nn" in results:
            row["outputs_identical"] = results["tfc"].outputs[i] == results["cmsis_nn"].outputs[i]
            row["cmsis_nn_over_tfc"] = results["cmsis_nn"].instructions[i] / results["tfc"].instructions[i]
        rows.append(row)
    return rows
