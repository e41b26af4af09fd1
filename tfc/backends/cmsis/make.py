"""Running a generated project's Makefile so that only what tfc passes decides the build, and the
build cache key covering every input of that build.

The Makefile's settings are `?=` defaults (`CMSIS_NN_ROOT ?=`, `CFLAGS ?= ...`) and `+=`
(`CPPFLAGS`), so a variable exported in the user's shell would silently change what is built:
`CMSIS_NN_ROOT` there once made the "tfc" build link Arm's CMSIS-NN and cached that ELF under the
tfc key. `run_make` therefore drops those variables (and make's own MAKEFLAGS) from the
environment and always names CMSIS_NN_ROOT on the command line; `build_key` hashes the project's
files, the variables, the compilers' identity and, when CMSIS-NN is linked, its sources.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Every variable the generated Makefile (templates/Makefile.j2) reads, and make's own.
MAKEFILE_VARIABLES = ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "BUILD", "CMSIS_NN_ROOT", "EMULATE_DSP", "TARGET",
                      "PROFILE", "ARM_CC", "ARM_CFLAGS", "MAKEFLAGS", "MFLAGS", "MAKEFILES", "GNUMAKEFLAGS",
                      "MAKELEVEL")


def make_environment() -> dict[str, str]:
    """os.environ without the variables a generated Makefile would read."""
    return {k: v for k, v in os.environ.items() if k not in MAKEFILE_VARIABLES}


def make_variables(variables: Mapping[str, str], cmsis_nn_root: str | None) -> dict[str, str]:
    """The command-line variables of one build: CMSIS_NN_ROOT always set (empty: tfc's kernels)."""
    return {**variables, "CMSIS_NN_ROOT": cmsis_nn_root or ""}


def run_make(project: Path, build_dir: Path, variables: Mapping[str, str], *, jobs: int = 1):
    """make -C project with BUILD=build_dir and `variables` (from make_variables), nothing from
    the environment; the CompletedProcess."""
    cmd = ["make", "-s", f"-j{jobs}", "-C", str(project), f"BUILD={build_dir}",
           *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(cmd, capture_output=True, text=True, env=make_environment())


def build_key(project: Path, variables: Mapping[str, str], compilers: Sequence[str]) -> str:
    """A digest of everything the build reads: the project's files, the variables, each compiler's
    path and version, and the CMSIS-NN sources when CMSIS_NN_ROOT is set."""
    h = hashlib.sha256()
    _hash_tree(h, project, skip="build/")
    for k, v in sorted(variables.items()):
        h.update(f"{k}={v}\0".encode())
    for cc in compilers:
        h.update(_compiler_identity(cc).encode() + b"\0")
    root = variables.get("CMSIS_NN_ROOT")
    if root:
        for sub in ("Include", "Source"):
            _hash_tree(h, Path(root) / sub, prefix=sub + "/")
    return h.hexdigest()[:20]


def _hash_tree(h, root: Path, *, skip: str | None = None, prefix: str = "") -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = prefix + path.relative_to(root).as_posix()
        if skip and rel.startswith(skip):
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")


@functools.lru_cache(maxsize=None)
def _compiler_identity(cc: str) -> str:
    """The compiler's resolved path and `--version` (a different gcc is a different build)."""
    path = shutil.which(cc)
    if path is None:
        return f"{cc}: not found"
    res = subprocess.run([path, "--version"], capture_output=True, text=True)
    return f"{os.path.realpath(path)}\n{res.stdout}"
