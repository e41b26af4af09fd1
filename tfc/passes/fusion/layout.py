"""A layout transpose folded into the conv that reads or writes it.

An NCHW model keeps a transpose to NHWC at its input and one back at its output (tfc runs
channels-last). Where the kernel that runs the conv next to such a transpose reads or writes the
other layout directly (Kernel.layouts: the sparse conv widens 4 channels x 4 pixels of an NCHW
input per step and stores its outputs plane by plane), the transpose goes and the conv names the
layout in its layout attributes (OpSpec.layout_attrs: conv2d's in_layout/out_layout). No extra
pass over the tensor remains. `unfold_layouts` puts the transposes back (a graph whose weights are
made dense again, whose kernels read NHWC only).
"""
from __future__ import annotations

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Node, Value
from tfc.ir.ops import get_op
from tfc.ir.ops.base import TO_NCHW, TO_NHWC
from tfc.passes.rewrite import bypass, is_output

RULE = "fuse-layout"


def fuse_layout_transposes(graph: Graph, ctx) -> int:
    fired = 0
    for node in list(graph.nodes):
        keys = get_op(node.op).layout_attrs
        if not keys or node not in graph.nodes:
            continue
        fired += _fold_input(graph, node, keys[0], ctx) + _fold_output(graph, node, keys[1], ctx)
    return fired


def _transpose(node: Node | None, perm) -> bool:
    return node is not None and node.op == "transpose" and tuple(node.attrs["perm"]) == perm


def _fold_input(graph: Graph, node: Node, key: str, ctx) -> int:
    t = node.inputs[0].producer
    if node.attrs[key] != "nhwc" or not _transpose(t, TO_NHWC):
        return 0
    xt = t.output
    if len(xt.uses) != 1 or is_output(graph, xt):
        ctx.decline(RULE, node, f"the transpose {t.name} has other readers than {node.name}")
        return 0
    return _try(graph, node, key, lambda: node.set_input(0, t.inputs[0]), lambda: node.set_input(0, xt),
                t, ctx, lambda: graph.remove_node(t))


def _fold_output(graph: Graph, node: Node, key: str, ctx) -> int:
    y = node.output
    readers = y.users
    if node.attrs[key] != "nhwc" or len(readers) != 1 or not _transpose(readers[0], TO_NCHW):
        return 0
    t = readers[0]
    if is_output(graph, y) or t.inputs[0] is not y:
        ctx.decline(RULE, node, f"{y.ref} is read besides the transpose {t.name}")
        return 0
    nhwc_type = y.type
    return _try(graph, node, key, lambda: setattr(y, "type", t.output.type), lambda: setattr(y, "type", nhwc_type),
                t, ctx, lambda: bypass(graph, t, y))


def _try(graph, node, key, apply, undo, t: Node, ctx, commit) -> int:
    """Fold when the kernel that runs `node` now reads/writes the other layout too."""
    from tfc.kernels import select
    if not _same_grid(t):
        ctx.decline(RULE, node, f"the transpose {t.name} is not on its input's per-tensor grid")
        return 0
    try:
        kernel = select(node)
    except TfcError as e:
        ctx.decline(RULE, node, f"no int8 kernel runs it yet ({e.message})")
        return 0
    other = "nchw"
    if other not in kernel.layouts:
        ctx.decline(RULE, node, f"its kernel {kernel.name} reads and writes {'/'.join(kernel.layouts)} only; "
                                f"the transpose {t.name} stays")
        return 0
    node.attrs[key] = other
    apply()
    try:
        folded = select(node)
    except TfcError:
        folded = None
    if folded is not kernel:
        node.attrs[key] = "nhwc"
        undo()
        ctx.decline(RULE, node, f"{kernel.name} does not run it with {key}={other}")
        return 0
    commit()
    return 1


def _same_grid(t: Node) -> bool:
    q_in, q_out = t.inputs[0].quant, t.output.quant
    return q_in == q_out and (q_in is None or q_in.axis is None)


def unfold_layouts(graph: Graph) -> int:
    """The inverse: every conv that reads or writes NCHW gets its transposes back (NHWC inside);
    returns how many layouts changed."""
    changed = 0
    for node in list(graph.nodes):
        keys = get_op(node.op).layout_attrs
        if not keys:
            continue
        key_in, key_out = keys
        if node.attrs[key_in] == "nchw":
            x = node.inputs[0]
            t = graph.add_node("transpose", [x], {"perm": list(TO_NHWC)}, name=f"{node.name}_to_nhwc", before=node)
            t.output.quant = x.quant
            node.set_input(0, t.output)
            node.attrs[key_in] = "nhwc"
            changed += 1
        if node.attrs[key_out] == "nchw":
            y = node.output
            node.attrs[key_out] = "nhwc"
            nchw_type = y.type
            y.type = nchw_type.with_shape(tuple(nchw_type.shape[p] for p in TO_NHWC))
            _transpose_after(graph, node, y, nchw_type)
            changed += 1
    return changed


def _transpose_after(graph: Graph, node: Node, y: Value, nchw_type) -> None:
    """y's readers (and the graph output y was) read transpose(y) instead, under y's name."""
    name = y.name
    graph.rename_value(y, graph.fresh_name(f"{name}_nhwc"))
    t = graph.add_node("transpose", [y], {"perm": list(TO_NCHW)}, name=f"{node.name}_to_nchw", after=node,
                       output_names=[name], output_types=[nchw_type])
    t.output.quant = y.quant
    for reader, index in [u for u in y.uses if u[0] is not t]:
        reader.set_input(index, t.output)
    graph.outputs = [t.output if v is y else v for v in graph.outputs]
