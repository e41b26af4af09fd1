"""The instruction-counting QEMU plugin: built from qemu_plugin/tfc_icount.c with the host gcc at first
use into a cache directory, and its output parsed into counts.

Cache: $TFC_CACHE_DIR, else $XDG_CACHE_HOME/tfc, else ~/.cache/tfc. The file name carries a hash
of the source, so an edited plugin is rebuilt.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tfc.errors import BuildError
from tfc.targets.cortex_m.tools import find_tool

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "tfc_icount.c"


@dataclass(frozen=True)
class RegionCount:
    instructions: int     # executed between TFC_REGION_BEGIN(id) and TFC_REGION_END(id), summed
    entered: int          # how many times the region ran


@dataclass(frozen=True)
class InstructionCounts:
    total: int                          # from reset to exit
    regions: dict[int, RegionCount]


def cache_dir() -> Path:
    if os.environ.get("TFC_CACHE_DIR"):
        return Path(os.environ["TFC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tfc"


def plugin_path() -> Path:
    """The built plugin (.so), compiling it first if this version is not in the cache yet."""
    source = PLUGIN_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = cache_dir() / f"tfc_icount-{digest}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cc = find_tool("gcc")
    # Build beside the target and rename: concurrent first uses never see a half-written file.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    res = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
                          str(PLUGIN_SOURCE), "-o", tmp], capture_output=True, text=True)
    if res.returncode != 0:
        os.unlink(tmp)
        raise BuildError(f"building the instruction-counting QEMU plugin failed:\n{res.stderr.strip()}",
                         file=str(PLUGIN_SOURCE))
    os.replace(tmp, target)
    return target


def parse_counts(text: str, source: str = "plugin output") -> InstructionCounts:
    """Parses the plugin's output; a marker error (a region ended without beginning, ...) is a
    BuildError, since its counts would be wrong."""
    total, regions, errors = None, {}, []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "total":
            total = int(rest)
        elif kind == "region":
            rid, n, entered = (int(x) for x in rest.split())
            regions[rid] = RegionCount(instructions=n, entered=entered)
        elif kind == "error":
            errors.append(rest)
    if errors:
        raise BuildError("the program's TFC_REGION markers do not pair up: " + "; ".join(errors),
                         file=source, hint="every TFC_REGION_BEGIN(id) needs one TFC_REGION_END(id)")
    if total is None:
        raise BuildError("the instruction-counting plugin wrote no total", file=source)
    return InstructionCounts(total=total, regions=regions)
