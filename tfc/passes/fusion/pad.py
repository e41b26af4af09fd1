"""A zero Pad of the spatial axes folded into the following conv2d's own padding.

Convolution pads with real zero (CMSIS-NN: the input offset makes padded taps contribute 0), so
only a constant pad of real value 0 on H and W of an NHWC tensor can be absorbed.
"""
from __future__ import annotations

from tfc.passes.rewrite import is_output


def fuse_pad_into_conv(graph, ctx) -> int:
    fired = 0
    for pad in list(graph.nodes_of("pad")):
        _transpose_before(graph, pad)
        x, y = pad.inputs[0], pad.output
        readers = y.users
        if len(readers) != 1 or readers[0].op != "conv2d" or readers[0].inputs[0] is not y or is_output(graph, y):
            ctx.decline("fuse-pad", pad, "its result is not read by exactly one conv2d as the data input")
            continue
        conv = readers[0]
        p = pad.attrs["pads"]
        if x.type.rank != 4 or pad.attrs["mode"] != "constant" or pad.attrs["value"] != 0.0:
            ctx.decline("fuse-pad", pad, f"only a constant zero pad of a 4-D NHWC tensor folds (mode "
                        f"{pad.attrs['mode']}, value {pad.attrs['value']})")
            continue
        if any(p[i] for i in (0, 3, 4, 7)) or any(v < 0 for v in p):
            ctx.decline("fuse-pad", pad, f"pads {p} touch the batch or channel axis, or crop")
            continue
        if x.quant != y.quant:
            ctx.decline("fuse-pad", pad, "the pad changes the quantization grid")
            continue
        top, left, bottom, right = conv.attrs["pad"]
        conv.attrs["pad"] = [top + p[1], left + p[2], bottom + p[5], right + p[6]]
        conv.set_input(0, x)
        graph.remove_node(pad)
        fired += 1
    return fired


def _transpose_before(graph, pad) -> None:
    """pad(x) -> transpose -> conv2d becomes transpose(x) -> pad' -> conv2d: a Pad on an NCHW
    graph input (torch's legacy export of a "same"-padded stem conv) sits before the layout
    transpose, where the conv cannot absorb it."""
    y = pad.output
    if len(y.uses) != 1 or is_output(graph, y) or y.users[0].op != "transpose":
        return
    t = y.users[0]
    out = t.output
    if len(out.uses) != 1 or out.users[0].op != "conv2d" or out.users[0].inputs[0] is not out or is_output(graph, out):
        return
    if any(q is not None and q.axis is not None for q in (pad.inputs[0].quant, y.quant, out.quant)):
        return
    perm, rank = t.attrs["perm"], len(t.attrs["perm"])
    old = pad.attrs["pads"]
    moved = graph.add_node("transpose", [pad.inputs[0]], {"perm": list(perm)}, name=t.name, before=pad)
    moved.output.quant = pad.inputs[0].quant
    pad.set_input(0, moved.output)
    pad.attrs = pad.spec.check_attrs(dict(pad.attrs, pads=[old[p] for p in perm] + [old[rank + p] for p in perm]),
                                     pad.name)
    y.type = pad.spec.infer(pad)[0]
    out.users[0].set_input(0, y)
    graph.remove_node(t)
