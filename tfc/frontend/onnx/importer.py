"""ONNX ModelProto -> tfc Graph: inputs with static shapes, then one converter per node."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx

from tfc.errors import ModelLoadError, ShapeError, TfcError, UnsupportedError
from tfc.frontend.onnx import converters  # noqa: F401  (registers the converters)
from tfc.frontend.onnx.context import ImportContext
from tfc.frontend.onnx.loader import load_model, opset_version, tensor_to_array, to_dtype
from tfc.frontend.onnx.registry import OnnxNode, get_converter
from tfc.ir.graph import Graph, sanitize_name
from tfc.ir.types import TensorType


def import_onnx(model, *, input_shapes: dict[str, list[int]] | None = None,
                name: str | None = None) -> Graph:
    """Import an ONNX model (a path, bytes or onnx.ModelProto) as a float tfc IR graph.

    `input_shapes` gives static shapes for inputs with symbolic or unknown dims, by input name.
    Graph inputs and outputs keep the ONNX model's names (sanitized), layouts and dtypes.
    """
    proto, file = load_model(model)
    graph = Graph(name or proto.graph.name or "model")
    ctx = ImportContext(graph, file, opset_version(proto))
    nodes = _decode_nodes(proto.graph, file)
    _check_supported(nodes, file, {t.name for t in proto.graph.initializer})
    initializers = {t.name for t in proto.graph.initializer}
    for tensor in proto.graph.initializer:
        ctx.set_const(tensor.name, tensor_to_array(tensor, file=file, what=f"initializer '{tensor.name}'"))
    _add_inputs(ctx, proto.graph, initializers, input_shapes or {})
    for node in nodes:
        _convert(ctx, node)
    _add_outputs(ctx, proto.graph)
    _remove_dead_code(graph)
    return graph


def _decode_nodes(graph: onnx.GraphProto, file: str) -> list[OnnxNode]:
    nodes, used = [], set()
    for index, proto in enumerate(graph.node):
        base = sanitize_name(proto.name) if proto.name else f"{proto.op_type}_{index}"
        name = base
        suffix = 1
        while name in used:
            name, suffix = f"{base}_{suffix}", suffix + 1
        used.add(name)
        try:
            attrs = {a.name: _attr_value(a) for a in proto.attribute}
        except (ValueError, UnicodeDecodeError) as e:
            raise ModelLoadError(f"cannot read the attributes: {e}", file=file, node=proto.name or name,
                                 op=proto.op_type, hint="the file is corrupt; re-export it") from None
        op_type = proto.op_type if proto.domain in ("", "ai.onnx") else f"{proto.domain}.{proto.op_type}"
        nodes.append(OnnxNode(op_type, name, proto.name, list(proto.input), list(proto.output), attrs))
    return nodes


def _attr_value(attr: onnx.AttributeProto):
    if attr.type == onnx.AttributeProto.TENSOR:
        return attr.t           # decoded by the converter that needs it (Constant)
    if attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS,
                     onnx.AttributeProto.SPARSE_TENSOR, onnx.AttributeProto.TYPE_PROTO):
        return attr             # only Constant/If/Loop-like ops use these; they reject them
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


def _check_supported(nodes: list[OnnxNode], file: str, initializers: set[str]) -> None:
    """Report every node whose op has no converter at once, grouped by op; a node that reads
    only constants needs none (it folds through ONNX's reference, see fold_with_onnx_reference)."""
    missing: dict[str, list[str]] = defaultdict(list)
    constant = set(initializers)
    for node in nodes:
        reads_constants = all(not name or name in constant for name in node.inputs)
        if reads_constants or node.op_type in ("Shape", "Size"):   # shapes are static
            constant.update(node.outputs)
        if get_converter(node.op_type) is None and not (reads_constants and _foldable(node)):
            missing[node.op_type].append(node.onnx_name or node.name)
    if missing:
        lines = [f"{op} ({len(names)}): {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
                 for op, names in sorted(missing.items())]
        from tfc.frontend.onnx.registry import supported_ops
        raise UnsupportedError(
            f"{sum(len(v) for v in missing.values())} node(s) use ops tfc does not import:\n    "
            + "\n    ".join(lines), file=file,
            hint="replace these ops in the model (or export with a different opset/option); "
                 f"supported ONNX ops: {', '.join(supported_ops())}")


def _add_inputs(ctx: ImportContext, graph: onnx.GraphProto, initializers: set[str],
                input_shapes: dict[str, list[int]]) -> None:
    names = [i.name for i in graph.input if i.name not in initializers]
    unknown = sorted(set(input_shapes) - set(names))
    if unknown:
        raise ShapeError(f"input_shapes names unknown input(s) {unknown}", file=ctx.file,
                         hint=f"the model's inputs are {names}")
    for inp in graph.input:
        if inp.name in initializers:
            continue
        if not inp.type.HasField("tensor_type"):
            raise UnsupportedError(f"input '{inp.name}' is not a tensor", file=ctx.file,
                                   hint="tfc imports models whose inputs are plain tensors")
        tt = inp.type.tensor_type
        dtype = to_dtype(tt.elem_type, file=ctx.file, what=f"input '{inp.name}'")
        shape = _static_shape(ctx, inp.name, tt, input_shapes.get(inp.name))
        ctx.define(inp.name, ctx.graph.add_input(inp.name, TensorType(shape, dtype)))


def _static_shape(ctx, name: str, tt, override) -> list[int]:
    onnx_dims = list(tt.shape.dim) if tt.HasField("shape") else None
    if override is not None:
        shape = [int(d) for d in override]
        if onnx_dims is not None and len(onnx_dims) != len(shape):
            raise ShapeError(f"input_shapes['{name}'] has rank {len(shape)}, the input has rank {len(onnx_dims)}",
                             file=ctx.file)
        for i, (d, given) in enumerate(zip(onnx_dims or [], shape)):
            if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != given:
                raise ShapeError(f"input_shapes['{name}'] sets dim {i} to {given}, the model fixes it to {d.dim_value}",
                                 file=ctx.file)
        if any(d <= 0 for d in shape):
            raise ShapeError(f"input_shapes['{name}'] = {shape} has a dim <= 0", file=ctx.file)
        return shape
    if onnx_dims is None:
        raise ShapeError(f"input '{name}' has no shape", file=ctx.file,
                         hint=f"pass input_shapes={{'{name}': [...]}} with its static shape")
    shape = []
    for i, d in enumerate(onnx_dims):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            what = f"symbolic ('{d.dim_param}')" if d.HasField("dim_param") else "unknown"
            example = [dd.dim_value if dd.HasField("dim_value") and dd.dim_value > 0 else 1 for dd in onnx_dims]
            raise ShapeError(f"input '{name}' dim {i} is {what}; tfc needs static shapes", file=ctx.file,
                             hint=f"pass input_shapes={{'{name}': {example}}} (with the sizes you deploy)")
        shape.append(d.dim_value)
    return shape


def _convert(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.node = node
    for name in node.inputs:
        if name and not ctx.is_defined(name):
            ctx.value(name)      # not defined anywhere: raises the error naming this node
    try:
        (get_converter(node.op_type) or fold_with_onnx_reference)(ctx, node)
    except TfcError as e:
        if e.file is None:      # raised by the IR (shape inference, attributes): name the ONNX node
            detail = f" (in IR op {e.op})" if e.op and e.op != node.op_type else ""
            raise type(e)(e.message + detail, file=ctx.file, node=node.onnx_name or node.name,
                          op=node.op_type, hint=e.hint) from None
        raise
    ctx.node = None


def _foldable(node: OnnxNode) -> bool:
    return node.op_type.count(".") == 0 and not any(isinstance(v, onnx.AttributeProto) for v in node.attrs.values())


def fold_with_onnx_reference(ctx: ImportContext, node: OnnxNode) -> None:
    """An op tfc has no converter for, on constants only (e.g. Resize of a position embedding
    to the input's size): its outputs computed by onnx's reference evaluator at import."""
    from onnx.reference import ReferenceEvaluator
    args = {name: ctx.require_const(name, f"{node.op_type} input") for name in node.inputs if name}
    proto = onnx.helper.make_node(node.op_type, node.inputs, node.outputs, **node.attrs)
    graph = onnx.helper.make_graph(
        [proto], "fold", [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype),
                                                             a.shape) for n, a in args.items()],
        [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.outputs if n])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", ctx.opset)])
    try:
        results = ReferenceEvaluator(model).run(None, args)
    except Exception as e:  # noqa: BLE001 - whatever the reference rejects, say which node
        raise ctx.unsupported(f"cannot fold {node.op_type} of constants: {type(e).__name__}: {e}") from None
    for name, result in zip([n for n in node.outputs if n], results):
        ctx.set_const(name, np.asarray(result))


