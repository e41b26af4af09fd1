"""Build C sources into a bare-metal ELF for a Cortex-M target (and for its QEMU board).

    info = build_elf(["main.c", "model.c"], include_dirs=["inc"], defines={"N": 4},
                     out_dir="build", target="cortex-m7")
    info.path, info.size.flash_bytes, info.size.sram_bytes

Every source is compiled with the target's flags plus -O2 -Wall -Wextra -Werror, together with
tfc's start-up code, semihosting system calls and newlib-nano; the linker script carries the
target's flash/SRAM budget, so a program that does not fit raises TargetError naming the region
and the bytes it overflows by.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from string import Template

from tfc.errors import BuildError, TargetError
from tfc.targets import Target
from tfc.targets.cortex_m.size import SizeReport, elf_size
from tfc.targets.cortex_m.tools import INSTALL_SCRIPT, find_tool

C_DIR = Path(__file__).resolve().parent / "c"
SUPPORT_SOURCES = ("startup.c", "semihost.c", "syscalls.c")
STATS_FILE = "tfc-run.stats"   # written by startup.c's exit path into the run directory
FAULT_EXIT = 0xFA              # startup.c's exit code after a fault
COMMON_FLAGS = ("-O2", "-ffunction-sections", "-fdata-sections",
                "-Wall", "-Wextra", "-Werror")
DEFAULT_STACK = 8 * 1024

_REGION_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_REGION_WORDS = {"FLASH": "flash", "SRAM": "SRAM"}


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    target: Target
    size: SizeReport
    stack_size: int
    map_path: Path


def build_elf(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
              include_dirs: Iterable[str | os.PathLike] = (),
              defines: Mapping[str, object] | Iterable[str] = (),
              target: str | Target = "cortex-m7", stack_size: int = DEFAULT_STACK,
              heap_size: int = 0, mpu: bool = True, extra_cflags: Iterable[str] = (),
              name: str = "program") -> ElfInfo:
    """Compiles and links `sources` into `out_dir/<name>.elf` for `target`.

    `defines`: {"NAME": value or None} or ["NAME=value", ...]. `stack_size`/`heap_size` are
    reserved in SRAM and count against its budget. `mpu`: fault on any access outside the
    budget (on by default).
    """
    target = Target.from_string(target)
    if not target.is_embedded:
        raise TargetError(f"build_elf builds for a Cortex-M target, not '{target.name}'",
                          hint="use a Cortex-M target such as cortex-m7")
    sources = [Path(s) for s in sources]
    for src in sources:
        if not src.is_file():
            raise BuildError(f"C source {src} does not exist", file=str(src))
    cc = find_tool(target.cc)
    _check_newlib(cc, target)
    out = Path(out_dir)
    (out / "obj").mkdir(parents=True, exist_ok=True)

    cflags = [*target.cflags, *COMMON_FLAGS, *extra_cflags,
              *(f"-I{Path(d)}" for d in include_dirs), f"-I{C_DIR}",
              *_define_flags(defines), f'-DTFC_STATS_FILE="{STATS_FILE}"',
              f"-DTFC_FAULT_EXIT={FAULT_EXIT}"]
    if mpu:
        cflags += [f"-D{d}" for d in mpu_defines(target)]
    all_sources = [*sources, *(C_DIR / s for s in SUPPORT_SOURCES)]
    objects = [out / "obj" / f"{i:03d}_{s.stem}.o" for i, s in enumerate(all_sources)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda so: _compile(cc, cflags, *so), zip(all_sources, objects)))

    script = out / f"{name}.ld"
    script.write_text(_linker_script(target, stack_size, heap_size))
    elf, map_path = out / f"{name}.elf", out / f"{name}.map"
    cmd = [cc, *target.cflags, "-nostartfiles", "--specs=nano.specs", f"-T{script}",
           "-Wl,--gc-sections", f"-Wl,-Map={map_path}", "-Wl,--no-warn-rwx-segments",
           *map(str, objects), "-lm", "-o", str(elf)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        _raise_link_error(res.stderr, target, elf)
    return ElfInfo(path=elf, target=target, size=elf_size(elf, target), stack_size=stack_size,
                   map_path=map_path)


def _define_flags(defines) -> list[str]:
    if isinstance(defines, Mapping):
        return [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in defines.items()]
    return [f"-D{d}" for d in defines]


def _compile(cc: str, cflags: list[str], src: Path, obj: Path) -> None:
    res = subprocess.run([cc, *cflags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"arm compiler failed on {src.name}:\n{res.stderr.strip()}", file=str(src))


def _check_newlib(cc: str, target: Target) -> None:
    found = subprocess.run([cc, *target.cflags, "-print-file-name=libc_nano.a"],
                           capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(found):
        raise BuildError("newlib-nano for arm-none-eabi is not installed",
                         hint=f"install the Debian package libnewlib-arm-none-eabi (or run {INSTALL_SCRIPT})")


def _linker_script(target: Target, stack_size: int, heap_size: int) -> str:
    for what, value in (("stack_size", stack_size), ("heap_size", heap_size)):
        if not isinstance(value, int) or value < 0 or value % 8:
            raise BuildError(f"{what} must be a non-negative multiple of 8 bytes, got {value!r}")
    template = Template((C_DIR / "link.ld.in").read_text())
    emulator = (f"QEMU's {target.qemu.machine} ({target.qemu.cpu})" if target.qemu
                else "the target's emulator (none is known for this target)")
    return template.substitute(target_name=target.name, flash_bytes=target.flash_bytes,
                               sram_bytes=target.sram_bytes, flash_origin=f"0x{target.flash_origin:08X}",
                               sram_origin=f"0x{target.sram_origin:08X}", emulator=emulator,
                               stack_size=stack_size, heap_size=heap_size)


def mpu_defines(target: Target) -> tuple[str, ...]:
    """The start-up code's MPU register values (NAME=value, as -D takes them) in the target's
    MPU form: region 0 the flash budget (read-only), region 1 the SRAM budget (never executed)."""
    if target.mpu == "armv7m":
        return (f"TFC_MPU_FLASH_RBAR=0x{target.flash_origin:08X}u",
                f"TFC_MPU_FLASH_RASR={_mpu_rasr(target.flash_origin, target.flash_bytes, writable=False)}u",
                f"TFC_MPU_SRAM_RBAR=0x{target.sram_origin:08X}u",
                f"TFC_MPU_SRAM_RASR={_mpu_rasr(target.sram_origin, target.sram_bytes, writable=True)}u")
    if target.mpu == "armv8m":
        flash = _mpu_rbar_rlar(target.flash_origin, target.flash_bytes, writable=False)
        sram = _mpu_rbar_rlar(target.sram_origin, target.sram_bytes, writable=True)
        return (f"TFC_MPU_FLASH_RBAR=0x{flash[0]:08X}u", f"TFC_MPU_FLASH_RLAR=0x{flash[1]:08X}u",
                f"TFC_MPU_SRAM_RBAR=0x{sram[0]:08X}u", f"TFC_MPU_SRAM_RLAR=0x{sram[1]:08X}u")
    return ()


def _mpu_rbar_rlar(base: int, size: int, *, writable: bool) -> tuple[int, int]:
    """Armv8-M MPU_RBAR and MPU_RLAR for `size` bytes at `base` (Armv8-M ARM, B3.5): base and
    inclusive limit in 32-byte granules; AP read/write or read-only at any privilege, execute
    never for data; attributes from MAIR0 index 0; enabled."""
    if base % 32 or size % 32:
        raise TargetError(f"the Armv8-M MPU cannot cover {size} bytes at 0x{base:08X} "
                          "(base and size must be multiples of 32 bytes)", hint="build with mpu=False")
    access = 0b01 if writable else 0b11          # AP: read/write / read-only, any privilege
    execute_never = 1 if writable else 0
    rbar = base | (access << 1) | execute_never
    rlar = ((base + size - 1) & ~0x1F) | 1       # AttrIndx 0, EN
    return rbar, rlar


def _mpu_rasr(base: int, size: int, *, writable: bool) -> int:
    """Armv7-M MPU_RASR covering `size` bytes from `base`: a power-of-two region with the eight
    subregions past `size` disabled (e.g. 320 KiB = 5 of the 8 64-KiB subregions of 512 KiB)."""
    region = max(256, 1 << (size - 1).bit_length())
    sub = region // 8
    if size % sub:
        raise TargetError(f"the MPU cannot cover exactly {size} bytes (not a multiple of {sub})",
                          hint="build with mpu=False")
    if base % region:
        raise TargetError(f"the Armv7-M MPU cannot cover {size} bytes at 0x{base:08X}: a region's base "
                          f"must be a multiple of its size ({region} bytes)", hint="build with mpu=False")
    disabled = sum(1 << i for i in range(size // sub, 8))
    access = 0b011 if writable else 0b110          # AP: full access / read-only
    execute_never = 1 if writable else 0
    log2 = region.bit_length() - 1
    return (execute_never << 28) | (access << 24) | (disabled << 8) | ((log2 - 1) << 1) | 1


def _raise_link_error(stderr: str, target: Target, elf: Path) -> None:
    overflows: dict[str, int] = {}
    for region, n in _REGION_OVERFLOW.findall(stderr):
        overflows[region] = max(overflows.get(region, 0), int(n))
    if overflows:
        parts = []
        for region, n in overflows.items():
            word = _REGION_WORDS.get(region, region)
            budget = target.flash_bytes if region == "FLASH" else target.sram_bytes
            parts.append(f"{word} by {n} bytes (budget {budget} bytes, needs {budget + n})")
        raise TargetError(f"the program does not fit {target.name}: it overflows "
                          + " and ".join(parts),
                          file=str(elf),
                          hint="SRAM holds .data, .bss, heap and stack; flash holds code, "
                               "constants and .data's initial values")
    raise BuildError(f"linking {elf.name} failed:\n{stderr.strip()}", file=str(elf))
