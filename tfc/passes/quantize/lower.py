"""Lower a quantized float graph (every activation annotated with QuantParams) to the int8 IR.

Input: the form canonicalize gives a QDQ model, or ptq.annotate gives a float model: float
values carrying QuantParams, int8 weights and int32 biases carrying theirs. Output: every
activation is an int8 tensor, every op one an int8 kernel runs (tfc.kernels), and
`dequantize`/`quantize` remain only where params really change (then `quantize` requantizes).
"""
from __future__ import annotations

import math

import numpy as np

from tfc.errors import QuantizationError, UnsupportedError
from tfc.ir.graph import Graph, Node, Value
from tfc.ir.types import DType, QuantParams
from tfc.quant.ort_numerics import ONNXRUNTIME
from tfc.passes.rewrite import bypass
from tfc.kernels import select

def _sole_reader(graph: Graph, value: Value) -> Node | None:
    if len(value.uses) != 1 or value in graph.outputs:
        return None
    return value.uses[0][0]


def as_int8_storage(q: QuantParams) -> QuantParams:
    """uint8 activations become int8 with zero point - 128: the same reals, CMSIS-NN's type."""
    if q.storage == DType.I8:
        return q
    if q.storage == DType.U8:
        return QuantParams(q.scale, tuple(z - 128 for z in q.zero_point), q.axis, DType.I8)
    raise QuantizationError(f"activations stored as {q.storage.value} are not supported (int8 only)")


def propagate_params(graph: Graph) -> int:
    """Give unannotated float activations the params their neighbours imply."""
    changed, total = True, 0
    while changed:
        changed = False
        for node in graph.nodes:
            for out in node.outputs:
                if out.quant is not None or not out.dtype.is_float:
                    continue
                reader = _sole_reader(graph, out)
                if reader is not None and reader.spec.grid_transparent and reader.output.quant is not None:
                    out.quant = reader.output.quant
                elif node.spec.keeps_grid or node.op == "dequantize":
                    src = node.inputs[0]
                    if src.quant is not None and src.quant.axis is None:
                        out.quant = src.quant
                if out.quant is not None:
                    changed = True
                    total += 1
    return total


def quantize_on_entry(graph: Graph) -> int:
    """A float graph input read only by `quantize` nodes with one set of params (onnxruntime's QDQ
    models start so) becomes an int8 input with those params: the int8 model takes integers, as
    the MLPerf Tiny int8 models and a PTQ-calibrated model do."""
    fired = 0
    for value in graph.inputs:
        if not value.dtype.is_float or value.quant is not None or not value.uses:
            continue
        readers = value.users
        if any(r.op != "quantize" or r.output.quant is None for r in readers):
            continue
        params = {as_int8_storage(r.output.quant) for r in readers}
        if len(params) != 1:
            continue
        value.quant = params.pop()
        for reader in readers:
            bypass(graph, reader)
        fired += 1
    return fired


def check_annotated(graph: Graph) -> None:
    missing = [v for v in graph.values() if not v.is_constant and v.dtype.is_float and v.quant is None]
    if missing:
        lines = [f"{v.ref} (from {v.producer.op} '{v.producer.name}')" if v.producer else f"{v.ref} (graph input)"
                 for v in missing[:12]]
        more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
        raise QuantizationError(
            f"{len(missing)} activation(s) have no int8 quantization parameters: " + ", ".join(lines) + more,
            hint="pass calibration samples for a float model, or quantize the model with Q/DQ nodes on every activation")


def convert_types(graph: Graph) -> None:
    """Float activations carrying params become int8 tensors."""
    for value in graph.values():
        if value.is_constant or not value.dtype.is_float or value.quant is None:
            continue
        value.quant = as_int8_storage(value.quant)
        value.type = value.type.with_dtype(value.quant.storage)


def drop_identity_conversions(graph: Graph) -> int:
    """dequantize/quantize between equal params are no-ops on int8 data: remove them."""
    fired = 0
    for node in list(graph.nodes_of("dequantize", "quantize")):
        src, out = node.inputs[0], node.output
        if src.quant is not None and out.quant is not None and src.type == out.type \
                and as_int8_storage(src.quant) == as_int8_storage(out.quant):
            bypass(graph, node)  # keeps a graph output's name
            fired += 1
    return fired


