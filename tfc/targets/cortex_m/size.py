"""Flash and SRAM use of a linked ELF, by section, from `arm-none-eabi-size -A`.

Flash holds every allocated section placed in the flash region plus the initial values of
.data (copied to SRAM at start-up); SRAM holds .data, .bss and the heap + stack reservation.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tfc.errors import BuildError
from tfc.targets import Target
from tfc.targets.cortex_m.tools import find_tool

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


def in_flash(target: Target, address: int) -> bool:
    return target.flash_origin <= address < target.flash_origin + target.flash_bytes


def in_sram(target: Target, address: int) -> bool:
    return target.sram_origin <= address < target.sram_origin + target.sram_bytes


def parse_size_output(text: str, target: Target) -> SizeReport:
    """Classifies the sections of `arm-none-eabi-size -A -d` output by address."""
    flash, sram = {}, {}
    flash_end, sram_end = target.flash_origin, target.sram_origin
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        name, size, addr = parts[0], int(parts[1]), int(parts[2])
        if size == 0 or name.startswith(_NOT_LOADED):
            continue
        if in_flash(target, addr):
            flash[name] = size
            flash_end = max(flash_end, addr + size)
        elif in_sram(target, addr):
            sram[name] = size
            sram_end = max(sram_end, addr + size)
    if ".data" in sram:                              # its initial image follows the flash sections
        flash[".data (init)"] = sram[".data"]
    # Totals are extents, so the alignment gaps between sections count, as they do for the linker.
    return SizeReport(flash_bytes=flash_end - target.flash_origin + flash.get(".data (init)", 0),
                      sram_bytes=sram_end - target.sram_origin,
                      flash_sections=flash, sram_sections=sram,
                      flash_budget=target.flash_bytes, sram_budget=target.sram_bytes)


def elf_size(elf: str | Path, target: Target) -> SizeReport:
    res = subprocess.run([find_tool("arm-none-eabi-size"), "-A", "-d", str(elf)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"arm-none-eabi-size failed on {elf}:\n{res.stderr.strip()}", file=str(elf))
    return parse_size_output(res.stdout, target)
