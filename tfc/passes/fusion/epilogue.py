"""The elementwise node after a sparse generated-code layer folded into the layer's stores.

A conv2d or linear whose weights run as generated code (tfc.kernels.sparse_epilogue) and whose
result only the next node reads absorbs that node: a residual add of two activations (into
conv2d_add / linear_add) or an activation table (a node the lut kernel runs: into conv2d_lut /
linear_lut, with that kernel's table). The tensor between them is then never stored, reloaded
and walked again. Fires only where an epilogue kernel runs the fused node (the sparse build); a
dense layer keeps its nodes. `unfold_epilogues` splits them again (the dense twin of a sparse
build, measured against it, runs the unfused nodes).
"""
from __future__ import annotations

import numpy as np

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Node
from tfc.ir.ops import get_op
from tfc.ir.types import DType, QuantParams
from tfc.kernels.add_table import MIN_ELEMENTS
from tfc.passes.fusion.common import sole_reader, split_back, storage_root, take_over

RULE = "fuse-sparse-epilogue"
# node meta of a fused node: the name of the node it absorbed, and whether fuse gave it its zero bias
ABSORBED, ADDED_BIAS = "epilogue-absorbed", "epilogue-added-bias"


def _epilogue_ops(producer: str) -> dict[str, str]:
    """The fused op per absorbed kind ("add", "lut") for a producer op: read from the fused ops' traits."""
    from tfc.ir.ops import registered_ops
    return {spec.fused_from[1]: name for name, spec in registered_ops().items()
            if spec.fused_from is not None and spec.fused_from[0] == producer}


def _table_kernel(node: Node):
    """The lut kernel's table for `node` (an activation the lut kernel runs), else None."""
    from tfc.kernels import select
    from tfc.kernels.transformer import Lut
    try:
        kernel = select(node)
    except TfcError:
        return None
    return kernel.params(node).table if isinstance(kernel, Lut) and len(node.inputs) == 1 else None


def _add_operands(graph: Graph, layer: Node, add: Node, ctx):
    """(residual, residual_first) for an add of the layer's result and another activation, or None."""
    y = layer.output
    if add.attrs.get("numerics", "cmsis") != "cmsis":
        ctx.decline(RULE, add, "numerics=onnxruntime: the epilogue computes TFLite's ADD")
        return None
    residual_first = add.inputs[1] is y
    residual = add.inputs[0] if residual_first else add.inputs[1]
    if residual is y:
        ctx.decline(RULE, add, f"{y.ref} is added to itself")
        return None
    if y.type.size < MIN_ELEMENTS:
        ctx.decline(RULE, add, f"{y.type.size} elements: the add's 2 KiB of tables would cost more flash than they save")
        return None
    if residual.data is not None:
        ctx.decline(RULE, add, f"the other operand {residual.ref} is a constant (the epilogue adds an activation)")
        return None
    if residual.shape != y.shape or residual.quant is None or residual.quant.axis is not None:
        ctx.decline(RULE, add, "the operands' shapes differ or the other operand has no per-tensor grid")
        return None
    if storage_root(residual) is storage_root(layer.inputs[0]):
        ctx.decline(RULE, add, f"the other operand {residual.ref} is the layer's own input")
        return None
    return residual, residual_first


