"""Instructions per layer of a compiled model, from the backend's per-layer table and the IR.

Two numbers per model:
- `as_compiled`: the kernels the C backend emits. Each dense backend function has a linear model
  over (MACs, outputs, output pixels, input values read, 1), FITTED here to `tfc bench` counts on
  the emulated Cortex-M7 (`python -m nas.kernel_costs fit` re-measures and prints the table);
  per-model totals within 2.5 % held out. Sparse kernels (`tfc_sparse_*`) cost what tfc's
  SparseEngine cost model (`tfc.sparse.cost_model`, fitted by its authors on the same emulator)
  says for the layer's actual stored blocks.
- `sparse_engine`: the same, except that a layer whose weight carries a SparseLayout is costed as
  the sparse kernel even where the backend still emits a dense one (equal to `as_compiled` once
  the backend emits a sparse kernel for every SparseLayout).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# per backend function: coefficients of (MACs, outputs, output pixels, input values read, 1)
FITTED = {
    "arm_avgpool_s8": (10.0610, 2.5153, 0.0000, 0.0000, 264.2599),
    "arm_convolve_1x1_s8_fast": (0.9636, 16.1455, -9.7258, 2.0151, 1185.4362),
    "arm_convolve_s8": (8.3452, 0.9272, 7.4585, 67.1269, 0.1165),
    "arm_depthwise_conv_s8": (1.5815, 103.6436, -1501.8397, 19.9753, -10365.5973),
    "arm_depthwise_conv_s8_opt": (1.3144, 76.1651, -844.5513, 30.4328, -1392.2195),
    "arm_fully_connected_per_channel_s8": (1.5818, 111.9680, 11.1968, 0.1582, 11.1968),
    "tfc_convolve_add_s8": (1.8797, 74.0946, 186.0364, 9.6973, 1191.1109),
}
FITTED_ON = ("tfc bench, emulated cortex-m7 (QEMU mps2-an500), tfc kernels, 16 sub-networks of a trained digits "
             "supernet (random weights run other requantization paths: up to 12 % lower)")


def features(node) -> np.ndarray:
    out = node.output.type.shape
    outputs = int(np.prod(out))
    if node.op in ("conv2d", "conv2d_add"):
        w = node.inputs[1].type.shape            # OHWI
        pix = out[1] * out[2]
        return np.array([outputs * w[1] * w[2] * w[3], outputs, pix, pix * w[1] * w[2] * w[3], 1.0])
    if node.op == "linear":
        w = node.inputs[1].type.shape
        return np.array([outputs * w[1], outputs, 1, w[1], 1.0])
    n = int(np.prod(node.inputs[0].type.shape))
    return np.array([n, outputs, 0, 0, 1.0])


@dataclass(frozen=True)
class InstructionEstimate:
    as_compiled: float          # the kernels the backend emits now
    sparse_engine: float        # with the SparseEngine's kernels where the sparsify pass chose them
    sparse_layers: int          # layers with a SparseLayout
    sparse_kernels: int         # layers the backend runs with a tfc_sparse_* kernel
    unknown: tuple[str, ...]    # backend functions without a fitted model (counted as 0)


def estimate(cm) -> InstructionEstimate:
    """Estimate the instructions of a CompiledModel (int8, planned) per inference."""
    from tfc.passes.sparsify import layer_shape
    from tfc.sparse import cost_model
    from tfc.sparse.encoding import block_mask
    nodes = {n.name: n for n in cm.ir.nodes}
    as_compiled = sparse_engine = 0.0
    sparse_layers, sparse_kernels, unknown = 0, 0, []
    for layer in cm.report.memory.layers:
        if not layer.function:          # aliases (reshape) cost nothing
            continue
        node = nodes[layer.node]
        weight = node.inputs[1] if len(node.inputs) > 1 else None
        layout = getattr(weight, "sparse", None) if weight is not None else None
        sparse_cost = None
        if layout is not None and node.op in ("conv2d", "linear") and weight.data is not None:
            rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
            mask = block_mask(rows, layout.block)
            sparse_cost = cost_model.sparse_instructions(layer_shape(node), layout.block, int(mask.sum()),
                                                         int(mask.any(axis=1).sum()))
            sparse_layers += 1
        coef = FITTED.get(layer.function)
        if layer.function.startswith("tfc_sparse") and sparse_cost is not None:
            cost = sparse_cost
            sparse_kernels += 1
        elif coef is not None:
            cost = float(np.dot(coef, features(node)))
        else:
            unknown.append(layer.function)
            continue
        as_compiled += cost
        sparse_engine += sparse_cost if sparse_cost is not None else cost
    return InstructionEstimate(as_compiled, sparse_engine, sparse_layers, sparse_kernels, tuple(sorted(set(unknown))))


# ------------------------------------------------------------------------------------ refitting
def fit(samples: list[tuple[object, object]]) -> dict[str, tuple[float, ...]]:
    """Coefficients per backend function from (CompiledModel, tfc.bench BenchResult) pairs;
    relative least squares (every layer counts by its relative error)."""
    rows: dict[str, list] = {}
    for cm, result in samples:
        nodes = {n.name: n for n in cm.ir.nodes}
        for layer in result.layers:
            if layer.function and layer.node in nodes:
                rows.setdefault(layer.function, []).append((features(nodes[layer.node]), layer.instructions))
    out = {}
    for fn, pairs in rows.items():
        a = np.array([f for f, _ in pairs], float)
        y = np.array([i for _, i in pairs], float)
        coef, *_ = np.linalg.lstsq(a / y[:, None], np.ones(len(y)), rcond=None)
        out[fn] = tuple(round(float(c), 4) for c in coef)
    return out


def _main() -> None:  # python -m nas.kernel_costs fit [N]: re-measure and print FITTED
    import random
    import sys

    import torch

    from nas.cost import export_onnx, compile_model
    from nas.evolution import random_genome
    from nas.prune import apply_masks, make_masks
    from nas.space import make_space
    from nas.supernet import SuperNet, extract, recalibrate_bn
    from tfc.bench import bench
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rng, samples = random.Random(0), []
    for wm in (0.5, 1.0):
        space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=wm)
        net, x = SuperNet(space), torch.randn(16, 1, 16, 16)
        for i in range(n):
            g = random_genome(space, rng, dense=i % 2 == 0)
            recalibrate_bn(net, g.arch, [x])
            net.eval()
            static = extract(net, g.arch)
            apply_masks(make_masks(static, g.sparsity_dict()))
            cm = compile_model(export_onnx(static, x[:1], dynamo=False), x.numpy()[:8], "cortex-m7")
            samples.append((cm, bench(cm).tfc))
            print(g.key(), samples[-1][1].instructions, file=sys.stderr)
    for fn, c in sorted(fit(samples).items()):
        print(f'    "{fn}": {c},')


if __name__ == "__main__":
    _main()
