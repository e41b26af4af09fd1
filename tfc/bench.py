"""`tfc bench`: what a compiled model costs on its Cortex-M target, measured on the emulated core.

    result = bench(compiled_model)                       # tfc's kernels
    both = bench(compiled_model, cmsis_nn_root="/path/CMSIS-NN")   # and Arm's, same model
    print(format_bench(both)); json.dumps(bench_json(both))

Instructions: the project is built with -DTFC_PROFILE (each layer and each inference is a region
for tfc's QEMU counting plugin) and run on one or more inputs; counts are executed instructions,
exact and repeatable (QEMU has no cycle model). Beside them, each layer's multiply-accumulates
(OpSpec.macs: the dense count, whatever the weights' storage) and instructions per MAC, and the
model's totals. Flash: every input section of the linked ELF,
attributed by its object file through the link map (weights.c, model.c's requantization
parameters, model code, kernels, start-up/driver/C library). SRAM: the arena (activations, I/O,
kernel scratch), other static data, the stack reservation and the stack's painted peak.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tfc.errors import BuildError, TfcError

INVOKE_REGION = 65535        # main_target.c's region around each inference
MARKER_INSTRUCTIONS = 4      # a nested region's two markers (DBG + MOVW each) count in its parent


@dataclass(frozen=True)
class LayerCost:
    index: int
    node: str
    op: str
    kernel: str
    function: str
    instructions: int        # per inference
    macs: int = 0            # multiply-accumulates per inference (0: no weighted reduction)

    @property
    def per_mac(self) -> float | None:
        return self.instructions / self.macs if self.macs else None


@dataclass(frozen=True)
class FlashUse:
    """Bytes of flash by what they hold (the sum is the ELF's flash extent, less alignment gaps)."""
    weights: int             # weights.c: weights and biases
    quant_params: int        # model.c's constants: per-channel multipliers and shifts
    model_code: int          # model.c's code: the layer calls
    kernel_code: int         # the kernels (tfc's runtime or CMSIS-NN): code and their tables
    harness: int             # start-up code, the test driver, the C library, the vector table
    data_init: int           # initial values of .data
    total: int               # the linked image (arm-none-eabi-size): the above plus alignment gaps


@dataclass(frozen=True)
class SramUse:
    arena: int               # activations, inputs, outputs and kernel scratch (one static array)
    scratch: int             # the largest kernel scratch buffer, inside the arena
    other_static: int        # .data and .bss besides the arena (C library, driver)
    stack_reserved: int
    stack_peak: int          # painted high-water mark over the whole run
    total_static: int        # static SRAM with the stack reservation (the link-time budget check)


@dataclass(frozen=True)
class BenchResult:
    model: str
    target: str
    kernels: str             # "tfc" or "CMSIS-NN"
    samples: int
    instructions: int        # per inference, inside tfc_<name>_invoke (markers excluded)
    layers: tuple[LayerCost, ...]
    flash: FlashUse
    sram: SramUse
    outputs: tuple[bytes, ...] = ()     # the raw outputs, to compare builds

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def per_mac(self) -> float | None:
        """Whole-model instructions per multiply-accumulate (the other layers' cost included)."""
        return self.instructions / self.macs if self.macs else None


@dataclass(frozen=True)
class Bench:
    """One model's measurements: tfc's kernels, and Arm's CMSIS-NN when asked."""
    tfc: BenchResult
    cmsis_nn: BenchResult | None = None
    # sparsify's choice per conv/linear layer (tfc.passes.sparsify.SparseDecision) and what the
    # sparse kernels' scratch cost in SRAM against the dense plan (CompileReport.sram_traded).
    sparse_decisions: tuple = ()
    sram_traded: str = ""
    # the tile pass's schedules: (untiled arena, (TileCandidate, ...)), see tfc.passes.tile
    tiles: tuple = ()

    @property
    def outputs_agree(self) -> bool | None:
        return None if self.cmsis_nn is None else self.tfc.outputs == self.cmsis_nn.outputs


# ------------------------------------------------------------------------------------ measuring
def bench(model, target: str = "cortex-m7", *, cmsis_nn_root=None, inputs: np.ndarray | None = None,
          samples: int = 1, seed: int = 0, cache_dir=None) -> Bench:
    """Measures `model` (a CompiledModel, or anything tfc.compile takes) on the emulated
    `target`. Inputs: raw int8 `inputs` ([N, *shape] for a one-input model, or a list), else
    `samples` random int8 samples drawn with `seed`."""
    from tfc.compiler import CompiledModel, compile
    cm = model if isinstance(model, CompiledModel) else compile(model, target=target)
    if not cm.target.is_emulated:
        from tfc.targets import emulated_target_names
        raise TfcError(f"tfc bench measures an emulated Cortex-M target, not '{cm.target.name}'",
                       hint=f"emulated targets: {', '.join(emulated_target_names())}")
    with tempfile.TemporaryDirectory(prefix="tfc-bench-") as tmp:
        info = cm.save(Path(tmp) / cm.name)
        raw = _inputs(info, inputs, samples, seed)
        ours = _measure(info, raw, cache_dir=cache_dir, cmsis_nn_root=None)
        theirs = _measure(info, raw, cache_dir=cache_dir, cmsis_nn_root=cmsis_nn_root) if cmsis_nn_root else None
    return Bench(ours, theirs, tuple(cm.findings.get("sparsify", ())), cm.report.sram_traded,
                 tuple(cm.findings.get("tile", ())))


def _inputs(info, inputs, samples: int, seed: int) -> list[np.ndarray]:
    if inputs is None:
        if samples < 1:
            raise TfcError(f"bench needs at least one sample, got {samples}")
        rng = np.random.default_rng(seed)
        return [rng.integers(-128, 128, size=(samples, *s.shape), dtype=np.int8) for s in info.inputs]
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    return [np.asarray(a) for a in arrays]


def _measure(info, raw: list[np.ndarray], *, cache_dir, cmsis_nn_root) -> BenchResult:
    from tfc.backends.cmsis import TargetRunner
    runner = TargetRunner(info, profile=True, cmsis_nn_root=cmsis_nn_root, cache_dir=cache_dir)
    outputs = runner.run_raw(raw)
    run = runner.last_run
    n = raw[0].shape[0]
    regions = run.instructions.regions
    layers = tuple(LayerCost(layer.index, layer.node, layer.op, layer.kernel, layer.function,
                             _per_inference(regions, layer.index, n, layer.calls), layer.macs)
                   for layer in info.layers)
    total = _per_inference(regions, INVOKE_REGION, n) - MARKER_INSTRUCTIONS * sum(layer.calls for layer in info.layers)
    placed = parse_map(runner.elf.map_path.read_text(errors="replace"))
    flash, sram = _memory(placed, runner.elf, info, run)
    return BenchResult(model=info.name, target=info.target, kernels="CMSIS-NN" if cmsis_nn_root else "tfc",
                       samples=n, instructions=total, layers=layers, flash=flash, sram=sram,
                       outputs=tuple(o.tobytes() for o in outputs))


def _per_inference(regions, region: int, n: int, calls: int = 1) -> int:
    """Instructions per inference of a region entered `calls` times per inference (a layer run in
    fused tiles: once per band)."""
    count = regions.get(region)
    if count is None or count.entered != n * calls:
        raise BuildError(f"instruction region {region} ran {0 if count is None else count.entered} times "
                         f"for {n} inference(s) of {calls} call(s)",
                         hint="the profiled build's markers are missing or broken")
    return count.instructions // n


# ------------------------------------------------------------------------------------ link map
@dataclass(frozen=True)
class Placed:
    """One input section the linker placed: its name, address, size and the file it came from."""
    section: str
    address: int
    size: int
    origin: str              # path after the build's obj/ directory, or the archive(member)


# Sections the map lists at address 0 that are never loaded (comments, attributes, debug info).
_NOT_LOADED = (".comment", ".ARM.attributes", ".debug", ".stab", ".note", ".gnu.build.attributes")
_PLACED = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def parse_map(text: str) -> list[Placed]:
    """The input sections of a GNU ld map's "Linker script and memory map" part (a long section
    name sits on its own line, its address, size and file on the next)."""
    _, found, body = text.partition("Linker script and memory map")
    if not found:
        raise BuildError("the link map has no 'Linker script and memory map' part")
    placed, pending = [], None
    for line in body.splitlines():
        if line.startswith(" ") and not line.startswith("  ") and len(line.split()) == 1:
            pending = line.strip()                  # " .text.long_name" alone on its line
            continue
        m = _PLACED.match(line)
        if m:
            name = m.group(1) or pending
            size = int(m.group(3), 16)
            if name and size and name[0] in ".C" and not name.startswith(_NOT_LOADED):
                origin = m.group(4).strip()
                origin = origin.rsplit("/obj/", 1)[-1] if "/obj/" in origin else Path(origin).name
                placed.append(Placed(name, int(m.group(2), 16), size, origin))
        pending = None
    return placed


def _role(origin: str) -> str:
    if origin == "weights.o":
        return "weights"
    if origin == "model.o":
        return "model"
    if origin == "main_target.o" or origin.startswith("target/") or "(" in origin or origin.endswith(".a"):
        return "harness"
    return "kernels"


def _memory(placed: list[Placed], elf, info, run) -> tuple[FlashUse, SramUse]:
    from tfc.targets.cortex_m.size import in_flash, in_sram
    target = elf.target
    sums: dict[str, int] = {}
    arena = other = 0
    for p in placed:
        role = _role(p.origin)
        if in_flash(target, p.address):
            kind = "code" if p.section.startswith(".text") else "const"
            key = {"weights": "weights", "model": f"model_{kind}", "kernels": "kernels"}.get(role, "harness")
            sums[key] = sums.get(key, 0) + p.size
        elif in_sram(target, p.address):
            if role == "model" and p.section.startswith(".bss") and "arena" in p.section:
                arena += p.size
            else:
                other += p.size
    size = elf.size
    data_init = size.flash_sections.get(".data (init)", 0)
    flash = FlashUse(weights=sums.get("weights", 0), quant_params=sums.get("model_const", 0),
                     model_code=sums.get("model_code", 0), kernel_code=sums.get("kernels", 0),
                     harness=sums.get("harness", 0),
                     data_init=data_init, total=size.flash_bytes)
    sram = SramUse(arena=arena, scratch=info.scratch_bytes, other_static=other,
                   stack_reserved=elf.stack_size, stack_peak=run.stack_peak, total_static=size.sram_bytes)
    return flash, sram


# ------------------------------------------------------------------------------------ output
def format_bench(b: Bench) -> str:
    """The per-layer table, then flash and SRAM, as text (CMSIS-NN beside tfc when measured)."""
    t, c = b.tfc, b.cmsis_nn
    lines = [f"{t.model} on the emulated {t.target}: executed instructions per inference "
             f"({t.samples} sample{'s' if t.samples > 1 else ''}; exact, from QEMU)", ""]
    head = f"{'#':>3}  {'op':<12} {'function':<34} {'MACs':>11} {'tfc':>12} {'instr/MAC':>9}"
    if c:
        head += f" {'CMSIS-NN':>12} {'instr/MAC':>9} {'CMSIS/tfc':>9}"
    lines += [head, "-" * len(head)]
    for i, layer in enumerate(t.layers):
        row = (f"{layer.index:>3}  {layer.op:<12} {(layer.function or '(alias)'):<34} {_macs(layer.macs):>11} "
               f"{layer.instructions:>12,} {_per_mac(layer.per_mac):>9}")
        if c:
            theirs = c.layers[i]
            row += (f" {theirs.instructions:>12,} {_per_mac(theirs.per_mac):>9}"
                    f" {_ratio(theirs.instructions, layer.instructions):>9}")
        lines.append(row)
    if b.tiles and any(cand.chosen for cand in b.tiles[1]):
        # the kept halo rows' memmoves run between the layers' calls: in the total, in no layer
        row = f"{'':>3}  {'(fused tiles: halo-row moves, between the layers)':<59} {_outside_layers(t):>12,}"
        lines.append(row + (f" {'':>9} {_outside_layers(c):>12,}" if c else ""))
    total = (f"{'':>3}  {'total':<12} {'(tfc_' + t.model + '_invoke)':<34} {_macs(t.macs):>11} "
             f"{t.instructions:>12,} {_per_mac(t.per_mac):>9}")
    if c:
        total += (f" {c.instructions:>12,} {_per_mac(c.per_mac):>9}"
                  f" {_ratio(c.instructions, t.instructions):>9}")
    lines += ["-" * len(head), total, ""]
    builds = [t] + ([c] if c else [])
    names = "".join(f"{r.kernels:>12}" for r in builds)
    lines.append(f"{'flash (bytes)':<44}{names}")
    for label, field in (("weights (weights.c)", "weights"), ("requantization params (model.c)", "quant_params"),
                         ("model code (model.c)", "model_code"), ("kernels (code + tables)", "kernel_code"),
                         ("start-up, driver, C library, vectors", "harness"), (".data initial values", "data_init"),
                         ("total (linked image)", "total")):
        lines.append(f"  {label:<42}" + "".join(f"{getattr(r.flash, field):>12,}" for r in builds))
    lines.append(f"{'SRAM (bytes)':<44}{names}")
    for label, field in (("arena (activations, I/O, scratch)", "arena"), ("  of which largest kernel scratch", "scratch"),
                         ("other static data (.data, .bss)", "other_static"), ("stack reserved", "stack_reserved"),
                         ("stack peak (painted)", "stack_peak"), ("total static (with stack)", "total_static")):
        lines.append(f"  {label:<42}" + "".join(f"{getattr(r.sram, field):>12,}" for r in builds))
    if b.sram_traded:
        lines.append(f"  {b.sram_traded}")
    if c:
        lines += ["", "outputs of the two builds: " + ("identical" if b.outputs_agree else "DIFFERENT")]
    lines += _decision_lines(b)
    if b.tiles and any(c.arena_bytes is not None for c in b.tiles[1]):
        from tfc.passes.tile import format_candidates
        lines += ["", "peak SRAM (arena) against extra MACs, the tile pass's schedules (*: built)",
                  format_candidates(*b.tiles)]
    return "\n".join(lines)


def _outside_layers(r: BenchResult) -> int:
    return r.instructions - sum(layer.instructions for layer in r.layers)


def _macs(macs: int) -> str:
    return f"{macs:,}" if macs else "-"


def _per_mac(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _decision_lines(b: Bench) -> list[str]:
    """Per conv/linear layer sparsify weighed: the form chosen, why, its measured instructions,
    and every form's estimate from the cost model."""
    sparse = [d for d in b.sparse_decisions if d.chosen != "dense" or len(d.options) > 1]
    if not sparse:
        return []
    measured = {layer.node: layer.instructions for layer in b.tfc.layers}
    lines = ["", "sparse layers: the form sparsify chose and why; every form's instructions estimated by the cost "
             "model (tfc.sparse.cost_model), flash bytes and scratch"]
    for d in sparse:
        got = measured.get(d.node)
        lines.append(f"  {d.node}: {d.chosen}" + (f", measured {got:,} instructions" if got is not None else "")
                     + f": {d.why}")
        for label, ins, flash, scratch in sorted(d.options, key=lambda o: o[1]):
            mark = "*" if label == d.chosen else " "
            lines.append(f"    {mark} {label:<20} {ins:>12,.0f} instr {flash:>10,} B flash {scratch:>8,} B scratch")
    return lines


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}x" if b else "-"


def bench_json(b: Bench) -> dict:
    def one(r: BenchResult) -> dict:
        d = asdict(r)
        d.pop("outputs")
        d["macs"] = r.macs
        return d
    out = {"model": b.tfc.model, "target": b.tfc.target, "unit": "executed instructions per inference",
           "tfc": one(b.tfc)}
    if b.cmsis_nn:
        out["cmsis_nn"] = one(b.cmsis_nn)
        out["outputs_identical"] = b.outputs_agree
    if b.sparse_decisions:
        out["sparse_layers"] = [{"node": d.node, "chosen": d.chosen, "why": d.why,
                                 "estimates": [{"form": f, "instructions": round(i), "flash": fl, "scratch": sc}
                                               for f, i, fl, sc in d.options]} for d in b.sparse_decisions]
    if b.sram_traded:
        out["sram_traded"] = b.sram_traded
    if b.tiles:
        out["tiles"] = {"untiled_arena": b.tiles[0], "candidates": [asdict(c) for c in b.tiles[1]]}
    return out
