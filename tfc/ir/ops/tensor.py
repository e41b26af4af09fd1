"""Data-movement ops: reshape, transpose, concat, split, slice, gather, expand, pad."""
from __future__ import annotations

import numpy as np

from tfc.ir.ops.base import NUMERICS_ATTR, Attr, OpSpec, normalize_axis, real_type, register_op, shape_error
from tfc.ir.types import TensorType


class _Movement(OpSpec):
    """Data movement keeps the element type: an int8 tensor stays int8 with the same params."""

    moves_data = True

    def _type(self, node):
        return node.inputs[0].type


@register_op
class Reshape(_Movement):
    """Reshape to a fully static `shape` (the importer resolves -1 and 0)."""

    name = "reshape"
    grid_transparent = True
    attrs = {"shape": Attr("ints")}

    def infer(self, node):
        t = self._type(node)
        shape = tuple(node.attrs["shape"])
        if any(d < 0 for d in shape) or int(np.prod(shape)) != t.size:
            raise shape_error(node, f"cannot reshape {list(t.shape)} to {list(shape)}")
        return [t.with_shape(shape)]

    def reference(self, node, inputs):
        return [inputs[0].reshape(node.attrs["shape"])]


@register_op
class Transpose(_Movement):
    name = "transpose"
    grid_transparent = True
    attrs = {"perm": Attr("ints")}

    def infer(self, node):
        t = self._type(node)
        perm = node.attrs["perm"]
        if sorted(perm) != list(range(t.rank)):
            raise shape_error(node, f"perm {perm} is not a permutation of rank {t.rank}")
        return [t.with_shape(tuple(t.shape[p] for p in perm))]

    def reference(self, node, inputs):
        return [np.ascontiguousarray(inputs[0].transpose(node.attrs["perm"]))]


@register_op
class Concat(OpSpec):
    name = "concat"
    layout_agnostic = True
    axis_attrs = ("axis",)
    num_inputs = (1, 1 << 16)
    attrs = {"axis": Attr("int"), **NUMERICS_ATTR}

    def infer(self, node):
        types = [real_type(v) if any(u.dtype.is_float for u in node.inputs) else v.type
                 for v in node.inputs]
        rank = types[0].rank
        axis = normalize_axis(node, node.attrs["axis"], rank)
        base = list(types[0].shape)
        for t in types[1:]:
            if t.rank != rank or any(d != e for i, (d, e) in enumerate(zip(t.shape, base)) if i != axis):
                raise shape_error(node, f"cannot concatenate {list(t.shape)} with {base} on axis {axis}")
        base[axis] = sum(t.shape[axis] for t in types)
        return [types[0].with_shape(base)]

    def reference(self, node, inputs):
        return [np.concatenate(inputs, axis=node.attrs["axis"]).astype(inputs[0].dtype)]


@register_op
class Split(_Movement):
    name = "split"
    layout_agnostic = True
    axis_attrs = ("axis",)
    attrs = {"axis": Attr("int"), "sizes": Attr("ints")}

    def infer(self, node):
        t = self._type(node)
        axis = normalize_axis(node, node.attrs["axis"], t.rank)
        sizes = node.attrs["sizes"]
        if sum(sizes) != t.shape[axis] or any(s < 0 for s in sizes):
            raise shape_error(node, f"split sizes {sizes} do not add up to {t.shape[axis]}")
        return [t.with_shape(t.shape[:axis] + (s,) + t.shape[axis + 1:]) for s in sizes]

    def reference(self, node, inputs):
        cuts = np.cumsum(node.attrs["sizes"])[:-1]
        return [np.ascontiguousarray(p) for p in np.split(inputs[0], cuts, axis=node.attrs["axis"])]


