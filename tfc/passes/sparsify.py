"""sparsify: find (or make, by blockwise pruning) block sparsity in conv2d/linear weights and
record a SparseLayout(block, density) where the sparse kernels beat the dense ones.

Depthwise convs (channel multiplier 1) are pruned and chosen per kernel tap (block 1 whatever
block the options ask: the sparse depthwise kernel runs one channel's taps at a time) and stored
as "dw-taps" (tfc.sparse.depthwise) where the cost model's depthwise entry says it is faster and,
unless speed_over_size, smaller.

Per layer the block size (1, 2, 4, 8, 16) and encoding come from the cost model
(tfc.sparse.cost_model): "brle" (the streams the runtime kernels walk: small) or "brle-unrolled"
(the per-layer generated code, tfc.sparse.codegen: about 2-3x faster, code bytes per block); a
layer stays dense where sparse would be slower. The default policy (flash_scope="target") takes,
for the whole model, the fastest form of every layer that fits the target's flash (less the
model's other weights and a reserve for the code; tfc.sparse.flash_budget) and whose scratch
(the widened input) fits the target's SRAM beside the layer's input and output; the report then
says what the scratch traded (the arena against the dense plan's). `size_over_speed` takes per
layer the smallest form that is still faster than dense; flash_scope="model" holds the sparse
layers to the flash of their dense forms, "layer" each layer to its own; `speed_over_size` the
fastest form whatever it costs. Every decision is recorded (`SparseDecision`, in
ctx.findings["sparsify"]: what was chosen, why, and the other forms' estimates), which `tfc
bench` prints. Pruning (`density` < 1, or ctx.options["sparsity"] = {"density": 0.25,
"block": 4, "layers": {"conv1": {...}}}) zeroes the smallest-magnitude blocks of each output
channel and changes the model: accuracy needs fine-tuning afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.errors import PassError, TfcError
from tfc.ir.ops.nn import conv_shapes
from tfc.ir.types import SparseLayout
from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.sparse import codegen
from tfc.sparse import cost_model as cm
from tfc.sparse import depthwise as dw
from tfc.sparse import flash_budget as fb
from tfc.sparse.encoding import BLOCK_SIZES, block_mask
from tfc.sparse.layer import RECORD_BYTES
from tfc.sparse.prune import prune_blocks
from tfc.sparse.scratch import conv_scratch_bytes, depthwise_scratch_bytes, fc_scratch_bytes
from tfc.targets import Target
from tfc.targets.cortex_m.build import DEFAULT_STACK

FLASH_SCOPES = ("target", "model", "layer")
# Under flash_scope=target a layer denser than this stays dense: the cost model puts the generated
# code ahead of the dense kernels even with no zero block (ResNet-8 unpruned: ~1.3-1.5x, fitted
# far from its data), at 5-7 bytes of code per weight and minutes of gcc per big layer.
MAX_TARGET_DENSITY = 0.9


@dataclass(frozen=True)
class SparseDecision:
    """How sparsify stored one conv/linear layer and why, with every form it weighed:
    `options` holds (label, estimated instructions, flash bytes, scratch bytes), dense first."""

    node: str
    chosen: str                 # "dense" or e.g. "b4 brle-unrolled"
    why: str
    options: tuple[tuple[str, float, int, int], ...]

    def text(self) -> str:
        others = "; ".join(f"{label} {ins:,.0f} instr {flash:,} B" + (f" +{scratch:,} B scratch" if scratch else "")
                           for label, ins, flash, scratch in self.options if label != self.chosen)
        return f"{self.node}: {self.chosen} ({self.why}); estimated: {others}"


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
    if len(w) == 2:                     # [out, in]: linear, or a sparse linear with an epilogue (linear_add ...)
        vectors = int(np.prod(out[:-1])) if len(out) > 1 else 1
        return cm.LayerShape(w[0], w[1], out_h=1, out_w=vectors, in_h=1, in_w=vectors, linear=True)
    x, out = conv_shapes(node)          # NHWC, also where the conv reads or writes NCHW
    stride = node.attrs.get("stride", [1, 1])
    pad = node.attrs.get("pad", [0, 0, 0, 0])
    return cm.LayerShape(w[0], w[3], w[1], w[2], out[1], out[2], stride=max(stride),
                         in_h=x[1] + pad[0] + pad[2], in_w=x[2] + pad[1] + pad[3])


def dense_twin(graph):
    """A copy of a compiled graph with every weight dense (no SparseLayout), every node a sparse
    layer had absorbed into its stores (a q/k/v projection's head-split transpose included), every
    layout transpose a sparse kernel had folded in back in place and every output stored as sparse
    cells plain int8 again: the build sparse layers are measured against."""
    from tfc.passes.fusion.cells import unfold_cells
    from tfc.passes.fusion.epilogue import unfold_epilogues
    from tfc.passes.fusion.heads import unfold_heads
    from tfc.passes.fusion.layout import unfold_layouts
    dense = graph.copy()
    unfold_cells(dense)
    unfold_epilogues(dense)
    unfold_heads(dense)
    for v in dense.constants.values():
        v.sparse = None
    unfold_layouts(dense)
    return dense


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
                                   stored, nonempty, b, _pixel_counts(shape, b)), dense_flash, codegen.UNROLLED))
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


def depthwise_candidate(w_rows: np.ndarray, shape: cm.LayerShape, encoding: str = dw.ENCODING) -> LayerChoice:
    """dw-taps (or dw-taps-lut, the one-tap channels by table) for these [channels, taps] weights,
    with the dense layer's numbers beside it."""
    rows, taps = w_rows.shape
    counts = np.count_nonzero(w_rows, axis=1)
    luts = encoding == dw.LUT_ENCODING
    return LayerChoice(1, float(counts.sum()) / w_rows.size, cm.sparse_depthwise_instructions(shape, counts, luts),
                       cm.dense_depthwise_instructions(shape),
                       dw.flash_bytes(rows, int(counts.sum()), int((counts == 1).sum()) if luts else 0),
                       dw.dense_flash_bytes(rows, taps), encoding)


def depthwise_candidates(w_rows: np.ndarray, shape: cm.LayerShape) -> list[LayerChoice]:
    """Both depthwise forms: dw-taps (small) and dw-taps-lut (faster where channels keep one tap)."""
    return [depthwise_candidate(w_rows, shape, e) for e in dw.ENCODINGS]


def choose_depthwise(w_rows: np.ndarray, shape: cm.LayerShape, *,
                     speed_over_size: bool = False) -> tuple[LayerChoice | None, str]:
    """The fastest depthwise form that wins on its own, or None and why dense stays."""
    best, why = None, ""
    for choice in depthwise_candidates(w_rows, shape):
        reason = why_not(choice, speed_over_size, f"depthwise {choice.encoding}")
        if reason:
            why = why or reason
        elif best is None or choice.sparse_instructions < best.sparse_instructions:
            best = choice
    return (best, "") if best is not None else (None, why)


def _faster_options(candidates: list[LayerChoice]) -> list[fb.Option]:
    """The candidates faster than dense, as flash-budget options (with the shared code they link)."""
    return [fb.Option(c.sparse_instructions, c.sparse_flash, c.encoding, c, fb.code_units(c.encoding, c.block))
            for c in candidates if c.sparse_instructions < c.dense_instructions]


def _pixel_counts(shape: cm.LayerShape, block: int) -> tuple[int, ...]:
    return codegen.pixel_counts_for(shape.out_w, shape.stride, block)


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


@dataclass
class _Layer:
    """One conv/linear layer's forms as flash-budget options, dense first, and what limits them."""

    node: object
    weight: object
    options: list            # [fb.Option]: dense, then the sparse forms faster than dense
    why_dense: str           # why no sparse form wins on its own ("" when one does)
    live_bytes: int          # the layer's input + output (int8): live beside its scratch
    scratch: dict            # block -> scratch bytes of the sparse kernels
    too_big: list            # sparse options dropped: their scratch does not fit SRAM


def option_label(option: fb.Option) -> str:
    return "dense" if option.encoding is None else f"b{option.payload.block} {option.encoding}"


@register_pass
class Sparsify(Pass):
    name = "sparsify"
    description = "choose block-sparse encodings (SparseLayout) for conv2d/linear weights; optional blockwise pruning"

    @dataclass(frozen=True)
    class Options:
        block: int = 0              # 0: the cost model picks among 1, 2, 4, 8, 16
        density: float = 1.0        # < 1: prune blockwise by magnitude to this block density
        speed_over_size: bool = False   # the fastest form of every layer, whatever its flash
        size_over_speed: bool = False   # the smallest form of every layer that is faster than dense
        # "target": the fastest forms that fit the target's flash together (the model's other
        # weights and a code reserve counted; fb.target_budget); "model": the sparse layers with
        # the kernel code they link take no more flash than their dense forms; "layer": every
        # sparse layer on its own is smaller than its dense form.
        flash_scope: str = "target"

    def run(self, graph, ctx: PassContext) -> PassResult:
        if self.options.flash_scope not in FLASH_SCOPES:
            raise PassError(f"sparsify flash_scope '{self.options.flash_scope}' is not one of {', '.join(FLASH_SCOPES)}")
        if self.options.speed_over_size and self.options.size_over_speed:
            raise PassError("sparsify: speed_over_size and size_over_speed ask for opposite things; give one")
        check_sparsity(ctx.options.get("sparsity"), [n.name for n in graph.nodes if n.spec.weight_input is not None])
        stats = {"sparse": 0, "dense": 0, "pruned": 0}
        layers: list[_Layer] = []
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
        target = Target.from_string(ctx.target or "cortex-m7")
        for layer in layers:
            self._drop_what_sram_cannot_hold(layer, target)
            if self.options.flash_scope == "target" and not self.options.size_over_speed:
                self._keep_nearly_dense_layers_dense(layer)
        budget = fb.target_budget(target.flash_bytes, _other_constant_bytes(graph, [la.node for la in layers]))
        picked = self._pick([la.options for la in layers], frozenset(pinned), budget)
        decisions = []
        for layer, option in zip(layers, picked):
            choice = option.payload
            decision = self._decision(layer, option, budget)
            decisions.append(decision)
            if choice is None:
                layer.weight.sparse = None
                stats["dense"] += 1
                ctx.decline("sparse-weights", layer.node, decision.why)
                continue
            layer.weight.sparse = SparseLayout(choice.block, round(choice.density, 6), choice.encoding)
            stats["sparse"] += 1
        ctx.findings["sparsify"] = decisions
        return PassResult(changed=stats["sparse"] > 0 or stats["pruned"] > 0, stats=stats)

    def _pick(self, layers: list[list[fb.Option]], pinned: frozenset, budget: int) -> list[fb.Option]:
        """Speed over size: the fastest form of every layer; size over speed: the smallest; else
        the fastest under the flash scope's budget."""
        if self.options.speed_over_size:
            return [min(opts, key=lambda o: o.instructions) for opts in layers]
        if self.options.size_over_speed:
            return [min(opts, key=lambda o: (o.flash, o.instructions)) for opts in layers]
        dense = [next(o for o in opts if o.encoding is None) for opts in layers]
        if self.options.flash_scope == "layer":
            return [min((o for o in opts if o.flash < d.flash or o is d), key=lambda o: o.instructions)
                    for opts, d in zip(layers, dense)]
        if self.options.flash_scope == "model":
            budget = fb.total_flash(dense, free=pinned)
        return fb.pick(layers, budget, pinned)

    @staticmethod
    def _drop_what_sram_cannot_hold(layer: _Layer, target: Target) -> None:
        """A sparse form whose scratch, beside the layer's input and output, would not fit the
        target's SRAM (less the stack) is not an option: the dense layer needs no such buffer."""
        room = target.sram_bytes - DEFAULT_STACK
        keep = []
        for o in layer.options:
            if o.encoding is not None and layer.live_bytes + layer.scratch.get(o.payload.block, 0) > room:
                layer.too_big.append(o)
            else:
                keep.append(o)
        layer.options = keep

    @staticmethod
    def _keep_nearly_dense_layers_dense(layer: _Layer) -> None:
        sparse = [o for o in layer.options if o.encoding is not None]
        if sparse and min(o.payload.density for o in sparse) > MAX_TARGET_DENSITY:
            layer.options = [o for o in layer.options if o.encoding is None]
            layer.why_dense = (f"block density {min(o.payload.density for o in sparse):.2f} > {MAX_TARGET_DENSITY}: "
                               "a nearly dense layer stays dense (flash_scope=target)")

    def _decision(self, layer: _Layer, chosen: fb.Option, budget: int) -> SparseDecision:
        everything = layer.options + layer.too_big
        rows = tuple((option_label(o), o.instructions, o.flash,
                      0 if o.encoding is None else layer.scratch.get(o.payload.block, 0)) for o in everything)
        faster = [o for o in everything if o.instructions < chosen.instructions]
        fastest = min(faster, key=lambda o: o.instructions) if faster else None
        if chosen.encoding is None and layer.why_dense and not layer.too_big:
            why = layer.why_dense
        elif fastest is None:
            why = "the fastest form"
        elif fastest in layer.too_big:
            why = (f"{option_label(fastest)} would need {layer.scratch[fastest.payload.block]:,} B of scratch "
                   f"beside {layer.live_bytes:,} B of input and output: more than the target's SRAM less the stack")
        elif self.options.size_over_speed:
            why = "size over speed: the smallest form" + (" faster than dense" if chosen.encoding else "")
        elif self.options.flash_scope == "layer":
            why = f"{option_label(fastest)} takes more flash than the dense layer (flash_scope=layer)"
        elif self.options.flash_scope == "model":
            why = (f"{option_label(fastest)} ({fastest.flash:,} B) does not fit the flash budget with the other "
                   "layers' choices (flash_scope=model: the dense forms' flash)")
        else:
            why = (f"{option_label(fastest)} ({fastest.flash:,} B) does not fit the flash budget with the other "
                   f"layers' choices (flash_scope=target: {budget:,} B, the target's flash less the model's other "
                   "weights and the code reserve)")
        return SparseDecision(layer.node.name, option_label(chosen), why, rows)

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

    def _options(self, node, weight, ctx: PassContext, stats: dict) -> _Layer:
        density, block = _layer_settings(self.options, ctx, node.name)
        if block and block not in BLOCK_SIZES:
            raise PassError(f"sparsity block {block} for '{node.name}' is not one of {BLOCK_SIZES}",
                            node=node.name, op=node.op)
        rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
        rows = self._prune(node, weight, rows, density, block or 4, ctx, stats, f"block {block or 4}")
        shape = layer_shape(node)
        blocks = (block,) if block else BLOCK_SIZES
        candidates = block_candidates(rows, shape, blocks)
        _, why = best_candidate(candidates, speed_over_size=self.options.speed_over_size)
        kind = "matmul" if node.op == "linear" or shape.kh * shape.kw == 1 else "conv"
        dense = fb.Option(cm.dense_instructions(shape), dense_flash_bytes(*rows.shape), code=fb.dense_code_unit(kind))
        return _Layer(node, weight, [dense, *_faster_options(candidates)], why, _live_bytes(node),
                      {b: _scratch_bytes(node, b) for b in blocks}, [])

    def _depthwise_options(self, node, weight, ctx: PassContext, stats: dict) -> _Layer:
        """Prune per tap (block 1) when asked; dw-taps and dw-taps-lut are options where faster."""
        density, _ = _layer_settings(self.options, ctx, node.name)
        rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
        rows = self._prune(node, weight, rows, density, 1, ctx, stats, "block 1: depthwise taps")
        candidates = depthwise_candidates(rows, depthwise_shape(node))
        _, why = choose_depthwise(rows, depthwise_shape(node), speed_over_size=self.options.speed_over_size)
        choice = candidates[0]
        dense = fb.Option(choice.dense_instructions, choice.dense_flash, code=fb.dense_code_unit("dw"))
        x, w, y = node.inputs[0], node.inputs[1], node.output
        scratch = depthwise_scratch_bytes(x.shape, w.shape, y.shape, node.attrs.get("stride", [1, 1]),
                                          node.attrs.get("pad", [0, 0, 0, 0]))
        return _Layer(node, weight, [dense, *_faster_options(candidates)], why, _live_bytes(node), {1: scratch}, [])


def _live_bytes(node) -> int:
    """The layer's input and output once they are int8."""
    return node.inputs[0].type.size + node.output.type.size


def _scratch_bytes(node, block: int) -> int:
    """The sparse conv/linear kernels' scratch for this node (tfc.sparse.scratch)."""
    x, w, y = node.inputs[0], node.inputs[1], node.output
    if node.op == "linear":
        depth = w.shape[1]
        return fc_scratch_bytes(x.type.size // depth, depth, block)
    return conv_scratch_bytes(x.shape, w.shape, y.shape, node.attrs.get("stride", [1, 1]),
                              node.attrs.get("pad", [0, 0, 0, 0]), block)


def _other_constant_bytes(graph, nodes) -> int:
    """Flash of the constants the layers sparsify decides do not read (a byte a value once int8)."""
    decided = {id(v) for n in nodes for v in n.inputs}
    return sum(v.type.size for v in graph.constants.values() if id(v) not in decided)
