"""Costs of a sub-network, from tfc itself: flash and SRAM, and an instruction estimate.

Flash and SRAM: the sub-network is exported to ONNX and compiled by `tfc.compile` (import,
canonicalize, quantize-int8, fuse) and planned by the C backend (`CompileReport.flash_bytes` =
weights + requantization params, `sram_bytes` = arena incl. scratch): the very numbers the final
compiled model reports; no C is built. Inside the loop the fast TorchScript exporter is used; the
final model goes through the dynamo exporter, and `tests/nas/test_cost.py` plus the pipeline's
final check show both give the same numbers. Sizes do not depend on weight values (dense kernels),
so results are cached per architecture.

Instructions: an `InstructionEstimator` maps per-layer shapes + (block, density) to instructions.
`tfc/sparse/cost_model.py` (the SparseEngine's) is not in the tree yet; `DesignFormulaStandIn`
is a clearly labelled stand-in using DESIGN.md's measured form, cost = F x outputs + c x non-zero
blocks x output pixels (CMSIS-NN-like dense F, tuned sparse F, c per 4-block and pixel).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn

from tfc.errors import TfcError

from nas.space import Arch


@dataclass(frozen=True)
class Budget:
    """What the model may use. `flash_reserve`/`sram_reserve` are kept for code and stack, which
    tfc's model numbers do not count; the model data and arena must fit in the rest."""
    flash_bytes: int
    sram_bytes: int
    flash_reserve: int = 0
    sram_reserve: int = 0

    @property
    def model_flash(self) -> int:
        return self.flash_bytes - self.flash_reserve

    @property
    def model_sram(self) -> int:
        return self.sram_bytes - self.sram_reserve

    def fits(self, cost: "TfcCost") -> bool:
        return cost.supported and cost.flash_bytes <= self.model_flash and cost.sram_bytes <= self.model_sram

    def describe(self) -> str:
        return (f"flash {self.flash_bytes:,} B ({self.model_flash:,} B for model data after {self.flash_reserve:,} B "
                f"for code), SRAM {self.sram_bytes:,} B ({self.model_sram:,} B arena after {self.sram_reserve:,} B "
                "for stack)")


@dataclass(frozen=True)
class TfcCost:
    flash_bytes: int          # weights + requantization params (tfc's CompileReport.flash_bytes)
    sram_bytes: int           # the arena incl. scratch (CompileReport.sram_bytes)
    supported: bool = True    # False when tfc cannot compile the sub-network (note says why)
    note: str = ""


def export_onnx(model: nn.Module, example: torch.Tensor, path=None, *, dynamo: bool = True):
    """Export to ONNX (opset 18, one self-contained file). Returns the bytes when path is None.
    dynamo=True is the exporter the deliverable uses; dynamo=False (TorchScript) is ~30x faster."""
    model = model.eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
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
    return TfcCost(r.flash_bytes, r.sram_bytes), cm


class TfcCostModel:
    """Flash/SRAM per architecture, from tfc, cached by `Arch.key()`."""

    def __init__(self, target: str, calibration: np.ndarray, cache: dict | None = None):
        self.target = target
        self.calibration = calibration.astype(np.float32)
        self.cache: dict[str, TfcCost] = cache if cache is not None else {}
        self.compiles = 0

    def cost(self, arch: Arch, make_static) -> TfcCost:
        """`make_static()` builds the StaticNet for `arch` (only called on a cache miss)."""
        key = arch.key()
        if key not in self.cache:
            static = make_static()
            data = export_onnx(static, torch.from_numpy(self.calibration[:1]), dynamo=False)
            self.cache[key], _ = compile_cost(data, self.calibration, self.target)
            self.compiles += 1
        return self.cache[key]


