"""A model whose brle layers use one block size links only that block size's runtime loops
(tfc_sparse_brle_rows{4,1}_b<B>): the weights name their pair, nothing in the common kernel code
picks among all of them, and --gc-sections drops the rest (tfc/sparse/flash_budget.py charges per
block size on that promise)."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

import tfc
from tfc.backends.cmsis import TargetRunner, write_project
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType

from tests.targets.cortex_m.conftest import toolchain  # noqa: F401

BLOCKS = (1, 2, 4, 8, 16)
LOOP = re.compile(r"^tfc_sparse_brle_rows([14])_b(\d+)$")


def _graph(seed=0) -> Graph:
    """conv 3x3 (pad, relu) -> conv 1x1 -> linear over 16 tokens."""
    rng = np.random.default_rng(seed)
    g = Graph("brle_link")
    x = g.add_input("x", TensorType((1, 4, 4, 16), DType.F32))

    def const(name, shape):
        return g.add_constant(name, (rng.standard_normal(shape) * 0.3).astype(np.float32))

    h = g.add_node("conv2d", [x, const("w1", (16, 3, 3, 16)), const("b1", (16,))], {"pad": [1, 1, 1, 1]}).output
    h = g.add_node("relu", [h]).output
    h = g.add_node("conv2d", [h, const("w2", (32, 1, 1, 16)), const("b2", (32,))]).output
    h = g.add_node("reshape", [h], {"shape": [16, 32]}).output
    g.outputs.append(g.add_node("linear", [h, const("w3", (8, 32)), const("b3", (8,))]).output)
    return g


def _loops_linked(elf) -> dict[tuple[int, int], int]:
    """{(pixels, block): bytes} of the brle loop functions in the ELF's symbol table."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        m = LOOP.match(parts[-1]) if len(parts) == 4 else None
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = int(parts[1], 16)
    return found


@pytest.mark.skipif(shutil.which("arm-none-eabi-nm") is None, reason="needs arm-none-eabi-nm")
@pytest.mark.parametrize("block", [4, 8])
def test_model_links_only_its_block_loops(toolchain, tmp_path, block):  # noqa: F811
    cal = np.random.default_rng(1).standard_normal((4, 1, 4, 4, 16)).astype(np.float32)
    pipeline = "canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,fuse,plan-memory"
    cm = tfc.compile(_graph(), "cortex-m7", calibration=cal, sparsity={"density": 0.3, "block": block},
                     pipeline=pipeline)
    ir = cm.ir.copy()
    sparse = [v for v in ir.constants.values() if v.sparse is not None]
    for v in sparse:
        v.sparse = replace(v.sparse, encoding="brle")
    assert len(sparse) == 3 and {v.sparse.block for v in sparse} == {block}, \
        [(v.name, v.sparse and v.sparse.block) for v in ir.constants.values()]
    info = write_project(ir, tmp_path / "project", target="cortex-m7", name="m")
    assert sum(r.storage.startswith(f"sparse b{block} ") for r in info.layers) == 3, info.table()
    elf = TargetRunner(info, cache_dir=tmp_path / "cache").elf.path
    linked = _loops_linked(elf)
    assert set(linked) == {(4, block), (1, block)}, \
        f"block-{block} model links brle loops {sorted(linked)} (pixels, block); want only block {block}'s pair"
