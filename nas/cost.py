"""Costs of a sub-network, from tfc itself: flash and SRAM, and an instruction estimate.

Flash and SRAM: the sub-network is exported to ONNX and compiled by `tfc.compile` (import,
canonicalize, quantize-int8, fuse) and planned by the C backend (`CompileReport.flash_bytes` =
weights + requantization params, `sram_bytes` = arena incl. scratch): the very numbers the final
compiled model reports; no C is built. Inside the loop the fast TorchScript exporter is used; the
final model goes through the dynamo exporter, and `tests/nas/test_cost.py` plus the pipeline's
final check show both give the same numbers. Sizes do not depend on weight values (dense kernels),
so results are cached per architecture.

The sub-network is compiled with its pruned weights, so tfc's sparsify pass sees the real zero
pattern (costs are cached per genome: arch + sparsity). Instructions: `nas.kernel_costs.estimate`
on the compiled model (fitted per-kernel models + tfc's SparseEngine cost model).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from tfc.errors import TfcError


@dataclass(frozen=True)
class Budget:
    """What the model may use. `flash_reserve`/`sram_reserve` are kept for code and stack, which
    tfc's model numbers do not count; the model data and arena must fit in the rest."""
    flash_bytes: int
    sram_bytes: int
    flash_reserve: int = 0
    sram_reserve: int = 0
    sparse_code_reserve: int = 0   # extra code when the backend links its sparse kernels

    def model_flash_for(self, cost: "TfcCost") -> int:
        return self.model_flash - (self.sparse_code_reserve if cost.sparse_kernels else 0)

    @property
    def model_flash(self) -> int:
        return self.flash_bytes - self.flash_reserve

    @property
    def model_sram(self) -> int:
        return self.sram_bytes - self.sram_reserve

    def fits(self, cost: "TfcCost") -> bool:
        return (cost.supported and cost.flash_bytes <= self.model_flash_for(cost)
                and cost.sram_bytes <= self.model_sram)

    def describe(self) -> str:
        return (f"flash {self.flash_bytes:,} B ({self.model_flash:,} B for model data after {self.flash_reserve:,} B "
                f"for code, {self.sparse_code_reserve:,} B more with sparse kernels), SRAM {self.sram_bytes:,} B ({self.model_sram:,} B arena after {self.sram_reserve:,} B "
                "for stack)")


@dataclass(frozen=True)
class TfcCost:
    flash_bytes: int          # weights + requantization params (tfc's CompileReport.flash_bytes)
    sram_bytes: int           # the arena incl. scratch (CompileReport.sram_bytes)
    supported: bool = True    # False when tfc cannot compile the sub-network (note says why)
    note: str = ""
    instructions: float = 0.0             # estimate with the SparseEngine's kernels (nas.kernel_costs)
    instructions_as_compiled: float = 0.0  # estimate for the kernels the backend emits today
    sparse_layers: int = 0                # layers the sparsify pass gave a SparseLayout
    sparse_kernels: int = 0               # layers the backend runs with a sparse kernel


def export_onnx(model: nn.Module, example: torch.Tensor, path=None, *, dynamo: bool = True):
    """Export to ONNX (opset 18, one self-contained file). Returns the bytes when path is None.
    dynamo=True is the exporter the deliverable uses; dynamo=False (TorchScript) is ~30x faster."""
    model = model.eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            _quiet_logger("torch.onnx"):
        warnings.simplefilter("ignore")
        if dynamo:
            target = path if path is not None else _tmp_onnx()
            torch.onnx.export(model, (example,), str(target), dynamo=True, external_data=False, opset_version=18,
                              input_names=["input"], output_names=["logits"])
            if path is None:
                data = target.read_bytes()
                target.unlink()
                return data
            return path
        buf = io.BytesIO()
        torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=18,
                          input_names=["input"], output_names=["logits"])
        if path is not None:
            with open(path, "wb") as f:
                f.write(buf.getvalue())
            return path
        return buf.getvalue()


@contextlib.contextmanager
def _quiet_logger(name: str):
    """The exporter's own log records (e.g. "torchvision is not installed") held back during one
    export; its handlers write to the stderr they captured at import, past redirect_stderr."""
    import logging
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _tmp_onnx():
    import tempfile
    from pathlib import Path
    fd, name = tempfile.mkstemp(suffix=".onnx")
    import os
    os.close(fd)
    return Path(name)


