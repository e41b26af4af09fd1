"""BatchNorm folding.

`batchnorm(conv2d(x, w, b))` over the channel axis becomes `conv2d(x, w*s, (b-mean)*s+beta)` with
s = gamma / sqrt(var + eps) per output channel (also when the conv has no bias), provided the
conv's result has no other reader and is not rounded (quantized) in between. The same holds for
`linear`. A batchnorm that cannot fold becomes `x * s + t` with per-channel constants.
"""
from __future__ import annotations

import math

import numpy as np

from tfc.passes.rewrite import bypass


def _affine(bn):
    scale, bias, mean, var = (v.data.astype(np.float64) for v in bn.inputs[1:])
    s = scale / np.sqrt(var + bn.attrs["epsilon"])
    return s, bias - mean * s


def _params_constant(bn) -> bool:
    return all(v.is_constant and v.data.dtype.kind == "f" and v.quant is None for v in bn.inputs[1:])


def fold_batchnorm_into_producer(graph, ctx) -> int:
    folded = 0
    for bn in list(graph.nodes):
        if bn.op != "batchnorm":
            continue
        producer = bn.inputs[0].producer
        if producer is None or producer.spec.weight_input is None:
            continue
        reason = _blocker(bn, producer)
        if reason:
            ctx.decline("fold-batchnorm", bn, reason)
            continue
        s, t = _affine(bn)
        w = producer.inputs[1].data.astype(np.float64)
        w2 = w * s.reshape((-1,) + (1,) * (w.ndim - 1))     # output channels are axis 0 (OHWI, [out,in])
        b = producer.inputs[2].data.astype(np.float64) if len(producer.inputs) == 3 else 0.0
        b2 = b * s + t
        dtype = producer.inputs[1].data.dtype
        w_new = graph.add_constant(producer.inputs[1].name + "_bn", w2.astype(dtype))
        b_new = graph.add_constant(f"{producer.name}.bias_bn", b2.astype(dtype))
        producer.set_input(1, w_new)
        if len(producer.inputs) == 3:
            producer.set_input(2, b_new)
        else:
            producer.inputs.append(b_new)
            b_new.uses.append((producer, 2))
        producer.output.quant = bn.output.quant
        bypass(graph, bn, producer.output)
        folded += 1
    return folded


def _blocker(bn, producer) -> str | None:
    y = producer.output
    if not _params_constant(bn):
        return "its scale/bias/mean/var are not float constants"
    axis = bn.attrs["axis"] % y.type.rank
    if axis != y.type.rank - 1:
        return f"it normalizes axis {axis}, not the channel axis of {producer.op} ({y.type.rank - 1})"
    if len(y.uses) != 1:
        return f"{y.ref} has other readers: {', '.join(u.name for u in y.users if u is not bn)}"
    if y.quant is not None:
        return f"{y.ref} is quantized between the {producer.op} and the batchnorm"
    lo, hi = producer.attrs.get("act_min", -math.inf), producer.attrs.get("act_max", math.inf)
    if (lo, hi) != (-math.inf, math.inf):
        return f"the {producer.op} clamps its result to [{lo}, {hi}] before the batchnorm"
    params = producer.inputs[1:]
    if not all(v.is_constant and v.dtype.is_float and v.quant is None for v in params):
        return f"the {producer.op} weights/bias are not float constants (quantized weights keep their grid)"
    if any(len(v.uses) != 1 for v in params):
        return f"the {producer.op} weights are shared with another node"
    return None


def batchnorm_to_affine(graph, ctx) -> int:
    """A batchnorm left over (nothing to fold into) becomes a per-channel multiply and add."""
    rewrites = 0
    for bn in list(graph.nodes):
        if bn.op != "batchnorm":
            continue
        if not _params_constant(bn):
            ctx.decline("batchnorm-to-affine", bn, "its scale/bias/mean/var are not float constants")
            continue
        x = bn.inputs[0]
        rank = x.type.rank
        axis = bn.attrs["axis"] % rank
        s, t = _affine(bn)
        shape = (-1,) + (1,) * (rank - 1 - axis)
        s_c = graph.add_constant(f"{bn.name}.scale", s.astype(np.float32).reshape(shape))
        t_c = graph.add_constant(f"{bn.name}.shift", t.astype(np.float32).reshape(shape))
        mul = graph.add_node("mul", [x, s_c], name=f"{bn.name}.mul", before=bn)
        add = graph.add_node("add", [mul.output, t_c], name=f"{bn.name}.add", before=bn)
        add.output.quant = bn.output.quant
        bypass(graph, bn, add.output)
        rewrites += 1
    return rewrites
