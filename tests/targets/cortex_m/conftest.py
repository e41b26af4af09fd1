"""Fixtures for the Cortex-M harness tests: skip (naming the Debian package) when the Arm
toolchain, newlib or QEMU is missing; `cortex_m_target`, each emulated target in turn; and a
helper that builds C text into an ELF."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tfc.targets import Target, emulated_target_names
from tfc.targets.cortex_m import build_elf
from tfc.targets.cortex_m.tools import INSTALL_SCRIPT, missing_tools

PROGRAMS = Path(__file__).resolve().parent / "programs"


def _newlib_missing() -> list[str]:
    if shutil.which("arm-none-eabi-gcc") is None:
        return []
    found = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard",
                            "-mfpu=fpv5-sp-d16", "-print-file-name=libc_nano.a"],
                           capture_output=True, text=True).stdout.strip()
    return [] if Path(found).is_absolute() else ["newlib-nano (Debian package libnewlib-arm-none-eabi)"]


def _skip_unless_present(missing: list[str]) -> None:
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; run {INSTALL_SCRIPT}")


@pytest.fixture(scope="session")
def toolchain() -> None:
    """Skips unless the Arm GCC, its binutils and newlib are installed."""
    _skip_unless_present(missing_tools("arm-none-eabi-gcc", "arm-none-eabi-size") + _newlib_missing())


@pytest.fixture(scope="session")
def qemu(toolchain) -> None:
    """Skips unless QEMU's Arm system emulator is installed too."""
    _skip_unless_present(missing_tools("qemu-system-arm"))


@pytest.fixture(scope="session")
def qemu_plugins(qemu) -> None:
    """Skips unless this QEMU loads TCG plugins (built with --enable-plugins) and gcc is there."""
    _skip_unless_present(missing_tools("gcc"))
    out = subprocess.run(["qemu-system-arm", "-help"], capture_output=True, text=True).stdout
    if "-plugin" not in out:
        pytest.skip("this qemu-system-arm was built without TCG plugin support (--enable-plugins)")


@pytest.fixture(params=emulated_target_names())
def cortex_m_target(request) -> Target:
    """Each emulated Cortex-M target (cortex-m7, cortex-m4, cortex-m55, ...) in turn: a test that
    takes this fixture runs once per target, so a new target in tfc.targets.TARGETS is tested
    without naming it here."""
    return Target.from_string(request.param)


@pytest.fixture
def build_c(toolchain, tmp_path):
    """build_c(source_text, **build_elf_kwargs) -> ElfInfo, from C text in a fresh directory."""
    counter = iter(range(1000))

    def build(source: str, **kwargs):
        n = next(counter)
        src = tmp_path / f"prog{n}.c"
        src.write_text(textwrap.dedent(source))
        return build_elf([src], tmp_path / f"build{n}", **kwargs)
    return build
