"""`tfc.compile`: load a model, run the pass pipeline, and hand back a CompiledModel.

The pipeline defaults to the passes DESIGN.md lists (canonicalize, sparsify, quantize-int8, fuse,
plan-memory), those that are registered today, in that order.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfc.errors import ModelLoadError, ParseError, TfcError
from tfc.ir.graph import Graph, Value
from tfc.passes import Declined, PassContext, PassManager, PassTiming
from tfc.targets import Target


# ------------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class CompileReport:
    """What the compiled model costs, as far as the passes that ran can tell."""

    target: Target
    op_counts: dict[str, int]
    parameter_count: int
    parameter_bytes: int
    largest_activation: tuple[str, str, int] | None     # (value name, type, bytes)
    timings: tuple[PassTiming, ...] = ()
    # The C backend's numbers (arena, scratch, weights, per-layer table) for an int8 graph;
    # None with the reason in memory_note when the graph cannot be emitted (yet).
    memory: Any = None                                  # tfc.backends.cmsis.ProjectInfo
    memory_note: str = ""
    # The same graph with every weight dense, when some are sparse (planned on demand, with its
    # own memory-aware order: dense_arena_bytes): the sparse kernels' scratch can grow the arena.
    dense_graph: Graph | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def dense_arena_bytes(self) -> int | None:
        """The arena of the graph with every weight dense, fused and planned as the default
        pipeline would (None: nothing is sparse)."""
        if self.dense_graph is None:
            return None
        from tfc.backends.cmsis import plan_project
        from tfc.passes import run_pipeline
        graph = self.dense_graph.copy()   # dense, a conv may take its residual add again
        run_pipeline(graph, "fuse,plan-memory{check_fit=false}", PassContext(target=self.target))
        return plan_project(graph, target=self.target).arena_bytes

    @property
    def flash_bytes(self) -> int | None:
        """Model data in flash: weights, biases, requantization parameters (code not counted)."""
        return self.memory.weight_bytes + self.memory.quant_param_bytes if self.memory else None

    @property
    def sram_bytes(self) -> int | None:
        """The static arena: activations, inputs, outputs and kernel scratch (stack not counted)."""
        return self.memory.arena_bytes if self.memory else None

    @property
    def fits(self) -> bool | None:
        """Whether the model data fits the target's flash and the arena its SRAM (code and stack
        not counted: `tfc run` checks those when it links); None without a memory plan."""
        if self.memory is None:
            return None
        return self.flash_bytes <= self.target.flash_bytes and self.sram_bytes <= self.target.sram_bytes

    def fits_line(self) -> str:
        t = self.target
        return (f"fits: {'yes' if self.fits else 'no'} (flash {self.flash_bytes:,} of {t.flash_bytes:,} B, "
                f"SRAM {self.sram_bytes:,} of {t.sram_bytes:,} B; code and stack not counted)")

    @property
    def sram_traded(self) -> str:
        """"" when the sparse layers leave the arena at the dense plan's size (or below), else
        what their scratch costs in SRAM."""
        m, dense = self.memory, self.dense_arena_bytes
        if m is None or dense is None or m.arena_bytes <= dense:
            return ""
        return (f"SRAM traded for speed: the sparse kernels' scratch grows the arena from the dense plan's "
                f"{dense:,} B to {m.arena_bytes:,} B (+{m.arena_bytes - dense:,} B, "
                f"{100 * m.arena_bytes / self.target.sram_bytes:.1f}% of SRAM; sparse forms are taken only where "
                f"their scratch fits the target's SRAM)")

    @classmethod
    def of(cls, graph: Graph, target: Target, timings=()) -> "CompileReport":
        params = list(graph.constants.values())
        activations: list[Value] = list(graph.inputs) + [v for n in graph.nodes for v in n.outputs]
        largest = max(activations, key=lambda v: v.type.nbytes, default=None)
        return cls(target=target,
                   op_counts=dict(sorted(Counter(n.op for n in graph.nodes).items())),
                   parameter_count=sum(v.type.size for v in params),
                   parameter_bytes=sum(v.type.nbytes for v in params),
                   largest_activation=(largest.name, str(largest.type), largest.type.nbytes)
                   if largest is not None else None,
                   timings=tuple(timings), **_memory(graph, target))

    def __str__(self) -> str:
        t = self.target
        lines = [f"target     {t.name}: flash {_bytes(t.flash_bytes)}, SRAM {_bytes(t.sram_bytes)}",
                 f"parameters {self.parameter_count:,} values, {_bytes(self.parameter_bytes)}"
                 f" ({100 * self.parameter_bytes / t.flash_bytes:.1f}% of flash)"]
        if self.largest_activation:
            name, type_, nbytes = self.largest_activation
            lines.append(f"largest activation %{name} : {type_}, {_bytes(nbytes)}"
                         f" ({100 * nbytes / t.sram_bytes:.1f}% of SRAM)")
        m = self.memory
        if m is not None:
            lines.append(self.fits_line())
            lines.append(f"flash      {self.flash_bytes:,} B model data = weights {m.weight_bytes:,} B + requantization "
                         f"params {m.quant_param_bytes:,} B ({100 * self.flash_bytes / t.flash_bytes:.1f}% of flash;"
                         " code not counted)")
            lines.append(f"SRAM       {m.arena_bytes:,} B arena = activations, I/O and scratch (largest scratch "
                         f"{m.scratch_bytes:,} B; lower bound {m.arena_lower_bound:,} B) "
                         f"({100 * m.arena_bytes / t.sram_bytes:.1f}% of SRAM; stack not counted)")
            if self.sram_traded:
                lines.append(f"           {self.sram_traded}")
        elif self.memory_note:
            lines.append(f"memory     not planned: {self.memory_note}")
        lines.append("")
        lines.append(f"{'op':<16}{'count':>6}")
        for op, n in self.op_counts.items():
            lines.append(f"{op:<16}{n:>6}")
        lines.append(f"{'total':<16}{sum(self.op_counts.values()):>6}")
        if self.timings:
            lines.append("")
            lines.append(f"{'pass':<40}{'ms':>9}  changed")
            for r in self.timings:
                lines.append(f"{r.spec:<40}{r.seconds * 1e3:>9.1f}  {'yes' if r.changed else 'no'}")
        if m is not None:
            lines += ["", m.table()]
        return "\n".join(lines)


def _memory(graph: Graph, target: Target) -> dict:
    """The C backend's plan for `graph` (and for it all dense, when some weights are sparse), or
    why there is none (e.g. a float graph)."""
    from tfc.backends.cmsis import plan_project
    try:
        found = {"memory": plan_project(graph, target=target)}
    except TfcError as e:
        return {"memory_note": e.message + (f"; {e.hint}" if e.hint else "")}
    if any(v.sparse is not None for v in graph.constants.values()):
        from tfc.passes.sparsify import dense_twin
        found["dense_graph"] = dense_twin(graph)
    return found


def _bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


# --------------------------------------------------------------------------------- compiled
@dataclass
class CompiledModel:
    ir: Graph                          # the final IR
    graph_before: Graph                # the IR as imported, before any pass
    report: CompileReport
    pipeline: str                      # the pipeline that ran, as text
    target: Target
    declined: list[Declined] = field(default_factory=list)   # rewrites that chose not to fire
    findings: dict[str, Any] = field(default_factory=dict)   # what passes found, e.g. "sparsify": [SparseDecision]
    dumps: list[Path] = field(default_factory=list)
    name: str = "model"                # C prefix of the generated API: tfc_<name>_run
    _runners: dict = field(default_factory=dict, repr=False, compare=False)   # "host"/"target" -> runner

    def save(self, out_dir, *, name: str | None = None, force: bool = False, protect=()):
        """Write the C project (model.h/.c, weights, kernels, Makefile, CMakeLists.txt and the
        manifest tfc-manifest.txt) to `out_dir`; returns its tfc.backends.cmsis.ProjectInfo.

        tfc writes only its own files: a non-empty folder that is not a tfc project is refused
        unless force=True (then files with tfc's names are replaced, all others kept); a tfc
        project is replaced atomically. `protect`: paths never to overwrite (the input model)."""
        from tfc.backends.cmsis import write_project
        return write_project(self.ir, out_dir, target=self.target, name=name or self.name,
                             force=force, protect=protect)

    def run(self, inputs, raw: bool = False, *, on: str | None = None) -> list:
        """Build the generated C (once) and run it, as onnxruntime's InferenceSession.run(None,
        feed) would: `inputs` is a dict {input name: array} (or a list in input order, or one
        array for a one-input model) in the model's own input dtypes (int8 for an int8 input,
        float for a float one, quantized here); returns a list of arrays in the model's output
        dtypes. A leading sample axis runs a batch in one process. raw=True: int8 in and out,
        whatever the model declares. Shapes, dtypes and values are checked before any build.

        on: "target" (the default for an emulated Cortex-M target) runs the ELF on QEMU's emulated core
        (needs arm-none-eabi-gcc and qemu-system-arm: scripts/install-target-tools.sh); "host"
        (the default for target="host") builds with gcc and runs on this machine."""
        from tfc import feeds
        where = on or ("target" if self.target.is_emulated else "host")
        if where not in ("target", "host"):
            raise TfcError(f"run(on={on!r}): expected 'target' or 'host'")
        if any(v.quant is None for v in (*self.ir.inputs, *self.ir.outputs)):
            raise TfcError("run(): this model was not compiled to int8 (its pipeline has no quantize-int8)",
                           hint="compile with the default pipeline")
        ins, outs = feeds.ports(self.ir, self.graph_before)
        ints = feeds.to_int8(feeds.arrange(inputs, ins), ins, raw=raw)
        if where not in self._runners:
            self._runners[where] = self._make_runner(where)
        result = self._runners[where].run(ints, raw=True)
        return feeds.from_int8(result if isinstance(result, list) else [result], outs, raw=raw)

    def _make_runner(self, where: str):
        import shutil
        import tempfile
        import weakref
        from tfc.backends.cmsis import HostRunner, TargetRunner
        if where == "target" and not self.target.is_emulated:
            from tfc.targets import emulated_target_names
            raise TfcError("run(on='target') needs an emulated Cortex-M target; this model was compiled for "
                           f"'{self.target.name}'", hint=f"compile for one of {', '.join(emulated_target_names())}")
        tmp = tempfile.mkdtemp(prefix="tfc-project-")
        weakref.finalize(self, shutil.rmtree, tmp, True)
        info = self.save(Path(tmp) / self.name)
        return TargetRunner(info) if where == "target" else HostRunner(info)

    def __repr__(self) -> str:
        return (f"CompiledModel({self.ir.name!r}, target={self.target.name}, pipeline={self.pipeline!r}, "
                f"{len(self.ir.nodes)} nodes)")


# ----------------------------------------------------------------------------------- loading
def load_model(model, *, input_shapes: dict[str, list[int]] | None = None) -> Graph:
    """A fresh IR graph from a path (.onnx or .tfcir), ONNX bytes, an onnx.ModelProto or a Graph
    (which is copied: compiling never changes the caller's graph)."""
    if isinstance(model, Graph):
        if input_shapes:
            raise TfcError("input_shapes applies to ONNX models; this is already an IR graph")
        return model.copy()
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ModelLoadError("no such file" if not path.exists() else "not a file", file=str(path),
                                 hint="give the path of an .onnx model or a .tfcir dump")
        if path.suffix == ".tfcir":
            if input_shapes:
                raise TfcError("input_shapes applies to ONNX models, not to .tfcir files", file=str(path))
            try:
                text = path.read_text(encoding="utf-8")   # a dump's header comments may be UTF-8
            except (OSError, UnicodeDecodeError) as e:
                raise ModelLoadError(f"cannot read the IR file: {e}", file=str(path)) from None
            try:
                return _parse(text)
            except ParseError as e:
                raise ParseError(e.message, file=str(path), hint=e.hint) from None
    return _import_onnx(model, input_shapes)


def _parse(text: str) -> Graph:
    from tfc.ir.text import parse_graph
    return parse_graph(text)


def _import_onnx(model, input_shapes) -> Graph:
    try:
        from tfc.frontend.onnx import import_onnx
    except ImportError as e:  # the importer is a separate module: say so instead of a traceback
        raise TfcError(f"the ONNX importer is not available ({e})") from None
    return import_onnx(model, input_shapes=input_shapes)


# ----------------------------------------------------------------------------------- compile
def compile(model, target: str | Target = "cortex-m7", *, calibration=None, sparsity=None,
            dump_ir=None, pipeline=None, input_shapes=None, input_layout: str | None = None,
            numerics: str = "auto", extra_macs: float | None = None, verbose: bool = False) -> CompiledModel:
    """Compile `model` (a path, an onnx.ModelProto, ONNX bytes or a tfc Graph) for `target`.

    calibration: samples for post-training quantization (float models); sparsity: settings for the
    sparsify pass; dump_ir: a directory for `00-import.tfcir`, `01-canonicalize.tfcir`, ...;
    pipeline: pipeline text or a list of passes (default: the registered passes in DESIGN order);
    input_shapes: {input name: shape} for ONNX inputs with unknown dims; input_layout: "nhwc" or
    "nchw", the layout of the 4-D inputs and outputs of the generated API (default: the model's
    own; "nhwc" on an NCHW model removes the boundary transposes); numerics: whose int8 arithmetic
    the kernels reproduce, "cmsis" (TFLite Micro / CMSIS-NN: fixed-point requantization, the faster
    kernels), "onnxruntime" (float32 requantization, bit-exact with onnxruntime), or "auto":
    onnxruntime's for a model onnxruntime.quantization wrote, else TFLite Micro's, but for a pure
    requantization in a QDQ model that is not a TFLite conversion (see docs/ir.md); extra_macs: run
    the first layers in fused tiles for a smaller arena, recomputing at most this fraction of the
    model's multiply-accumulates (0.10: 10 % more; 0: only schedules that add none, keeping halo
    rows); given (0 included), it always tiles for the smallest arena within it; None, the default:
    0 where the untiled arena does not fit the target's SRAM (less the stack), else no tiling, so a
    model that fits keeps its speed; verbose: log each pass and each rewrite that declined to fire.
    """
    from tfc.passes.sparsify import check_sparsity
    target = Target.from_string(target)
    check_sparsity(sparsity)                           # a misspelled option fails before any work
    check_numerics(numerics)
    from tfc.passes.io_layout import check_layout, set_io_layout
    manager = PassManager(pipeline, dump_ir=dump_ir)   # a bad pipeline fails before any work
    check_layout(input_layout)
    graph = load_model(model, input_shapes=input_shapes)
    set_io_layout(graph, input_layout)
    before = graph.copy()
    if extra_macs is not None and (not isinstance(extra_macs, (int, float)) or isinstance(extra_macs, bool)
                                   or extra_macs < 0):
        raise TfcError(f"extra_macs must be a fraction >= 0 of the model's MACs, got {extra_macs!r}",
                       hint="e.g. extra_macs=0.10 allows 10 % more multiply-accumulates")
    options: dict[str, Any] = {"calibration": calibration, "sparsity": sparsity, "extra_macs": extra_macs,
                               "quantized_by": _quantized_by(model), "numerics": numerics}
    ctx = PassContext(target=target, options=options, logger=logging.getLogger("tfc.passes"))
    with _verbose_logging(verbose):
        run = manager.run(graph, ctx)
        for entry in ctx.declined:
            ctx.logger.info("%s", entry)
    return CompiledModel(ir=graph, graph_before=before, report=CompileReport.of(graph, target, run.timings),
                         pipeline=run.pipeline, target=target, declined=list(ctx.declined), findings=dict(ctx.findings),
                         dumps=run.dumps, name=_model_name(model, graph))


def check_numerics(numerics) -> None:
    from tfc.ir.ops.base import NUMERICS
    if numerics not in ("auto", *NUMERICS):
        raise TfcError(f"numerics={numerics!r}: expected one of 'auto', " + ", ".join(repr(n) for n in NUMERICS),
                       hint="'cmsis' reproduces TFLite Micro's int8 arithmetic, 'onnxruntime' onnxruntime's")


def _quantized_by(model) -> str | None:
    """Who wrote a model's Q/DQ nodes, which decides whose int8 arithmetic the kernels follow
    (quantize-int8{numerics=auto}): "onnxruntime" for onnxruntime.quantization (it signs
    producer_name "onnx.quantize"), "tflite" for a tf2onnx conversion (of a TFLite model: TFLite
    Micro defines its results), "onnx" for any other ONNX file (PyTorch's or a hand-written QDQ
    graph), None for an IR graph built in Python."""
    if isinstance(model, Graph):
        return None
    try:
        import onnx
        if isinstance(model, onnx.ModelProto):
            proto = model
        elif isinstance(model, (bytes, bytearray)):
            proto = onnx.load_from_string(bytes(model))
        elif Path(model).suffix == ".onnx":
            proto = onnx.load(str(model), load_external_data=False)
        else:
            return None
    except Exception:  # noqa: BLE001 - load_model already reported any real loading problem
        return None
    return {"onnx.quantize": "onnxruntime", "tf2onnx": "tflite"}.get(proto.producer_name, "onnx")


def _model_name(model, graph: Graph) -> str:
    """A C identifier for the generated API: the file's stem, else the graph's name."""
    from tfc.backends.cmsis.project import c_name
    if isinstance(model, (str, os.PathLike)):
        return c_name(Path(model).stem)
    return c_name(graph.name or "model")


@contextmanager
def _verbose_logging(verbose: bool):
    if not verbose:
        yield
        return
    logger = logging.getLogger("tfc")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tfc: %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