def global_avgpool_as_mean(graph: Graph) -> int:
    """A global average pool whose output grid differs from its input's becomes a reduce_mean over
    H and W: its kernel rounds the sum once onto the output grid, where avgpool2d (which needs
    equal grids) would round onto the input grid first. onnxruntime's QDQ models quantize the
    pooled vector on a grid up to ~20x finer than the input's, so that first rounding cost up to
    half an input LSB, ~10 output LSB (tests/quant/test_qdq_property.py's chain regression)."""
    fired = 0
    for node in list(graph.nodes_of("avgpool2d")):
        src, out = node.inputs[0], node.output
        a = node.attrs
        if (src.quant is None or out.quant is None or src.quant == out.quant or src.quant.axis is not None
                or list(a["kernel"]) != list(src.shape[1:3]) or any(a["pad"])
                or a.get("act_min", -math.inf) != -math.inf or a.get("act_max", math.inf) != math.inf):
            continue
        mean = graph.add_node("reduce_mean", [src], {"axes": [1, 2], "keepdims": True}, name=node.name + "_mean",
                              after=node, output_types=[out.type])
        mean.output.quant = out.quant
        bypass(graph, node, mean.output)
        fired += 1
    return fired


def requantize_for_same_params(graph: Graph) -> int:
    """Ops whose int8 output keeps the input's grid (`keeps_grid`: data movement, pooling) but
    whose output grid differs compute on the input's grid, then a requantize moves the result
    onto the wanted grid."""
    fired = 0
    for node in [n for n in graph.nodes if n.spec.keeps_grid and len(n.outputs) == 1]:
        src, out = node.inputs[0], node.output
        if src.quant is None or out.quant is None or src.quant == out.quant:
            continue
        compute_on_grid(graph, node, src.quant)
        fired += 1
    return fired


def compute_on_grid(graph: Graph, node: Node, grid: QuantParams) -> Node:
    """Let `node` write on `grid` (what its kernel requires) and add a requantize after it that
    moves the result onto the grid its readers expect. Returns the requantize node."""
    out = node.output
    wanted = out.quant
    out.quant = grid
    req = graph.add_node("quantize", [out], {"dtype": "i8"}, name=node.name + "_requant", after=node,
                         output_types=[out.type])
    req.output.quant = wanted
    for reader, idx in list(out.uses):
        if reader is not req:
            reader.set_input(idx, req.output)
    graph.outputs = [req.output if v is out else v for v in graph.outputs]
    return req


INT32_MAX = 2**31 - 1


def check_accumulators(graph: Graph) -> None:
    """The int32 accumulator of a conv or linear output channel, bias + sum w (x - z_x), must not
    overflow for any int8 input: refused here, from the weights, bias and input zero point,
    instead of overflowing in the C (undefined behaviour there, and far from the float model).
    The requantization's left shift wraps as TFLite's does (tfc_shl_wrap), so it is not checked."""
    for node in graph.nodes_of("conv2d", "linear"):
        x, w = node.inputs[0], node.inputs[1]
        if not w.is_constant or w.dtype != DType.I8 or x.quant is None or w.quant is None:
            continue
        zx = int(x.quant.zero_point[0])
        reach = max(127 - zx, zx + 128)             # the largest |x - z_x| of an int8 input
        rows = np.abs(w.data.astype(np.int64).reshape(w.shape[0], -1)).sum(axis=1) * reach
        bias = node.inputs[2] if len(node.inputs) == 3 and node.inputs[2].is_constant else None
        if bias is not None:
            rows = rows + np.abs(bias.data.astype(np.int64).reshape(-1))
        worst = int(np.argmax(rows))
        if rows[worst] > INT32_MAX:
            tensors = f"weights {w.ref}" + (f", bias {bias.ref}" if bias is not None else "")
            raise QuantizationError(
                f"output channel {worst} can reach an int32 accumulator of {int(rows[worst]):,} ({tensors}, "
                f"input zero point {zx}), past int32's {INT32_MAX:,}: the int8 kernels would overflow",
                node=node.name, op=node.op,
                hint="the weights, bias or scales are too large to compute exactly in int8 (retrain, or "
                     "quantize with larger scales)")