def _fuse(graph: Graph, layer: Node, reader: Node, ctx) -> bool:
    ops = _epilogue_ops(layer.op)
    y = layer.output
    mid = {"mid_scale": float(y.quant.scale[0]), "mid_zero_point": int(y.quant.zero_point[0])}
    inputs, meta = list(layer.inputs), {ABSORBED: reader.name}
    if reader.op == "add" and "add" in ops:
        found = _add_operands(graph, layer, reader, ctx)
        if found is None:
            return False
        residual, residual_first = found
        op = ops["add"]
        if len(inputs) == 2:
            w = layer.inputs[1]
            bias = graph.add_constant(graph.fresh_name(layer.name + "_bias0"), np.zeros(w.shape[0], np.int32))
            bias.quant = QuantParams(tuple(float(layer.inputs[0].quant.scale[0]) * s for s in w.quant.scale),
                                     (0,) * len(w.quant.scale), 0, DType.I32)
            inputs.append(bias)
            meta[ADDED_BIAS] = True
        inputs.append(residual)
        extra = {"residual_first": residual_first, "add_act_min": reader.attrs["act_min"],
                 "add_act_max": reader.attrs["act_max"], **mid}
    elif "lut" in ops:
        table = _table_kernel(reader)
        if table is None:
            return False
        op, extra = ops["lut"], {"table": list(table), **mid}
    else:
        return False
    spec = get_op(op)
    attrs = {k: v for k, v in layer.attrs.items() if k in spec.attrs}
    attrs.update(extra)
    fused = graph.add_node(op, inputs, attrs, name=graph.fresh_name(layer.name + "_epilogue"), before=reader,
                           output_types=[reader.output.type])
    fused.output.quant = reader.output.quant
    fused.meta.update(meta)
    if not _runs_epilogue(fused):
        graph.remove_node(fused)
        graph.remove_unused_constants()
        ctx.decline(RULE, reader, f"{layer.name} does not run as sparse generated code with this epilogue")
        return False
    take_over(graph, reader.output, fused.output)
    graph.remove_node(reader)
    graph.remove_node(layer)
    graph.rename_node(fused, layer.name)
    return True


def _runs_epilogue(node: Node) -> bool:
    from tfc.kernels import select
    from tfc.kernels.sparse_epilogue import SparseEpilogue
    try:
        return isinstance(select(node), SparseEpilogue)
    except TfcError:
        return False


def fuse_sparse_epilogues(graph: Graph, ctx) -> int:
    fired = 0
    for layer in list(graph.nodes):
        if layer not in graph.nodes or not _epilogue_ops(layer.op) or layer.spec.fused_from is not None:
            continue
        w = layer.inputs[1] if len(layer.inputs) > 1 else None
        y = layer.output
        if w is None or w.sparse is None or y.quant is None or y.dtype.is_float or y.quant.axis is not None:
            continue   # dense or not yet int8: nothing to fold into
        reader = sole_reader(graph, y)
        if reader is None:
            ctx.decline(RULE, layer, f"{y.ref} has other readers or is a graph output")
            continue
        fired += _fuse(graph, layer, reader, ctx)
    return fired


def unfold_epilogues(graph: Graph) -> int:
    """Every fused epilogue node back into its layer and the node it absorbed (same integers, the
    unfused kernels); returns how many."""
    changed = 0
    for node in list(graph.nodes):
        if ABSORBED not in node.meta or node.spec.fused_from is None:
            continue
        producer, kind = node.spec.fused_from
        a = node.attrs
        inputs = list(node.inputs[:3]) if kind == "add" else list(node.inputs)
        if node.meta.get(ADDED_BIAS):
            inputs = inputs[:2]
        layer = graph.add_node(producer, inputs, {k: v for k, v in a.items() if k in get_op(producer).attrs},
                               name=graph.fresh_name(node.name + "_layer"), before=node,
                               output_types=[node.output.type])   # elementwise: the same int8 type
        layer.output.quant = QuantParams((a["mid_scale"],), (a["mid_zero_point"],))
        if kind == "add":
            y, residual = layer.output, node.inputs[3]
            operands = [residual, y] if a["residual_first"] else [y, residual]
            after = graph.add_node("add", operands, {"act_min": a["add_act_min"], "act_max": a["add_act_max"]},
                                   name=graph.fresh_name(node.meta[ABSORBED]), before=node,
                                   output_types=[node.output.type])
        else:
            after = graph.add_node("lut", [layer.output], {"table": list(a["table"])},
                                   name=graph.fresh_name(node.meta[ABSORBED]), before=node,
                                   output_types=[node.output.type])
        split_back(graph, node, layer, after, node.meta[ABSORBED])
        changed += 1
    graph.remove_unused_constants()
    return changed
