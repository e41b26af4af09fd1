"""A projection read only through slices of its output features becomes one projection per slice.

Attention written with one qkv Linear and `chunk(3)` (most model code) exports as
`matmul(x, W) [+ b]` followed by static slices of the last axis; each slice becomes
`matmul(x, W[:, a:b]) [+ b[a:b]]`, the graph that separate q, k and v Linears export. The
quantizer then calibrates q, k and v on their own grids (one shared grid spends v's range on q),
and no slice runs at all. Exact: every output element is the same dot product.
"""
from __future__ import annotations

from tfc.ir.graph import Graph, Node, Value
from tfc.passes.rewrite import bypass, is_output


def _float_constant(v: Value, rank: int) -> bool:
    return v.is_constant and v.quant is None and v.data.dtype.kind == "f" and v.data.ndim == rank


def _feature_slice(node: Node, width: int) -> tuple[int, int] | None:
    """(start, end) of a step-1 slice of the last axis only, or None."""
    if node.op != "slice" or len(node.attrs["axes"]) != 1 or node.attrs["steps"] != [1]:
        return None
    rank = len(node.inputs[0].shape)
    if node.attrs["axes"][0] % rank != rank - 1:
        return None
    start, stop, _ = slice(node.attrs["starts"][0], node.attrs["ends"][0]).indices(width)
    return (start, stop) if stop > start else None


def _projection(graph: Graph, matmul: Node) -> tuple[Value, Node | None, Value | None] | None:
    """(result, bias add or None, bias [N] or None) when `matmul` is x @ W with a constant float
    W, followed by `+ b` with a constant float b where that add is its only reader."""
    w, y = matmul.inputs[1], matmul.outputs[0]
    if not _float_constant(w, 2) or matmul.inputs[0].quant is not None or is_output(graph, y):
        return None
    users = [n for n, _ in y.uses]
    if len(users) == 1 and users[0].op == "add":
        add = users[0]
        bias = next((v for v in add.inputs if v is not y), None)
        if bias is not None and _float_constant(bias, 1) and bias.shape == (w.shape[1],):
            return add.outputs[0], add, bias
    return y, None, None


def split_sliced_projections(graph: Graph, ctx) -> int:
    split = 0
    for matmul in graph.nodes_of("matmul"):
        found = _projection(graph, matmul)
        if found is None:
            continue
        y, add, bias = found
        w = matmul.inputs[1]
        readers = [r for r, _ in y.uses]
        parts = [_feature_slice(r, w.shape[1]) for r in readers]
        if not readers or is_output(graph, y) or any(p is None for p in parts):
            continue
        ordered = sorted(parts)
        if any(a[1] > b[0] for a, b in zip(ordered, ordered[1:])):
            ctx.decline("split-sliced-projection", matmul, "the slices of its output overlap")
            continue
        for reader, (a, b) in zip(readers, parts):
            w_part = graph.add_constant(f"{w.name}_{a}_{b}", w.data[:, a:b])
            part = graph.add_node("matmul", [matmul.inputs[0], w_part], name=f"{matmul.name}_{a}_{b}", before=reader)
            if add is not None:
                b_part = graph.add_constant(f"{bias.name}_{a}_{b}", bias.data[a:b])
                part = graph.add_node("add", [part.output, b_part], dict(add.attrs), name=f"{add.name}_{a}_{b}",
                                      before=reader)
            name = reader.output.name
            bypass(graph, reader, part.output)
            if part.output.name != name:            # the part keeps the slice's name (q, k, v)
                graph.rename_value(part.output, name)
        if add is not None:
            graph.remove_node(add)
        graph.remove_node(matmul)
        split += 1
    return split
