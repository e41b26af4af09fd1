"""Elementwise int8 kernels on the emulated Cortex-M7: tfc's runtime against the real CMSIS-NN.

    python benchmarks/elementwise_kernels.py [--cmsis-nn /path/to/CMSIS-NN] [--json out.json]

arm_elementwise_add_s8 and arm_elementwise_mul_s8 on 16384 random int8 elements each (a residual
add of a 32x32x16 feature map), with the parameters TFLite Micro's Prepare computes from
realistic scales and zero points (tfc.quant.kernel_params.add_params / mul_params: left shift 20,
multipliers in [2^30, 2^31), input shifts 0 and -1, output shifts around -20 for add and -5 for
mul). The same C driver (elementwise_kernels.c) is linked against tfc's runtime and, given
--cmsis-nn, against CMSIS-NN built from its sources, both with the cortex-m7 target's flags and
-O2 (tfc.targets.cortex_m). Executed instructions of each kernel call are counted exactly on
QEMU's mps2-an500; outputs are checked against the numpy reference (tfc.quant.reference) and,
byte for byte, between the two libraries.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):          # run as a script: make `tfc` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.quant import reference as ref
from tfc.quant.kernel_params import AddParams, MulParams, add_params, mul_params
from tfc.targets.cortex_m import ElfInfo, build_elf, run_elf

from benchmarks.crosscheck import cross_check_rows, first_difference, format_rows  # noqa: F401 (tests use it)

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "elementwise_kernels.c"
RUNTIME = HERE.parent / "tfc" / "backends" / "cmsis" / "runtime"
TARGET = "cortex-m7"
KINDS = {"add": 0, "mul": 1}
IN_PLACE = {None: 0, 1: 1, 2: 2}
MAX_ELEMENTS = 16 * 1024                 # the driver's buffers
CMSIS_NN_SOURCES = ("BasicMathFunctions/arm_elementwise_add_s8.c", "BasicMathFunctions/arm_elementwise_mul_s8.c")


@dataclass(frozen=True)
class Case:
    """One kernel call: `a` and `b` are the two int8 inputs; `in_place` 1 or 2 makes the output
    overwrite that input; the buffers start `misalign` bytes past a word boundary."""

    name: str
    kind: str                            # "add" | "mul"
    a: np.ndarray
    b: np.ndarray
    params: AddParams | MulParams
    in_place: int | None = None
    misalign: int = 0

    def reference(self) -> np.ndarray:
        """The numpy reference output (TFLite Micro's arithmetic)."""
        return ref.add(self.a, self.b, self.params) if self.kind == "add" else ref.mul(self.a, self.b, self.params)


def benchmark_cases(n: int = MAX_ELEMENTS, seed: int = 2024) -> list[Case]:
    """A residual add and an elementwise product with scales and zero points like a calibrated
    model's (after ReLU-free layers: zero points near 0, scales 0.02..0.1)."""
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-128, 128, size=n).astype(np.int8) for _ in range(2))
    add = add_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
    mul = mul_params(0.0625, -3, 0.0412, 11, 0.0874, -7)
    return [Case(f"add {n}", "add", a, b, add), Case(f"mul {n}", "mul", a, b, mul)]


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def encode_cases(cases: list[Case]) -> bytes:
    """The case file elementwise_kernels.c reads (its header comment gives the layout)."""
    out = [struct.pack("<i", len(cases))]
    for c in cases:
        p = c.params
        if c.a.size > MAX_ELEMENTS or c.a.shape != c.b.shape:
            raise ValueError(f"{c.name}: inputs {c.a.shape}, {c.b.shape}: need equal sizes <= {MAX_ELEMENTS}")
        if c.kind == "add":
            inputs = (p.input_1_offset, p.input_1_mult, p.input_1_shift, p.input_2_offset, p.input_2_mult,
                      p.input_2_shift, p.left_shift)
        else:
            inputs = (p.input_1_offset, 0, 0, p.input_2_offset, 0, 0, 0)
        out.append(struct.pack("<16i", KINDS[c.kind], c.a.size, IN_PLACE[c.in_place], c.misalign, *inputs,
                               p.out_offset, p.out_mult, p.out_shift, p.activation.min, p.activation.max))
        out += [_pad4(c.a.astype(np.int8).tobytes()), _pad4(c.b.astype(np.int8).tobytes())]
    return b"".join(out)


