"""`write_project`: the int8 IR to a standalone C project directory (placed by project_dir)."""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tfc.backends.cmsis import emit
from tfc.backends.cmsis.project_dir import place_project
from tfc.errors import TfcError
from tfc.kernels.lowering import LoweredModel, lower_for as lower_model
from tfc.ir.graph import Graph
from tfc.ir.ops import get_op
from tfc.targets import Target

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class LayerInfo:
    """One row of the per-layer table."""

    index: int
    node: str
    op: str
    kernel: str
    function: str
    output_bytes: int
    scratch_bytes: int
    weight_bytes: int   # weights + bias in flash (shared constants counted at first use)
    live_bytes: int = 0  # arena bytes live while this layer runs (buffers + its scratch)
    storage: str = "dense"  # conv/linear weights: "dense" or "sparse b<B> d=<density> <encoding>"
    code_bytes_estimate: int = 0  # generated per-layer code in model.c (sparse brle-unrolled)
    macs: int = 0  # multiply-accumulates of one inference (dense count; 0: no weighted reduction)
    calls: int = 1  # kernel calls per inference: one per band where the layer runs in fused tiles


@dataclass(frozen=True)
class IoSpec:
    """A model input or output as the C API sees it: int8, real = scale * (q - zero_point)."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    target: str
    build: str                 # scratch-size rules: "dsp" or "portable"
    files: tuple[str, ...]     # relative paths, sorted
    arena_bytes: int           # SRAM: activations, inputs, outputs and scratch
    arena_lower_bound: int     # the most bytes live at one step (no plan can do better)
    scratch_bytes: int         # the largest kernel scratch buffer (inside the arena)
    weight_bytes: int          # flash: weights.c
    quant_param_bytes: int     # flash: per-channel multipliers and shifts in model.c
    layers: tuple[LayerInfo, ...]
    inputs: tuple[IoSpec, ...]
    outputs: tuple[IoSpec, ...]
    path: Path | None = None   # where the project was written (None when only planned)

    def table(self) -> str:
        """The per-layer table as text."""
        head = (f"{'#':>3}  {'node':<34} {'kernel':<16} {'function':<34} {'out B':>8} {'scratch B':>9} "
                f"{'live B':>8} {'weights B':>9}  weights")
        rows = [head, "-" * len(head)]
        peak = max((r.live_bytes for r in self.layers), default=0)
        for r in self.layers:
            node = r.node if len(r.node) <= 34 else r.node[:31] + "..."
            mark = " <- peak" if r.live_bytes == peak and peak else ""
            rows.append(f"{r.index:>3}  {node:<34} {r.kernel:<16} {r.function or '(alias)':<34} "
                        f"{r.output_bytes:>8} {r.scratch_bytes:>9} {r.live_bytes:>8} {r.weight_bytes:>9}  "
                        f"{_storage_text(r):<30}{mark}".rstrip())
        return "\n".join(rows)


def _storage_text(r: LayerInfo) -> str:
    if get_op(r.op).weight_input is None:
        return ""
    return r.storage + (f" +~{r.code_bytes_estimate} B code" if r.code_bytes_estimate else "")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise TfcError(f"model name {name!r} is not a C identifier",
                       hint="use letters, digits and underscores, not starting with a digit")
    return name


def c_name(text: str) -> str:
    """A C identifier made from any text (a file stem, a graph name)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower() or "model"
    return "m_" + name if name[0].isdigit() else name


def _info(model: LoweredModel, graph: Graph, target: str, files, path) -> ProjectInfo:
    from tfc.memory import live_at
    seen: set[str] = set()
    layers = []
    calls = Counter(c.layer.index for c in model.calls if c.layer is not None)
    for layer in model.layers:
        node = graph.nodes[layer.index]
        fresh = [a for a in layer.weight_arrays if a.symbol not in seen]
        seen.update(a.symbol for a in fresh)
        live = sum(b.size for b in live_at(model.allocation.buffers, layer.index))
        sparse = getattr(layer.args, "storage", None)  # sparse layers (tfc.kernels.sparse)
        layers.append(LayerInfo(layer.index, layer.node, layer.op, layer.kernel, layer.function,
                                layer.output.size, layer.scratch_bytes, sum(a.nbytes for a in fresh), live,
                                storage=sparse() if sparse else "dense",
                                code_bytes_estimate=getattr(layer.args, "code_bytes_estimate", 0),
                                macs=node.spec.macs(node), calls=calls[layer.index]))
    return ProjectInfo(name=model.name, target=target, build=model.build, files=tuple(sorted(files)),
                       arena_bytes=model.arena_bytes, arena_lower_bound=model.lower_bound,
                       scratch_bytes=model.scratch_bytes, weight_bytes=model.weight_bytes,
                       quant_param_bytes=model.quant_param_bytes, layers=tuple(layers),
                       inputs=tuple(IoSpec(t.name, t.shape, t.scale, t.zero_point) for t in model.inputs),
                       outputs=tuple(IoSpec(t.name, t.shape, t.scale, t.zero_point) for t in model.outputs),
                       path=path)


def lower_for(graph: Graph, *, target: str | Target, name: str, strategies=None) -> tuple[LoweredModel, str]:
    target = Target.from_string(target)
    return lower_model(graph, target=target, name=check_name(name), strategies=strategies), target.name


def plan_project(graph: Graph, *, target: str | Target, name: str = "model") -> ProjectInfo:
    """The project's numbers (arena, weights, per-layer table) without writing anything."""
    model, target_name = lower_for(graph, target=target, name=name)
    return _info(model, graph, target_name, (), None)


def write_project(graph: Graph, out_dir, *, target: str | Target, name: str = "model",
                  strategies=None, force: bool = False, protect=()) -> ProjectInfo:
    """Write the C project for `graph` (int8 IR) to `out_dir`.

    tfc writes only its own files (project_dir.place_project): a folder that is neither empty nor
    a tfc project is refused unless `force`; a tfc project is replaced atomically, so a failure
    leaves `out_dir` as it was. `protect`: paths never to overwrite (the input model).
    """
    model, target_name = lower_for(graph, target=target, name=name, strategies=strategies)
    # The package's own version attribute (tfc/__init__ is loaded whenever any tfc module is).
    version = sys.modules["tfc"].__version__
    texts = emit.render(model, target=target_name, graph_name=graph.name, version=version)
    out = Path(os.path.abspath(out_dir))
    runtime = emit.runtime_files(model)
    files = place_project(out, lambda root: _write_tree(root, texts, runtime), force=force, protect=protect)
    return _info(model, graph, target_name, files, out)


def _write_tree(root: Path, texts: dict[str, str], runtime: tuple[list[str], list[str], list[str]]) -> list[str]:
    files = []
    for rel, text in texts.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="ascii")
        files.append(rel)
    headers, cmsis_sources, tfc_sources = runtime
    for sub, names in (("include", headers), ("src", cmsis_sources + tfc_sources)):
        for n in names:
            (root / "runtime" / sub).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(emit.RUNTIME / sub / n, root / "runtime" / sub / n)
            files.append(f"runtime/{sub}/{n}")
    return files
