"""Data movement: Reshape/Flatten/Squeeze/Unsqueeze (all static reshapes), Transpose, Concat,
Split, Slice, Gather, Expand, Pad, Cast, and the pass-throughs Identity/Dropout/Constant."""
from __future__ import annotations

import numpy as np

from tfc.frontend.onnx.context import ImportContext
from tfc.frontend.onnx.loader import tensor_to_array, to_dtype
from tfc.frontend.onnx.registry import OnnxNode, converter
from tfc.ir.graph import Value
from tfc.ir.types import DType

_INT_MAX = (1 << 63) - 1


def _axis(ctx: ImportContext, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ctx.unsupported(f"{what} {axis} out of range for rank {rank}")
    return axis % rank


def _reshape(ctx: ImportContext, node: OnnxNode, x: Value, shape) -> None:
    ctx.emit("reshape", [x], {"shape": [int(d) for d in shape]}, outputs=node.outputs[:1])


@converter("Reshape")
def convert_reshape(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    target = [int(d) for d in ctx.require_ints(node.input(1), "Reshape's shape").ravel()]
    allow_zero = node.attr("allowzero", 0)
    shape = [x.shape[i] if d == 0 and not allow_zero and i < x.type.rank else d for i, d in enumerate(target)]
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ctx.unsupported(f"Reshape shape {target} is invalid (more than one -1, or a dim below -1)")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        if known == 0 or x.type.size % known:
            raise ctx.unsupported(f"cannot reshape {list(x.shape)} to {target}")
        shape[shape.index(-1)] = x.type.size // known
    _reshape(ctx, node, x, shape)


@converter("Flatten")
def convert_flatten(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    axis = node.attr("axis", 1)
    if not -x.type.rank <= axis <= x.type.rank:
        raise ctx.unsupported(f"axis {axis} out of range for rank {x.type.rank}")
    if axis < 0:
        axis += x.type.rank
    _reshape(ctx, node, x, [int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))])


@converter("Squeeze")
def convert_squeeze(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    if node.input(1):
        axes = {_axis(ctx, int(a), x.type.rank) for a in ctx.require_ints(node.input(1), "Squeeze axes").ravel()}
        if any(x.shape[a] != 1 for a in axes):
            raise ctx.unsupported(f"cannot squeeze axes {sorted(axes)} of shape {list(x.shape)}: they are not 1")
    else:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    _reshape(ctx, node, x, [d for i, d in enumerate(x.shape) if i not in axes])


@converter("Unsqueeze")
def convert_unsqueeze(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    raw = ctx.require_ints(node.input(1), "Unsqueeze axes").ravel()
    rank = x.type.rank + raw.size
    axes = {_axis(ctx, int(a), rank) for a in raw}
    if len(axes) != raw.size:
        raise ctx.unsupported(f"Unsqueeze axes {raw.tolist()} repeat an axis")
    dims = iter(x.shape)
    _reshape(ctx, node, x, [1 if i in axes else next(dims) for i in range(rank)])


@converter("Transpose")
def convert_transpose(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    perm = node.attr("perm", list(range(x.type.rank))[::-1])
    ctx.emit("transpose", [x], {"perm": list(perm)}, outputs=node.outputs[:1])


@converter("Concat")
def convert_concat(ctx: ImportContext, node: OnnxNode) -> None:
    values = ctx.values(node.inputs)
    axis = _axis(ctx, node.attr("axis", 0), values[0].type.rank)
    ctx.emit("concat", values, {"axis": axis}, outputs=node.outputs[:1])


@converter("Split")
def convert_split(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    axis = _axis(ctx, node.attr("axis", 0), x.type.rank)
    dim = x.shape[axis]
    if node.input(1):
        sizes = [int(s) for s in ctx.require_ints(node.input(1), "Split sizes").ravel()]
    else:
        parts = node.attr("num_outputs", len(node.outputs))
        chunk = -(-dim // parts)
        sizes = [min(chunk, dim - i * chunk) for i in range(parts)]
    if len(sizes) != len(node.outputs) or sum(sizes) != dim or min(sizes) < 0:
        raise ctx.unsupported(f"split sizes {sizes} do not divide dim {dim} into {len(node.outputs)} outputs")
    # One static slice per part: each runs as the int8 slice kernel (a node has one arena output
    # in the C backend), and a part nobody reads is dead code canonicalize removes.
    start = 0
    for k, (size, out) in enumerate(zip(sizes, node.outputs)):
        ctx.emit("slice", [x], {"starts": [start], "ends": [start + size], "axes": [axis], "steps": [1]},
                 outputs=[out], name=f"{node.name}_{k}" if len(sizes) > 1 else node.name)
        start += size


@converter("Slice")
def convert_slice(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    starts = ctx.require_ints(node.input(1), "Slice starts").ravel().tolist()
    ends = ctx.require_ints(node.input(2), "Slice ends").ravel().tolist()
    axes = (ctx.require_ints(node.input(3), "Slice axes").ravel().tolist() if node.input(3)
            else list(range(len(starts))))
    steps = (ctx.require_ints(node.input(4), "Slice steps").ravel().tolist() if node.input(4)
             else [1] * len(starts))
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise ctx.unsupported("Slice starts/ends/axes/steps differ in length, or a step is 0")
    out = {"starts": [], "ends": [], "axes": [], "steps": []}
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(ctx, int(a), x.type.rank)
        s, e = _clamp_slice(int(s), int(e), int(st), x.shape[a])
        for key, v in zip(("starts", "ends", "axes", "steps"), (s, e, a, int(st))):
            out[key].append(v)
    ctx.emit("slice", [x], out, outputs=node.outputs[:1])


def _clamp_slice(start: int, end: int, step: int, dim: int) -> tuple[int, int]:
    """ONNX Slice's clamping; an end before index 0 (negative step) becomes the IR's 'no end'."""
    if start < 0:
        start += dim
    if end < 0 and end > -_INT_MAX:
        end += dim
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    return start, -(1 << 62) if end < 0 else end


@converter("Gather")
def convert_gather(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    axis = _axis(ctx, node.attr("axis", 0), x.type.rank)
    indices = ctx.require_const(node.input(1), "Gather indices")
    if indices.size and (indices.min() < -x.shape[axis] or indices.max() >= x.shape[axis]):
        raise ctx.unsupported(f"Gather indices outside [-{x.shape[axis]}, {x.shape[axis]})")
    ctx.emit("gather", [x, ctx.value(node.input(1))], {"axis": axis}, outputs=node.outputs[:1])


@converter("Expand")
def convert_expand(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    shape = [int(d) for d in ctx.require_ints(node.input(1), "Expand shape").ravel()]
    ctx.emit("expand", [x], {"shape": shape}, outputs=node.outputs[:1])


@converter("Tile")
def convert_tile(ctx: ImportContext, node: OnnxNode) -> None:
    """Tile as a broadcast: x [d0, d1] -> reshape [1, d0, 1, d1] -> expand [r0, d0, r1, d1] ->
    reshape [r0*d0, r1*d1] (data movement only)."""
    x = ctx.value(node.input(0))
    repeats = [int(r) for r in ctx.require_const(node.input(1), "Tile repeats").ravel()]
    if len(repeats) != x.type.rank or min(repeats, default=1) < 0:
        raise ctx.unsupported(f"Tile repeats {repeats} do not fit shape {list(x.shape)}")
    data = ctx.const(node.input(0))
    if data is not None:
        ctx.set_const(node.output(0), np.tile(data, repeats))
        return
    if all(r == 1 for r in repeats):
        ctx.define(node.output(0), x)
        return
    n = node.name
    spread = ctx.emit("reshape", [x], {"shape": [d for dim in x.shape for d in (1, dim)]}, name=f"{n}_spread")[0]
    tiled = ctx.emit("expand", [spread], {"shape": [d for r, dim in zip(repeats, x.shape) for d in (r, dim)]},
                     name=f"{n}_expand")[0]
    _reshape(ctx, node, tiled, [r * dim for r, dim in zip(repeats, x.shape)])


@converter("Col2Im")
def convert_col2im(ctx: ImportContext, node: OnnxNode) -> None:
    """Col2Im of non-overlapping blocks (stride = block, no pads, no dilation; MobileViTV2's
    fold): [N, C*kh*kw, bh*bw] -> [N, C, kh, kw, bh, bw] -> [N, C, bh, kh, bw, kw] -> [N, C, H, W]."""
    x = ctx.value(node.input(0))
    image = [int(d) for d in ctx.require_const(node.input(1), "Col2Im image_shape").ravel()]
    block = [int(d) for d in ctx.require_const(node.input(2), "Col2Im block_shape").ravel()]
    strides = list(node.attr("strides", [1] * len(block)))
    pads = list(node.attr("pads", [0] * 2 * len(block)))
    dilations = list(node.attr("dilations", [1] * len(block)))
    if len(image) != 2 or strides != block or any(pads) or any(d != 1 for d in dilations):
        raise ctx.unsupported(f"Col2Im with image {image}, block {block}, strides {strides}, pads {pads}, "
                              f"dilations {dilations}: only non-overlapping 2-D blocks are supported",
                              hint="fold with stride equal to the kernel and no padding")
    (kh, kw), (h, w) = block, image
    n, ckk, blocks = x.shape
    if h % kh or w % kw or ckk % (kh * kw) or blocks != (h // kh) * (w // kw):
        raise ctx.unsupported(f"Col2Im input {list(x.shape)} does not fold into image {image} by blocks {block}")
    c = ckk // (kh * kw)
    split = ctx.emit("reshape", [x], {"shape": [n, c, kh, kw, h // kh, w // kw]}, name=f"{node.name}_blocks")[0]
    placed = ctx.emit("transpose", [split], {"perm": [0, 1, 4, 2, 5, 3]}, name=f"{node.name}_place")[0]
    _reshape(ctx, node, placed, [n, c, h, w])


@converter("Pad")
def convert_pad(ctx: ImportContext, node: OnnxNode) -> None:
    x = ctx.value(node.input(0))
    rank = x.type.rank
    raw = [int(p) for p in ctx.require_ints(node.input(1), "Pad pads").ravel()]
    axes = ([_axis(ctx, int(a), rank) for a in ctx.require_ints(node.input(3), "Pad axes").ravel()]
            if node.input(3) else list(range(rank)))
    if len(raw) != 2 * len(axes):
        raise ctx.unsupported(f"pads has {len(raw)} values for {len(axes)} axes")
    pads = [0] * 2 * rank
    for i, a in enumerate(axes):
        pads[a], pads[a + rank] = raw[i], raw[i + len(axes)]
    value = 0.0
    if node.input(2):
        value = float(ctx.require_const(node.input(2), "Pad constant_value").reshape(-1)[0])
        if x.quant is not None and not x.dtype.is_float:
            # A Pad of quantized integers (QuantizeLinear -> Pad -> ...): its constant_value is a
            # stored integer; the IR's value is in the data's units, the real it stands for.
            if x.quant.axis is not None:
                raise ctx.unsupported("Pad of a per-channel quantized tensor")
            value = float(np.float32(value - x.quant.zero_point[0]) * np.float32(x.quant.scale[0]))
    mode = node.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise ctx.unsupported(f"Pad mode '{mode}' is not supported", hint="use constant, reflect or edge")
    ctx.emit("pad", [x], {"pads": pads, "mode": mode, "value": value}, outputs=node.outputs[:1])


@converter("Cast")
def convert_cast(ctx: ImportContext, node: OnnxNode) -> None:
    dtype = to_dtype(node.attr("to"), file=ctx.file, what=f"Cast '{node.onnx_name or node.name}' target")
    ctx.emit("cast", ctx.values(node.inputs[:1]), {"to": dtype.value}, outputs=node.outputs[:1])


@converter("CastLike")
def convert_cast_like(ctx: ImportContext, node: OnnxNode) -> None:
    target = ctx.const(node.input(1))
    dtype = DType.from_numpy(target.dtype) if target is not None else ctx.value(node.input(1)).dtype
    ctx.emit("cast", ctx.values(node.inputs[:1]), {"to": dtype.value}, outputs=node.outputs[:1])


@converter("Identity")
def convert_identity(ctx: ImportContext, node: OnnxNode) -> None:
    _alias(ctx, node.input(0), node.output(0))


@converter("Dropout")
def convert_dropout(ctx: ImportContext, node: OnnxNode) -> None:
    """Inference Dropout is the identity; its mask is all true."""
    if node.input(2) and bool(ctx.require_const(node.input(2), "Dropout training_mode").reshape(-1)[0]):
        raise ctx.unsupported("Dropout with training_mode=true", hint="export the model in eval mode")
    _alias(ctx, node.input(0), node.output(0))
    if node.output(1):
        ctx.set_const(node.output(1), np.ones(ctx.shape_of(node.input(0)), dtype=bool))


def _alias(ctx: ImportContext, source: str, target: str) -> None:
    array = ctx.const(source)
    if array is not None:
        ctx.set_const(target, array)
    elif not ctx.alias_pending(source, target):
        ctx.define(target, ctx.value(source))


@converter("Constant")
def convert_constant(ctx: ImportContext, node: OnnxNode) -> None:
    attrs = node.attrs
    if "value" in attrs:
        array = tensor_to_array(attrs["value"], file=ctx.file, what=f"Constant '{node.onnx_name or node.name}'")
    elif "value_float" in attrs:
        array = np.array(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        array = np.array(attrs["value_floats"], dtype=np.float32)
    elif "value_int" in attrs:
        array = np.array(attrs["value_int"], dtype=np.int64)
    elif "value_ints" in attrs:
        array = np.array(attrs["value_ints"], dtype=np.int64)
    else:
        raise ctx.unsupported(f"Constant with {sorted(attrs) or 'no value'} is not supported",
                              hint="tfc reads Constant value/value_float(s)/value_int(s); no strings or sparse tensors")
    ctx.set_const(node.output(0), array)
