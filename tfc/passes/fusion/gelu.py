"""GELU from its exported decomposition, x * 0.5 * (1 + erf(x / sqrt(2))), back into one op.

PyTorch's exporters write it as Div(x, sqrt 2) -> Erf -> Add 1 -> then the two products in
either order: Mul(x, Mul(0.5, .)) (dynamo), Mul(Mul(x, .), 0.5) (TorchScript), or
Mul(Mul(x, 0.5), .). One `gelu` node then becomes one int8 lookup table. Runs before
quantization. On a QDQ graph, whose intermediate results carry their own grids, the chain becomes
a `lut` node instead: the decomposition's own table with those roundings
(tfc.passes.fusion.qdq_table), which matches onnxruntime; a float graph gets the exact `gelu`.
"""
from __future__ import annotations

import math

from tfc.passes.fusion import qdq_table
from tfc.passes.fusion.common import other_input, remove_dead, scalar, scalar_operand, sole_reader, take_over

RULE = "fuse-gelu"


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-4)


def _erf_argument(node):
    """x for erf(x / sqrt 2) or erf(x * (1 / sqrt 2)), else None."""
    p = node.inputs[0].producer
    if p is None or p.op not in ("div", "mul"):
        return None
    if p.op == "div":
        return p.inputs[0] if _close(scalar(p.inputs[1]), math.sqrt(2)) and p.inputs[0].data is None else None
    found = scalar_operand(p)
    return found[0] if found and _close(found[1], 1 / math.sqrt(2)) else None


def _products(graph, one_plus, x):
    """The value computing x * 0.5 * one_plus and the nodes on the way, else (None, reason)."""
    u1 = sole_reader(graph, one_plus)
    if u1 is None or u1.op != "mul":
        return None, "1 + erf(.) is not read by one Mul"
    other = other_input(u1, one_plus)
    if other is x:                                   # (x * (1 + erf)) * 0.5
        u2 = sole_reader(graph, u1.output)
        if u2 is not None and u2.op == "mul" and _close(scalar(other_input(u2, u1.output)), 0.5):
            return (u2.output, [u2, u1]), ""
        return None, "x * (1 + erf) is not scaled by 0.5"
    if _close(scalar(other), 0.5):                  # x * (0.5 * (1 + erf))
        u2 = sole_reader(graph, u1.output)
        if u2 is not None and u2.op == "mul" and other_input(u2, u1.output) is x:
            return (u2.output, [u2, u1]), ""
        return None, "0.5 * (1 + erf) is not multiplied by x"
    half = other.producer                            # (x * 0.5) * (1 + erf)
    if half is not None and half.op == "mul" and sole_reader(graph, other) is u1 \
            and scalar_operand(half) == (x, 0.5):
        return (u1.output, [u1, half]), ""
    return None, "the products with x and 0.5 do not match GELU's"


def fuse_gelu(graph, ctx) -> int:
    fired = 0
    for erf in list(graph.nodes_of("erf")):
        x = _erf_argument(erf)
        if x is None:
            ctx.decline(RULE, erf, "its input is not x / sqrt(2) of one activation")
            continue
        add = sole_reader(graph, erf.output)
        if add is None or add.op != "add" or not _close(scalar(other_input(add, erf.output)), 1.0):
            ctx.decline(RULE, erf, "erf(.) is not read by exactly one Add of 1")
            continue
        found, reason = _products(graph, add.output, x)
        if found is None:
            ctx.decline(RULE, erf, reason)
            continue
        out, tail = found
        if x.quant is not None and out.quant is None:
            ctx.decline(RULE, erf, "the input is quantized but the result is not")
            continue
        chain = [n for n in graph.nodes if n in set(tail + [add, erf, erf.inputs[0].producer])]
        op, attrs = "gelu", {"approximate": "none"}
        if x.quant is not None and qdq_table.carries_qdq_rounding(chain, out):
            op, attrs = "lut", {"table": list(qdq_table.chain_table(x, chain, out))}
        node_name = out.producer.name
        gelu = graph.add_node(op, [x], attrs, name=out.producer.name, after=out.producer)
        gelu.output.quant = out.quant
        take_over(graph, out, gelu.output)
        remove_dead(graph, tail + [add, erf, erf.inputs[0].producer])
        graph.rename_node(gelu, node_name)
        fired += 1
    return fired
