"""benchmarks/dense_kernels.py on the emulated Cortex-M7: tfc's dense kernels (real DSP
instructions) equal the numpy reference on the benchmark's four layers at reduced size and on
variants that take the other code paths (narrow activation ranges, other offsets, shifts the
fast requantization declines, odd sizes); instruction counts repeat exactly; and, given
CMSIS_NN_ROOT, tfc's outputs equal CMSIS-NN's byte for byte."""
from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import dense_kernels as dk
from tfc.quant.kernel_params import ActivationRange
from tfc.targets.cortex_m.tools import INSTALL_SCRIPT, missing_tools


def _newlib_missing() -> list[str]:
    found = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard",
                            "-mfpu=fpv5-sp-d16", "-print-file-name=libc_nano.a"],
                           capture_output=True, text=True).stdout.strip()
    return [] if Path(found).is_absolute() else ["newlib-nano (Debian package libnewlib-arm-none-eabi)"]


@pytest.fixture(scope="module")
def tfc_elf(tmp_path_factory):
    """The benchmark driver linked against tfc's runtime; skips without the Arm tools."""
    missing = missing_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm", "gcc")
    if not missing:
        missing = _newlib_missing()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; run {INSTALL_SCRIPT}")
    out = subprocess.run(["qemu-system-arm", "-help"], capture_output=True, text=True).stdout
    if "-plugin" not in out:
        pytest.skip("this qemu-system-arm was built without TCG plugin support (--enable-plugins)")
    return dk.build("tfc", tmp_path_factory.mktemp("bench_tfc"))


def assert_matches_reference(m: dk.Measurement, cases: list[dk.Case]) -> None:
    for case, got in zip(cases, m.outputs):
        want = case.reference().tobytes()
        assert got == want, (f"{case.layer.name} {case.layer} {case.params}: "
                             f"{dk.first_difference(got, want)}")


def test_small_layers_equal_reference(tfc_elf):
    rng = np.random.default_rng(5)
    cases = [dk.make_case(lay, rng) for lay in dk.layers("small")]
    m = dk.measure(tfc_elf, cases)
    assert_matches_reference(m, cases)
    assert all(n > 0 for n in m.instructions)


def _variant(case: dk.Case, **changes) -> dk.Case:
    return replace(case, params=replace(case.params, **changes))


@pytest.mark.parametrize("variant", ["relu_range", "other_offsets", "general_shifts"])
def test_small_layer_variants_equal_reference(tfc_elf, variant):
    """The same kernels through their other branches: the two-sided clamp, input offsets other
    than 128, and shifts the fast requantization hands to the exact general formula."""
    rng = np.random.default_rng(["relu_range", "other_offsets", "general_shifts"].index(variant))
    cases = []
    for lay in dk.layers("small"):
        case = dk.make_case(lay, rng)
        n = len(case.params.shifts)
        if variant == "relu_range":
            case = _variant(case, activation=ActivationRange(-5, 90))
        elif variant == "other_offsets":
            case = _variant(case, input_offset=int(rng.integers(-127, 129)),
                            output_offset=int(rng.integers(-128, 128)))
        else:
            shifts = tuple(int(s) for s in rng.choice([-31, -30, 0, 1, 3, -12], size=n))
            case = _variant(case, shifts=shifts)
        cases.append(case)
    assert_matches_reference(dk.measure(tfc_elf, cases), cases)


def test_odd_sizes_equal_reference(tfc_elf):
    """Output widths not a multiple of 4 (the patch's partial last group), channel counts not a
    multiple of 4, 1x1 rows not a multiple of 4, an FC depth with a remainder."""
    rng = np.random.default_rng(9)
    layers = [dk.Layer("conv 3x3 odd", "conv", (3, 7), 12, 5, 3, 1),
              dk.Layer("conv 1x1 odd", "conv_1x1", (3, 3), 13, 7),
              dk.Layer("depthwise odd", "depthwise", (4, 5), 7, 7, 3, 1),
              dk.Layer("fc odd", "fully_connected", (1, 1), 37, 11)]
    cases = [dk.make_case(lay, rng) for lay in layers]
    assert_matches_reference(dk.measure(tfc_elf, cases), cases)


def test_1x1_block_counts_equal_reference(tfc_elf):
    """1x1 convolutions whose depth is 1, 2, 3, 5 or 6 blocks of 4: the assembly channel loop's
    single-block entry (n % 4 != 0) and its 4-block loop, with 25 pixels (a one-row remainder)."""
    rng = np.random.default_rng(12)
    cases = [dk.make_case(dk.Layer(f"conv 1x1 c{c}", "conv_1x1", (5, 5), c, 6 + c // 4), rng)
             for c in (4, 8, 12, 20, 24)]
    assert_matches_reference(dk.measure(tfc_elf, cases), cases)


def test_model_layers_equal_reference(tfc_elf):
    """The real models' fully connected shapes at batch 1 (4-, 2- and 1-row passes) and str_ww's
    k x 1 depthwise layers, as the full benchmark runs them."""
    rng = np.random.default_rng(13)
    cases = [dk.make_case(lay, rng) for lay in dk.model_layers()]
    m = dk.measure(tfc_elf, cases)
    assert_matches_reference(m, cases)
    assert all(n > 0 for n in m.instructions)


def test_instruction_counts_repeat_exactly(tfc_elf):
    rng = np.random.default_rng(3)
    cases = [dk.make_case(dk.Layer("tiny conv", "conv", (4, 4), 8, 4, 3, 1), rng)]
    first, second = dk.measure(tfc_elf, cases), dk.measure(tfc_elf, cases)
    assert first.instructions == second.instructions, (first.instructions, second.instructions)
    assert first.outputs == second.outputs


@pytest.mark.skipif(not os.environ.get("CMSIS_NN_ROOT"), reason="set CMSIS_NN_ROOT to a CMSIS-NN checkout")
def test_tfc_and_cmsis_nn_outputs_identical(tfc_elf, tmp_path):
    rows = dk.run_benchmark(Path(os.environ["CMSIS_NN_ROOT"]), tmp_path, size="small", seed=11)
    assert all(r["outputs_identical"] for r in rows), rows
