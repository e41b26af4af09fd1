"""fuse: fold small ops into their neighbours so fewer kernels run and fewer buffers live.

Rules: exported decompositions of GELU and LayerNorm back into one op, and MatMuls of two
activations into batch_matmul with their transposes and scalar scales folded in (these run
before quantization: see tfc.passes.pipeline.default_pipeline); activations (ReLU, ReLU6, Clip)
into the producing conv/linear/add/pool as its output
clamp; MatMul with a constant weight (+ bias Add) into a fully connected layer; a zero Pad into
the following conv; a residual Add into the conv computing one operand (conv2d_add, written
over the skip tensor, which saves the conv output buffer); on int8 graphs, attention's
batch_matmul -> softmax -> batch_matmul into one attention node computed one head at a time,
where that lowers the planned arena; a model-boundary NCHW<->NHWC transpose into the conv beside it
where the conv's kernel reads or writes NCHW directly; on sparse generated-code layers, the residual
add or activation table after them into their stores. Every rule that declines says why (`tfc compile -v`). Rules keep the
interpreter's results exactly, integer graphs bit for bit.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.passes.fusion import activation, attention, attention_heads, cells, epilogue, gelu, heads, layernorm, layout, pad, residual
from tfc.passes.quantize import legalize


def _matmul_to_linear(graph, ctx) -> int:
    return legalize.matmul_to_linear(graph)


def _bias_add(graph, ctx) -> int:
    return legalize.fold_bias_add(graph)


@register_pass
class Fuse(Pass):
    name = "fuse"
    description = "fold activations, bias adds and pads into conv/linear/add/pool; MatMul(+Add) into linear"

    @dataclass(frozen=True)
    class Options:
        activations: bool = True
        linear: bool = True
        pad: bool = True
        residual: bool = True        # conv + residual add -> conv2d_add, written over the skip tensor
        # a sparse generated-code layer + the residual add or activation table after it, in its stores
        epilogue: bool = True
        # a sparse generated-code linear + the reshape -> transpose after it (q/k/v heads), in its stores
        heads: bool = True
        # an NCHW<->NHWC transpose into the conv beside it where its kernel reads/writes NCHW directly
        layout: bool = True
        transformer: bool = True     # decomposed GELU/LayerNorm into one op; activation matmuls -> batch_matmul
        # int8 batch_matmul -> softmax -> batch_matmul into one attention node run one head at a time:
        # "auto" where that lowers the planned arena, "always", or "never"
        attention_heads: str = "auto"
        # a producer (LayerNorm) stores its int8 result as the int16 cells its sparse readers
        # multiply, so they skip their widening pass, where the planned arena does not grow
        sparse_cells: bool = True
        max_rounds: int = 20

    def rules(self):
        o = self.options
        rules = []
        if o.transformer:
            rules += [("fuse-gelu", gelu.fuse_gelu), ("fuse-layernorm", layernorm.fuse_layernorm),
                      ("fuse-batch-matmul", attention.fuse_batch_matmul)]
        if o.linear:
            rules += [("matmul-to-linear", _matmul_to_linear), ("fold-bias-add", _bias_add)]
        if o.pad:
            rules.append(("fuse-pad", pad.fuse_pad_into_conv))
        if o.activations:
            rules.append(("fuse-activation", activation.fuse_activations))
        if o.residual:
            # After the activation rule: the add's ReLU must already be its clamp.
            rules.append(("fuse-residual-add", residual.fuse_residual_adds))
        if o.layout:
            rules.append((layout.RULE, layout.fuse_layout_transposes))
        if o.epilogue:
            rules.append((epilogue.RULE, epilogue.fuse_sparse_epilogues))
        if o.heads:
            rules.append((heads.RULE, heads.fuse_sparse_heads))
        return rules

    def final_rules(self):
        """Rules run once, after the others reach their fixpoint: they plan the arena to decide,
        so the others' results must be in it (and planning every round would cost time)."""
        o = self.options
        rules = []
        if o.transformer:
            rules.append(("fuse-attention-heads",
                          lambda graph, ctx: attention_heads.fuse_attention_heads(graph, ctx, o.attention_heads)))
        if o.sparse_cells:   # last: the arena it compares is the one the other rules leave
            rules.append((cells.RULE, cells.fuse_sparse_cells))
        return rules

    def run(self, graph, ctx: PassContext) -> PassResult:
        stats: Counter[str] = Counter()
        start = len(ctx.declined)
        for _ in range(self.options.max_rounds):
            del ctx.declined[start:]
            fired = 0
            for name, rule in self.rules():
                n = rule(graph, ctx)
                stats[name] += n
                fired += n
            if not fired:
                break
        for name, rule in self.final_rules():
            stats[name] += rule(graph, ctx)
        graph.remove_unused_constants()
        return PassResult(changed=sum(stats.values()) > 0, stats=dict(+stats))
