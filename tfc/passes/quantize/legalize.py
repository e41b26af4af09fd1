"""Rewrites that put a quantized float graph into the forms the int8 kernels implement.

- matmul(x, constant [in,out]) becomes linear(x, weight [out,in]) (a fully connected layer);
- a constant added right after a conv2d/linear is folded into its bias (TFLite's
  FULLY_CONNECTED/CONV_2D carry the bias; tf2onnx and PyTorch exports split it out).
Each returns how many times it fired.
"""
from __future__ import annotations

import numpy as np

from tfc.ir.graph import Graph, Node
from tfc.ir.ops.quant import dequantize_array
from tfc.ir.types import DType, QuantParams


def _sole_user(graph: Graph, node: Node) -> Node | None:
    out = node.output
    if len(out.uses) != 1 or out in graph.outputs:
        return None
    return out.uses[0][0]


def matmul_to_linear(graph: Graph) -> int:
    fired = 0
    for node in list(graph.nodes_of("matmul")):
        x, w = node.inputs
        if not w.is_constant or w.type.rank != 2 or w.dtype.is_float and w.quant is not None:
            continue
        q = w.quant
        if q is not None and q.axis is not None:
            q = QuantParams(q.scale, q.zero_point, 1 - q.axis, q.storage)
        weight = graph.add_constant(w.name + "_t", np.ascontiguousarray(w.data.T), quant=q)
        linear = graph.add_node("linear", [x, weight], name=node.name, before=node,
                                output_types=[node.output.type])
        linear.output.quant = node.output.quant
        out_name = node.output.name
        graph.replace_all_uses(node.output, linear.output)
        graph.remove_node(node)
        graph.rename_node(linear, node.name)
        graph.rename_value(linear.output, out_name)
        fired += 1
    return fired


def fold_bias_add(graph: Graph) -> int:
    """conv2d/linear followed by add(constant vector over channels) -> the add becomes the bias."""
    fired = 0
    for node in list(graph.nodes_of("conv2d", "linear")):
        add = _sole_user(graph, node)
        if add is None or add.op != "add":
            continue
        other = add.inputs[1] if add.inputs[0] is node.output else add.inputs[0]
        channels = node.output.shape[-1]
        if not other.is_constant:
            continue
        if int(np.prod(other.shape)) != channels or other.shape[-1:] != (channels,):
            continue
        if node.output.quant is not None:
            if _keeps_qdq_rounding(node, other):
                continue
            fired += _fold_quantized_bias_add(graph, node, add, other)
            continue
        if len(node.inputs) == 3:
            old = node.inputs[2]
            if old.quant != other.quant or old.dtype != other.dtype:
                continue
            total = old.data.astype(np.float64 if old.dtype.is_float else np.int64) + other.data.reshape(-1)
            bias = graph.add_constant(old.name + "_plus", total.astype(old.dtype.numpy), quant=old.quant)
            node.set_input(2, bias)
        else:
            q = other.quant
            if q is not None and q.axis is not None:
                q = QuantParams(q.scale, q.zero_point, 0, q.storage)
            bias = graph.add_constant(other.name + "_bias", other.data.reshape(channels), quant=q)
            node.inputs.append(bias)
            bias.uses.append((node, 2))
        node.attrs["act_min"], node.attrs["act_max"] = add.attrs["act_min"], add.attrs["act_max"]
        node.output.quant = add.output.quant
        out_name = add.output.name
        graph.replace_all_uses(add.output, node.output)
        graph.remove_node(add)
        graph.rename_value(node.output, out_name)  # the result keeps the name readers know
        fired += 1
    return fired


def _keeps_qdq_rounding(node: Node, bias) -> bool:
    """A QDQ model that quantizes both the MatMul output and the bias (onnxruntime's form of
    nn.Linear on tokens) defines the result as two roundings: the MatMul onto its own grid, then an
    int8 add. Keeping the add (its int8 bias vector broadcast over the rows) gives onnxruntime's
    integers; folding would round once and land up to 1 + (s_matmul + s_bias) / (2 s_out) LSB away."""
    return (node.op == "linear" and len(node.inputs) == 2 and not bias.dtype.is_float
            and bias.dtype == DType.I8 and bias.quant is not None and bias.quant.axis is None)


def _fold_quantized_bias_add(graph: Graph, node: Node, add: Node, other) -> int:
    """The QDQ form (onnxruntime quantizes a MatMul's output before the bias Add, as PyTorch
    exports nn.Linear on 3-d inputs): the int8 kernels have no broadcasting add, so the bias joins
    the int32 accumulator at input x weight scale, as TFLite's FULLY_CONNECTED does. This drops
    the intermediate rounding onto the MatMul output's grid and the bias's int8 rounding: tfc
    rounds the exact sum once, so it differs from the QDQ graph by at most 1 + (s_matmul + s_bias)
    / (2 s_out) output LSB while the MatMul output stays inside its calibrated range (beyond it
    QDQ clamps before adding the bias; tfc does not, which is closer to the float model)."""
    x, w = node.inputs[0], node.inputs[1]
    if add.output.quant is None or x.quant is None or x.quant.axis is not None or w.quant is None \
            or w.dtype.is_float:
        return 0
    real = other.data.reshape(channels := node.output.shape[-1])
    if not other.dtype.is_float:
        if other.quant is None:
            return 0
        real = dequantize_array(other.data, other.quant).reshape(channels)
    if len(node.inputs) == 3:
        old = node.inputs[2]
        if old.quant is None or old.dtype.is_float:
            return 0
        real = real.astype(np.float64) + dequantize_array(old.data, old.quant).astype(np.float64)
    scales = (np.float32(x.quant.scale[0]) * w.quant.scale_array()).astype(np.float64)
    scales = np.broadcast_to(scales, (channels,))
    info = np.iinfo(np.int32)
    data = np.clip(np.round(real / scales), info.min, info.max).astype(np.int32)
    q = QuantParams(tuple(float(s) for s in scales.astype(np.float32)), (0,) * channels, 0, DType.I32)
    bias = graph.add_constant(other.name + "_bias", data, quant=q)
    if len(node.inputs) == 3:
        node.set_input(2, bias)
    else:
        node.inputs.append(bias)
        bias.uses.append((node, 2))
    node.attrs["act_min"], node.attrs["act_max"] = add.attrs["act_min"], add.attrs["act_max"]
    node.output.quant = add.output.quant
    graph.replace_all_uses(add.output, node.output)
    graph.remove_node(add)
    return 1


