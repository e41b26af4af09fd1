"""Convolution, pooling, normalization, Gemm/MatMul, Softmax, ReduceMean.

Conv/pool/BatchNorm on 4-D NCHW activations import as NHWC ops between layout transposes (see
layout.py); 1-D (N,C,L) variants run as 2-D ops with height 1.
"""
from __future__ import annotations

import math

import numpy as np

from tfc.frontend.onnx.context import ImportContext
from tfc.frontend.onnx.layout import OIHW_TO_OHWI, expand_1d, wrap_nhwc
from tfc.frontend.onnx.registry import OnnxNode, converter
from tfc.ir.graph import Value


# ---------------------------------------------------------------------------------- windows
def _spatial_rank(ctx: ImportContext, x: Value) -> int:
    if x.type.rank not in (3, 4):
        raise ctx.unsupported(f"only 1-D and 2-D {ctx.node.op_type} are supported; the input has shape {list(x.shape)}",
                              hint="tfc targets 2-D vision and 1-D sequence models")
    return x.type.rank - 2


def _window_params(ctx: ImportContext, node: OnnxNode, in_size: list[int], kernel: list[int],
                   rank: int) -> tuple[list[int], list[int], list[int]]:
    """strides, dilations and [begins..., ends...] pads after auto_pad, as 2-D lists."""
    strides = list(node.attr("strides", [1] * rank))
    dilations = list(node.attr("dilations", [1] * rank))
    pads = list(node.attr("pads", [0] * 2 * rank))
    auto_pad = node.attr("auto_pad", "NOTSET")
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank or len(kernel) != rank:
        raise ctx.unsupported(f"strides {strides}, dilations {dilations}, pads {pads} and kernel {kernel} "
                              f"do not fit a {rank}-D window")
    if min(strides + dilations + kernel) <= 0 or min(pads) < 0:
        raise ctx.unsupported(f"strides {strides}, dilations {dilations}, kernel {kernel} must be > 0 and pads {pads} >= 0")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * 2 * rank
        for i in range(rank):
            out = -(-in_size[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_size[i])
            small, large = total // 2, total - total // 2
            pads[i], pads[i + rank] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad == "VALID":
        pads = [0] * 2 * rank
    elif auto_pad != "NOTSET":
        raise ctx.unsupported(f"auto_pad='{auto_pad}' is not an ONNX value",
                              hint="use NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    return strides, dilations, pads


def _to_2d(rank: int, kernel, strides, dilations, pads):
    """1-D window parameters as 2-D ones (height 1); pads become [top, left, bottom, right]."""
    if rank == 1:
        return [1, kernel[0]], [1, strides[0]], [1, dilations[0]], [0, pads[0], 0, pads[1]]
    return list(kernel), list(strides), list(dilations), [pads[0], pads[1], pads[2], pads[3]]


def _run_2d(ctx: ImportContext, x: Value, rank: int, output: str, build) -> None:
    """Emit `build` as an NHWC op on x (1-D inputs go through a height-1 reshape)."""
    if rank == 2:
        wrap_nhwc(ctx, x, output, build)
        return
    y = wrap_nhwc(ctx, expand_1d(ctx, x), None, build)
    n, c, _, length = y.shape
    ctx.emit("reshape", [y], {"shape": [n, c, length]}, outputs=[output])


# ---------------------------------------------------------------------------------- conv
@converter("Conv")
def convert_conv(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    rank = _spatial_rank(ctx, x)
    w_name = node.input(1)
    w_shape = ctx.shape_of(w_name)
    if len(w_shape) != rank + 2:
        raise ctx.unsupported(f"weight shape {list(w_shape)} does not fit a {rank}-D convolution")
    kernel = list(w_shape[2:])
    if node.attr("kernel_shape") is not None and list(node.attr("kernel_shape")) != kernel:
        raise ctx.unsupported(f"kernel_shape {node.attr('kernel_shape')} disagrees with the weight shape {list(w_shape)}")
    strides, dilations, pads = _window_params(ctx, node, list(x.shape[2:]), kernel, rank)
    kernel, strides, dilations, pads = _to_2d(rank, kernel, strides, dilations, pads)
    if rank == 2:
        w = ctx.weight(w_name, OIHW_TO_OHWI)
    else:       # [O, I, L] -> [O, L, I] -> [O, 1, L, I]
        w_t = ctx.weight(w_name, (0, 2, 1))
        w = ctx.emit("reshape", [w_t], {"shape": [w_shape[0], 1, w_shape[2], w_shape[1]]},
                     name=f"{node.name}_w2d")[0]
    bias = ctx.values([node.input(2)])
    attrs = {"stride": strides, "dilation": dilations, "pad": pads, "group": node.attr("group", 1)}
    _run_2d(ctx, x, rank, node.output(0),
            lambda x_nhwc: ctx.emit("conv2d", [x_nhwc, w, *bias], attrs, name=node.name)[0])


# ---------------------------------------------------------------------------------- pooling
def _ceil_extra_pad(in_size, kernel, stride, dilation, pad_begin, pad_end) -> int:
    """Extra end padding that makes floor-mode output sizes equal ceil_mode's, where the last
    window must still start inside the input or its begin padding (PyTorch's rule, ONNX's too)."""
    span = dilation * (kernel - 1) + 1
    out = math.ceil((in_size + pad_begin + pad_end - span) / stride) + 1
    if (out - 1) * stride >= in_size + pad_begin:
        out -= 1
    return max(0, (out - 1) * stride + span - (in_size + pad_begin + pad_end))


@converter("AveragePool", "MaxPool")
def convert_pool(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    rank = _spatial_rank(ctx, x)
    if node.output(1):
        raise ctx.unsupported("MaxPool's Indices output is not supported",
                              hint="export the model for inference (no return_indices)")
    kernel = list(node.attr("kernel_shape", []))
    strides, dilations, pads = _window_params(ctx, node, list(x.shape[2:]), kernel, rank)
    is_max = node.op_type == "MaxPool"
    if not is_max and any(d != 1 for d in dilations):
        raise ctx.unsupported(f"AveragePool with dilations {dilations} is not supported",
                              hint="use dilations of 1")
    count_include_pad = bool(node.attr("count_include_pad", 0))
    if node.attr("ceil_mode", 0):
        extra = [_ceil_extra_pad(x.shape[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[rank + i])
                 for i in range(rank)]
        if any(extra) and not is_max and count_include_pad:
            # The divisor counts the pads but not the overhang past them (ONNX, onnxruntime and
            # PyTorch agree): zero-pad explicitly, then average counting only real elements.
            if any(pads):
                x = ctx.emit("pad", [x], {"pads": [0, 0] + pads[:rank] + [0, 0] + pads[rank:],
                                          "mode": "constant", "value": 0.0}, name=f"{node.name}_pad")[0]
            pads, count_include_pad = [0] * 2 * rank, False
        pads = pads[:rank] + [p + e for p, e in zip(pads[rank:], extra)]
    kernel, strides, dilations, pads = _to_2d(rank, kernel, strides, dilations, pads)
    if is_max:
        op, attrs = "maxpool2d", {"kernel": kernel, "stride": strides, "pad": pads, "dilation": dilations}
    else:
        op, attrs = "avgpool2d", {"kernel": kernel, "stride": strides, "pad": pads,
                                  "count_include_pad": count_include_pad}
    _run_2d(ctx, x, rank, node.output(0), lambda x_nhwc: ctx.emit(op, [x_nhwc], attrs, name=node.name)[0])


@converter("GlobalAveragePool", "GlobalMaxPool")
def convert_global_pool(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    rank = _spatial_rank(ctx, x)
    kernel = list(x.shape[2:]) if rank == 2 else [1, x.shape[2]]
    if node.op_type == "GlobalAveragePool" and rank == 2:
        # A mean over H and W, the IR the dynamo exporter and TFLite's MEAN give: as int8 it
        # rounds once onto its own grid (onnxruntime's quantizer also gives GlobalAveragePool
        # its own, AveragePool its input's), where avgpool2d keeps its input's.
        op, attrs = "reduce_mean", {"axes": [1, 2], "keepdims": True}
    elif node.op_type == "GlobalAveragePool":
        op, attrs = "avgpool2d", {"kernel": kernel}
    else:
        op, attrs = "maxpool2d", {"kernel": kernel}
    _run_2d(ctx, x, rank, node.output(0), lambda x_nhwc: ctx.emit(op, [x_nhwc], attrs, name=node.name)[0])


# ---------------------------------------------------------------------------------- normalization
@converter("BatchNormalization")
def convert_batchnorm(ctx: ImportContext, node: OnnxNode) -> None:
    if node.attr("training_mode", 0) or any(node.outputs[1:]):
        raise ctx.unsupported("BatchNormalization in training mode (running statistics outputs) is not supported",
                              hint="export the model in eval mode (model.eval())")
    x = ctx.value(node.input(0))
    params = ctx.values(node.inputs[1:5])
    eps = node.attr("epsilon", 1e-5)
    if x.type.rank == 4:
        wrap_nhwc(ctx, x, node.output(0), lambda x_nhwc: ctx.emit(
            "batchnorm", [x_nhwc, *params], {"axis": 3, "epsilon": eps}, name=node.name)[0])
    elif x.type.rank >= 2:
        ctx.emit("batchnorm", [x, *params], {"axis": 1, "epsilon": eps}, outputs=node.outputs[:1])
    else:
        raise ctx.unsupported(f"BatchNormalization of a rank-{x.type.rank} tensor")


@converter("LayerNormalization")
def convert_layernorm(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    axis = node.attr("axis", -1)
    eps = node.attr("epsilon", 1e-5)
    if not -x.type.rank <= axis < x.type.rank:
        raise ctx.unsupported(f"axis {axis} out of range for rank {x.type.rank}")
    ctx.emit("layernorm", ctx.values(node.inputs[:3]), {"axis": axis, "epsilon": eps}, outputs=node.outputs[:1])
    if node.output(1) or node.output(2):
        _layernorm_statistics(ctx, node, x, axis % x.type.rank, eps)


def _layernorm_statistics(ctx: ImportContext, node: OnnxNode, x: Value, axis: int, eps: float) -> None:
    """LayerNormalization's optional Mean and InvStdDev outputs, from their definitions."""
    axes = list(range(axis, x.type.rank))
    n = node.name
    mean = ctx.emit("reduce_mean", [x], {"axes": axes, "keepdims": True}, name=f"{n}_mean",
                    outputs=[node.output(1)] if node.output(1) else None)[0]
    if not node.output(2):
        return
    centered = ctx.emit("sub", [x, mean], name=f"{n}_centered")[0]
    square = ctx.emit("mul", [centered, centered], name=f"{n}_square")[0]
    var = ctx.emit("reduce_mean", [square], {"axes": axes, "keepdims": True}, name=f"{n}_var")[0]
    eps_c = ctx.graph.add_constant(f"{n}_epsilon", np.array(eps, dtype=x.dtype.numpy))
    std = ctx.emit("sqrt", [ctx.emit("add", [var, eps_c], name=f"{n}_var_eps")[0]], name=f"{n}_std")[0]
    ctx.emit("reciprocal", [std], name=f"{n}_inv_std", outputs=[node.output(2)])


@converter("InstanceNormalization", "GroupNormalization")
def convert_group_norm(ctx: ImportContext, node: OnnxNode) -> None:
    """Normalization over groups of channels and all spatial positions, as a LayerNorm of the
    [N, groups, C/groups * spatial] view; then the per-channel affine (left out where it is the
    identity, as in PyTorch's GroupNorm export, which applies its own Mul/Add after)."""
    x = ctx.value(node.input(0))
    if x.type.rank < 3:
        raise ctx.unsupported(f"{node.op_type} of a rank-{x.type.rank} tensor", hint="it needs [N, C, spatial...]")
    n, c = x.shape[:2]
    groups = c if node.op_type == "InstanceNormalization" else node.attr("num_groups")
    if groups is None or groups <= 0 or c % groups:
        raise ctx.unsupported(f"num_groups {groups} does not divide the {c} channels")
    scale, bias = (ctx.require_const(node.input(i), f"{node.op_type} {what}").astype(np.float32).ravel()
                   for i, what in ((1, "scale"), (2, "bias")))
    if scale.size != c or bias.size != c:
        raise ctx.unsupported(f"scale {scale.size} and bias {bias.size} values for {c} channels")
    length = x.type.size // (n * groups)
    name = node.name
    view = ctx.emit("reshape", [x], {"shape": [n, groups, length]}, name=f"{name}_groups")[0]
    ones = ctx.graph.add_constant(f"{name}_ones", np.ones(length, np.float32))
    normed = ctx.emit("layernorm", [view, ones], {"axis": -1, "epsilon": node.attr("epsilon", 1e-5)}, name=name)[0]
    identity = np.all(scale == 1) and np.all(bias == 0)
    y = ctx.emit("reshape", [normed], {"shape": list(x.shape)}, name=f"{name}_back",
                 outputs=node.outputs[:1] if identity else None)[0]
    if identity:
        return
    per_channel = [c] + [1] * (x.type.rank - 2)
    gamma = ctx.graph.add_constant(f"{name}_scale", scale.reshape(per_channel))
    beta = ctx.graph.add_constant(f"{name}_bias", bias.reshape(per_channel))
    y = ctx.emit("mul", [y, gamma], name=f"{name}_scale")[0]
    ctx.emit("add", [y, beta], name=f"{name}_bias", outputs=node.outputs[:1])


@converter("Softmax")
def convert_softmax(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    axis = node.attr("axis", -1)
    if not -x.type.rank <= axis < x.type.rank:
        raise ctx.unsupported(f"axis {axis} out of range for rank {x.type.rank}")
    ctx.emit("softmax", [x], {"axis": axis % x.type.rank}, outputs=node.outputs[:1])


def _reduce_axes(ctx: ImportContext, node: OnnxNode, x: Value, axes_input_since: int) -> list[int] | None:
    """The reduced axes (attribute, or input from opset `axes_input_since`); None when the op
    is the identity (empty axes with noop_with_empty_axes)."""
    if ctx.opset >= axes_input_since:
        axes = ctx.require_ints(node.input(1), f"{node.op_type} axes").tolist() if node.input(1) else []
    else:
        axes = list(node.attr("axes", []))
    if not axes:
        return None if node.attr("noop_with_empty_axes", 0) else list(range(x.type.rank))
    return [int(a) for a in np.ravel(axes)]


_AXES_INPUT_SINCE = {"ReduceMean": 18, "ReduceSum": 13, "ReduceL2": 18, "ReduceSumSquare": 18}


@converter(*_AXES_INPUT_SINCE)
def convert_reduce(ctx: ImportContext, node: OnnxNode) -> None:
    """ReduceMean; ReduceSum as the mean times the count; ReduceSumSquare and ReduceL2 from the
    mean of x*x (one reduce kernel serves them all)."""
    x = ctx.value(node.input(0))
    axes = _reduce_axes(ctx, node, x, _AXES_INPUT_SINCE[node.op_type])
    if axes is None:
        ctx.define(node.output(0), x)
        return
    keepdims = bool(node.attr("keepdims", 1))
    if node.op_type == "ReduceMean":
        ctx.emit("reduce_mean", [x], {"axes": axes, "keepdims": keepdims}, outputs=node.outputs[:1])
        return
    squared = node.op_type in ("ReduceL2", "ReduceSumSquare")
    data = ctx.const(node.input(0))
    if data is not None:            # shape arithmetic: exact, integers included
        axes_t = tuple(a % data.ndim for a in axes)
        total = np.sum(data * data if squared else data, axis=axes_t, keepdims=keepdims)
        ctx.set_const(node.output(0), (np.sqrt(total) if node.op_type == "ReduceL2" else total).astype(data.dtype))
        return
    if not x.dtype.is_float:
        raise ctx.unsupported(f"{node.op_type} of a computed {x.dtype.value} tensor",
                              hint="tfc reduces float tensors (integer ones only as constants)")
    n = node.name
    if squared:
        x = ctx.emit("mul", [x, x], name=f"{n}_square")[0]
    mean = ctx.emit("reduce_mean", [x], {"axes": axes, "keepdims": keepdims}, name=f"{n}_mean")[0]
    count = int(np.prod([x.shape[a] for a in {a % x.type.rank for a in axes}]))
    last = node.op_type != "ReduceL2"
    total = ctx.emit("mul", [mean, ctx.graph.add_constant(f"{n}_count", np.array(count, x.dtype.numpy))],
                     name=n if last else f"{n}_sum", outputs=node.outputs[:1] if last else None)[0]
    if not last:
        ctx.emit("sqrt", [total], name=n, outputs=node.outputs[:1])


# ---------------------------------------------------------------------------------- dense
@converter("MatMul")
def convert_matmul(ctx: ImportContext, node: OnnxNode) -> None:
    ctx.emit("matmul", ctx.values(node.inputs[:2]), outputs=node.outputs[:1])


@converter("Einsum")
def convert_einsum(ctx: ImportContext, node: OnnxNode) -> None:
    """A two-operand Einsum that is a batched matrix product (attention's 'bhlk,bhtk->bhlt'):
    transpose each operand to [batch, free, contracted] / [batch, contracted, free], one matmul,
    then reshape and transpose to the output's letters."""
    equation = node.attr("equation", "").replace(" ", "")
    lhs, _, out = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2 or not _ or "." in equation or not all(t.isalpha() and len(set(t)) == len(t) for t in terms + [out]):
        raise ctx.unsupported(f"Einsum '{equation}' is not a product of two operands with explicit output letters",
                              hint="tfc imports Einsum equations that are a (batched) matrix product")
    a_terms, b_terms = terms
    a, b = ctx.values(node.inputs[:2])
    if len(a_terms) != a.type.rank or len(b_terms) != b.type.rank:
        raise ctx.unsupported(f"Einsum '{equation}' does not fit shapes {list(a.shape)} and {list(b.shape)}")
    size = dict(zip(a_terms, a.shape)) | dict(zip(b_terms, b.shape))
    batch = [c for c in out if c in a_terms and c in b_terms]
    m = [c for c in a_terms if c in out and c not in b_terms]
    n = [c for c in b_terms if c in out and c not in a_terms]
    k = [c for c in a_terms if c in b_terms and c not in out]
    if sorted(batch + m + n) != sorted(out) or sorted(batch + m + k) != sorted(a_terms) \
            or sorted(batch + k + n) != sorted(b_terms) \
            or any(dict(zip(a_terms, a.shape))[c] != dict(zip(b_terms, b.shape))[c] for c in batch + k):
        raise ctx.unsupported(f"Einsum '{equation}' on shapes {list(a.shape)} and {list(b.shape)} is not a "
                              "batched matrix product (a letter summed in one operand only, or sizes differ)")
    def dims(letters):
        return [size[c] for c in letters]

    def prod(letters):
        return int(np.prod(dims(letters)))
    lhs_m = _arrange(ctx, a, a_terms, batch + m + k, dims(batch) + [prod(m), prod(k)], f"{node.name}_a")
    rhs_m = _arrange(ctx, b, b_terms, batch + k + n, dims(batch) + [prod(k), prod(n)], f"{node.name}_b")
    done = out == "".join(batch + m + n) and len(m) == 1 and len(n) == 1
    y = ctx.emit("matmul", [lhs_m, rhs_m], name=node.name, outputs=node.outputs[:1] if done else None)[0]
    if done:
        return
    perm = [(batch + m + n).index(c) for c in out]
    ordered = perm == list(range(len(perm)))
    y = ctx.emit("reshape", [y], {"shape": dims(batch + m + n)}, name=f"{node.name}_split",
                 outputs=node.outputs[:1] if ordered else None)[0]
    if not ordered:
        ctx.emit("transpose", [y], {"perm": perm}, name=f"{node.name}_out", outputs=node.outputs[:1])


def _arrange(ctx: ImportContext, x: Value, letters: str, order: list[str], shape: list[int], name: str) -> Value:
    """x with its axes (named by `letters`) in `order`, reshaped to `shape`; no-ops left out."""
    perm = [letters.index(c) for c in order]
    if perm != list(range(len(perm))):
        x = ctx.emit("transpose", [x], {"perm": perm}, name=f"{name}_t")[0]
    if list(x.shape) != shape:
        x = ctx.emit("reshape", [x], {"shape": shape}, name=f"{name}_r")[0]
    return x


@converter("Gemm")
def convert_gemm(ctx: ImportContext, node: OnnxNode) -> None:
    """Y = alpha * A' @ B' + beta * C as linear(A', W=[N,K]) (+ bias when C is one per column)."""
    a = ctx.value(node.input(0))
    if a.type.rank != 2 or len(ctx.shape_of(node.input(1))) != 2:
        raise ctx.unsupported("Gemm takes 2-D A and B")
    if node.attr("transA", 0):
        a = ctx.emit("transpose", [a], {"perm": [1, 0]}, name=f"{node.name}_a_t")[0]
    w = ctx.weight(node.input(1), (0, 1) if node.attr("transB", 0) else (1, 0))
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    n_out = w.shape[0]
    c_name = node.input(2)
    bias = []
    if c_name and alpha == 1.0 and ctx.shape_of(c_name) in ((n_out,), (1, n_out)):
        c = ctx.const(c_name)
        if c is not None:
            bias = [ctx.graph.add_constant(f"{c_name}_bias", (np.float32(beta) * c).reshape(n_out).astype(c.dtype))]
        elif beta == 1.0 and ctx.shape_of(c_name) == (n_out,):
            bias = [ctx.value(c_name)]
    last = not (alpha != 1.0 or (c_name and not bias))
    y = ctx.emit("linear", [a, w, *bias], name=node.name, outputs=node.outputs[:1] if last else None)[0]
    if last:
        return
    if alpha != 1.0:
        scale = ctx.graph.add_constant(f"{node.name}_alpha", np.array(alpha, dtype=y.dtype.numpy))
        done = not c_name
        y = ctx.emit("mul", [y, scale], name=f"{node.name}_alpha", outputs=node.outputs[:1] if done else None)[0]
        if done:
            return
    c = ctx.value(c_name)
    if beta != 1.0:
        beta_c = ctx.graph.add_constant(f"{node.name}_beta", np.array(beta, dtype=c.dtype.numpy))
        c = ctx.emit("mul", [c, beta_c], name=f"{node.name}_beta")[0]
    ctx.emit("add", [y, c], name=f"{node.name}_c", outputs=node.outputs[:1])
