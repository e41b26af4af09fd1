"""Targets as data: validated, frozen descriptions of the machines tfc compiles for, named by strings.

    Target.from_string("cortex-m7")   # STM32F746: 1 MiB flash, 320 KiB SRAM, DSP, FPU fpv5-sp-d16

Everything the rest of tfc needs to know about a machine is a field here: the kernel family its
instruction set runs (`isa`, which scratch-size rules and kernel choice read), the memory budget
and where it lies (the linker script, the size report), compiler and flags, the MPU's register
form (the start-up code's memory protection) and the QEMU board that emulates it. A new target
is one entry in TARGETS (plus, when emulated, a QEMU machine whose memory holds its regions).

Budgets are what the whole program may use (model weights + code in flash; arena, scratch and
stack in SRAM); the compiler reports against them.
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.errors import TargetError

KiB = 1024
MiB = 1024 * KiB

# The kernel families: "scalar" plain C, "dsp" Armv7E-M/Armv8-M DSP extension (SIMD32
# multiply-accumulate), "mve" Armv8.1-M Helium vectors.
ISAS = ("scalar", "dsp", "mve")
# The MPU's register form: Armv7-M power-of-two regions with subregions (RBAR + RASR), or
# Armv8-M base/limit regions (RBAR + RLAR, attributes in MAIR).
MPU_FORMS = ("armv7m", "armv8m")


@dataclass(frozen=True)
class QemuMachine:
    """The QEMU system emulator board and core that run a target's ELF."""

    machine: str                  # -M
    cpu: str                      # -cpu

    @property
    def args(self) -> tuple[str, ...]:
        return ("-M", self.machine, "-cpu", self.cpu)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    cpu: str                      # "cortex-m7", "cortex-m4", "cortex-m55", or "host"
    isa: str                      # one of ISAS: the kernels (and their scratch rules) built for it
    flash_bytes: int
    sram_bytes: int
    fpu: str | None               # GCC -mfpu name ("auto": the one -mcpu implies), None for no FPU or the host
    cc: str                       # C compiler driver
    cflags: tuple[str, ...]
    flash_origin: int = 0x00000000  # where the flash budget starts (code region)
    sram_origin: int = 0x20000000   # where the SRAM budget starts (SRAM region)
    mpu: str | None = None          # one of MPU_FORMS; None: no MPU set up
    qemu: QemuMachine | None = None  # None: not emulated

    def __post_init__(self):
        if not self.name:
            raise TargetError("a target needs a name")
        for field in ("flash_bytes", "sram_bytes"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) <= 0:
                raise TargetError(f"target {self.name}: {field} must be a positive integer")
        for field in ("flash_origin", "sram_origin"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) < 0:
                raise TargetError(f"target {self.name}: {field} must be a non-negative address")
        if self.isa not in ISAS:
            raise TargetError(f"target {self.name}: isa {self.isa!r} is not one of {', '.join(ISAS)}")
        if self.mpu is not None and self.mpu not in MPU_FORMS:
            raise TargetError(f"target {self.name}: mpu {self.mpu!r} is not one of {', '.join(MPU_FORMS)}")
        if (self.flash_origin < self.sram_origin + self.sram_bytes
                and self.sram_origin < self.flash_origin + self.flash_bytes):
            raise TargetError(f"target {self.name}: its flash and SRAM regions overlap")
        object.__setattr__(self, "cflags", tuple(self.cflags))

    @property
    def is_embedded(self) -> bool:
        return self.cpu != "host"

    @property
    def is_emulated(self) -> bool:
        return self.qemu is not None

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
    # QEMU 7.2's mps2-an500 (hw/arm/mps2.c) has 4 MiB of RAM at 0x0 and at 0x20000000, so the
    # STM32F746's 1 MiB flash alias at 0x0 and 320 KiB SRAM at 0x20000000 lie inside it.
    Target(name="cortex-m7",
           description="STM32F746 (Cortex-M7 @ 216 MHz): 1 MiB flash, 320 KiB SRAM, DSP, FPU fpv5-sp-d16",
           cpu="cortex-m7", isa="dsp", flash_bytes=1 * MiB, sram_bytes=320 * KiB,
           fpu="fpv5-sp-d16", cc="arm-none-eabi-gcc", cflags=_arm("cortex-m7", "fpv5-sp-d16"),
           mpu="armv7m", qemu=QemuMachine("mps2-an500", "cortex-m7")),
    # STM32F407VG: 1 MiB flash; 192 KiB SRAM = 112 + 16 KiB main SRAM + 64 KiB CCM (core-coupled,
    # not reachable by DMA), so one contiguous arena can use at most 128 KiB of it. mps2-an386
    # has the same memory map as mps2-an500.
    Target(name="cortex-m4",
           description="STM32F407VG (Cortex-M4F @ 168 MHz): 1 MiB flash, 192 KiB SRAM (incl. 64 KiB CCM), "
                       "DSP, FPU fpv4-sp-d16",
           cpu="cortex-m4", isa="dsp", flash_bytes=1 * MiB, sram_bytes=192 * KiB,
           fpu="fpv4-sp-d16", cc="arm-none-eabi-gcc", cflags=_arm("cortex-m4", "fpv4-sp-d16"),
           mpu="armv7m", qemu=QemuMachine("mps2-an386", "cortex-m4")),
    # Arm Corstone-300 (SSE-300 subsystem with a Cortex-M55), as in Arm's AN547 FPGA image for the
    # MPS3 board (Arm Application Note AN547) and QEMU 7.2's mps3-an547 (hw/arm/mps2-tz.c;
    # `info mtree` shows the core's 512 KiB ITCM at 0x00000000 and 512 KiB DTCM at 0x20000000,
    # secure aliases at 0x10000000 / 0x30000000, beside 2 MiB SRAM at 0x01000000 and 4 MiB at
    # 0x21000000). Code and constants in the ITCM (the budget's "flash", kept read-only by the
    # MPU), data in the DTCM: zero-wait-state memories, where Arm's ML examples put them.
    # A DSP build: MVE (Helium) is switched off (+nomve, no __ARM_FEATURE_MVE, so CMSIS-NN and
    # tfc's runtime take their DSP paths and gcc does not auto-vectorize) until tfc has MVE
    # kernels and their scratch rules; then isa="mve" and -mcpu=cortex-m55. The core starts in
    # the Secure state with the SAU off (all memory Secure); its MPU is Armv8-M's.
    Target(name="cortex-m55",
           description="Arm Corstone-300 / AN547 (Cortex-M55): 512 KiB ITCM for code, 512 KiB DTCM for data, "
                       "DSP build (MVE off), FPU with double precision",
           cpu="cortex-m55", isa="dsp", flash_bytes=512 * KiB, sram_bytes=512 * KiB,
           fpu="auto", cc="arm-none-eabi-gcc", cflags=_arm("cortex-m55+nomve", "auto"),
           mpu="armv8m", qemu=QemuMachine("mps3-an547", "cortex-m55")),
    Target(name="host",
           description="this computer, with gcc (for testing the generated C): generous budgets",
           cpu="host", isa="scalar", flash_bytes=256 * MiB, sram_bytes=256 * MiB, fpu=None,
           cc="gcc", cflags=("-O2", "-std=c99")),
)}


def emulated_target_names() -> list[str]:
    """The targets whose programs tfc can run and measure on QEMU."""
    return [name for name, t in TARGETS.items() if t.is_emulated]
