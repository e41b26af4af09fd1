"""A zero Pad of the spatial axes folded into the following conv2d's own padding.

Convolution pads with real zero (CMSIS-NN: the input offset makes padded taps contribute 0), so
only a constant pad of real value 0 on H and W of an NHWC tensor can be absorbed.
"""
from __future__ import annotations

from tfc.passes.rewrite import is_output


def fuse_pad_into_conv(graph, ctx) -> int:
    fired = 0
    for pad in list(graph.nodes_of("pad")):
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
