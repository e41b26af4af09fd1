"""Layout: move transposes out of the way so an NHWC graph has none left inside.

The importer wraps each NCHW op as `transpose(to NHWC) -> op -> transpose(to NCHW)`. These rules
remove the pairs that meet, and sink a transpose below ops that do not care about layout (the op
then works on the untransposed tensor, its axis attributes and constant operands permuted to
match), so transposes meet and cancel. A transpose that only moves size-1 axes is a reshape.

Perm convention (numpy): `y = transpose(x, p)` has y.shape[i] == x.shape[p[i]].
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tfc.ir.types import QuantParams
from tfc.passes.rewrite import insert_after, is_output


def inverse(perm) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def compose(inner, outer) -> list[int]:
    """The single perm equal to transposing by `inner`, then by `outer`."""
    return [inner[o] for o in outer]


def permute_quant(q: QuantParams | None, perm) -> QuantParams | None:
    """The params of `transpose(x, perm)` given those of x (a per-channel axis moves)."""
    if q is None or q.axis is None:
        return q
    return dataclasses.replace(q, axis=list(perm).index(q.axis))


def passes_values_through(node) -> bool:
    """True if a data-movement node's result holds exactly its input's values, moved.

    A float result rounds onto its grid only if it carries QuantParams other than those its input
    already holds; an integer result must keep its input's params to mean the same reals."""
    x, y = node.inputs[0], node.outputs[0]
    expected = permute_quant(x.quant, node.attrs["perm"]) if node.op == "transpose" else x.quant
    if y.dtype.is_float and y.quant is None:
        return True
    return y.quant == expected


def _is_transpose(value) -> bool:
    return value.producer is not None and value.producer.op == "transpose"


# --------------------------------------------------------------------------- pairs and reshapes
def compose_transposes(graph, ctx) -> int:
    """transpose(transpose(x, p1), p2) -> transpose(x, p1 then p2); an identity result is then
    removed by the identity rule. The inner transpose stays for its other readers, if any."""
    rewrites = 0
    for t2 in list(graph.nodes):
        if t2.op != "transpose" or not _is_transpose(t2.inputs[0]):
            continue
        t1 = t2.inputs[0].producer
        if not passes_values_through(t1):
            ctx.decline("compose-transposes", t2, f"{t1.output.ref} is re-quantized by the first transpose")
            continue
        t2.attrs = t2.spec.check_attrs({"perm": compose(t1.attrs["perm"], t2.attrs["perm"])})
        t2.set_input(0, t1.inputs[0])
        rewrites += 1
    return rewrites


def transposes_to_reshapes(graph, ctx) -> int:
    """A transpose that keeps the order of all axes longer than 1 moves no data: a reshape."""
    rewrites = 0
    for t in list(graph.nodes):
        if t.op != "transpose":
            continue
        x = t.inputs[0]
        order = [p for p in t.attrs["perm"] if x.shape[p] != 1]
        if order != sorted(order):
            continue
        t.op = "reshape"
        t.attrs = t.spec.check_attrs({"shape": list(t.output.shape)})
        rewrites += 1
    return rewrites


def merge_reshapes(graph, ctx) -> int:
    """reshape(reshape(x)) -> reshape(x)."""
    rewrites = 0
    for outer in list(graph.nodes):
        if outer.op != "reshape":
            continue
        inner = outer.inputs[0].producer
        if inner is None or inner.op != "reshape" or not passes_values_through(inner):
            continue
        outer.set_input(0, inner.inputs[0])
        rewrites += 1
    return rewrites


def round_before_moving(graph, ctx) -> int:
    """`y = transpose(x) q(P)` with x an unrounded float: round x instead (`x q(P')`).

    Rounding commutes with moving data (a per-channel axis moves with it), and afterwards the
    transpose passes values through, so it may cancel or sink."""
    rewrites = 0
    for node in graph.nodes:
        if not (node.spec.moves_data and node.spec.grid_transparent) or passes_values_through(node):
            continue
        x, y = node.inputs[0], node.output
        if not x.dtype.is_float or x.quant is not None or x.is_constant:
            continue    # a graph input rounds too: the API quantizes it (an NHWC input after its transpose)
        if len(x.uses) != 1 or is_output(graph, x):
            continue
        if node.op == "transpose":
            x.quant = permute_quant(y.quant, inverse(node.attrs["perm"]))
        elif y.quant.axis is None:
            x.quant = y.quant
        else:
            continue
        rewrites += 1
    return rewrites