def compile_cost(onnx_model, calibration: np.ndarray, target: str) -> tuple[TfcCost, object | None]:
    """tfc's flash/SRAM for an ONNX model (bytes, path or proto); (cost, CompiledModel or None)."""
    import onnx
    import tfc
    proto = onnx.load_from_string(onnx_model) if isinstance(onnx_model, bytes) else onnx_model
    try:
        cm = tfc.compile(proto, target=target, calibration=calibration)
    except TfcError as e:
        return TfcCost(0, 0, False, e.message.splitlines()[0]), None
    r = cm.report
    if r.memory is None:
        return TfcCost(0, 0, False, r.memory_note.splitlines()[0] if r.memory_note else "not planned"), cm
    from nas.kernel_costs import estimate
    est = estimate(cm)
    return TfcCost(r.flash_bytes, r.sram_bytes, instructions=est.sparse_engine,
                   instructions_as_compiled=est.as_compiled, sparse_layers=est.sparse_layers,
                   sparse_kernels=est.sparse_kernels), cm


def compile_model(onnx_model, calibration: np.ndarray, target: str):
    """tfc.compile on ONNX bytes or a proto (errors propagate)."""
    import onnx
    import tfc
    proto = onnx.load_from_string(onnx_model) if isinstance(onnx_model, bytes) else onnx_model
    return tfc.compile(proto, target=target, calibration=calibration)


class TfcCostModel:
    """Flash/SRAM/instructions per genome (arch + sparsity), from tfc, cached by key."""

    def __init__(self, target: str, calibration: np.ndarray, cache: dict | None = None):
        self.target = target
        self.calibration = calibration[:8].astype(np.float32)   # sizes do not depend on it
        self.cache: dict[str, TfcCost] = cache if cache is not None else {}
        self.compiles = 0

    def cost(self, key: str, make_static) -> TfcCost:
        """`make_static()` builds the (pruned) StaticNet that `key` names; called on a cache miss."""
        if key not in self.cache:
            static = make_static()
            data = export_onnx(static, torch.from_numpy(self.calibration[:1]), dynamo=False)
            self.cache[key], _ = compile_cost(data, self.calibration, self.target)
            self.compiles += 1
        return self.cache[key]


# ------------------------------------------------------------------------------- layer shapes
@dataclass(frozen=True)
class LayerShape:
    """A layer's work (MACs, weight density statistics); instructions come from the compiled model."""
    name: str
    kind: str                 # "conv", "dwconv", "linear", "elementwise"
    rows: int                 # output channels
    reduction: int            # Kh*Kw*Cin for conv, in for linear, Kh*Kw for depthwise
    pixels: int               # output positions (H*W, tokens, 1)
    prunable: str | None = None   # the Arch.prunable_layers() name, if any


def layer_shapes(static: nn.Module, example: torch.Tensor) -> list[LayerShape]:
    """Per-layer shapes of a StaticNet, by running it once with hooks."""
    names = {}
    for pname, mods in static.prunable().items():
        for m in mods:
            names[m] = pname
    shapes: list[LayerShape] = []

    def hook(mod, inputs, output):
        if isinstance(mod, nn.Conv2d):
            pixels = output.shape[2] * output.shape[3]
            k = mod.kernel_size[0] * mod.kernel_size[1]
            if mod.groups > 1:
                shapes.append(LayerShape(names.get(mod, "dw"), "dwconv", mod.out_channels, k, pixels, names.get(mod)))
            else:
                shapes.append(LayerShape(names.get(mod, "conv"), "conv", mod.out_channels, k * mod.in_channels,
                                         pixels, names.get(mod)))
        elif isinstance(mod, nn.Linear):
            pixels = int(np.prod(output.shape[1:-1])) if output.dim() > 2 else 1
            shapes.append(LayerShape(names.get(mod, "linear"), "linear", mod.out_features, mod.in_features,
                                     pixels, names.get(mod)))

    handles = [m.register_forward_hook(hook) for m in static.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            static(example[:1])
    finally:
        for h in handles:
            h.remove()
    # residual adds and attention matmuls: elementwise-like costs, derived from the arch
    for b in getattr(static, "blocks", []):
        if b.residual:
            shapes.append(LayerShape("add", "elementwise", b.project.out_channels, 1, 1))
    return shapes


def macs(shapes: list[LayerShape]) -> int:
    return int(sum(s.rows * s.reduction * s.pixels for s in shapes if s.kind != "elementwise"))
