"""Build a generated project for its Cortex-M target (`make TARGET=cortex-m7`) and run it on
QEMU's emulated core, many inputs per run, the outputs read back from a host file.

    runner = TargetRunner(info)                 # checks the plan fits, builds once (cached)
    y = runner.run(x, raw=True)                 # as HostRunner.run
    runner.last_run.instructions                # with profile=True: per-layer regions, per inference

The ELF is the one the project's Makefile builds (tfc's start-up code and linker script), with
`profile=True` the per-layer instruction-counting markers (-DTFC_PROFILE), and with
`cmsis_nn_root` Arm's CMSIS-NN in place of tfc's kernels.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from tfc.backends.cmsis.host import Runner, default_cache_dir
from tfc.backends.cmsis.make import build_key, make_variables, run_make
from tfc.backends.cmsis.project import ProjectInfo
from tfc.errors import BuildError, TargetError, TfcError
from tfc.targets import Target, emulated_target_names
from tfc.targets.cortex_m import ElfInfo, RunResult, elf_size, run_elf
from tfc.targets.cortex_m.build import _raise_link_error
from tfc.targets.cortex_m.project import project_support

BASE_TIMEOUT_S = 60.0        # start-up, file I/O and a slow machine
PER_SAMPLE_TIMEOUT_S = 5.0   # the largest MLPerf Tiny model takes well under 1 s per inference on QEMU
_OVERFLOW = re.compile(r"region `\w+' overflowed by \d+ bytes")


def check_fits(info: ProjectInfo, target: str | Target, stack_size: int) -> None:
    """TargetError, before any build, when tfc's own plan already exceeds the target's flash
    (weights + requantization parameters) or SRAM (arena + the stack reservation)."""
    target = Target.from_string(target)
    problems = []
    flash = info.weight_bytes + info.quant_param_bytes
    if flash > target.flash_bytes:
        problems.append(f"flash by {flash - target.flash_bytes} bytes: weights {info.weight_bytes} + "
                        f"requantization parameters {info.quant_param_bytes} = {flash} bytes, the "
                        f"target has {target.flash_bytes} (before any code)")
    sram = info.arena_bytes + stack_size
    if sram > target.sram_bytes:
        problems.append(f"SRAM by {sram - target.sram_bytes} bytes: arena {info.arena_bytes} "
                        f"(activations, I/O, scratch) + stack {stack_size} = {sram} bytes, the "
                        f"target has {target.sram_bytes}")
    if problems:
        raise TargetError(f"model {info.name} does not fit {target.name}: it overflows "
                          + " and ".join(problems),
                          hint="shrink the model (sparsify, prune channels, smaller input) or "
                               "choose a target with more memory")


class TargetRunner(Runner):
    """Runs the project `info` describes (written by write_project for a Cortex-M target) on
    the emulated core. `profile`: count instructions per layer and per inference;
    `cmsis_nn_root`: build against Arm's CMSIS-NN sources instead of tfc's kernels."""

    def __init__(self, info: ProjectInfo, *, profile: bool = False, cmsis_nn_root: str | os.PathLike | None = None,
                 cache_dir: Path | str | None = None, timeout: float | None = None, check_plan: bool = True):
        if info.path is None:
            raise TfcError("this project was only planned, not written", hint="use write_project(...)")
        self.info = info
        self.target = Target.from_string(info.target)
        self.support = project_support(self.target)
        if self.support is None or not self.target.is_emulated:
            raise TargetError(f"project {info.name} was compiled for '{self.target.name}', which has no "
                              "emulated core", hint=f"compile for one of {', '.join(emulated_target_names())}, "
                                                    "or use HostRunner")
        if check_plan:
            check_fits(info, self.target, self.support.stack_size)
        self.profile = profile
        self.cmsis_nn_root = _check_cmsis_nn(cmsis_nn_root) if cmsis_nn_root else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.timeout = timeout
        self.last_run: RunResult | None = None
        self.elf = self._build()

    # ---- build ---------------------------------------------------------------------------------
    def _make_variables(self) -> dict[str, str]:
        """TARGET, PROFILE and CMSIS_NN_ROOT exactly as asked (empty: tfc's own kernels), never
        from the shell's environment."""
        return make_variables({"TARGET": self.target.name, "PROFILE": "1" if self.profile else "",
                               "ARM_CC": self.target.cc},
                              self.cmsis_nn_root)

    def _build(self) -> ElfInfo:
        project = Path(self.info.path)
        variables = self._make_variables()
        key = build_key(project, variables, [self.target.cc])
        sub = f"{self.target.name}-profile" if self.profile else self.target.name
        final = self.cache_dir / key
        elf = final / sub / f"{self.info.name}.elf"
        if not elf.is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.cache_dir))
            res = run_make(project, tmp, variables, jobs=os.cpu_count() or 1)
            if res.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                if _OVERFLOW.search(res.stderr):
                    _raise_link_error(res.stderr, self.target, Path(self.info.name + ".elf"))
                raise BuildError(f"building the generated project for {self.target.name} failed:\n"
                                 f"{res.stdout}{res.stderr}", file=str(project),
                                 hint="this is a bug in tfc's C backend; please report it")
            try:
                os.replace(tmp, final)
            except OSError:  # built meanwhile by another runner
                shutil.rmtree(tmp, ignore_errors=True)
        return ElfInfo(path=elf, target=self.target, size=elf_size(elf, self.target),
                       stack_size=self.support.stack_size, map_path=elf.with_suffix(".map"))

    # ---- run -----------------------------------------------------------------------------------
    def _execute(self, data: bytes, n: int) -> bytes:
        timeout = self.timeout if self.timeout is not None else BASE_TIMEOUT_S + PER_SAMPLE_TIMEOUT_S * n
        result = run_elf(self.elf, args=["in.bin", "out.bin"], files={"in.bin": data}, timeout=timeout,
                         count_instructions=self.profile)
        if result.exit_code != 0:
            said = result.stdout.decode(errors="replace").strip()
            raise BuildError(f"the model's program on the emulated {self.target.name} exited with status "
                             f"{result.exit_code}" + (f": {said}" if said else ""), file=str(self.elf.path),
                             hint="1: file I/O, 2: truncated input, 3: a kernel rejected its arguments "
                                  "(a bug in tfc's C backend; please report it)")
        self.last_run = result
        return result.files.get("out.bin", b"")


def _check_cmsis_nn(root: str | os.PathLike) -> str:
    path = Path(root).expanduser().resolve()
    if not (path / "Include" / "arm_nnfunctions.h").is_file() or not (path / "Source").is_dir():
        raise BuildError(f"{root} is not a CMSIS-NN checkout (no Include/arm_nnfunctions.h and Source/)",
                         hint="give the root of https://github.com/ARM-software/CMSIS-NN")
    return str(path)