def check_kernels(graph: Graph) -> None:
    """Every node must map to an int8 kernel; list all that do not, at once."""
    problems, unrepresentable = [], []
    for node in graph.nodes:
        try:
            select(node).params(node)
        except UnsupportedError as e:
            problems.append(f"{node.op} '{node.name}': {e.message}")
        except QuantizationError as e:
            unrepresentable.append(f"{node.op} '{node.name}': {e.message}")
    if unrepresentable and not problems:
        raise QuantizationError("the int8 kernels cannot compute these nodes' quantization exactly:\n    "
                                + "\n    ".join(unrepresentable),
                                hint="check the model's Q/DQ scales (or calibrate the float model)")
    problems += unrepresentable
    if problems:
        raise UnsupportedError("the int8 graph has nodes tfc cannot run yet:\n    " + "\n    ".join(problems),
                               hint="see docs/ir.md for the ops with int8 kernels")


def use_onnxruntime_numerics(graph: Graph, requantizations_only: bool = False) -> int:
    """Mark the nodes whose int8 kernels should follow onnxruntime's arithmetic (a QDQ model's
    graph: onnxruntime defines its results; tfc.quant.ort_numerics): every node whose op has the
    `numerics` attribute and for which a kernel with those numerics then runs (sparse layers keep
    the sparse kernels' fixed-point requantization; a batch_matmul with a folded scale has no
    onnxruntime counterpart and keeps its own). requantizations_only: only where that kernel is a
    pure requantization (Kernel.pure_requantization)."""
    fired = 0
    for node in graph.nodes:
        if "numerics" not in node.spec.attrs:
            continue
        node.attrs["numerics"] = ONNXRUNTIME
        try:
            chosen = select(node)
        except UnsupportedError:
            chosen = None
        if getattr(chosen, "numerics", None) != ONNXRUNTIME or (
                requantizations_only and not chosen.pure_requantization):
            node.attrs["numerics"] = node.spec.attrs["numerics"].default
            continue
        fired += 1
    return fired


def lower_to_int8(graph: Graph, numerics: str = "cmsis", onnxruntime_requantize: bool = False) -> dict[str, int]:
    """The whole lowering; returns counters of what it did. numerics="onnxruntime" gives the
    conv/linear/batch_matmul/softmax/mean kernels onnxruntime's arithmetic (QDQ models);
    onnxruntime_requantize gives it to the pure requantizations alone under numerics="cmsis"."""
    from tfc.passes.quantize import legalize
    stats = {"matmul-to-linear": legalize.matmul_to_linear(graph),
             "quantize-on-entry": quantize_on_entry(graph),
             "propagate-params": propagate_params(graph)}
    # After propagation: folding a QDQ bias add needs the params of the layer's input.
    stats["fold-bias-add"] = legalize.fold_bias_add(graph)
    check_annotated(graph)
    from tfc.passes.quantize.transformer_lower import layernorm_constants_to_int32
    stats["layernorm-constants"] = layernorm_constants_to_int32(graph)
    convert_types(graph)
    stats["drop-identity-conversions"] = drop_identity_conversions(graph)
    stats["global-avgpool-as-mean"] = global_avgpool_as_mean(graph)
    stats["split-transposes"] = legalize.split_high_rank_transposes(graph)
    stats["requantize-for-same-params"] = requantize_for_same_params(graph)
    if numerics == "onnxruntime":
        stats["onnxruntime-numerics"] = use_onnxruntime_numerics(graph)
    elif numerics == "cmsis" and onnxruntime_requantize:
        stats["onnxruntime-requantize"] = use_onnxruntime_numerics(graph, requantizations_only=True)
    elif numerics != "cmsis":
        raise QuantizationError(f"numerics={numerics!r} (expected 'cmsis' or 'onnxruntime')")
    from tfc.passes.quantize.transformer_lower import softmax_onto_fixed_grid
    stats["softmax-fixed-grid"] = softmax_onto_fixed_grid(graph)
    graph.remove_unused_constants()
    check_accumulators(graph)
    check_kernels(graph)
    return stats
