"""A producer stores its result as the int16 cells its sparse readers multiply (tfc/sparse/cells.py),
so they skip their widening pass.

Fires where the producer's op has the cells attribute (CELLS_ATTR) and its kernel writes cells
(Kernel.writes_cells: LayerNorm; a sparse conv/linear layer's generated code, its table epilogue
included), its output is no graph output, and every reader is a sparse conv/linear layer that
reads the cells as its image (Kernel.reads_cells) with one block size: q, k and v reading one
LayerNorm share its cells, so nothing is widened three times. Only where the planned arena does
not grow: the cells take twice the int8 bytes, the readers' widened images go.
`unfold_cells` undoes it (a graph whose weights are made dense again).
"""
from __future__ import annotations

from tfc.errors import UnsupportedError
from tfc.ir.graph import Graph, Node
from tfc.ir.types import DType
from tfc.kernels.base import select
from tfc.kernels.lowering import plan_arena
from tfc.passes.rewrite import is_output
from tfc.sparse.cells import CELLS_ATTR

RULE = "fuse-sparse-cells"


def fuse_sparse_cells(graph: Graph, ctx) -> int:
    fired = 0
    for node in list(graph.nodes):
        if CELLS_ATTR not in node.spec.attrs or node.attrs[CELLS_ATTR] or node.output.dtype != DType.I8:
            continue
        block, why = _readers_block(graph, node)
        if block and not _kernel(node).writes_cells:   # e.g. a sparse depthwise conv
            block, why = 0, f"its kernel {_kernel(node).name} does not write cells"
        if block:
            target = ctx.target or "cortex-m7"
            before = plan_arena(graph, target=target).arena_bytes
            readers = {id(r): select(r).name for r, _ in node.output.uses}
            _store_as_cells(node, block)
            why = _kernels_decline(node, readers)
            if why is None:
                after = plan_arena(graph, target=target).arena_bytes
                if after > before:
                    why = f"its cells ({node.output.type.nbytes:,} B) would grow the arena from {before:,} to {after:,} B"
            if why is None:
                fired += 1
                continue
            _store_as_cells(node, 0)
        if why:
            ctx.decline(RULE, node, why)
    return fired


def _readers_block(graph: Graph, node: Node) -> tuple[int, str | None]:
    """(the readers' block, None), or (0, why not; None where the question does not arise)."""
    x = node.output
    if not x.uses:
        return 0, None
    if not any(len(r.inputs) > 1 and r.inputs[1].sparse is not None for r, _ in x.uses):
        return 0, None   # no sparse reader: the question does not arise
    if is_output(graph, x):
        return 0, f"{x.ref} is a graph output (read as int8)"
    blocks = set()
    for reader, index in x.uses:
        w = reader.inputs[1] if len(reader.inputs) > 1 else None
        kernel = _kernel(reader)
        if index != 0 or w is None or w.sparse is None or kernel is None or not kernel.reads_cells:
            return 0, f"{reader.name} ({reader.op}) reads {x.ref} as int8 (only sparse layers read cells)"
        blocks.add(w.sparse.block)
    if len(blocks) != 1:
        return 0, f"its sparse readers have blocks {sorted(blocks)}: one cell layout serves one block"
    return blocks.pop(), None


def _kernel(node: Node):
    try:
        return select(node)
    except UnsupportedError:
        return None


def _kernels_decline(node: Node, readers: dict[int, str]) -> str | None:
    """Why the kernels cannot write or read the cells (with the reason the kernel gave)."""
    try:
        if not select(node).writes_cells:
            return f"no {node.op} kernel writes cells"
        for reader, _ in node.output.uses:
            if select(reader).name != readers[id(reader)]:
                return f"{reader.name} would change kernels"
    except UnsupportedError as e:
        return str(e)
    return None


def _store_as_cells(node: Node, block: int) -> None:
    node.attrs[CELLS_ATTR] = block
    node.output.type = node.output.type.with_dtype(DType.I16 if block else DType.I8)


def unfold_cells(graph: Graph) -> int:
    """Every output stored as cells back to plain int8; returns how many changed."""
    changed = 0
    for node in graph.nodes:
        if node.attrs.get(CELLS_ATTR, 0):
            _store_as_cells(node, 0)
            changed += 1
    return changed
