"""sparsify: find (or make, by blockwise pruning) block sparsity in conv2d/linear weights and
record a SparseLayout(block, density) where the sparse kernels beat the dense ones.

Depthwise convs (channel multiplier 1) are pruned and chosen per kernel tap (block 1 whatever
block the options ask: the sparse depthwise kernel runs one channel's taps at a time) and stored
as "dw-taps" (tfc.sparse.depthwise) where the cost model's depthwise entry says it is faster and,
unless speed_over_size, smaller.

Per layer the block size (1, 2, 4, 8, 16) and encoding with the fewest estimated instructions win
(tfc.sparse.cost_model): "brle" (the streams the runtime kernels walk) or "brle-unrolled" (the
per-layer generated code, tfc.sparse.codegen: faster, but code bytes per block); a layer stays
dense where sparse would be slower, and a choice that would not save flash is not taken unless
`speed_over_size`. Pruning (`density` < 1, or ctx.options["sparsity"] = {"density": 0.25,
"block": 4, "layers": {"conv1": {...}}}) zeroes the smallest-magnitude blocks of each output
channel and changes the model: accuracy needs fine-tuning afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.errors import PassError
from tfc.ir.types import SparseLayout
from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.sparse import codegen
from tfc.sparse import cost_model as cm
from tfc.sparse import depthwise as dw
from tfc.sparse import flash_budget as fb
from tfc.sparse.encoding import BLOCK_SIZES, block_mask
from tfc.sparse.layer import RECORD_BYTES
from tfc.sparse.prune import prune_blocks


@dataclass(frozen=True)
class LayerChoice:
    block: int
    density: float
    sparse_instructions: float
    dense_instructions: float
    sparse_flash: int
    dense_flash: int
    encoding: str = "brle"


def layer_shape(node) -> cm.LayerShape | None:
    """The cost model's view of a conv2d/linear node (None when its shapes are not static)."""
    w = node.inputs[1].type.shape
    out = node.output.type.shape
    if node.op == "linear":
        vectors = int(np.prod(out[:-1])) if len(out) > 1 else 1
        return cm.LayerShape(w[0], w[1], out_h=1, out_w=vectors, in_h=1, in_w=vectors, linear=True)
    x = node.inputs[0].type.shape
    stride = node.attrs.get("stride", [1, 1])
    pad = node.attrs.get("pad", [0, 0, 0, 0])
    return cm.LayerShape(w[0], w[3], w[1], w[2], out[1], out[2], stride=max(stride),
                         in_h=x[1] + pad[0] + pad[2], in_w=x[2] + pad[1] + pad[3])


def dense_flash_bytes(rows: int, cols: int) -> int:
    """A dense conv/linear in flash: int8 weights, int32 bias, per-channel int32 multiplier and shift."""
    return rows * cols + 12 * rows


def block_candidates(w_rows: np.ndarray, shape: cm.LayerShape, blocks=BLOCK_SIZES) -> list[LayerChoice]:
    """Every sparse way to store these weights (per block size: the brle streams the runtime
    kernels walk, small; the per-layer generated code, fast but code bytes per block)."""
    rows, cols = w_rows.shape
    dense = cm.dense_instructions(shape)
    dense_flash = dense_flash_bytes(rows, cols)
    out = []
    for b in blocks:
        mask = block_mask(w_rows, b)
        stored = int(mask.sum())
        nonempty = int(mask.any(axis=1).sum())
        out.append(LayerChoice(b, stored / mask.size, cm.sparse_instructions(shape, b, stored, nonempty), dense,
                               stored * (b + 1) + RECORD_BYTES * (rows + 1), dense_flash))
        out.append(LayerChoice(b, stored / mask.size, cm.unrolled_instructions(shape, b, stored, nonempty), dense,
                               codegen.table_bytes(stored, b) + codegen.code_bytes_estimate(
                                   stored, nonempty, b, _pixel_counts(shape)), dense_flash, codegen.UNROLLED))
    return out


