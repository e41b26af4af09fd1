"""ReLU / ReLU6 / Clip folded into the op that produces their input, as its output clamp.

conv2d, linear, add, sub, mul and pooling carry `act_min`/`act_max`; CMSIS-NN applies the clamp
while writing the output, so the separate pass over the tensor (and its buffer) disappears.
On a quantized graph the fusion is exact only when the producer already writes on the
activation's grid (the int8 clamp is then the same integers), so other cases decline. Reshapes
and transposes between the two do not matter: a clamp commutes with moving data.
"""
from __future__ import annotations


from tfc.passes.rewrite import bypass, is_output

def _through_data_movement(graph, value):
    """Follow single-reader reshapes/transposes back to the value a real op wrote: a clamp
    commutes with moving data, so it can be applied where that value is written."""
    while (value.producer is not None and value.producer.spec.moves_data and len(value.uses) == 1
           and not is_output(graph, value) and value.producer.inputs[0].quant == value.quant):
        value = value.producer.inputs[0]
    return value


def fuse_activations(graph, ctx) -> int:
    fired = 0
    for act in [n for n in graph.nodes if n.spec.is_clamp]:
        y = act.output
        x = _through_data_movement(graph, act.inputs[0])
        producer = x.producer
        if producer is None or not producer.spec.has_output_clamp:
            ctx.decline("fuse-activation", act, f"input is produced by {producer.op if producer else 'the graph input'}, "
                        "which has no output clamp")
            continue
        if len(x.uses) != 1 or is_output(graph, x):
            ctx.decline("fuse-activation", act, f"{x.ref} has other readers, which need it unclamped")
            continue
        if x.quant is not None and x.quant != y.quant:
            ctx.decline("fuse-activation", act, f"{producer.name} writes on another grid ({x.quant}) than the "
                        f"activation ({y.quant}): the clamp would round differently")
            continue
        if x.dtype != y.dtype:
            ctx.decline("fuse-activation", act, f"element types differ ({x.type} vs {y.type})")
            continue
        lo, hi = act.spec.clamp_bounds(act.attrs)
        producer.attrs["act_min"] = max(producer.attrs["act_min"], lo)
        producer.attrs["act_max"] = min(producer.attrs["act_max"], hi)
        x.quant = y.quant
        bypass(graph, act)
        fired += 1
    return fired
