"""benchmarks/elementwise_kernels.py on the emulated Cortex-M7: tfc's arm_elementwise_add_s8 and
arm_elementwise_mul_s8 built with the real DSP instructions (SMMLAR, SXTAB16, SMULBB, SSAT, BFI,
SSUB8/SEL) equal the numpy reference through every loop of the fast path and its fallbacks, in
place and from unaligned buffers; the fast path costs what it was measured to; and, given
CMSIS_NN_ROOT, tfc's outputs equal CMSIS-NN's byte for byte."""
from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import elementwise_kernels as ek
from tfc.quant.kernel_params import ActivationRange, add_params, mul_params
from tfc.targets.cortex_m.tools import INSTALL_SCRIPT, missing_tools

HALF = 1 << 30


def _newlib_missing() -> list[str]:
    found = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard",
                            "-mfpu=fpv5-sp-d16", "-print-file-name=libc_nano.a"],
                           capture_output=True, text=True).stdout.strip()
    return [] if Path(found).is_absolute() else ["newlib-nano (Debian package libnewlib-arm-none-eabi)"]


@pytest.fixture(scope="module")
def tfc_elf(tmp_path_factory):
    """The benchmark driver linked against tfc's runtime; skips without the Arm tools."""
    missing = missing_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
    if not missing:
        missing = _newlib_missing()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; run {INSTALL_SCRIPT}")
    out = subprocess.run(["qemu-system-arm", "-help"], capture_output=True, text=True).stdout
    if "-plugin" not in out:
        pytest.skip("this qemu-system-arm was built without TCG plugin support (--enable-plugins)")
    return ek.build("tfc", tmp_path_factory.mktemp("bench_elementwise_tfc"))


def assert_matches_reference(m: ek.Measurement, cases: list[ek.Case]) -> None:
    for case, got in zip(cases, m.outputs):
        want = case.reference().tobytes()
        assert got == want, (f"{case.name} (in_place={case.in_place}, misalign={case.misalign}, "
                             f"{case.params}): {ek.first_difference(got, want)}")


ADD = add_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
MUL = mul_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
ADD_VARIANTS = {
    "half_right": {}, "half_half": dict(input_2_mult=HALF, input_2_shift=0),
    "right_half": dict(input_1_mult=1_415_621_248, input_1_shift=-1, input_2_mult=HALF, input_2_shift=0),
    "right_right": dict(input_1_mult=1_300_000_000, input_1_shift=-2, input_2_shift=-3),
    "fallback left shift 19": dict(left_shift=19), "fallback output shift 0": dict(out_shift=0),
}
MUL_VARIANTS = {
    "right": {}, "left 0": dict(out_shift=0), "left 12": dict(out_shift=12),
    "fallback offset 257": dict(input_1_offset=257),
}


def _cases(n: int, seed: int) -> list[ek.Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for kind, base, variants in (("add", ADD, ADD_VARIANTS), ("mul", MUL, MUL_VARIANTS)):
        for i, (name, changes) in enumerate(variants.items()):
            for act in (ActivationRange(), ActivationRange(-20, 90)):
                a, b = (rng.integers(-128, 128, size=n).astype(np.int8) for _ in range(2))
                p = replace(base, **changes, activation=act)
                cases.append(ek.Case(f"{kind} {name}", kind, a, b, p, in_place=(None, 1, 2)[i % 3],
                                     misalign=i % 4))
    return cases


def test_every_branch_equals_reference(tfc_elf):
    """n = 37: nine 4-element iterations and a tail of one; both activation clamps."""
    cases = _cases(37, seed=3)
    assert_matches_reference(ek.measure(tfc_elf, cases), cases)


def test_fast_path_instructions_per_element(tfc_elf, record_property):
    """The benchmark's two calls at 1024 elements: exact, and no dearer than measured (GCC 12.2
    -O2, QEMU 7.2: add 17.3, mul 8.5 per element at 16384; CMSIS-NN 80.4 and 35.9). A silent
    fall back to the exact loop (~93 and ~37) fails the bound."""
    cases = ek.benchmark_cases(1024, seed=5)
    first, second = ek.measure(tfc_elf, cases), ek.measure(tfc_elf, cases)
    assert first.instructions == second.instructions
    assert_matches_reference(first, cases)
    for case, n, limit in zip(cases, first.instructions, (18.5, 9.5)):
        per_element = n / case.a.size
        record_property(f"{case.kind}_instructions_per_element", round(per_element, 2))
        assert per_element < limit, f"{case.name}: {per_element:.2f} instructions per element, expected < {limit}"


@pytest.mark.skipif(not os.environ.get("CMSIS_NN_ROOT"), reason="set CMSIS_NN_ROOT to a CMSIS-NN checkout")
def test_tfc_and_cmsis_nn_outputs_identical(tfc_elf, tmp_path):
    rows = ek.run_benchmark(Path(os.environ["CMSIS_NN_ROOT"]), tmp_path, n=1024, seed=11)
    assert all(r["outputs_identical"] for r in rows), rows