def choose_block(w_rows: np.ndarray, shape: cm.LayerShape, blocks=BLOCK_SIZES, *,
                 speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """The best block size for these weights on their own, or None and why sparse loses."""
    best, why = None, "no block size given"
    for choice in block_candidates(w_rows, shape, blocks):
        est, flash, b = choice.sparse_instructions, choice.sparse_flash, choice.block
        if est >= choice.dense_instructions:
            why = f"block {b} {choice.encoding}: {est:.0f} estimated instructions >= dense {choice.dense_instructions:.0f}"
            continue
        if not speed_over_size and flash >= choice.dense_flash:
            why = f"block {b} {choice.encoding}: {flash} bytes of flash >= dense {choice.dense_flash}"
            continue
        if best is None or est < best.sparse_instructions:
            best = choice
    return best, why


def depthwise_shape(node) -> cm.LayerShape:
    """The cost model's view of a depthwise conv2d (cout channels, cin 1)."""
    w = node.inputs[1].type.shape
    out = node.output.type.shape
    return cm.LayerShape(w[0], 1, w[1], w[2], out[1], out[2], stride=max(node.attrs.get("stride", [1, 1])))


def is_sparse_depthwise_candidate(node) -> bool:
    """A depthwise conv2d the sparse depthwise kernel runs: channel multiplier 1, no dilation."""
    if node.op != "conv2d" or len(node.inputs) < 2:
        return False
    x, w = node.inputs[0].type.shape, node.inputs[1].type.shape
    group = node.attrs.get("group", 1)
    return (group > 1 and len(x) == 4 and group == x[3] and w[3] == 1 and w[0] == group
            and all(d == 1 for d in node.attrs.get("dilation", [1, 1])) and w[1] * w[2] <= dw.MAX_TAPS)


def choose_depthwise(w_rows: np.ndarray, shape: cm.LayerShape, *,
                     speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """dw-taps for these [channels, taps] weights, or None and why dense stays."""
    rows, taps = w_rows.shape
    counts = np.count_nonzero(w_rows, axis=1)
    dense = cm.dense_depthwise_instructions(shape)
    est = cm.sparse_depthwise_instructions(shape, counts)
    dense_flash = dw.dense_flash_bytes(rows, taps)
    flash = dw.flash_bytes(rows, int(counts.sum()))
    choice = LayerChoice(1, float(counts.sum()) / w_rows.size, est, dense, flash, dense_flash, dw.ENCODING)
    if est >= dense:
        return None, f"depthwise {dw.ENCODING}: {est:.0f} estimated instructions >= dense {dense:.0f}"
    if not speed_over_size and flash >= dense_flash:
        return None, f"depthwise {dw.ENCODING}: {flash} bytes of flash >= dense {dense_flash}"
    return choice, ""


def _pixel_counts(shape: cm.LayerShape) -> tuple[int, ...]:
    return codegen.pixel_counts_for(shape.out_w, shape.stride)


def _layer_settings(options, ctx: PassContext, name: str) -> tuple[float, int]:
    """(density to prune to, block to use; 0 = choose) from the pass options and ctx.options."""
    user = dict(ctx.options.get("sparsity") or {})
    per_layer = dict(user.pop("layers", {}) or {})
    settings = {**user, **per_layer.get(name, {})}
    density = float(settings.get("density", options.density))
    block = int(settings.get("block", options.block))
    return density, block


@register_pass
class Sparsify(Pass):
    name = "sparsify"
    description = "choose block-sparse encodings (SparseLayout) for conv2d/linear weights; optional blockwise pruning"

    @dataclass(frozen=True)
    class Options:
        block: int = 0              # 0: the cost model picks among 1, 2, 4, 8, 16
        density: float = 1.0        # < 1: prune blockwise by magnitude to this block density
        speed_over_size: bool = False
        # "model": the sparse layers together (with the kernel code they link) take no more flash
        # than their dense forms, and the bytes pruning saves buy speed where they buy the most
        # (not yet SRAM-aware: the sparse kernels' widening scratch can grow the arena, e.g. VWW
        # 55,296 -> 121,360 B, so it is opt-in); "layer": every sparse layer on its own is smaller
        # than its dense form.
        flash_scope: str = "layer"

    def run(self, graph, ctx: PassContext) -> PassResult:
        if self.options.flash_scope not in ("model", "layer"):
            raise PassError(f"sparsify flash_scope '{self.options.flash_scope}' is not 'model' or 'layer'")
        stats = {"sparse": 0, "dense": 0, "pruned": 0}
        layers = []     # (node, weight, [Option], why dense)
        pinned = set()  # dense kernel code that layers outside the choice keep linked
        for node in list(graph.nodes):
            if node.op not in ("conv2d", "linear") or len(node.inputs) < 2:
                continue
            weight = node.inputs[1]
            if weight.data is None:
                ctx.decline("sparse-weights", node, "the weight is not a constant")
                pinned.update(fb.dense_code_unit("matmul" if node.op == "linear" else "conv"))
                continue
            if is_sparse_depthwise_candidate(node):
                layers.append(self._depthwise_options(node, weight, ctx, stats))
                continue
            if node.op == "conv2d" and (node.attrs.get("group", 1) != 1 or
                                        any(d != 1 for d in node.attrs.get("dilation", [1, 1]))):
                ctx.decline("sparse-weights", node, "grouped or dilated convolution (no sparse kernel)")
                pinned.update(fb.dense_code_unit("dw") + fb.dense_code_unit("conv"))
                continue
            layers.append(self._options(node, weight, ctx, stats))
        for (node, weight, _, why), option in zip(layers, self._pick([opts for _, _, opts, _ in layers],
                                                                               frozenset(pinned))):
            choice = option.payload
            if choice is None:
                weight.sparse = None
                stats["dense"] += 1
                ctx.decline("sparse-weights", node, why or "the model's flash budget (flash_scope=model) went to "
                            "layers that gain more per byte")
                continue
            weight.sparse = SparseLayout(choice.block, round(choice.density, 6), choice.encoding)
            stats["sparse"] += 1
        return PassResult(changed=stats["sparse"] > 0 or stats["pruned"] > 0, stats=stats)

    def _pick(self, layers: list[list[fb.Option]], pinned: frozenset) -> list[fb.Option]:
        """Speed over size: the fastest form of every layer; else under the flash budget."""
        if self.options.speed_over_size:
            return fb.pick(layers, budget=1 << 62)
        dense = [next(o for o in opts if o.encoding is None) for opts in layers]
        if self.options.flash_scope == "layer":
            return [min((o for o in opts if o.flash < d.flash or o is d), key=lambda o: o.instructions)
                    for opts, d in zip(layers, dense)]
        budget = fb.total_flash(dense) - sum(fb.KERNEL_CODE_BYTES[u] for u in {u for d in dense for u in d.code} & pinned)
        return fb.pick(layers, budget, pinned)

    def _prune(self, node, weight, rows, density: float, block: int, ctx: PassContext, stats: dict, what: str):
        if density >= 1.0:
            return rows
        pruned = prune_blocks(rows, block, density)
        if not np.array_equal(pruned, rows):
            weight.data = pruned.reshape(weight.data.shape).astype(weight.data.dtype)
            stats["pruned"] += 1
            ctx.logger.warning("sparsify: pruned '%s' to block density %.2f (%s); accuracy needs fine-tuning",
                               node.name, density, what)
        return pruned

    def _options(self, node, weight, ctx: PassContext, stats: dict):
        density, block = _layer_settings(self.options, ctx, node.name)
        if block and block not in BLOCK_SIZES:
            raise PassError(f"sparsity block {block} for '{node.name}' is not one of {BLOCK_SIZES}",
                            node=node.name, op=node.op)
        rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
        rows = self._prune(node, weight, rows, density, block or 4, ctx, stats, f"block {block or 4}")
        shape = layer_shape(node)
        blocks = (block,) if block else BLOCK_SIZES
        _, why = choose_block(rows, shape, blocks, speed_over_size=self.options.speed_over_size)
        kind = "matmul" if node.op == "linear" or shape.kh * shape.kw == 1 else "conv"
        dense = fb.Option(cm.dense_instructions(shape), dense_flash_bytes(*rows.shape), code=fb.dense_code_unit(kind))
        faster = [fb.Option(c.sparse_instructions, c.sparse_flash, c.encoding, c, fb.code_units(c.encoding, c.block))
                  for c in block_candidates(rows, shape, blocks) if c.sparse_instructions < c.dense_instructions]
        return node, weight, [dense, *faster], why

    def _depthwise_options(self, node, weight, ctx: PassContext, stats: dict):
        """Prune per tap (block 1) when asked; dw-taps is an option where it is faster."""
        density, _ = _layer_settings(self.options, ctx, node.name)
        rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
        rows = self._prune(node, weight, rows, density, 1, ctx, stats, "block 1: depthwise taps")
        shape = depthwise_shape(node)
        _, why = choose_depthwise(rows, shape, speed_over_size=self.options.speed_over_size)
        dense = fb.Option(cm.dense_depthwise_instructions(shape), dw.dense_flash_bytes(*rows.shape),
                          code=fb.dense_code_unit("dw"))
        fast, slow_why = choose_depthwise(rows, shape, speed_over_size=True)
        options = [dense] + ([fb.Option(fast.sparse_instructions, fast.sparse_flash, fast.encoding, fast,
                                        fb.code_units(fast.encoding, 1))]
                             if fast is not None else [])
        return node, weight, options, why or slow_why
