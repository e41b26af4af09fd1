"""Run a bare-metal ELF on its target's QEMU board (Target.qemu: mps2-an500 for the Cortex-M7,
mps2-an386 for the Cortex-M4, mps3-an547 for the Cortex-M55) and collect what it did.

    result = run_elf(info, files={"input.bin": data}, timeout=30, count_instructions=True)
    result.exit_code, result.stdout, result.files["output.bin"], result.stack_peak
    result.instructions.regions[3].instructions

The program runs in a fresh directory holding `files`; semihosting opens host files relative
to it, so the program reads its inputs and writes its outputs there by name, and `files` in
the result holds everything it created or changed. A hang, a fault and a stack overflow are
errors, not results.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tfc.errors import BuildError, TargetError
from tfc.targets import QemuMachine, Target, emulated_target_names
from tfc.targets.cortex_m.build import FAULT_EXIT, STATS_FILE, ElfInfo
from tfc.targets.cortex_m.icount import InstructionCounts, parse_counts, plugin_path
from tfc.targets.cortex_m.tools import find_tool

COUNTS_FILE = "tfc-icount.txt"
CMDLINE_MAX, ARGV_MAX = 256, 16          # startup.c's cmdline[] and argv[] sizes
FAULT_BANNER = b"\n*** tfc: the program faulted\n"      # printed by startup.c's fault handler
_HARNESS_FILES = {STATS_FILE, COUNTS_FILE}

# CFSR bits worth naming in a fault report (Armv7-M ARM, B3.2.15).
_CFSR_BITS = {
    0: "IACCVIOL: instruction fetch from a protected or unmapped address",
    1: "DACCVIOL: load/store to a protected or unmapped address (outside the flash/SRAM budget?)",
    7: "MMARVALID", 8: "IBUSERR: instruction bus error", 9: "PRECISERR: data bus error",
    10: "IMPRECISERR: imprecise data bus error", 15: "BFARVALID",
    16: "UNDEFINSTR: undefined instruction", 17: "INVSTATE: invalid EPSR state (ARM state?)",
    18: "INVPC: invalid EXC_RETURN", 19: "NOCP: coprocessor (FPU) disabled or absent",
    24: "UNALIGNED: unaligned access trap", 25: "DIVBYZERO: division by zero trap",
}


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    stdout: bytes
    files: dict[str, bytes]                   # files the program created or changed
    stack_peak: int                           # bytes of stack used at most (painted high-water mark)
    stack_size: int
    instructions: InstructionCounts | None    # with count_instructions=True
    wall_s: float


def run_elf(elf: ElfInfo | str | os.PathLike, *, args: Iterable[str] = (),
            files: Mapping[str, bytes | os.PathLike] | None = None, timeout: float = 60.0,
            count_instructions: bool = False, run_dir: str | os.PathLike | None = None,
            target: str | Target | None = None) -> RunResult:
    """Runs `elf` on the emulated core until it exits (main returns or exit() is called).

    The board is the ElfInfo's target's (Target.qemu), or `target`'s for an ELF given by path
    (default cortex-m7).

    `args` become argv[1:]; `files` (name -> bytes, or a host path to copy) are placed in the
    run directory (`run_dir`, kept, or a temporary one). Raises BuildError if the program does
    not finish within `timeout` seconds or faults, TargetError if it overflows its stack.
    """
    elf_path = Path(elf.path if isinstance(elf, ElfInfo) else elf).resolve()
    if not elf_path.is_file():
        raise BuildError(f"no ELF at {elf_path}", file=str(elf_path))
    qemu = find_tool("qemu-system-arm")
    if target is None:
        target = elf.target if isinstance(elf, ElfInfo) else "cortex-m7"
    target = Target.from_string(target)
    if target.qemu is None:
        raise TargetError(f"no emulated board for target '{target.name}'",
                          hint=f"emulated: {', '.join(emulated_target_names())}")
    args = list(args)
    for a in args:
        if not a or any(c.isspace() for c in a):
            raise BuildError(f"program argument {a!r} is empty or holds whitespace "
                             "(semihosting passes one space-separated command line)")
    if len(" ".join([elf_path.stem, *args])) >= CMDLINE_MAX or len(args) >= ARGV_MAX:
        raise BuildError(f"the program's command line is too long: startup.c takes under "
                         f"{CMDLINE_MAX} characters and {ARGV_MAX - 1} arguments",
                         hint="pass long lists in a file")
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="tfc-run-") as tmp:
            return _run(qemu, target.qemu, elf_path, args, files or {}, timeout,
                        count_instructions, Path(tmp))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return _run(qemu, target.qemu, elf_path, args, files or {}, timeout, count_instructions,
                Path(run_dir))


def _qemu_escape(text: str) -> str:
    return text.replace(",", ",,")        # QEMU option values double their commas


def _run(qemu: str, machine: QemuMachine, elf: Path, args: list[str], files: Mapping, timeout: float,
         count_instructions: bool, run_dir: Path) -> RunResult:
    for name in _HARNESS_FILES:
        (run_dir / name).unlink(missing_ok=True)
    inputs = {}
    for name, content in files.items():
        dest = run_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (bytes, bytearray)):
            dest.write_bytes(content)
        else:
            shutil.copyfile(content, dest)
        inputs[name] = dest.read_bytes()

    semihosting = ",".join(["enable=on", "target=native", "chardev=sh0",
                            *(f"arg={_qemu_escape(a)}" for a in [elf.stem, *args])])
    cmd = [qemu, *machine.args, "-display", "none", "-monitor", "none", "-serial", "none",
           "-chardev", "stdio,id=sh0", "-semihosting-config", semihosting, "-kernel", str(elf)]
    if count_instructions:
        cmd += ["-plugin", f"{_qemu_escape(str(plugin_path()))},out={_qemu_escape(str(run_dir / COUNTS_FILE))}"]
    start = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=run_dir, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"the program did not finish within {timeout:g} s on the emulated {machine.cpu}",
                         file=str(elf),
                         hint="an endless loop, a wait for an interrupt, or a CPU lockup "
                              "(a fault while handling a fault); raise timeout= if it is just slow") from None
    wall = time.perf_counter() - start

    stats = _read_stats(run_dir / STATS_FILE)
    if "fault" in stats:
        raise BuildError(_describe_fault(stats["fault"], res.stdout), file=str(elf),
                         hint="the registers are those stacked when the fault was taken: pc is the "
                              "faulting instruction (arm-none-eabi-addr2line -e <elf> <pc>)")
    if "exit" not in stats:
        raise BuildError(f"QEMU ended (status {res.returncode}) before the program exited:\n"
                         f"{res.stderr.decode(errors='replace').strip()}", file=str(elf))
    stack_peak, stack_size = int(stats["stack_peak"][0]), int(stats["stack_size"][0])
    if stack_peak >= stack_size:
        raise TargetError(f"the program overflowed its {stack_size}-byte stack", file=str(elf),
                          hint="build with a larger stack_size=")
    counts = None
    if count_instructions:
        counts_file = run_dir / COUNTS_FILE
        if not counts_file.is_file():
            raise BuildError("the instruction-counting plugin wrote nothing", file=str(elf))
        counts = parse_counts(counts_file.read_text(), str(elf))
    outputs = {}
    for path in sorted(run_dir.rglob("*")):
        name = path.relative_to(run_dir).as_posix()
        if path.is_file() and name not in _HARNESS_FILES:
            data = path.read_bytes()
            if inputs.get(name) != data:
                outputs[name] = data
    code = int(stats["exit"][0])                    # main's int, printed unsigned by the target
    return RunResult(exit_code=code - (1 << 32) if code >= 1 << 31 else code,
                     stdout=res.stdout, files=outputs, stack_peak=stack_peak, stack_size=stack_size,
                     instructions=counts, wall_s=wall)


def _read_stats(path: Path) -> dict[str, list[str]]:
    """The start-up code's `key value` lines, grouped by key (a fault adds several)."""
    stats: dict[str, list[str]] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(" ")
            stats.setdefault(key, []).append(value)
    return stats


def _describe_fault(lines: list[str], stdout: bytes) -> str:
    regs = dict(line.split(" ", 1) for line in lines if " " in line)
    text = "the program faulted: " + ", ".join(f"{k}={v}" for k, v in regs.items())
    cfsr = int(regs.get("cfsr", "0x0"), 16)
    causes = [why for bit, why in _CFSR_BITS.items() if cfsr >> bit & 1 and ":" in why]
    if causes:
        text += "\n  cause: " + "; ".join(causes)
    if cfsr >> 7 & 1 and "mmfar" in regs:
        text += f"\n  faulting data address: {regs['mmfar']}"
    elif cfsr >> 15 & 1 and "bfar" in regs:
        text += f"\n  faulting data address: {regs['bfar']}"
    before = stdout.split(FAULT_BANNER)[0]         # drop startup.c's own copy of the registers
    if before:
        text += "\n  program output before the fault:\n" + before.decode(errors="replace")[-2000:]
    return text
