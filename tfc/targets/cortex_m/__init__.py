"""Bare-metal Cortex-M support: build C for a target, run it on the target's QEMU board, measure it.

    from tfc.targets.cortex_m import build_elf, run_elf
    info = build_elf(sources, "build/m7", include_dirs=[...], defines={...}, target="cortex-m7")
    result = run_elf(info, files={"in.bin": data}, count_instructions=True)

Programs include "tfc_target.h" (on the include path automatically) for region markers and
host file I/O; stdio works too. Tools: scripts/install-target-tools.sh.
"""
from tfc.targets.cortex_m.build import ElfInfo, build_elf
from tfc.targets.cortex_m.icount import InstructionCounts, RegionCount
from tfc.targets.cortex_m.qemu import RunResult, run_elf
from tfc.targets.cortex_m.size import SizeReport, elf_size

__all__ = ["ElfInfo", "InstructionCounts", "RegionCount", "RunResult", "SizeReport", "build_elf",
           "elf_size", "run_elf"]
