"""Which ONNX ops an export contains, and which of them compute on activations.

Exporters (the legacy one especially) compute shapes in the graph: Shape -> Slice -> Concat ->
Reshape. With static input shapes all of that folds to constants at import time, so ops that only
ever see constants or shapes ("static") matter less to the importer than ops on the data path.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import onnx

from tfc.frontend.onnx.registry import supported_ops

# The ops tfc's importer converts, from the importer itself (a copy here went stale).
IMPORTER_OPS = frozenset(supported_ops())


@dataclass(frozen=True)
class OpCensus:
    histogram: Counter            # op type -> count, every node
    data_path: Counter            # op type -> count, nodes that read activations
    static_nodes: tuple[str, ...]  # names of nodes that fold to constants given static shapes
    outside: dict                 # op type -> [(node name, "data path" | "static")], not in IMPORTER_OPS
    domains: tuple[str, ...]      # opset domains other than the default one
    functions: tuple[str, ...]    # local functions (the importer does not inline them)

    def format(self) -> str:
        def line(counter: Counter) -> str:
            return ", ".join(f"{op}:{n}" for op, n in sorted(counter.items()))
        text = [f"all ops ({sum(self.histogram.values())} nodes): {line(self.histogram)}",
                f"data-path ops ({sum(self.data_path.values())} nodes): {line(self.data_path)}"]
        for op, where in sorted(self.outside.items()):
            text.append(f"outside importer list: {op} x{len(where)}: " +
                        "; ".join(f"{name} ({kind})" for name, kind in where))
        return "\n".join(text)


def node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"#{index}:{node.op_type}"


def census(model: onnx.ModelProto) -> OpCensus:
    graph = model.graph
    static = {init.name for init in graph.initializer} | {""}  # "" = an omitted optional input
    static_nodes = []
    for i, node in enumerate(graph.node):
        # Shape of anything is static here: every export has a fixed input shape.
        if node.op_type in ("Constant", "Shape") or all(name in static for name in node.input):
            static.update(node.output)
            static_nodes.append(node_label(node, i))
    static_set = set(static_nodes)
    histogram = Counter(node.op_type for node in graph.node)
    data_path = Counter(node.op_type for i, node in enumerate(graph.node)
                        if node_label(node, i) not in static_set)
    outside: dict[str, list] = {}
    for i, node in enumerate(graph.node):
        if node.op_type not in IMPORTER_OPS or node.domain not in ("", "ai.onnx"):
            label = node_label(node, i)
            kind = "static" if label in static_set else "data path"
            outside.setdefault(node.op_type, []).append((label, kind))
    domains = tuple(sorted(o.domain for o in model.opset_import if o.domain not in ("", "ai.onnx")))
    functions = tuple(f"{f.domain}::{f.name}" for f in model.functions)
    return OpCensus(histogram, data_path, tuple(static_nodes), outside, domains, functions)
