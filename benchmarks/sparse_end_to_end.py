"""End to end: the CNN + transformer hybrid (tests/models/hybrid.py), or ResNet-8 (MLPerf Tiny), pruned to block sparsity in its
conv and linear layers, compiled sparse and dense (the same pruned int8 weights), measured on the
emulated Cortex-M7 with `tfc bench`: instructions per inference, flash, identical outputs.

    python benchmarks/sparse_end_to_end.py [--model hybrid|resnet8] [--density 0.15] [--block 4] [--json OUT]

Builds: "dense" (every weight dense), "sparse" (sparsify's default choice: brle streams where they
are faster and smaller), "speed" (sparsify{speed_over_size=true}: the generated code where it is
fastest). Pruning is blockwise by magnitude without fine-tuning: the numbers are about speed and
size, not accuracy.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tfc  # noqa: E402
from tfc.bench import bench  # noqa: E402
from tfc.ir.ops import get_op  # noqa: E402
from tfc.passes.sparsify import dense_twin  # noqa: E402


def hybrid_onnx(path: Path) -> Path:
    from tests.models.export import export_hybrid
    if not path.exists():
        export_hybrid(path, "dynamo", 18, "explicit")
    return path


RESNET8 = Path("/work/shared/data/mlperf_tiny/onnx/pretrainedResnet.onnx")
INPUT_SHAPES = {"hybrid": (1, 3, 32, 32), "resnet8": (1, 32, 32, 3)}


def calibration(shape, n: int = 8) -> np.ndarray:
    """Random calibration samples: the numbers measured here are instructions and bytes."""
    rng = np.random.default_rng(0)
    return rng.uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


def compile_variants(onnx_path: Path, shape, density: float, block: int) -> dict:
    sparsity = {"density": density, "block": block}
    sparse = tfc.compile(str(onnx_path), "cortex-m7", calibration=calibration(shape), sparsity=sparsity)
    # fuse{residual=false} twice: a conv with a fused residual add (conv2d_add) has no sparse kernel.
    speed_pipeline = ("canonicalize,fuse{residual=false},sparsify{speed_over_size=true},quantize-int8,"
                      "fuse{residual=false},plan-memory")
    speed = tfc.compile(str(onnx_path), "cortex-m7", calibration=calibration(shape), sparsity=sparsity,
                        pipeline=speed_pipeline)
    dense = dataclasses.replace(sparse, ir=dense_twin(sparse.ir), _runners={})
    return {"dense": dense, "sparse": sparse, "speed": speed}


def layer_summary(cm) -> dict:
    from tfc.backends.cmsis.project import plan_project
    info = plan_project(cm.ir, target="cortex-m7", name="m")
    rows = [r for r in info.layers if get_op(r.op).weight_input is not None]
    return {"sparse_layers": sum(r.storage.startswith("sparse") for r in rows), "conv_linear_layers": len(rows),
            "table": info.table()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--density", type=float, default=0.15)
    ap.add_argument("--block", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--model", choices=sorted(INPUT_SHAPES), default="hybrid")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    shape = INPUT_SHAPES[args.model]
    with tempfile.TemporaryDirectory() as tmp:
        path = hybrid_onnx(Path(tmp) / "hybrid.onnx") if args.model == "hybrid" else RESNET8
        variants = compile_variants(path, shape, args.density, args.block)
        rng = np.random.default_rng(1)
        x = rng.integers(-128, 128, (args.samples, *shape)).astype(np.int8)
        results = {name: bench(cm, inputs=x).tfc for name, cm in variants.items()}
    dense = results["dense"]
    out = {}
    for name, r in results.items():
        same = r.outputs == dense.outputs
        summary = layer_summary(variants[name])
        out[name] = dict(instructions=r.instructions, flash_total=r.flash.total, flash_weights=r.flash.weights,
                         flash_model_code=r.flash.model_code, flash_kernel_code=r.flash.kernel_code,
                         arena=r.sram.arena, outputs_equal_dense=same, sparse_layers=summary["sparse_layers"],
                         conv_linear_layers=summary["conv_linear_layers"])
        print(f"\n== {name}: {r.instructions} instructions ({dense.instructions / r.instructions:.2f}x fewer than "
              f"dense), flash {r.flash.total} B (weights {r.flash.weights}, model code {r.flash.model_code}, "
              f"kernels {r.flash.kernel_code}), arena {r.sram.arena} B, outputs equal dense: {same}, "
              f"sparse layers {summary['sparse_layers']}/{summary['conv_linear_layers']}")
        print(summary["table"])
        print("per layer instructions:", ", ".join(f"{c.node}={c.instructions}" for c in r.layers
                                                    if get_op(c.op).weight_input is not None))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
