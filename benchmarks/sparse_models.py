"""Issue 15's table: single-layer int8 QDQ models (NCHW input, as PyTorch exports them; random
non-zero 4-blocks along the reduction axis) compiled with tfc's default options and measured with
`tfc bench` on the emulated Cortex-M7, against the same graph with the layer dense.

    python benchmarks/sparse_models.py [--layers A,B,C] [--sparsities 0.5,0.75] [--input-layout nhwc]
                                       [--cmsis-nn /path/to/CMSIS-NN] [--json OUT]

Layers as benchmarks/sparse_kernels.py: A = FC 256 -> 256, B = 1x1 conv 16x16x64 -> 64, C = 3x3
conv 16x16x32 -> 32 (pad 1). The baseline ("dense graph") is the compiled IR with the layer's
weights dense (`dense_twin`: and the boundary transposes the sparse kernel had folded in back in
place, since the dense kernels read NHWC only), every other node as tfc runs it. With --cmsis-nn
the baseline is the issue's "CMSIS-NN graph": the layer pinned to CMSIS-NN's own kernel
(arm_convolve_1x1_s8_fast, arm_convolve_s8, arm_fully_connected_s8: not tfc's faster wide dense
kernels) and built against Arm's library; the other nodes, transposes, run tfc's runtime in both.
Without it, the baseline is tfc's own fastest dense kernel. Speedup = baseline / sparse
instructions per inference of the whole model (boundary transposes included).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tfc  # noqa: E402
from benchmarks.sparse_kernels import LAYERS, SPARSITIES, TARGETS  # noqa: E402
from tfc.bench import bench  # noqa: E402
from tfc.compiler import CompileReport  # noqa: E402
from tfc.ir.ops import get_op  # noqa: E402
from tfc.kernels.base import KERNEL_KEY, decline_reason, kernels_for  # noqa: E402
from tfc.passes.sparsify import dense_twin  # noqa: E402
from tfc.sparse.prune import random_block_sparse  # noqa: E402

BLOCK = 4


def float_model(name: str, sparsity: float, seed: int = 0):
    """The float ONNX model of layer `name` with random 4-blocks zero along its reduction axis."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    kind, cin, cout, k, hw = LAYERS[name]
    rng = np.random.default_rng(seed)
    w = random_block_sparse(rng, (cout, k * k * cin), block=BLOCK, density=1 - sparsity).astype(np.float32)
    w *= 1.0 / (127.0 * np.sqrt(k * k * cin * (1 - sparsity)))
    bias = rng.normal(0.0, 0.2, cout).astype(np.float32)
    if kind == "fc":
        shape, out = [1, cin], [1, cout]
        inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(bias, "B")]
        node = helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1, name="fc")
    else:
        shape, out = [1, cin, hw, hw], [1, cout, hw, hw]
        w_oihw = w.reshape(cout, k, k, cin).transpose(0, 3, 1, 2)   # the reduction axis is OHWI
        inits = [numpy_helper.from_array(np.ascontiguousarray(w_oihw), "W"), numpy_helper.from_array(bias, "B")]
        node = helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[k, k], pads=[k // 2] * 4, name="conv")
    graph = helper.make_graph([node], f"{name.lower()}{int(sparsity * 100)}",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, shape


def qdq_model(name: str, sparsity: float):
    """The model quantized by onnxruntime (QDQ, per-channel symmetric int8 weights: zero blocks stay zero)."""
    from tests.quant.qdq_models import ort_quantize
    model, shape = float_model(name, sparsity)
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.normal(0.0, 1.0, shape).astype(np.float32)} for _ in range(4)]
    return ort_quantize(model, feeds)


def pin_cmsis_nn_kernels(graph) -> int:
    """Pin every conv/linear to the first kernel that runs it with a CMSIS-NN function (arm_*);
    returns how many were pinned."""
    pinned = 0
    for node in graph.nodes:
        if get_op(node.op).weight_input is None:
            continue
        kernel = next((k for k in kernels_for(node.op)
                       if decline_reason(k, node) is None and k.c_function(node, k.params(node)).startswith("arm_")), None)
        if kernel is not None:
            node.meta[KERNEL_KEY] = kernel.name
            pinned += 1
    return pinned


def measure(name: str, sparsity: float, *, input_layout=None, cmsis_nn=None, samples: int = 1) -> dict:
    layout = {"input_layout": input_layout} if input_layout else {}
    sparse = tfc.compile(qdq_model(name, sparsity), "cortex-m7", **layout)
    dense_ir = dense_twin(sparse.ir)
    if cmsis_nn:
        assert pin_cmsis_nn_kernels(dense_ir) == 1, f"{name}: no CMSIS-NN kernel runs the dense layer"
    dense = dataclasses.replace(sparse, ir=dense_ir, _runners={}, findings={},
                                report=CompileReport.of(dense_ir, sparse.target))
    s = bench(sparse, samples=samples).tfc
    base = bench(dense, samples=samples, cmsis_nn_root=cmsis_nn)
    d = base.cmsis_nn or base.tfc
    assert s.outputs == d.outputs, f"{name} at {sparsity}: sparse outputs differ from the dense build"
    layer = next(c for c in s.layers if c.op in ("conv2d", "linear"))
    dense_layer = next(c for c in d.layers if c.op in ("conv2d", "linear"))
    if cmsis_nn:
        assert dense_layer.function.startswith("arm_"), f"the baseline layer runs {dense_layer.function}"
    storage = next(r.storage for r in sparse.report.memory.layers if r.op in ("conv2d", "linear"))
    return dict(layer=name, sparsity=sparsity, baseline=d.kernels, dense_function=dense_layer.function,
                sparse_instructions=s.instructions,
                dense_instructions=d.instructions, speedup=round(d.instructions / s.instructions, 2),
                layer_sparse=layer.instructions, layer_dense=dense_layer.instructions, storage=storage,
                other_nodes=s.instructions - layer.instructions, arena_sparse=s.sram.arena, arena_dense=d.sram.arena,
                flash_sparse=s.flash.total, flash_dense=d.flash.total)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="A,B,C")
    ap.add_argument("--sparsities", default=",".join(str(s) for s in SPARSITIES))
    ap.add_argument("--input-layout", choices=("nchw", "nhwc"))
    ap.add_argument("--cmsis-nn", metavar="PATH")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = []
    for name in args.layers.split(","):
        for sp in (float(s) for s in args.sparsities.split(",")):
            r = measure(name, sp, input_layout=args.input_layout, cmsis_nn=args.cmsis_nn)
            goal = TARGETS[name][SPARSITIES.index(sp)] if sp in SPARSITIES else None
            r["goal"] = goal
            rows.append(r)
            print(f"{name} {int(sp * 100)} %: {r['speedup']:.2f}x (goal {goal}) sparse {r['sparse_instructions']:,} "
                  f"vs {r['baseline']} dense {r['dense_instructions']:,} ({r['dense_function']}); layer {r['layer_sparse']:,} vs "
                  f"{r['layer_dense']:,}; rest {r['other_nodes']:,}; {r['storage']}; arena {r['arena_sparse']:,} "
                  f"vs {r['arena_dense']:,} B; flash {r['flash_sparse']:,} vs {r['flash_dense']:,} B", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