def build(library: str, out_dir: Path, cmsis_nn: Path | None = None) -> ElfInfo:
    """The driver linked against tfc's runtime ("tfc") or CMSIS-NN built from `cmsis_nn`."""
    if library == "tfc":
        sources = [DRIVER, *sorted((RUNTIME / "src").glob("*.c"))]
        return build_elf(sources, out_dir, include_dirs=[RUNTIME / "include"], target=TARGET,
                         name="elementwise_tfc")
    if cmsis_nn is None:
        raise ValueError("CMSIS-NN needs its source directory")
    root = Path(cmsis_nn)
    missing = [s for s in CMSIS_NN_SOURCES if not (root / "Source" / s).is_file()]
    if missing:
        raise FileNotFoundError(f"{root} is not a CMSIS-NN checkout: missing Source/{missing[0]}")
    # CMSIS-NN is not ours to keep warning-free under -Wextra -Werror.
    return build_elf([DRIVER, *(root / "Source" / s for s in CMSIS_NN_SOURCES)], out_dir,
                     include_dirs=[root / "Include"], target=TARGET, extra_cflags=("-Wno-error",),
                     name="elementwise_cmsis_nn")


@dataclass(frozen=True)
class Measurement:
    outputs: list[bytes]            # per case
    instructions: list[int]         # per case: executed inside the kernel call


def measure(elf: ElfInfo, cases: list[Case]) -> Measurement:
    """Runs every case once on the emulated core, one emulator run per group of cases of distinct
    kinds (the kind is the driver's instruction region) that fits the driver's case buffer."""
    runs: list[list[int]] = []
    for i, c in enumerate(cases):
        run = next((r for r in runs if all(cases[j].kind != c.kind for j in r)), None)
        if run is None:
            runs.append(run := [])
        run.append(i)
    outputs: list[bytes] = [b""] * len(cases)
    instructions = [0] * len(cases)
    for run in runs:
        group = [cases[i] for i in run]
        res = run_elf(elf, args=["cases.bin", "out.bin"], files={"cases.bin": encode_cases(group)},
                      count_instructions=True, timeout=300)
        if res.exit_code != 0:
            raise RuntimeError(f"{elf.path.name}: driver exit code {res.exit_code}: {res.stdout!r}")
        data, offset = res.files["out.bin"], 0
        for i, c in zip(run, group):
            outputs[i] = data[offset:offset + c.a.size]
            offset += c.a.size
            instructions[i] = res.instructions.regions[KINDS[c.kind] + 1].instructions
    return Measurement(outputs, instructions)


def run_benchmark(cmsis_nn: Path | None, work: Path, n: int = MAX_ELEMENTS, seed: int = 2024) -> list[dict]:
    """Builds, runs and cross-checks; one row per case. Raises on any output mismatch."""
    cases = benchmark_cases(n, seed)
    libs = {"tfc": build("tfc", work / "tfc")}
    if cmsis_nn is not None:
        libs["cmsis_nn"] = build("cmsis-nn", work / "cmsis_nn", cmsis_nn)
    results = {name: measure(elf, cases) for name, elf in libs.items()}
    return cross_check_rows(cases, results, label=lambda c: c.name,
                            describe=lambda c: {"case": c.name, "elements": c.a.size},
                            units=lambda c: c.a.size, per="element")


def format_table(rows: list[dict]) -> str:
    return format_rows(rows, name=("case", 12), units=("elements", "elements"), per=("element", "elem", 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmsis-nn", type=Path, help="CMSIS-NN source tree (Include/, Source/) to compare with")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--elements", type=int, default=MAX_ELEMENTS)
    ap.add_argument("--work-dir", type=Path, help="keep the builds here (default: a temporary directory)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tfc-bench-") as tmp:
        rows = run_benchmark(args.cmsis_nn, args.work_dir or Path(tmp), args.elements)
    print(f"target {TARGET}: -O2 -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16; "
          "executed instructions inside each kernel call (QEMU mps2-an500)")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r.get("outputs_identical", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
