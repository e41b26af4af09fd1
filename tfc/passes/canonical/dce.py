"""Dead-code removal: nodes whose results nobody reads, then constants nobody reads."""
from __future__ import annotations

from tfc.passes.rewrite import is_output


def remove_dead_nodes(graph, ctx) -> int:
    removed = 0
    for node in reversed(list(graph.nodes)):
        if all(not out.uses and not is_output(graph, out) for out in node.outputs):
            graph.remove_node(node)
            removed += 1
    return removed


def remove_dead_constants(graph, ctx) -> int:
    return graph.remove_unused_constants()
