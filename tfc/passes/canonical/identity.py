"""Ops that do nothing: reshape to the same shape, transpose by the identity permutation, cast to
the same type, pad by zero, expand to the same shape. They are bypassed, except where the result
is quantized differently from the input (then the op still rounds values)."""
from __future__ import annotations

from tfc.passes.rewrite import bypass


def _is_identity(node) -> bool:
    x, y = node.inputs[0], node.outputs[0]
    if node.op == "reshape" or node.op == "expand":
        return x.shape == y.shape
    if node.op == "transpose":
        return list(node.attrs["perm"]) == list(range(len(node.attrs["perm"])))
    if node.op == "cast":
        return x.dtype.value == node.attrs["to"]
    if node.op == "pad":
        return all(p == 0 for p in node.attrs["pads"])
    return False


def _keeps_values(node) -> bool:
    """The result means the same reals as the input: same params, or a float result that does not
    round (no params) reading a value whose params it would only repeat."""
    x, y = node.inputs[0], node.output
    return y.quant == x.quant or (y.dtype.is_float and y.quant is None)


def remove_identities(graph, ctx) -> int:
    removed = 0
    for node in list(graph.nodes):
        if len(node.outputs) != 1 or not _is_identity(node):
            continue
        x, y = node.inputs[0], node.output
        if x.type != y.type or not _keeps_values(node):
            ctx.decline("remove-identity", node,
                        f"input {x.ref} ({x.type}, quant {x.quant}) and result ({y.type}, quant {y.quant}) differ")
            continue
        bypass(graph, node)
        removed += 1
    return removed
