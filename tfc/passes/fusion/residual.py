"""A residual Add folded into the conv that computes one of its operands (conv2d_add).

The conv then writes its result row by row straight into the skip tensor's bytes, so the block
never holds the skip tensor, the conv input and the conv output at once: on ResNet-style blocks
that removes the largest buffer from the peak. Fires only when the skip tensor dies at the Add
(nothing later reads it), since its bytes are overwritten.
"""
from __future__ import annotations

from tfc.ir.ops import get_op

from tfc.passes.fusion.common import storage_root as _storage_root
from tfc.passes.rewrite import is_output


def _last_reader_index(graph, value, order) -> int:
    return max((order[id(n)] for n in value.users), default=-1)


def _candidate(graph, add, i, order, ctx):
    conv_out, residual = add.inputs[i], add.inputs[1 - i]
    conv = conv_out.producer
    if conv is None or conv.op != "conv2d":
        return None
    why = None
    if conv.attrs["group"] != 1:
        why = "the conv is grouped/depthwise (the fused kernel runs arm_convolve_s8 row by row)"
    elif conv.attrs.get("in_layout", "nhwc") != "nhwc" or conv.attrs.get("out_layout", "nhwc") != "nhwc":
        why = "the conv reads or writes NCHW (conv2d_add runs NHWC only)"
    elif conv.attrs["numerics"] != "cmsis":
        why = "numerics=onnxruntime: the fused kernel requantizes the conv in fixed point (arm_convolve_s8)"
    elif conv.inputs[1].sparse is not None:
        why = ("the conv's weights are sparse (SparseLayout): the sparse kernels save more than this "
               "fusion (fuse-sparse-epilogue folds the add into generated code's stores instead)")
    elif len(conv_out.uses) != 1 or is_output(graph, conv_out):
        why = f"{conv_out.ref} has other readers"
    elif residual.is_constant or residual.producer is None and residual not in graph.inputs:
        why = "the other operand is not an activation"
    elif _storage_root(residual) is _storage_root(conv.inputs[0]):
        why = ("the skip tensor is the conv's own input: writing the sum over it row by row would "
               "overwrite rows the conv still reads")
    elif residual.shape != conv_out.shape or residual.dtype != conv_out.dtype:
        why = "operand shapes or types differ (no broadcasting)"
    elif is_output(graph, residual) or _last_reader_index(graph, residual, order) != order[id(add)]:
        why = f"the skip tensor {residual.ref} is read after the add, so its bytes cannot be overwritten"
    elif residual.producer is not None and order[id(residual.producer)] > order[id(conv)]:
        why = None  # the skip branch is computed after the conv: still fine, the fused node runs at the add
    if why:
        ctx.decline("fuse-residual-add", add, why)
        return None
    return conv, residual


def fuse_residual_adds(graph, ctx) -> int:
    fired = 0
    for add in list(graph.nodes_of("add")):
        order = {id(n): k for k, n in enumerate(graph.nodes)}
        quantized = add.output.quant is not None and not add.output.dtype.is_float
        if not quantized and add.output.quant is not None:
            ctx.decline("fuse-residual-add", add, "fake-quantized float graph: fuse after quantize-int8")
            continue
        found = None
        # Prefer the operand computed last: its conv runs right before the add anyway.
        for i in sorted((0, 1), key=lambda k: -order.get(id(add.inputs[k].producer), -1)):
            found = _candidate(graph, add, i, order, ctx)
            if found:
                conv_index = i
                break
        if not found:
            continue
        conv, residual = found
        conv_out = conv.output
        if quantized and conv_out.quant is None:
            ctx.decline("fuse-residual-add", add, f"{conv_out.ref} has no quantization params")
            continue
        bias = conv.inputs[2] if len(conv.inputs) == 3 else None
        if bias is None:
            import numpy as np
            bias = graph.add_constant(conv.name + "_bias0", np.zeros(conv.inputs[1].shape[0], np.int32 if quantized else np.float32),
                                      quant=None)
            if quantized:
                from tfc.ir.types import DType, QuantParams
                s = tuple(float(conv.inputs[0].quant.scale[0]) * w for w in conv.inputs[1].quant.scale)
                bias.quant = QuantParams(s, (0,) * len(s), 0, DType.I32)
        attrs = {k: v for k, v in conv.attrs.items() if k in get_op("conv2d_add").attrs}
        attrs.update(residual_first=conv_index == 1, add_act_min=add.attrs["act_min"], add_act_max=add.attrs["act_max"])
        if quantized:
            attrs.update(mid_scale=conv_out.quant.scale[0], mid_zero_point=conv_out.quant.zero_point[0])
        fused = graph.add_node("conv2d_add", [conv.inputs[0], conv.inputs[1], bias, residual], attrs,
                               name=conv.name, before=add, output_types=[add.output.type])
        fused.output.quant = add.output.quant
        out_name = add.output.name
        graph.replace_all_uses(add.output, fused.output)
        graph.remove_node(add)
        graph.remove_node(conv)
        graph.rename_value(fused.output, out_name)
        graph.rename_node(fused, conv.name)
        fired += 1
    return fired
