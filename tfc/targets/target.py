"""Targets: validated, frozen descriptions of the machines tfc compiles for, named by strings.

    Target.from_string("cortex-m7")   # STM32F746: 1 MiB flash, 320 KiB SRAM, DSP, FPU fpv5-sp-d16

Budgets are what the whole program may use (model weights + code in flash; arena, scratch and
stack in SRAM); the compiler reports against them.
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.errors import TargetError

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    cpu: str                      # "cortex-m7", "cortex-m4", or "host"
    flash_bytes: int
    sram_bytes: int
    has_dsp: bool                 # Armv7E-M DSP extension (SIMD multiply-accumulate)
    fpu: str | None               # GCC -mfpu name, None for no FPU or the host
    cc: str                       # C compiler driver
    cflags: tuple[str, ...]

    def __post_init__(self):
        if not self.name:
            raise TargetError("a target needs a name")
        for field in ("flash_bytes", "sram_bytes"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) <= 0:
                raise TargetError(f"target {self.name}: {field} must be a positive integer")
        object.__setattr__(self, "cflags", tuple(self.cflags))

    @property
    def is_embedded(self) -> bool:
        return self.cpu != "host"

    @classmethod
    def from_string(cls, name: "str | Target") -> "Target":
        if isinstance(name, Target):
            return name
        if not isinstance(name, str):
            raise TargetError(f"a target is named by a string, got {type(name).__name__}",
                              hint=f"targets: {', '.join(TARGETS)}")
        try:
            return TARGETS[name.strip().lower()]
        except KeyError:
            raise TargetError(f"unknown target '{name}'",
                              hint=f"targets: {', '.join(TARGETS)}") from None

    def __str__(self) -> str:
        return self.name


def _arm(cpu: str, fpu: str) -> tuple[str, ...]:
    return (f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard", f"-mfpu={fpu}")


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target(name="cortex-m7",
           description="STM32F746 (Cortex-M7 @ 216 MHz): 1 MiB flash, 320 KiB SRAM, DSP, FPU fpv5-sp-d16",
           cpu="cortex-m7", flash_bytes=1 * MiB, sram_bytes=320 * KiB, has_dsp=True,
           fpu="fpv5-sp-d16", cc="arm-none-eabi-gcc", cflags=_arm("cortex-m7", "fpv5-sp-d16")),
    # STM32F407VG: 1 MiB flash; 192 KiB SRAM = 112 + 16 KiB main SRAM + 64 KiB CCM (core-coupled,
    # not reachable by DMA), so one contiguous arena can use at most 128 KiB of it.
    Target(name="cortex-m4",
           description="STM32F407VG (Cortex-M4F @ 168 MHz): 1 MiB flash, 192 KiB SRAM (incl. 64 KiB CCM), "
                       "DSP, FPU fpv4-sp-d16",
           cpu="cortex-m4", flash_bytes=1 * MiB, sram_bytes=192 * KiB, has_dsp=True,
           fpu="fpv4-sp-d16", cc="arm-none-eabi-gcc", cflags=_arm("cortex-m4", "fpv4-sp-d16")),
    Target(name="host",
           description="this computer, with gcc (for testing the generated C): generous budgets",
           cpu="host", flash_bytes=256 * MiB, sram_bytes=256 * MiB, has_dsp=False, fpu=None,
           cc="gcc", cflags=("-O2", "-std=c99")),
)}