def _add_outputs(ctx: ImportContext, graph: onnx.GraphProto) -> None:
    if not graph.output:
        raise ModelLoadError("the model has no graph outputs: it computes nothing", file=ctx.file,
                             hint="the model is malformed; re-export it with its outputs")
    for out in graph.output:
        if not ctx.is_defined(out.name):
            raise ModelLoadError(f"graph output '{out.name}' is not produced by any node", file=ctx.file,
                                 hint="the model is malformed; re-export it")
        value = ctx.value(out.name)
        _check_declared_shape(ctx, out, value)
        wanted = sanitize_name(out.name)
        # An output aliased through Identity/Dropout keeps its ONNX name where that is free.
        if value.name != wanted and value.producer is not None and value not in ctx.graph.outputs:
            ctx.graph.rename_value(value, wanted)
        ctx.graph.outputs.append(value)


def _check_declared_shape(ctx: ImportContext, out, value) -> None:
    """A graph output's declared static dims must be the ones the model computes; unknown or
    symbolic dims match anything, and so does a declared rank 0 or another rank (exporters write
    placeholders there; onnxruntime only warns)."""
    tt = out.type.tensor_type if out.type.HasField("tensor_type") else None
    if tt is None or not tt.HasField("shape"):
        return
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
    if len(dims) == len(value.shape) and any(d is not None and d != v for d, v in zip(dims, value.shape)):
        declared = [d if d is not None else "?" for d in dims]
        raise ShapeError(f"graph output '{out.name}' is declared with shape {declared}, but the model "
                         f"computes {list(value.shape)}", file=ctx.file,
                         hint="the model is malformed; re-export it")


def _remove_dead_code(graph: Graph) -> None:
    """Drop nodes nobody reads (folded shape computations, unused Dropout masks...)."""
    for node in reversed(list(graph.nodes)):
        if all(not v.uses and v not in graph.outputs for v in node.outputs):
            graph.remove_node(node)
    graph.remove_unused_constants()
