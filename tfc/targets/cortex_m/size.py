"""Flash and SRAM use of a linked ELF, by section, from `arm-none-eabi-size -A`.

Flash holds every allocated section placed in the flash region plus the initial values of
.data (copied to SRAM at start-up); SRAM holds .data, .bss and the heap + stack reservation.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tfc.errors import BuildError
from tfc.target import Target
from tfc.targets.cortex_m.tools import find_tool

FLASH_ORIGIN = 0x00000000
SRAM_ORIGIN = 0x20000000
# Sections `size -A` lists at address 0 although they are never loaded (debug info, notes).
_NOT_LOADED = (".debug", ".comment", ".ARM.attributes", ".stab", ".note", ".gnu.build.attributes")


@dataclass(frozen=True)
class SizeReport:
    flash_bytes: int
    sram_bytes: int                                              # static: .data + .bss + heap/stack reservation
    flash_sections: dict[str, int] = field(default_factory=dict)
    sram_sections: dict[str, int] = field(default_factory=dict)
    flash_budget: int = 0
    sram_budget: int = 0

    def __str__(self) -> str:
        def part(sections):
            return ", ".join(f"{k} {v}" for k, v in sections.items() if v)
        return (f"flash {self.flash_bytes} / {self.flash_budget} bytes ({part(self.flash_sections)}); "
                f"SRAM {self.sram_bytes} / {self.sram_budget} bytes ({part(self.sram_sections)})")


def parse_size_output(text: str, target: Target) -> SizeReport:
    """Classifies the sections of `arm-none-eabi-size -A -d` output by address."""
    flash, sram = {}, {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        name, size, addr = parts[0], int(parts[1]), int(parts[2])
        if size == 0 or name.startswith(_NOT_LOADED):
            continue
        if FLASH_ORIGIN <= addr < FLASH_ORIGIN + target.flash_bytes:
            flash[name] = size
        elif SRAM_ORIGIN <= addr < SRAM_ORIGIN + target.sram_bytes:
            sram[name] = size
            if name == ".data":                      # its initial image lives in flash
                flash[".data (init)"] = size
    return SizeReport(flash_bytes=sum(flash.values()), sram_bytes=sum(sram.values()),
                      flash_sections=flash, sram_sections=sram,
                      flash_budget=target.flash_bytes, sram_budget=target.sram_bytes)


def elf_size(elf: str | Path, target: Target) -> SizeReport:
    res = subprocess.run([find_tool("arm-none-eabi-size"), "-A", "-d", str(elf)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"arm-none-eabi-size failed on {elf}:\n{res.stderr.strip()}", file=str(elf))
    return parse_size_output(res.stdout, target)