@register_op
class Slice(_Movement):
    """Static slice; starts/ends are already clamped to the dims (the importer does that)."""

    name = "slice"
    layout_agnostic = True
    axis_attrs = ("axes",)
    attrs = {"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints"), "steps": Attr("ints")}

    def _index(self, node, rank):
        a = node.attrs
        if not len(a["starts"]) == len(a["ends"]) == len(a["axes"]) == len(a["steps"]):
            raise shape_error(node, "starts, ends, axes and steps must have the same length")
        index = [slice(None)] * rank
        for s, e, ax, st in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
            if st == 0:
                raise shape_error(node, "slice step 0")
            index[normalize_axis(node, ax, rank)] = slice(s, None if e == -(1 << 62) else e, st)
        return tuple(index)

    def infer(self, node):
        t = self._type(node)
        # From the slices alone: shape inference must not allocate the tensor.
        shape = tuple(len(range(*s.indices(d))) for s, d in zip(self._index(node, t.rank), t.shape))
        return [t.with_shape(shape)]

    def reference(self, node, inputs):
        return [np.ascontiguousarray(inputs[0][self._index(node, inputs[0].ndim)])]


@register_op
class Gather(_Movement):
    """numpy.take along `axis` with constant integer indices (input 1)."""

    name = "gather"
    num_inputs = (2, 2)
    attrs = {"axis": Attr("int", 0)}

    def infer(self, node):
        t = self._type(node)
        idx = node.inputs[1]
        axis = normalize_axis(node, node.attrs["axis"], t.rank)
        return [t.with_shape(t.shape[:axis] + idx.shape + t.shape[axis + 1:])]

    def reference(self, node, inputs):
        x, idx = inputs
        idx = np.where(idx < 0, idx + x.shape[node.attrs["axis"]], idx)
        return [np.take(x, idx, axis=node.attrs["axis"])]


@register_op
class Expand(_Movement):
    name = "expand"
    attrs = {"shape": Attr("ints")}

    def infer(self, node):
        t = self._type(node)
        try:
            shape = np.broadcast_shapes(t.shape, tuple(node.attrs["shape"]))
        except ValueError:
            raise shape_error(node, f"cannot expand {list(t.shape)} to {node.attrs['shape']}") from None
        return [t.with_shape(shape)]

    def reference(self, node, inputs):
        shape = np.broadcast_shapes(inputs[0].shape, tuple(node.attrs["shape"]))
        return [np.ascontiguousarray(np.broadcast_to(inputs[0], shape))]


@register_op
class Pad(_Movement):
    """Pad with `pads` = [begin_0, ..., begin_n, end_0, ..., end_n] (ONNX order). `value` is in
    the data's units: a real on float data and on quantized int8 data (the int8 kernel fills with
    it quantized onto the grid, tfc.kernels.pad), an integer on plain integer data."""

    name = "pad"
    creates_values = True     # the fill value: not a value of the input
    layout_agnostic = True

    def permute_attrs(self, attrs, perm):
        a = dict(attrs)
        rank = len(perm)
        pads = [0] * (2 * rank)
        for i, p in enumerate(perm):
            pads[p], pads[rank + p] = a["pads"][i], a["pads"][rank + i]
        a["pads"] = pads
        return a
    attrs = {"pads": Attr("ints"), "mode": Attr("str", "constant"), "value": Attr("float", 0.0)}

    def _pairs(self, node, rank):
        pads = node.attrs["pads"]
        if len(pads) != 2 * rank:
            raise shape_error(node, f"pads has {len(pads)} values, need {2 * rank}")
        if node.attrs["mode"] not in ("constant", "reflect", "edge"):
            raise shape_error(node, f"pad mode {node.attrs['mode']!r} not supported")
        return [(pads[i], pads[i + rank]) for i in range(rank)]

    def infer(self, node):
        t = self._type(node)
        pairs = self._pairs(node, t.rank)
        shape = tuple(d + b + e for d, (b, e) in zip(t.shape, pairs))
        if any(d < 0 for d in shape):
            raise shape_error(node, "negative padding removes more than the tensor holds")
        return [t.with_shape(shape)]

    def reference(self, node, inputs):
        x = inputs[0]
        pairs = self._pairs(node, x.ndim)
        # negative pads crop first, then positive pads pad (ONNX semantics)
        crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(pairs))
        x = x[crop]
        pos = [(max(b, 0), max(e, 0)) for b, e in pairs]
        if node.attrs["mode"] == "constant":
            return [np.pad(x, pos, constant_values=np.array(node.attrs["value"]).astype(x.dtype))]
        return [np.pad(x, pos, mode=node.attrs["mode"])]
