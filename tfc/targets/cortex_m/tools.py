"""The host tools the Cortex-M harness needs, and the Debian packages that provide them."""
from __future__ import annotations

import shutil

from tfc.errors import BuildError

INSTALL_SCRIPT = "scripts/install-target-tools.sh"

# tool -> Debian package
PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "gcc": "gcc",
}


def find_tool(name: str) -> str:
    """The path of `name`, or a BuildError naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"{name} is not installed",
                         hint=f"install the Debian package {PACKAGES.get(name, name)} "
                              f"(or run {INSTALL_SCRIPT})")
    return path


def missing_tools(*names: str) -> list[str]:
    """'tool (Debian package pkg)' for each of `names` that is not on PATH."""
    return [f"{n} (Debian package {PACKAGES.get(n, n)})" for n in names if shutil.which(n) is None]
