"""The reshape -> transpose after a sparse linear layer folded into the layer's stores.

A transformer block's q/k/v projections are read through view -> transpose (the heads split
apart, or k transposed for the scores). Where the layer runs as sparse generated code, which
stores every output channel at an immediate offset, it stores straight into the transposed layout
(op linear_heads, tfc.kernels.sparse_heads) and the transpose's pass over the tensor goes. Fires
only where that kernel runs the fused node (the sparse build); `unfold_heads` splits it again (the
dense twin of a sparse build runs linear, reshape and transpose).
"""
from __future__ import annotations

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Node
from tfc.ir.ops import get_op
from tfc.passes.fusion.common import sole_reader, split_back, take_over

RULE = "fuse-sparse-heads"
HEADS = "linear_heads"
ABSORBED = "heads-absorbed"   # node meta of a fused node: the name of the transpose it absorbed


def _chain(graph: Graph, layer: Node):
    """(reshapes, transpose) reading the layer's result and nothing else, or (None, why)."""
    reshapes, v = [], layer.output
    while True:
        reader = sole_reader(graph, v)
        if reader is None:   # at the layer itself fuse-sparse-epilogue already says so
            return None, f"{v.ref} has other readers or is a graph output" if reshapes else None
        if reader.op != "reshape":
            break
        reshapes.append(reader)
        v = reader.output
    if reader.op != "transpose":
        return None, None   # not a layout change: nothing to say
    if any(r.output.quant != layer.output.quant for r in reshapes) or reader.output.quant != layer.output.quant:
        return None, f"the transpose {reader.name} is not on {layer.output.ref}'s grid"
    return reshapes, reader


def _runs_heads(node: Node) -> bool:
    from tfc.kernels import select
    from tfc.kernels.sparse_heads import SparseFullyConnectedHeads
    try:
        return isinstance(select(node), SparseFullyConnectedHeads)
    except TfcError:
        return False


def _fuse(graph: Graph, layer: Node, reshapes: list[Node], t: Node, ctx) -> bool:
    split = list(t.inputs[0].shape)
    spec = get_op(HEADS)
    attrs = {k: v for k, v in layer.attrs.items() if k in spec.attrs}
    attrs.update(split=split, perm=list(t.attrs["perm"]))
    fused = graph.add_node(HEADS, list(layer.inputs), attrs, name=graph.fresh_name(layer.name + "_heads"),
                           before=layer, output_types=[t.output.type])
    fused.output.quant = t.output.quant
    fused.meta[ABSORBED] = t.name
    if not _runs_heads(fused):
        graph.remove_node(fused)
        ctx.decline(RULE, t, f"{layer.name} does not run as sparse generated code storing this layout")
        return False
    take_over(graph, t.output, fused.output)
    for node in [t, *reversed(reshapes), layer]:
        graph.remove_node(node)
    graph.rename_node(fused, layer.name)
    return True


def fuse_sparse_heads(graph: Graph, ctx) -> int:
    fired = 0
    for layer in list(graph.nodes):
        if layer not in graph.nodes or layer.op != get_op(HEADS).producer:
            continue
        w, y = layer.inputs[1], layer.output
        if w.sparse is None or y.quant is None or y.dtype.is_float or y.quant.axis is not None:
            continue   # dense or not yet int8
        reshapes, t = _chain(graph, layer)
        if reshapes is None:
            if t:
                ctx.decline(RULE, layer, t)
            continue
        fired += _fuse(graph, layer, reshapes, t, ctx)
    return fired


def unfold_heads(graph: Graph) -> int:
    """Every linear_heads node back into linear, reshape and transpose (the same integers, the
    unfused kernels); returns how many."""
    changed = 0
    for node in list(graph.nodes):
        if node.op != HEADS:
            continue
        a, spec = node.attrs, get_op(HEADS)
        linear = get_op(spec.producer)
        y_type = linear.infer(node)[0].with_dtype(node.output.dtype)
        layer = graph.add_node(spec.producer, list(node.inputs), {k: v for k, v in a.items() if k in linear.attrs},
                               name=graph.fresh_name(node.name + "_layer"), before=node, output_types=[y_type])
        layer.output.quant = node.output.quant
        view = graph.add_node("reshape", [layer.output], {"shape": list(a["split"])},
                              name=graph.fresh_name(node.name + "_view"), before=node)
        view.output.quant = node.output.quant
        t = graph.add_node("transpose", [view.output], {"perm": list(a["perm"])},
                           name=graph.fresh_name(node.meta[ABSORBED]), before=node, output_types=[node.output.type])
        split_back(graph, node, layer, t, node.meta[ABSORBED])
        changed += 1
    graph.remove_unused_constants()
    return changed