# ------------------------------------------------------------------------------------- sinking
def _sink_blocker(graph, node, single_reader: bool = True):
    """(perm, None) if `node` can work on its inputs' untransposed tensors, else (None, reason)."""
    if not node.spec.layout_agnostic:
        return None, f"{node.op} depends on the layout"
    perms = []
    for v in _operands(node):
        if v.is_constant:
            continue
        if not _is_transpose(v):
            return None, f"input {v.ref} is not transposed (mixed layouts)"
        t = v.producer
        perms.append(list(t.attrs["perm"]))
        if not passes_values_through(t):
            return None, f"{v.ref} is re-quantized by its transpose"
        if single_reader and (len(v.uses) != 1 or is_output(graph, v)):
            return None, f"{v.ref} has other readers"
    if not perms:
        return None, "no transposed input"
    if any(p != perms[0] for p in perms):
        return None, f"inputs are transposed differently ({perms})"
    perm = perms[0]
    for v in _operands(node):
        if v.is_constant and v.type.rank > len(perm):
            return None, f"constant {v.ref} has a higher rank than the transposed input"
    if node.op == "reduce_mean" and not node.attrs["keepdims"] and any(
            out.quant is not None and out.quant.axis is not None for out in node.outputs):
        return None, "its result drops axes and is quantized per channel"
    return perm, None


def _operands(node):
    """The inputs laid out like the result (the op's `layout_operands`)."""
    count = node.spec.layout_operands
    return node.inputs if count is None else node.inputs[:count]


def _permute_constant(graph, c, perm, rank):
    """The constant c' with transpose(c', perm) == c broadcast to `rank` (c read in y layout)."""
    if c.data.size == 1:
        return c
    lead = rank - c.type.rank
    data = c.data.reshape((1,) * lead + c.shape)
    inv = inverse(perm)
    q = c.quant
    if q is not None and q.axis is not None:
        q = dataclasses.replace(q, axis=q.axis + lead)
        q = permute_quant(q, inv)
    return graph.add_constant(c.name + ".t", np.ascontiguousarray(data.transpose(inv)), quant=q)


def _output_perm(node, perm) -> list[int]:
    """The transpose that turns the rewritten node's result into the original one."""
    if node.op == "reduce_mean" and not node.attrs["keepdims"]:
        rank = len(perm)
        reduced = set(node.attrs["axes"])   # already remapped to the x layout
        kept_x = [d for d in range(rank) if d not in reduced]
        kept_y = [p for p in perm if p not in reduced]
        return [kept_x.index(p) for p in kept_y]
    return list(perm)


def sink_transposes(graph, ctx) -> int:
    """op(transpose(x, p), const) -> transpose(op'(x, const'), p) for layout-agnostic ops."""
    rewrites = 0
    for node in list(graph.nodes):
        if node not in graph.nodes or not node.spec.layout_agnostic:
            continue
        if not any(_is_transpose(v) for v in _operands(node)):
            continue
        perm, reason = _sink_blocker(graph, node)
        if perm is None:
            ctx.decline("sink-transpose", node, reason)
            continue
        rank = len(perm)
        old_quants = [out.quant for out in node.outputs]
        for i, v in enumerate(list(_operands(node))):
            node.set_input(i, v.producer.inputs[0] if not v.is_constant
                           else _permute_constant(graph, v, perm, rank))
        node.attrs = node.spec.check_attrs(node.spec.permute_attrs(node.attrs, perm), node.name)
        out_perm = _output_perm(node, perm)
        for out, t in zip(node.outputs, node.spec.infer(node)):
            out.type = t
        for out, q in zip(node.outputs, old_quants):
            out.quant = permute_quant(q, inverse(out_perm))
            if out_perm != list(range(len(out_perm))):
                t = insert_after(graph, out, "transpose", {"perm": out_perm}, name=f"{node.name}.t")
                t.output.quant = q
        rewrites += 1
    return rewrites


def split_shared_transposes(graph, ctx) -> int:
    """A transpose read by several nodes that could each sink it gets one copy per reader."""
    rewrites = 0
    for t in list(graph.nodes):
        if t.op != "transpose" or len(t.output.uses) < 2 or is_output(graph, t.output):
            continue
        readers = t.output.users
        if len(readers) != len(t.output.uses):
            continue  # one reader reads it twice (x + x): it sinks as it is
        if not all(r.op == "transpose" or _sink_blocker(graph, r, single_reader=False)[0] is not None
                   for r in readers):
            continue
        for reader, index in list(t.output.uses)[1:]:
            copy = graph.add_node("transpose", [t.inputs[0]], dict(t.attrs), name=t.name, after=t)
            copy.output.quant = t.output.quant
            reader.set_input(index, copy.output)
        rewrites += 1
    return rewrites