# ------------------------------------------------------------------------------- instructions
@dataclass(frozen=True)
class LayerShape:
    """One layer as the cost model sees it: a matrix (rows = outputs per pixel, reduction length)
    applied at `pixels` positions; depthwise/elementwise layers have reduction = per-output work."""
    name: str
    kind: str                 # "conv", "dwconv", "linear", "matmul", "elementwise"
    rows: int                 # output channels
    reduction: int            # Kh*Kw*Cin for conv, in for linear, Kh*Kw for depthwise
    pixels: int               # output positions (H*W, tokens, 1)
    prunable: str | None = None   # the Arch.prunable_layers() name, if any


class InstructionEstimator(Protocol):
    name: str
    measured: bool            # False for stand-ins that nobody has checked against tfc bench

    def layer(self, shape: LayerShape, block: int, density: float) -> float: ...


@dataclass(frozen=True)
class DesignFormulaStandIn:
    """STAND-IN until tfc/sparse/cost_model.py lands: DESIGN.md's form with its quoted constants.
    dense: F_dense x outputs + 0.5 x MACs (SMLAD, 2 MACs per instruction) + per-pixel overhead;
    sparse: F_sparse x outputs + c(block) x non-zero blocks x pixels, c(4) = 4.25 (4 pixels share
    each weight load), c(b) = 4.25 x b / 4 + 1 (skip decode). The cheaper of the two is taken,
    as the sparsify pass keeps a layer dense where sparse would not be faster."""
    name: str = "design-formula stand-in (not measured)"
    measured: bool = False
    f_dense: float = 50.0
    f_sparse: float = 11.0
    elementwise_per_output: float = 6.0

    def layer(self, s: LayerShape, block: int, density: float) -> float:
        outputs = s.rows * s.pixels
        if s.kind in ("elementwise", "dwconv"):
            return outputs * (self.elementwise_per_output + (s.reduction if s.kind == "dwconv" else 0))
        dense = self.f_dense * outputs + 0.5 * outputs * s.reduction
        if density >= 1.0:
            return dense
        blocks_per_row = -(-s.reduction // block)
        nnz = max(1, round(blocks_per_row * density)) * s.rows
        sparse = self.f_sparse * outputs + (4.25 * block / 4 + 1.0) * nnz * s.pixels
        return min(dense, sparse)


def default_estimator() -> InstructionEstimator:
    """The SparseEngine's cost model when tfc ships one, else the stand-in (labelled as such)."""
    try:
        from tfc.sparse import cost_model  # noqa: F401
    except ImportError:
        return DesignFormulaStandIn()
    adapter = getattr(cost_model, "nas_estimator", None)   # plug-in point for the SparseEngine
    return adapter() if adapter is not None else DesignFormulaStandIn()


def layer_shapes(static: nn.Module, example: torch.Tensor) -> list[LayerShape]:
    """Per-layer shapes of a StaticNet, by running it once with hooks."""
    names = {}
    for pname, mod in static.prunable().items():
        for m in (mod if isinstance(mod, tuple) else (mod,)):
            names[m] = pname
    shapes: list[LayerShape] = []

    def hook(mod, inputs, output):
        if isinstance(mod, nn.Conv2d):
            pixels = output.shape[2] * output.shape[3]
            k = mod.kernel_size[0] * mod.kernel_size[1]
            if mod.groups > 1:
                shapes.append(LayerShape("dw", "dwconv", mod.out_channels, k, pixels))
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


def estimate_instructions(shapes: list[LayerShape], sparsity: dict[str, tuple[float, int]],
                          estimator: InstructionEstimator) -> float:
    """Total instructions; sparsity maps prunable layer names to (density, block)."""
    total = 0.0
    for s in shapes:
        density, block = sparsity.get(s.prunable, (1.0, 1)) if s.prunable else (1.0, 1)
        total += estimator.layer(s, block, density)
    return total


def macs(shapes: list[LayerShape]) -> int:
    return int(sum(s.rows * s.reduction * s.pixels for s in shapes if s.kind != "elementwise"))
