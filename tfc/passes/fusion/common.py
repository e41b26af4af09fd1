"""Small queries the composite-op rules share: scalar constants, sole readers, dead nodes."""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Graph, Node, Value
from tfc.ir.ops.quant import dequantize_array
from tfc.passes.rewrite import is_output


def scalar(value: Value) -> float | None:
    """The real value of a constant holding one number (any shape of size 1), else None."""
    if value.data is None or value.data.size != 1:
        return None
    data = value.data
    if value.quant is not None and not value.dtype.is_float:
        data = dequantize_array(data, value.quant)
    return float(np.asarray(data, dtype=np.float64).reshape(()))


def sole_reader(graph: Graph, value: Value) -> Node | None:
    """The one node reading `value`, if it has exactly one reader (once) and is no graph output."""
    if len(value.uses) != 1 or is_output(graph, value):
        return None
    return value.uses[0][0]


def storage_root(value: Value) -> Value:
    """The value whose bytes `value` is (through reshapes, which never copy)."""
    while value.producer is not None and value.producer.op == "reshape":
        value = value.producer.inputs[0]
    return value


def other_input(node: Node, value: Value) -> Value:
    """The binary node's operand that is not `value`."""
    return node.inputs[1] if node.inputs[0] is value else node.inputs[0]


def scalar_operand(node: Node) -> tuple[Value, float] | None:
    """(activation, c) for a binary node with one scalar-constant operand."""
    a, b = node.inputs
    if scalar(b) is not None and a.data is None:
        return a, scalar(b)
    if scalar(a) is not None and b.data is None:
        return b, scalar(a)
    return None


def remove_dead(graph: Graph, nodes) -> None:
    """Remove the given nodes once nothing reads their results (latest first)."""
    pending = list(nodes)
    changed = True
    while changed:
        changed = False
        for node in list(pending):
            if all(not v.uses and not is_output(graph, v) for v in node.outputs):
                graph.remove_node(node)
                pending.remove(node)
                changed = True


def take_over(graph: Graph, old: Value, new: Value) -> None:
    """Readers of `old` read `new`; `new` takes old's name (and graph-output slot)."""
    name = old.name
    graph.replace_all_uses(old, new)
    graph.outputs = [new if v is old else v for v in graph.outputs]
    if old.producer is not None:
        graph.rename_value(old, graph.fresh_name(name + "_dead"))
    graph.rename_value(new, name)


def split_back(graph: Graph, fused: Node, first: Node, last: Node, absorbed: str) -> None:
    """A fused node's replacement, first ... last, takes its place: last's result (on the fused
    node's grid) is read instead, first takes the fused node's name and last the absorbed node's."""
    last.output.quant = fused.output.quant
    take_over(graph, fused.output, last.output)
    name = fused.name
    graph.remove_node(fused)
    graph.rename_node(first, name)
    graph.rename_node(last, absorbed)
