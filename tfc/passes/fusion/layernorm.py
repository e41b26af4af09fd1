"""LayerNorm from the decomposition older opsets export back into one op:
ReduceMean -> Sub -> Pow 2 (or Mul by itself) -> ReduceMean -> Add eps -> Sqrt -> Div, then an
optional Mul by gamma and Add of beta (constants over the normalized axis). Runs before
quantization, so the int8 LayerNorm kernel sees the whole normalization."""
from __future__ import annotations

import numpy as np

from tfc.passes.fusion.common import other_input, remove_dead, scalar, sole_reader, take_over

RULE = "fuse-layernorm"


def _last_axis_mean(node, rank) -> bool:
    return (node is not None and node.op == "reduce_mean" and node.attrs["keepdims"]
            and [a % rank for a in node.attrs["axes"]] == [rank - 1])


def fuse_layernorm(graph, ctx) -> int:
    fired = 0
    for sqrt in list(graph.nodes_of("sqrt")):
        add_eps = sqrt.inputs[0].producer
        if add_eps is None or add_eps.op != "add":
            ctx.decline(RULE, sqrt, "its input is not variance + epsilon")
            continue
        var = next((v for v in add_eps.inputs if v.data is None), None)
        eps = scalar(other_input(add_eps, var)) if var is not None else None
        var_mean = var.producer if var is not None else None
        rank = sqrt.output.type.rank
        if eps is None or not _last_axis_mean(var_mean, rank):
            ctx.decline(RULE, sqrt, "its input is not ReduceMean(last axis) + a scalar epsilon")
            continue
        square = var_mean.inputs[0].producer
        if square is None or not ((square.op == "pow" and scalar(square.inputs[1]) == 2.0)
                                  or (square.op == "mul" and square.inputs[0] is square.inputs[1])):
            ctx.decline(RULE, sqrt, "the variance does not average a square")
            continue
        centered = square.inputs[0]
        sub = centered.producer
        if sub is None or sub.op != "sub" or not _last_axis_mean(sub.inputs[1].producer, rank) \
                or sub.inputs[1].producer.inputs[0] is not sub.inputs[0]:
            ctx.decline(RULE, sqrt, "the squared value is not x - ReduceMean(x)")
            continue
        x = sub.inputs[0]
        div = sole_reader(graph, sqrt.output)
        if div is None or div.op != "div" or div.inputs[0] is not centered or div.inputs[1] is not sqrt.output:
            ctx.decline(RULE, sqrt, "the deviation is not divided by the standard deviation")
            continue
        width = x.shape[-1]
        out, tail, gamma, beta = div.output, [div], None, None
        mul = sole_reader(graph, out)
        if mul is not None and mul.op == "mul" and _affine(other_input(mul, out), width):
            gamma, out = other_input(mul, out), mul.output
            tail.insert(0, mul)
            add = sole_reader(graph, out)
            if add is not None and add.op == "add" and _affine(other_input(add, out), width):
                beta, out = other_input(add, out), add.output
                tail.insert(0, add)
        if gamma is None:
            gamma = graph.add_constant(graph.fresh_name(sqrt.name + "_gamma"), np.ones(width, np.float32))
        inputs = [x, gamma] + ([beta] if beta is not None else [])
        node_name = out.producer.name
        ln = graph.add_node("layernorm", inputs, {"axis": -1, "epsilon": eps},
                            name=out.producer.name, after=out.producer)
        ln.output.quant = out.quant
        take_over(graph, out, ln.output)
        remove_dead(graph, tail + [sqrt, add_eps, var_mean, square, sub, sub.inputs[1].producer])
        graph.rename_node(ln, node_name)
        fired += 1
    return fired


def _affine(value, width) -> bool:
    """A constant gamma/beta broadcasting over the last axis only."""
    if value.data is None:
        return False
    shape = value.shape
    return value.data.size in (1, width) and all(d == 1 for d in shape[:-1]) and (not shape or shape[-1] in (1, width))
