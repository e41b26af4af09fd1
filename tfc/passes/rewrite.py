"""Graph-editing helpers shared by passes: the few edits the Graph API leaves to its callers.

They keep graph output names stable: when a value that is a graph output gets replaced, the
replacement takes over its name, so a model's outputs keep the names the user knows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfc.ir.graph import Graph, Node, Value


def is_output(graph: Graph, value: Value) -> bool:
    return any(v is value for v in graph.outputs)


def replace_value(graph: Graph, old: Value, new: Value) -> None:
    """All readers of `old` read `new`; if `old` was a graph output and `new` is a node result that
    is not an output yet, `new` takes over old's name once `old` is gone (see `drop_node`)."""
    graph.replace_all_uses(old, new)


def drop_node(graph: Graph, node: Node, renames: dict[Value, str] | None = None) -> None:
    """Remove `node` (nobody reads it), then give each value in `renames` its new name."""
    graph.remove_node(node)
    for value, name in (renames or {}).items():
        if value.name != name:
            graph.rename_value(value, name)


def bypass(graph: Graph, node: Node, replacement: Value | None = None) -> None:
    """Remove a single-output node; its readers read `replacement` (default: input 0).
    A graph output keeps its name when the replacement is an ordinary node result."""
    out = node.output
    replacement = replacement if replacement is not None else node.inputs[0]
    keep_name = is_output(graph, out) and _renamable(graph, replacement)
    graph.replace_all_uses(out, replacement)
    drop_node(graph, node, {replacement: out.name} if keep_name else None)


def _renamable(graph: Graph, value: Value) -> bool:
    return (value.producer is not None and not is_output(graph, value)
            and not any(v is value for v in graph.inputs))


def replace_with_constant(graph: Graph, node: Node, arrays: list[np.ndarray]) -> list[Value]:
    """Replace `node` by constants holding its results (same names, same QuantParams)."""
    consts = []
    for out, array in zip(node.outputs, arrays):
        const = graph.add_constant(out.name + "_folded", array, quant=out.quant)
        graph.replace_all_uses(out, const)
        consts.append((out.name, const))
    graph.remove_node(node)
    for name, const in consts:
        graph.rename_value(const, name)
    return [c for _, c in consts]


def insert_after(graph: Graph, value: Value, op: str, attrs: dict[str, Any], *,
                 name: str | None = None) -> Node:
    """Put `op(value)` between `value` and all its current readers (graph outputs included).
    If `value` was a graph output, the new result takes its name."""
    readers = list(value.uses)
    was_output = is_output(graph, value)
    after = value.producer
    kw = {"after": after} if after is not None else {"before": graph.nodes[0]} if graph.nodes else {}
    node = graph.add_node(op, [value], attrs, name=name, **kw)
    for reader, index in readers:
        reader.set_input(index, node.output)
    if was_output:
        graph.outputs = [node.output if v is value else v for v in graph.outputs]
        old = value.name
        graph.rename_value(value, old + "_pre")
        graph.rename_value(node.output, old)
    return node


def constant_users_only(value: Value, node: Node) -> bool:
    """True if `node` is the only node reading `value`."""
    return all(user is node for user, _ in value.uses)
