"""What a generated C project needs to build for a Cortex-M target on its own: tfc's start-up
code, semihosting and system calls, a linker script with the target's budget, and the flags.

    support = project_support(target)     # None for the host
    support.files                          # {"target/startup.c": text, ..., "target/cortex-m7.ld": text}
    support.defines                        # ["TFC_STATS_FILE=\"tfc-run.stats\"", ...]

The C backend writes these into the project (its Makefile's `make TARGET=cortex-m7`, its CMake
toolchain file), so the ELF that tfc runs on QEMU is the one a user can build by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.targets import Target
from tfc.targets.cortex_m.build import (C_DIR, COMMON_FLAGS, DEFAULT_STACK, FAULT_EXIT, STATS_FILE,
                                        SUPPORT_SOURCES, _linker_script, mpu_defines)

SUPPORT_DIR = "target"
SUPPORT_HEADERS = ("semihost.h", "tfc_target.h")
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments")


@dataclass(frozen=True)
class ProjectSupport:
    target: Target
    stack_size: int
    files: dict[str, str]            # relative path in the project -> text
    sources: tuple[str, ...]         # the start-up sources among `files`, relative paths
    linker_script: str               # relative path
    defines: tuple[str, ...]         # NAME=value, as -D takes them
    cflags: tuple[str, ...]          # optimisation and warnings (build_elf's)
    link_flags: tuple[str, ...]

    @property
    def arch_flags(self) -> tuple[str, ...]:
        return self.target.cflags


def project_support(target: str | Target, *, stack_size: int = DEFAULT_STACK) -> ProjectSupport | None:
    """The files and flags for `target`'s bare-metal build, or None for the host."""
    target = Target.from_string(target)
    if not target.is_embedded:
        return None
    files = {f"{SUPPORT_DIR}/{name}": (C_DIR / name).read_text(encoding="ascii")
             for name in (*SUPPORT_SOURCES, *SUPPORT_HEADERS)}
    script = f"{SUPPORT_DIR}/{target.name}.ld"
    files[script] = _linker_script(target, stack_size, 0)
    defines = (f'TFC_STATS_FILE="{STATS_FILE}"', f"TFC_FAULT_EXIT={FAULT_EXIT}", *mpu_defines(target))
    return ProjectSupport(target=target, stack_size=stack_size, files=files,
                          sources=tuple(f"{SUPPORT_DIR}/{s}" for s in SUPPORT_SOURCES),
                          linker_script=script, defines=defines, cflags=COMMON_FLAGS,
                          link_flags=LINK_FLAGS)
