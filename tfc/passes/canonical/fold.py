"""Constant folding: a node whose inputs are all constants becomes constants, computed with the
interpreter's own per-node evaluation (so the folded bytes are exactly what `run` computes).

Never folded: `dequantize` of an integer constant (weights stay int8 with their QuantParams; the
Q/DQ rule lets readers read the integer constant directly), and folds that would store much more
than they read (an `expand` of a small constant would grow the flash image).
"""
from __future__ import annotations

from tfc.interp import eval_node
from tfc.passes.rewrite import replace_with_constant

GROWTH_LIMIT = 4          # folded bytes may exceed input bytes by this factor ...
GROWTH_ALLOWED = 1 << 12  # ... once they exceed this many bytes


def fold_constants(graph, ctx) -> int:
    folded = 0
    for node in list(graph.nodes):
        if not node.inputs or not all(v.is_constant for v in node.inputs):
            continue
        if node.op == "dequantize" and not node.inputs[0].dtype.is_float:
            continue
        in_bytes = sum(v.data.nbytes for v in node.inputs)
        out_bytes = sum(v.type.nbytes for v in node.outputs)
        if out_bytes > GROWTH_ALLOWED and out_bytes > GROWTH_LIMIT * in_bytes:
            ctx.decline("fold-constants", node,
                        f"the result ({out_bytes} bytes) is over {GROWTH_LIMIT}x its inputs ({in_bytes} bytes)")
            continue
        results = eval_node(node, [v.data for v in node.inputs])
        replace_with_constant(graph, node, results)
        folded += 1
    return folded
