"""ONNX exports of the hybrid test model, with torch's dynamo and legacy (TorchScript) exporters.

The dynamo exporter of torch 2.13 imports `onnxscript._framework_apis.torch_2_11`, which first
shipped in onnxscript 0.6.0. Batch is fixed to 1 (static shapes). Nothing here needs the network.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from tests.models.hybrid import ATTENTION_STYLES, build_hybrid, example_input


class ExportConfig(NamedTuple):
    exporter: str  # "dynamo" | "legacy"
    opset: int
    attention: str  # one of hybrid.ATTENTION_STYLES

    @property
    def id(self) -> str:
        return f"{self.exporter}{self.opset}-{self.attention}"


EXPORTERS = (("dynamo", 18), ("dynamo", 20), ("legacy", 17))
CONFIGS = tuple(ExportConfig(e, o, a) for e, o in EXPORTERS for a in ATTENTION_STYLES)


def export_hybrid(path: str | os.PathLike, exporter: str = "dynamo", opset: int = 18,
                  attention: str = "mha", seed: int = 0) -> Path:
    """Export `build_hybrid(attention, seed)` to `path` (one self-contained .onnx file)."""
    path = Path(path)
    model = build_hybrid(attention, seed)
    args = (example_input(seed),)
    # The exporters print progress and deprecation notes; keep test output for the histograms.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(model, args, str(path), dynamo=True, opset_version=opset,
                              external_data=False, input_names=["input"], output_names=["logits"])
        elif exporter == "legacy":
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"])
        else:
            raise ValueError(f"exporter must be 'dynamo' or 'legacy', got {exporter!r}")
    return path


def cached_export(cache_dir: str | os.PathLike, config: ExportConfig) -> Path:
    """Export once per cache directory; later calls reuse the file (written atomically)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"hybrid-{config.id}.onnx"
    if not path.exists():
        partial = path.with_suffix(".partial.onnx")
        export_hybrid(partial, config.exporter, config.opset, config.attention)
        partial.replace(path)
    return path


def export_cache_dir(tmp_path_factory) -> Path:
    """The session's shared export directory, so test modules that each use it export only once."""
    return tmp_path_factory.getbasetemp() / "hybrid_onnx"


def reference_output(attention: str, x) -> "torch.Tensor":
    model = build_hybrid(attention)
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()
