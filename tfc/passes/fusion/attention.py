"""MatMul of two activations (attention's Q·Kᵀ and P·V) into batch_matmul, CMSIS-NN's layout.

batch_matmul(lhs, rhs_t) {alpha} computes lhs @ rhs_tᵀ * alpha. The rule peels off what the
exporters wrap around the operands and folds it into that form:
- transposes of the right operand compose with the one batch_matmul needs; Q·Kᵀ, exported as
  MatMul(q, Transpose(k)), then reads K as laid out, with no transpose left;
- scalar Mul/Div on either operand (dynamo's sqrt(sqrt(1/d)) on both q and k) and on the
  result (TorchScript's Div by sqrt(d)) become alpha, which the int8 kernel folds into its
  requantization multiplier: no extra pass over the scores and no extra rounding.
  On a QDQ graph a scale whose result has its own grid is a rounding step onnxruntime performs;
  folding it would drop that rounding (up to several LSB on the scores), so such a scale becomes
  a `lut` node (its exact int8 table: one cheap pass) and the matmul reads that.
Each peeled node must have the matmul as its only reader.
"""
from __future__ import annotations

from tfc.passes.fusion import qdq_table
from tfc.passes.fusion.common import remove_dead, scalar_operand, sole_reader, take_over

RULE = "fuse-batch-matmul"


def _peel(graph, value, perm, alpha, dead):
    """Walk back through single-reader transposes and scalar Mul/Div; returns the source value,
    the permutation to apply to it, and the accumulated scale."""
    while value.producer is not None and sole_reader(graph, value) is not None:
        node = value.producer
        if node.op == "transpose":
            inner = node.attrs["perm"]
            perm = [inner[p] for p in perm]
            value = node.inputs[0]
        elif node.op in ("mul", "div") and scalar_operand(node) is not None \
                and (node.op == "mul" or node.inputs[1].data is not None):
            src, c = scalar_operand(node)
            if c == 0:
                break
            if _rounds_on_own_grid(node, src):
                value = _as_table(graph, node, src)
                break
            alpha *= c if node.op == "mul" else 1.0 / c
            value = src
        else:
            break
        dead.append(node)
    return value, perm, alpha


def fuse_batch_matmul(graph, ctx) -> int:
    fired = 0
    for mm in list(graph.nodes_of("matmul")):
        a, b = mm.inputs
        if a.data is not None or b.data is not None:
            continue  # a weight: matmul-to-linear's case
        if a.type.rank < 2 or b.type.rank < 2 or a.type.rank != b.type.rank:
            ctx.decline(RULE, mm, f"operand ranks {a.type.rank} and {b.type.rank} (batch_matmul wants equal ranks >= 2)")
            continue
        rank = b.type.rank
        dead = []
        # Only scales peel off the left operand: batch_matmul has no left-transposed form.
        lhs, alpha = _peel_scales(graph, a, dead)
        swap = list(range(rank - 2)) + [rank - 1, rank - 2]
        rhs, rhs_perm, alpha = _peel(graph, b, swap, alpha, dead)
        out, result = mm.output, mm.output
        reader = sole_reader(graph, out)
        if reader is not None and reader.op in ("mul", "div") and scalar_operand(reader) is not None \
                and (reader.op == "mul" or reader.inputs[1].data is not None) and scalar_operand(reader)[1] != 0:
            c = scalar_operand(reader)[1]
            if _rounds_on_own_grid(reader, out):
                _as_table(graph, reader, out)   # the scores keep their QDQ rounding
            else:
                alpha *= c if reader.op == "mul" else 1.0 / c
                result = reader.output
                dead.insert(0, reader)
        if rhs_perm != list(range(rank)):
            t = graph.add_node("transpose", [rhs], {"perm": rhs_perm}, name=mm.name + "_rhs_t", before=mm)
            t.output.quant = rhs.quant
            rhs = t.output
        node_name = mm.name
        bmm = graph.add_node("batch_matmul", [lhs, rhs], {"alpha": alpha}, name=mm.name,
                             after=result.producer)
        bmm.output.quant = result.quant
        take_over(graph, result, bmm.output)
        remove_dead(graph, dead + [mm])
        graph.rename_node(bmm, node_name)
        fired += 1
    return fired


def _peel_scales(graph, value, dead):
    alpha = 1.0
    while value.producer is not None and sole_reader(graph, value) is not None:
        node = value.producer
        found = scalar_operand(node) if node.op in ("mul", "div") else None
        if found is None or found[1] == 0 or (node.op == "div" and node.inputs[1].data is None):
            break
        if _rounds_on_own_grid(node, found[0]):
            value = _as_table(graph, node, found[0])
            break
        alpha *= found[1] if node.op == "mul" else 1.0 / found[1]
        value = found[0]
        dead.append(node)
    return value, alpha


def _rounds_on_own_grid(node, src) -> bool:
    """A QDQ graph's scale step: input and result both carry QuantParams."""
    return src.quant is not None and node.output.quant is not None


def _as_table(graph, node, src):
    """Replace the scalar Mul/Div `node` (reading `src`) by a `lut` with its int8 table."""
    table = qdq_table.chain_table(src, [node], node.output)
    name = node.name
    lut = graph.add_node("lut", [src], {"table": list(table)}, name=name + "_table", after=node)
    lut.output.quant = node.output.quant
    take_over(graph, node.output, lut.output)
    graph.remove_node(node)
    graph.rename_node(lut, name)
    return lut.output