def split_high_rank_transposes(graph: Graph) -> int:
    """A transpose the int8 kernel cannot run (rank > 4 after size-1 axes are dropped and axes
    that stay neighbours are merged; MobileViTV2's Col2Im fold is one of rank 5) becomes a chain
    of transposes that each move one axis in front of a block of others: an insertion sort of the
    axes, at most rank - 1 steps, each of rank <= 4 once merged (prefix, moved axis, block, suffix)."""
    from tfc.kernels.movement import simplify_transpose
    fired = 0
    for node in list(graph.nodes_of("transpose")):
        x, perm = node.inputs[0], list(node.attrs["perm"])
        if len(simplify_transpose(tuple(x.shape), tuple(perm))[1]) <= 4:
            continue
        order, current = list(range(len(perm))), x
        steps = []
        for i, axis in enumerate(perm):
            j = order.index(axis)
            if j == i:
                continue
            new = order[:i] + [order[j]] + order[i:j] + order[j + 1:]
            steps.append([order.index(a) for a in new])
            order = new
        for k, step in enumerate(steps):
            last = k == len(steps) - 1
            t = graph.add_node("transpose", [current], {"perm": step}, name=f"{node.name}_step{k}", before=node,
                               output_types=[node.output.type] if last else None)
            t.output.quant = current.quant
            current = t.output
        out_name = node.output.name
        graph.replace_all_uses(node.output, current)
        graph.remove_node(node)
        graph.rename_value(current, out_name)
        fired += 1
    return fired


def fold_channel_affine(graph: Graph) -> int:
    """A float linear followed by per-channel constant multiplies and adds over its output
    channels, through reshapes that keep the channel axis last (LeViT's BatchNorm1d on the
    flattened tokens: linear -> reshape -> mul(scale) -> add(shift)), folds them into its weights
    and bias, as canonicalize folds a batchnorm that follows a conv directly. Calibrated
    separately, each would round onto a grid of its own, with its constants quantized per tensor."""
    fired = 0
    for node in list(graph.nodes_of("linear")):
        w = node.inputs[1]
        if (node.output.quant is not None or not w.is_constant or not w.dtype.is_float or len(w.uses) != 1
                or _clamps(node)):
            continue
        if len(node.inputs) == 3 and not (node.inputs[2].is_constant and node.inputs[2].dtype.is_float
                                          and len(node.inputs[2].uses) == 1):
            continue
        channels = node.output.shape[-1]
        while True:
            tail = node.output
            user = _sole_user(graph, node)
            while user is not None and user.op == "reshape" and user.output.shape[-1:] == (channels,):
                tail = user.output
                user = _sole_user(graph, user)
            vector = _channel_vector(user, tail, channels)
            if vector is None:
                break
            w_data = node.inputs[1].data.astype(np.float64)
            b_data = (node.inputs[2].data.astype(np.float64) if len(node.inputs) == 3
                      else np.zeros(channels))
            if user.op == "mul":
                w_data, b_data = w_data * vector[:, None], b_data * vector
            else:
                b_data = b_data + vector
            node.set_input(1, graph.add_constant(w.name + "_affine", w_data.astype(np.float32)))
            bias = graph.add_constant(f"{node.name}.bias_affine", b_data.astype(np.float32))
            if len(node.inputs) == 3:
                node.set_input(2, bias)
            else:
                node.inputs.append(bias)
                bias.uses.append((node, 2))
            out_name = user.output.name
            graph.replace_all_uses(user.output, tail)
            graph.remove_node(user)
            graph.rename_value(tail, out_name)
            fired += 1
    graph.remove_unused_constants()
    return fired


def _clamps(node: Node) -> bool:
    return (node.attrs.get("act_min", -np.inf), node.attrs.get("act_max", np.inf)) != (-np.inf, np.inf)


def _channel_vector(user: Node | None, tail, channels: int) -> np.ndarray | None:
    """The constant vector over the last axis that `user` (a mul or an add of `tail`, without an
    output clamp, whose result has tail's shape) applies, else None."""
    if user is None or _clamps(user) or user.output.shape != tail.shape or not (user.op == "mul" or user.op == "add"):
        return None
    other = user.inputs[1] if user.inputs[0] is tail else user.inputs[0]
    if not other.is_constant or not other.dtype.is_float or other.quant is not None:
        return None
    if int(np.prod(other.shape)) != channels or other.shape[-1:] != (channels,):
        return None
    return other.data.astype(np.float64).reshape(channels)
