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

from tfc.errors import PassError, TfcError
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


def why_not(choice: LayerChoice, speed_over_size: bool, label: str) -> str:
    """Why this sparse form loses on its own ("" when it wins): not faster, or (unless speed over
    size) not smaller than the dense layer."""
    if choice.sparse_instructions >= choice.dense_instructions:
        return (f"{label}: {choice.sparse_instructions:.0f} estimated instructions >= dense "
                f"{choice.dense_instructions:.0f}")
    if not speed_over_size and choice.sparse_flash >= choice.dense_flash:
        return f"{label}: {choice.sparse_flash} bytes of flash >= dense {choice.dense_flash}"
    return ""


def best_candidate(candidates: list[LayerChoice], *, speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """The fastest candidate that wins on its own, or None and why the last one lost."""
    best, why = None, "no block size given"
    for choice in candidates:
        reason = why_not(choice, speed_over_size, f"block {choice.block} {choice.encoding}")
        if reason:
            why = reason
        elif best is None or choice.sparse_instructions < best.sparse_instructions:
            best = choice
    return best, why


def choose_block(w_rows: np.ndarray, shape: cm.LayerShape, blocks=BLOCK_SIZES, *,
                 speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """The best block size for these weights on their own, or None and why sparse loses."""
    return best_candidate(block_candidates(w_rows, shape, blocks), speed_over_size=speed_over_size)


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


def depthwise_candidate(w_rows: np.ndarray, shape: cm.LayerShape) -> LayerChoice:
    """dw-taps for these [channels, taps] weights, with the dense layer's numbers beside it."""
    rows, taps = w_rows.shape
    counts = np.count_nonzero(w_rows, axis=1)
    return LayerChoice(1, float(counts.sum()) / w_rows.size, cm.sparse_depthwise_instructions(shape, counts),
                       cm.dense_depthwise_instructions(shape), dw.flash_bytes(rows, int(counts.sum())),
                       dw.dense_flash_bytes(rows, taps), dw.ENCODING)


def choose_depthwise(w_rows: np.ndarray, shape: cm.LayerShape, *,
                     speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """dw-taps for these [channels, taps] weights, or None and why dense stays."""
    choice = depthwise_candidate(w_rows, shape)
    why = why_not(choice, speed_over_size, f"depthwise {dw.ENCODING}")
    return (None, why) if why else (choice, "")


def _faster_options(candidates: list[LayerChoice]) -> list[fb.Option]:
    """The candidates faster than dense, as flash-budget options (with the shared code they link)."""
    return [fb.Option(c.sparse_instructions, c.sparse_flash, c.encoding, c, fb.code_units(c.encoding, c.block))
            for c in candidates if c.sparse_instructions < c.dense_instructions]


def _pixel_counts(shape: cm.LayerShape) -> tuple[int, ...]:
    return codegen.pixel_counts_for(shape.out_w, shape.stride)


_SETTINGS = ("density", "block")


def check_sparsity(sparsity, layer_names=None) -> None:
    """tfc.compile(sparsity=...): {"density": d, "block": b, "layers": {name: {...}}}; a
    misspelled key or an out-of-range value is an error, not silently ignored."""
    if sparsity is None:
        return
    if not isinstance(sparsity, dict):
        raise TfcError(f"sparsity must be a dict such as {{'density': 0.25, 'block': 4}}, got {type(sparsity).__name__}")
    _check_settings(sparsity, "sparsity", allowed=(*_SETTINGS, "layers"))
    layers = sparsity.get("layers") or {}
    if not isinstance(layers, dict):
        raise TfcError("sparsity['layers'] must map layer names to settings, e.g. {'conv1': {'density': 0.5}}")
    for name, settings in layers.items():
        if not isinstance(settings, dict):
            raise TfcError(f"sparsity['layers'][{name!r}] must be a dict of settings ({', '.join(_SETTINGS)})")
        _check_settings(settings, f"sparsity['layers'][{name!r}]", allowed=_SETTINGS)
    if layer_names is not None:
        unknown = sorted(set(layers) - set(layer_names))
        if unknown:
            raise TfcError(f"sparsity['layers'] names {unknown}, which are not conv/linear layers of the model",
                           hint=f"the model's conv/linear layers are {sorted(layer_names)[:20]}")


def _check_settings(settings: dict, where: str, *, allowed) -> None:
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise TfcError(f"{where} has unknown key(s) {unknown}", hint=f"the keys are {', '.join(allowed)}")
    if "density" in settings:
        d = settings["density"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1:
            raise TfcError(f"{where}['density'] = {d!r}: expected a fraction in (0, 1] (the blocks kept)")
    if "block" in settings:
        b = settings["block"]
        if isinstance(b, bool) or not isinstance(b, int) or b not in (0, *BLOCK_SIZES):
            raise TfcError(f"{where}['block'] = {b!r}: expected one of {list(BLOCK_SIZES)} (or 0: the cost model picks)")


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
        check_sparsity(ctx.options.get("sparsity"), [n.name for n in graph.nodes if n.spec.weight_input is not None])
        stats = {"sparse": 0, "dense": 0, "pruned": 0}
        layers = []     # (node, weight, [Option], why dense)
        pinned = set()  # dense kernel code that layers outside the choice keep linked
        for node in list(graph.nodes):
            if node.spec.weight_input is None or len(node.inputs) < 2:
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
            return [min(opts, key=lambda o: o.instructions) for opts in layers]
        dense = [next(o for o in opts if o.encoding is None) for opts in layers]
        if self.options.flash_scope == "layer":
            return [min((o for o in opts if o.flash < d.flash or o is d), key=lambda o: o.instructions)
                    for opts, d in zip(layers, dense)]
        return fb.pick(layers, fb.total_flash(dense, free=pinned), pinned)

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
        candidates = block_candidates(rows, shape, (block,) if block else BLOCK_SIZES)
        _, why = best_candidate(candidates, speed_over_size=self.options.speed_over_size)
        kind = "matmul" if node.op == "linear" or shape.kh * shape.kw == 1 else "conv"
        dense = fb.Option(cm.dense_instructions(shape), dense_flash_bytes(*rows.shape), code=fb.dense_code_unit(kind))
        return node, weight, [dense, *_faster_options(candidates)], why

    def _depthwise_options(self, node, weight, ctx: PassContext, stats: dict):
        """Prune per tap (block 1) when asked; dw-taps is an option where it is faster."""
        density, _ = _layer_settings(self.options, ctx, node.name)
        rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
        rows = self._prune(node, weight, rows, density, 1, ctx, stats, "block 1: depthwise taps")
        choice = depthwise_candidate(rows, depthwise_shape(node))
        why = why_not(choice, self.options.speed_over_size, f"depthwise {dw.ENCODING}")
        dense = fb.Option(choice.dense_instructions, choice.dense_flash, code=fb.dense_code_unit("dw"))
        return node, weight, [dense, *_faster_options([choice])], why
