"""Kernel.sources: the runtime C files a kernel names are enough to link its C function, on every
path the preprocessor can take (plain C and the DSP one), so a project that compiles only its
layers' sources never misses a symbol; and the C backend copies and builds only those."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.backends.cmsis.synthetic import int8_graph
from tfc.backends.cmsis import write_project
from tfc.backends.cmsis.emit import RUNTIME
from tfc.kernels import get_kernel, registered_kernels

SOURCES = sorted(p.name for p in (RUNTIME / "src").glob("*.c"))


@pytest.fixture(scope="module", params=["portable", "dsp"])
def symbols(request, tmp_path_factory) -> dict[str, tuple[set[str], set[str]]]:
    """Per runtime source: (the global symbols it defines, those it references). -O0 keeps every
    call the source makes, dead or not."""
    out = tmp_path_factory.mktemp(f"objs_{request.param}")
    defines = ["-DTFC_EMULATE_DSP"] if request.param == "dsp" else []
    subprocess.run(["gcc", "-O0", "-std=c99", *defines, f"-I{RUNTIME / 'include'}", "-c",
                    *(str(RUNTIME / "src" / s) for s in SOURCES)], cwd=out, check=True)
    table = {}
    for s in SOURCES:
        obj = out / Path(s).with_suffix(".o").name
        defined = subprocess.run(["nm", "-g", "--defined-only", str(obj)], capture_output=True, text=True,
                                 check=True).stdout.split()[2::3]
        undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()[1::2]
        table[s] = (set(defined), set(undefined))
    return table


def _functions(kernel) -> set[str]:
    """The C functions the kernel's layers may call: its function and those its costs model."""
    return {f for f in (kernel.function, *(c.split("/")[0] for c in kernel.costs)) if f}


@pytest.mark.parametrize("kernel", registered_kernels(), ids=lambda k: k.name)
def test_a_kernels_sources_define_its_functions_and_all_they_call(kernel, symbols):
    assert set(kernel.sources) <= set(SOURCES), f"{kernel.name} names sources runtime/src lacks"
    assert bool(kernel.sources) == bool(kernel.function), f"{kernel.name}: sources without C, or C without sources"
    defined = set().union(*(symbols[s][0] for s in kernel.sources))
    missing = _functions(kernel) - defined
    assert not missing, f"{kernel.name}: {sorted(missing)} not defined by {kernel.sources}"
    runtime_symbols = set().union(*(d for d, _ in symbols.values()))
    # What its sources call that another runtime file defines (the C library is not ours to list).
    needed = set().union(*(symbols[s][1] for s in kernel.sources)) & runtime_symbols
    homes = {sym: sorted(s for s, (d, _) in symbols.items() if sym in d) for sym in needed - defined}
    assert not homes, f"{kernel.name}: its sources call {homes} (symbol: defined in), add those to its sources"


def test_the_project_copies_and_builds_only_its_kernels_sources(tmp_path):
    info = write_project(int8_graph(), tmp_path / "p", target="cortex-m7", name="syn")
    wanted = {s for layer in info.layers for s in get_kernel(layer.kernel).sources}
    copied = {Path(f).name for f in info.files if f.startswith("runtime/src/")}
    assert copied == wanted and wanted < set(SOURCES)
    makefile = (info.path / "Makefile").read_text()
    cmake = (info.path / "CMakeLists.txt").read_text()
    for s in SOURCES:
        assert (f"runtime/src/{s}" in makefile) == (s in wanted), f"Makefile and {s}"
        assert (f"runtime/src/{s}" in cmake) == (s in wanted), f"CMakeLists.txt and {s}"
