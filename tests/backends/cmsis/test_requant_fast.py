"""The runtime's few-instruction requantization (tfc_nn_requant.h) equals TFLite Micro's
MultiplyByQuantizedMultiplier + output offset + clamp (tfc.quant.fixed_point.requantize), bit for
bit: as a Python twin of the formula (exhaustive edge grid and Hypothesis), as C on the host
(TFC_EMULATE_DSP) and as real SMMLAR/QADD/SSAT instructions on the emulated Cortex-M7."""
from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.quant import fixed_point as fp
from cmsis_ctypes import RUNTIME, WARNINGS

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "programs" / "requant_fast.c"
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
GENERAL, RIGHT, LEFT = 0, 1, 2
# (out_offset, act_min, act_max): full int8 range (the SSAT clamp) and narrower activations.
OUTPUT_RANGES = [(-128, -128, 127), (127, -128, 127), (0, -128, 127), (5, 0, 127), (-3, -20, 40),
                 (-128, -128, -100)]


def reference(acc, mult, shift, out_offset, act_min, act_max) -> np.ndarray:
    y = fp.requantize(acc, mult, shift).astype(np.int64) + out_offset
    return np.clip(y, act_min, act_max).astype(np.int8)


def mode(mult, shift, out_offset, act_max) -> np.ndarray:
    """tfc_rq_make's choice, in numpy."""
    mult, shift = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    usable = (mult >= 1 << 30) & (shift <= 31) & (shift >= -31)
    e = np.clip(-shift, 0, 31)
    right_ok = (e <= 30) & ((INT32_MAX >> e) + np.int64(out_offset) >= act_max)
    return np.where(~usable, GENERAL, np.where(shift >= 0, LEFT, np.where(right_ok, RIGHT, GENERAL)))


def fast_twin(acc, mult, shift, out_offset, act_min, act_max) -> np.ndarray:
    """The C formula step by step on int64 (SMMLAR, QADD, ASR as the instructions define them);
    GENERAL channels use the reference formula, as the C does."""
    acc, mult, shift = (np.asarray(a, np.int64) for a in np.broadcast_arrays(acc, mult, shift))
    m2 = fp.wrap_int32(mult << 1).astype(np.int64)
    e = np.clip(-shift, 0, 31)
    khi = np.where(shift < 0, np.int64(1) << np.maximum(e - 1, 0), 0)
    x = np.where(shift >= 0, fp.wrap_int32(acc << np.clip(shift, 0, 31)), acc)
    s = ((khi << 32) + x * m2 + (1 << 31)) >> 32                 # SMMLAR (no 64-bit overflow here)
    right = (np.clip(s + x, INT32_MIN, INT32_MAX) + (x >> 31)) >> e   # QADD, sign term, ASR
    left = s + x
    md = mode(mult, shift, out_offset, act_max)
    y = np.where(md == RIGHT, right, np.where(md == LEFT, left, fp.requantize(acc, mult, shift)))
    y = np.clip(y + out_offset, INT32_MIN, INT32_MAX)            # QADD of the output offset
    return np.clip(y, act_min, act_max).astype(np.int8)


def edge_accumulators() -> np.ndarray:
    powers = [s * ((1 << k) + d) for k in range(31) for d in (-1, 0, 1) for s in (1, -1)]
    rng = np.random.default_rng(0)
    values = [INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 0, 1, -1, *powers,
              *rng.integers(INT32_MIN, INT32_MAX, 40, endpoint=True)]
    return np.unique(np.clip(np.array(values, np.int64), INT32_MIN, INT32_MAX))


EDGE_MULTS = [1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1, 1518500250, 1800000001,
              0, 1, (1 << 30) - 1]                                 # the last three: GENERAL path


def edge_grid() -> np.ndarray:
    """Records (acc, mult, shift, out_offset, act_min, act_max) over the edge values."""
    rows = [(a, m, s, *r) for a, m, s, r in itertools.product(edge_accumulators(), EDGE_MULTS, range(-31, 31),
                                                               OUTPUT_RANGES)]
    return np.array(rows, np.int64)


def check(got: np.ndarray, grid: np.ndarray, what: str) -> None:
    want = reference(*(grid[:, i] for i in range(6)))
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{what}: {bad.size} of {len(grid)} records differ; first (acc, mult, shift, "
                           f"out_offset, act_min, act_max) = {tuple(int(v) for v in grid[bad[0]])}: "
                           f"got {int(got[bad[0]])}, want {int(want[bad[0]])}")


def test_twin_equals_reference_on_edge_grid():
    grid = edge_grid()
    check(fast_twin(*(grid[:, i] for i in range(6))), grid, "Python twin")
    # The fast path must really be the one exercised for TFLite's multipliers.
    md = mode(grid[:, 1], grid[:, 2], grid[:, 3], grid[:, 5])
    assert (md == RIGHT).sum() > len(grid) // 5 and (md == LEFT).sum() > len(grid) // 5


@given(acc=st.integers(INT32_MIN, INT32_MAX), mult=st.integers(1 << 30, INT32_MAX), shift=st.integers(-31, 30),
       out=st.sampled_from(OUTPUT_RANGES))
@settings(max_examples=3000, deadline=None)
def test_twin_equals_reference_random(acc, mult, shift, out):
    got = fast_twin(acc, mult, shift, *out)
    want = reference(acc, mult, shift, *out)
    assert got == want, f"acc={acc} mult={mult} shift={shift} {out}: fast {int(got)}, reference {int(want)}"


def _records(grid: np.ndarray) -> bytes:
    return grid.astype("<i4").tobytes()


def _split(out: bytes, n: int):
    b = np.frombuffer(out, np.uint8).reshape(n, 2)
    return b[:, 0].view(np.int8), b[:, 1]


def test_c_emulated_dsp_equals_reference(tmp_path):
    exe = tmp_path / "requant_fast"
    res = subprocess.run(["gcc", *WARNINGS, "-O2", "-DTFC_EMULATE_DSP", f"-I{RUNTIME / 'include'}", str(PROGRAM),
                          "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    grid = edge_grid()
    (tmp_path / "in.bin").write_bytes(_records(grid))
    run = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], capture_output=True)
    assert run.returncode == 0, run
    got, modes = _split((tmp_path / "out.bin").read_bytes(), len(grid))
    check(got, grid, "C (TFC_EMULATE_DSP)")
    assert np.array_equal(modes, mode(grid[:, 1], grid[:, 2], grid[:, 3], grid[:, 5]))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm (scripts/install-target-tools.sh)")
def test_cortex_m7_instructions_equal_reference(tmp_path):
    from tfc.targets.cortex_m import build_elf, run_elf
    info = build_elf([PROGRAM], tmp_path / "m7", include_dirs=[RUNTIME / "include"], stack_size=4096)
    grid = edge_grid()
    sample = grid[np.random.default_rng(1).choice(len(grid), 30000, replace=False)]
    res = run_elf(info, args=["in.bin", "out.bin"], files={"in.bin": _records(sample)}, timeout=300)
    assert res.exit_code == 0, res.stdout
    got, _ = _split(res.files["out.bin"], len(sample))
    check(got, sample, "Cortex-M7 (SMMLAR/QADD/SSAT)")
    disasm = subprocess.run(["arm-none-eabi-objdump", "-d", str(info.path)], capture_output=True, text=True).stdout
    assert "smmlar" in disasm and "qadd" in disasm and "ssat" in disasm
