"""batch_matmul -> softmax -> batch_matmul (attention's scores, probabilities, context) into one
`attention` node, which the C computes one head at a time: for head h, q_h·k_hᵀ into a buffer of
one head's scores, softmax in place, then that head's slice of the output. The scores and the
probabilities of all heads ([heads, M, N] each) are then never live, only M·N bytes of scratch.

Integer graphs only (the node keeps the scores' int8 grid as attributes; the kernels and their
parameters are those of the three nodes, so the integers are identical). The intermediates must
have one reader each, the heads must not broadcast, and the softmax must run over the last axis.

Per head costs a few calls more than all heads at once, so in `auto` mode the rule keeps the
fusions that lower the planned arena and no others: all candidates fused must give a smaller
arena than none, then each is handed back to the three all-heads kernels where that costs no
arena bytes (the planner runs on the graph's current order; plan-memory may reorder later).
"""
from __future__ import annotations

from tfc.errors import TfcError
from tfc.ir.graph import Graph, Node
from tfc.ir.types import DType
from tfc.passes.fusion.common import remove_dead, sole_reader, take_over
from tfc.kernels import select
from tfc.kernels.lowering import plan_arena

RULE = "fuse-attention-heads"
MODES = ("auto", "always", "never")


def fuse_attention_heads(graph: Graph, ctx, mode: str = "auto") -> int:
    if mode not in MODES:
        raise TfcError(f"fuse: attention_heads must be one of {', '.join(MODES)}, got {mode!r}")
    names = []
    for sm in graph.nodes_of("softmax"):
        reason = _why_not(graph, sm)
        if reason is None and mode == "never":
            reason = "attention_heads=never"
        if reason is not None:
            ctx.decline(RULE, sm, reason)
        else:
            names.append(sm.name)
    if names and mode == "auto":
        names = _lowering_the_arena(graph, ctx, names)
    for name in names:
        _fuse(graph, graph.find_node(name))
    return len(names)


def _why_not(graph: Graph, sm: Node) -> str | None:
    scores, probs = sm.inputs[0], sm.output
    if scores.dtype != DType.I8 or probs.dtype != DType.I8 or scores.quant is None:
        return "the scores are not int8 yet (the rule runs on the int8 graph, after quantize-int8)"
    qk = scores.producer
    if qk is None or qk.op != "batch_matmul":
        return "the softmax does not read a batch_matmul"
    if sole_reader(graph, scores) is not sm:
        return "the scores have readers besides the softmax"
    pv = sole_reader(graph, probs)
    if pv is None or pv.op != "batch_matmul" or pv.inputs[0] is not probs or pv.inputs[1] is probs:
        return "the probabilities are not read by one batch_matmul alone, as its left operand"
    rank = scores.type.rank
    if sm.attrs["axis"] % rank != rank - 1:
        return "the softmax does not run over the last axis"
    if any(n.attrs["numerics"] != "cmsis" for n in (qk, sm, pv)):
        return "numerics=onnxruntime: tfc_attention_s8 runs the fixed-point batch matmuls and softmax"
    q, k = qk.inputs
    vt = pv.inputs[1]
    if not q.shape[:-2] == k.shape[:-2] == vt.shape[:-2]:
        return (f"the heads broadcast (q {list(q.shape)}, k {list(k.shape)}, vt {list(vt.shape)}): "
                "the per-head kernel needs the same leading dims")
    if any(v.data is not None for v in (q, k, vt)):
        return "an operand is a constant"
    try:
        for node in (qk, sm, pv):
            select(node).params(node)
    except TfcError as e:
        return f"the unfused kernels do not take it: {e}"
    return None


def _fuse(graph: Graph, sm: Node) -> Node:
    qk, scores = sm.inputs[0].producer, sm.inputs[0]
    pv = sole_reader(graph, sm.output)
    q, k = qk.inputs
    vt = pv.inputs[1]
    name = pv.name
    attrs = {"alpha": qk.attrs["alpha"], "pv_alpha": pv.attrs["alpha"],
             "scores_scale": scores.quant.scale[0], "scores_zero_point": scores.quant.zero_point[0],
             "probs_scale": sm.output.quant.scale[0]}
    node = graph.add_node("attention", [q, k, vt], attrs, name=name + "_heads",
                          output_types=[pv.output.type], after=pv)
    node.output.quant = pv.output.quant
    take_over(graph, pv.output, node.output)
    remove_dead(graph, [pv, sm, qk])
    graph.rename_node(node, name)
    return node


def _fused_copy(graph: Graph, names) -> Graph:
    g = graph.copy()
    for name in names:
        _fuse(g, g.find_node(name))
    return g


def _lowered(graph: Graph, ctx):
    return plan_arena(graph, target=ctx.target or "cortex-m7")   # the arena the C will have


def _arena(graph: Graph, ctx) -> int:
    return _lowered(graph, ctx).arena_bytes


def _live_elsewhere(graph: Graph, model, names: list[str]) -> int:
    """The most bytes live at a step outside every candidate's span (its batch_matmul to the one
    reading the probabilities). Fusing changes no live set there, so no fused arena is smaller."""
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    spans = set()
    for name in names:
        sm = graph.find_node(name)
        first, last = position[id(sm.inputs[0].producer)], position[id(sole_reader(graph, sm.output))]
        spans.update(range(first, last + 1))
    buffers = model.allocation.buffers
    return max((sum(b.size for b in buffers if b.first <= s <= b.last)
                for s in range(len(graph.nodes)) if s not in spans), default=0)


def _lowering_the_arena(graph: Graph, ctx, names: list[str]) -> list[str]:
    """The candidates (softmax node names) worth fusing: see the module docstring."""
    try:
        model = _lowered(graph, ctx)
        base = model.arena_bytes
        elsewhere = _live_elsewhere(graph, model, names)
        if elsewhere >= base:
            for name in names:
                ctx.decline(RULE, name, f"one head at a time cannot lower the arena ({base:,} B): "
                                        f"{elsewhere:,} B are live at a step outside the attention")
            return []
        best = _arena(_fused_copy(graph, names), ctx)
    except TfcError as e:
        for name in names:
            ctx.decline(RULE, name, f"the arena could not be planned to compare: {e}")
        return []
    if best >= base:
        for name in names:
            ctx.decline(RULE, name, f"one head at a time does not lower the arena ({best:,} B with, "
                                    f"{base:,} B without)")
        return []
    chosen = list(names)
    for name in names:
        trial = [n for n in chosen if n != name]
        arena = _arena(_fused_copy(graph, trial), ctx)
        if arena <= best:
            ctx.decline(RULE, name, f"the arena is as small with all heads at once ({arena:,} B)")
            chosen, best = trial, arena
    return chosen
