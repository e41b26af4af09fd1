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


def format_rows(rows: list[dict], *, name: tuple[str, int], units: tuple[str, str], per: tuple[str, str, int]) -> str:
    """The table of cross_check_rows' rows. name: (row key, column width); units: (row key, title);
    per: (the `per` given to cross_check_rows, its title, decimals)."""
    key, width = name
    units_key, units_title = units
    per_key, per_title, digits = per
    tfc_col, cmsis_col = f"tfc /{per_title}", f"CMSIS /{per_title}"
    has_cmsis = "cmsis_nn_instructions" in rows[0]
    has_target = any(r.get("target") for r in rows)   # a goal in instructions per `per`, where one is set
    head = f"{key:<{width}}{units_title:>9}{'tfc instr':>12}{tfc_col:>{len(tfc_col) + 2}}"
    if has_target:
        head += f"{'target':>8}"
    if has_cmsis:
        head += f"{'CMSIS-NN instr':>16}{cmsis_col:>{len(cmsis_col) + 2}}{'CMSIS/tfc':>11}  outputs"
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r[key]:<{width}}{r[units_key]:>9}{r['tfc_instructions']:>12}"
                f"{r[f'tfc_per_{per_key}']:>{len(tfc_col) + 2}.{digits}f}")
        if has_target:
            line += f"{r['target']:>8.2f}" if r.get("target") else f"{'-':>8}"
        if has_cmsis:
            line += (f"{r['cmsis_nn_instructions']:>16}{r[f'cmsis_nn_per_{per_key}']:>{len(cmsis_col) + 2}.{digits}f}"
                     f"{r['cmsis_nn_over_tfc']:>10.3f}x  {'identical' if r['outputs_identical'] else 'DIFFER'}")
        lines.append(line)
    return "\n".join(lines)
