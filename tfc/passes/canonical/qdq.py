"""Q/DQ recognition: quantize->dequantize pairs become a QuantParams annotation on the float value,
and dequantize of an integer constant is read directly (the weights stay int8 with their params).

`%q = quantize(%a) : i8 q(P); %b = dequantize(%q)` means "%a rounded onto the grid P", which is
what a float value carrying QuantParams means (fake quantization), so `%a.quant = P` and every
reader of %b reads %a. A dequantize of an int8 graph input and a quantize feeding an int8 graph
output stay: they are the model's integer interface.
"""
from __future__ import annotations

import dataclasses

from tfc.passes.rewrite import bypass, is_output


def fold_qdq_pairs(graph, ctx) -> int:
    rewrites = 0
    for q in list(graph.nodes):
        if q.op != "quantize" or q not in graph.nodes:
            continue
        reason = _pair_blocker(graph, q)
        if reason:
            ctx.decline("fold-qdq", q, reason)
            continue
        a, qv = q.inputs[0], q.output
        params = qv.quant
        if params.storage != qv.dtype:
            params = dataclasses.replace(params, storage=qv.dtype)
        a.quant = params
        for dq in list(qv.users):
            bypass(graph, dq, a)
        graph.remove_node(q)
        rewrites += 1
    return rewrites


def _pair_blocker(graph, q) -> str | None:
    a, qv = q.inputs[0], q.output
    if is_output(graph, qv):
        return f"{qv.ref} is a graph output (the model's integer interface)"
    if not qv.uses or any(user.op != "dequantize" for user in qv.users):
        return f"{qv.ref} is read by something other than dequantize"
    if a.is_constant:
        return "its input is a constant (constant folding quantizes it first)"
    if not a.dtype.is_float:
        return f"its input {a.ref} is not a float value"
    if any(v is a for v in graph.inputs):
        return f"its input {a.ref} is a graph input (inputs are not rounded on entry)"
    if is_output(graph, a):
        return f"its input {a.ref} is also a graph output, which would become rounded"
    if a.quant is not None and a.quant != dataclasses.replace(qv.quant, storage=a.quant.storage):
        return f"{a.ref} is already quantized with other parameters"
    others = [user.name for user in a.users if user is not q]
    if others:
        return f"{a.ref} is also read unquantized by {', '.join(others)}"
    return None


def read_int_constants_directly(graph, ctx) -> int:
    """`dequantize(@w_int8)` readers read @w_int8 (with its QuantParams) directly.

    Data-movement readers (reshape, transpose, ...) would move the raw integers instead of reals,
    so they keep reading the dequantized value; the layout rules sink the dequantize past them."""
    rewrites = 0
    for dq in list(graph.nodes):
        if dq.op != "dequantize":
            continue
        c = dq.inputs[0]
        if not c.is_constant or c.dtype.is_float or c.quant is None:
            continue
        out = dq.output
        movers = [user.name for user in out.users if user.spec.moves_data]
        if movers or is_output(graph, out):
            ctx.decline("read-int-constant", dq,
                        f"{out.ref} is read by data movement ({', '.join(movers)})" if movers
                        else f"{out.ref} is a graph output")
            continue
        bypass(graph, dq, c)
        rewrites += 1
    return rewrites


def _moves_values(node) -> bool:
    """Data movement of one input that only rearranges its values (not pad: its fill value is a
    raw integer)."""
    return node.spec.moves_data and not node.spec.creates_values and len(node.inputs) == 1 \
        and len(node.outputs) == 1


def dequantize_before_moving(graph, ctx) -> int:
    """`dequantize(reshape(%q_int8))` -> `reshape(dequantize(%q_int8))`: moving integers and then
    reading them as reals is moving the reals, and the dequantize then meets its quantize."""
    from tfc.passes.canonical.layout import passes_values_through
    rewrites = 0
    for dq in list(graph.nodes):
        if dq.op != "dequantize" or dq not in graph.nodes:
            continue
        mover = dq.inputs[0].producer
        if mover is None or not _moves_values(mover):
            continue
        m_out = mover.output
        if len(m_out.uses) != 1 or is_output(graph, m_out) or not passes_values_through(mover):
            continue
        v = mover.inputs[0]
        if v.quant is None or (v.quant.axis is not None and mover.op != "transpose"):
            continue
        new_dq = graph.add_node("dequantize", [v], name=dq.name, before=mover)
        new_mover = graph.add_node(mover.op, [new_dq.output], dict(mover.attrs), name=mover.name,
                                   before=mover)
        old_name = dq.output.name
        bypass(graph, dq, new_mover.output)
        graph.remove_node(mover)
        if new_mover.output.name != old_name and not is_output(graph, new_mover.output):
            graph.rename_value(new_mover.output, old_name)   # readers keep reading "the same" value
        rewrites += 1
    return rewrites
