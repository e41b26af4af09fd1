"""Instructions per layer of a compiled model, from the backend's per-layer table and the IR.

Dense kernels: each backend function has a linear model over a few op-aware features (FEATURES:
MACs and outputs for convs and matmuls, elements and rows for softmax/layernorm, ...), FITTED
by non-negative relative least squares to `tfc bench` counts on the emulated Cortex-M7
(`python -m nas.kernel_costs fit N --runs DIR...` re-measures, prints the table and the held-out errors).
Convs and linears also count the outputs of a layer whose channels do not all take the
four-instruction requantization (`tfc_rq_all_right` in the runtime): those build and branch on
each channel's constants per output (random-weight and trained models differ mostly there).

Sparse kernels (`tfc_sparse_*`) cost what tfc's SparseEngine cost model says for the encoding
the sparsify pass chose (weight.sparse.encoding: "brle", "brle-unrolled" or "dw-taps"), through
the pass's own candidate builders (`block_candidates`, `depthwise_candidate`) on the stored int8
weights, times a fitted per-encoding correction (SPARSE_CORRECTION) where the cost model's form
is off for the layers nas/ produces.

`sparse_engine` costs a layer whose weight carries a SparseLayout as its sparse kernel even where
the backend emits a dense one (grouped, dilated); equal to `as_compiled` otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.ir.ops import get_op
from tfc.ir.ops.nn import conv_shapes
from tfc.kernels.cost import cost_entries

# Per backend function: the features its cost is linear in, and the coefficients FITTED to them:
# each kernel's cost entries (Kernel.costs, tfc/kernels/cost.py), read through the registry.
# Sparse kernels, per encoding: a correction over the SparseEngine cost model ("sparse_model").
SPARSE_FUNCTIONS = ("tfc_sparse_convolve_s8", "tfc_sparse_fully_connected_s8", "tfc_sparse_depthwise_conv_s8",
                    "tfc_sparse_convolve_cells_s8", "tfc_sparse_fully_connected_cells_s8")
_ENTRIES = cost_entries()
FEATURES: dict[str, tuple[str, ...]] = {key: c.features for key, c in _ENTRIES.items()}
FITTED: dict[str, tuple[float, ...]] = {key: c.coefficients for key, c in _ENTRIES.items()
                                        if c.coefficients is not None}
FITTED_ON = ("tfc bench, emulated cortex-m7 (QEMU mps2-an500), tfc kernels as of the wide dense kernels: 16 "
             "random-init sub-networks at resolution 16 (CNN and CNN+transformer spaces, width 0.5 and 1, dense "
             "and sparse genomes; `python -m nas.kernel_costs fit 24`); 8 others held out: per-model totals "
             "within -7.0..+8.0 %. Entries not seen in 8 layers of those (arm_convolve_s8, tfc_convolve_add_s8, "
             "sparse brle) keep the earlier 60-model fit")


# ------------------------------------------------------------------------------------ features
def _rq_right(mult: int, shift: int, out_offset: int, act_max: int) -> bool:
    """tfc_rq_make's TFC_RQ_RIGHT test (runtime/include/tfc_nn_requant.h)."""
    if mult < (1 << 30) or not -31 <= shift < 0:
        return False
    e = -shift
    return e <= 30 and ((2 ** 31 - 1) >> e) + out_offset >= act_max


def requantization(node) -> tuple[np.ndarray, bool]:
    """(per output channel: takes the four-instruction requantization, the activation range is
    the full int8 range) of a conv/linear; all fast for a node without int8 quantization."""
    rows = node.inputs[1].type.shape[0]
    if getattr(node.inputs[1], "quant", None) is None:
        return np.ones(rows, bool), True
    from tfc.kernels import select
    p = select(node).params(node)
    # conv2d_add: the conv's requantization; a sparse layer with an epilogue (tfc/kernels/sparse_epilogue.py): its layer's
    p = getattr(p, "conv", None) or getattr(p, "layer", None) or p
    right = np.array([_rq_right(m, s, p.output_offset, p.activation.max) for m, s in zip(p.multipliers, p.shifts)])
    return np.resize(right, rows), (p.activation.min, p.activation.max) == (-128, 127)


def _valid_taps(n_out: int, stride: int, pad: int, k: int, n_in: int) -> np.ndarray:
    """Per output along one axis: the kernel taps inside the input (padding is skipped)."""
    return np.array([sum(0 <= o * stride - pad + t < n_in for t in range(k)) for o in range(n_out)])


def quantities(node) -> dict[str, float]:
    """Every feature any FEATURES entry may name, for one node."""
    out = node.output.type.shape
    outputs = int(np.prod(out))
    x = node.inputs[0].type.shape
    if node.op == "conv2d":                      # NHWC, also where it reads or writes NCHW
        x, out = conv_shapes(node)
    q = {"outputs": outputs, "one": 1.0, "elements": int(np.prod(x)), "rows": int(np.prod(out[:-1]))}
    if get_op(node.op).weight_input is not None:        # conv2d, conv2d_add, linear
        w = node.inputs[1].type.shape            # OHWI or [out, in]
        right, full = requantization(node)
        cols = int(np.prod(w[1:]))
        q.update(macs=outputs * cols, slow_rq=0.0 if right.all() else outputs, clamped=0.0 if full else outputs)
    if get_op(node.op).weight_input is not None and node.inputs[1].type.rank == 4:   # OHWI: a convolution
        pix = out[1] * out[2]
        q.update(pixels=pix, reads=pix * cols)
        if node.attrs.get("group", 1) > 1:       # depthwise: per 4-channel block, taps in padding skipped,
            # the block's weights widened once (weight_taps)
            stride, pad = node.attrs.get("stride", [1, 1]), node.attrs.get("pad", [0, 0, 0, 0])
            vy = _valid_taps(out[1], stride[0], pad[0], w[1], x[1])
            vx = _valid_taps(out[2], stride[1], pad[1], w[2], x[2])
            blocks = right[: len(right) // 4 * 4].reshape(-1, 4).all(axis=1) if len(right) >= 4 else right
            slow = 1.0 if not full else 1.0 - float(blocks.mean())
            loop = vx != 3                       # a full 3-tap row is unrolled, others loop
            q.update(valid_taps=vy.sum() * vx.sum() * w[0], valid_rows=vy.sum() * out[2] * w[0],
                     loop_taps=vy.sum() * vx[loop].sum() * w[0], loop_rows=vy.sum() * loop.sum() * w[0],
                     weight_taps=cols * w[0],
                     slow_rq=slow * outputs)
    if node.op == "linear" or (node.op == "conv2d" and node.inputs[1].type.shape[1:3] == (1, 1)):
        # tfc_nn_mat_mult_nt_t_s8: groups of 4 input rows when the widened rows fit its stack buffer
        lhs_rows = outputs // w[0]
        rows4 = lhs_rows // 4 * 4 if lhs_rows >= 4 and 4 <= cols <= 128 else 0
        q.update(vectors=lhs_rows, macs4=rows4 * cols * w[0], macs1=(lhs_rows - rows4) * cols * w[0])
    elif node.op == "batch_matmul":
        q.update(macs=outputs * x[-1])
    return q


def fit_key(function: str, node) -> str:
    """The FEATURES/FITTED entry of a layer: its backend function, with the encoding for a
    sparse kernel ("tfc_sparse_convolve_s8/brle")."""
    if function in SPARSE_FUNCTIONS:
        return f"{function}/{node.inputs[1].sparse.encoding}"
    return function


def features(node, key: str) -> np.ndarray:
    """The node's FEATURES[key] vector."""
    q = quantities(node)
    if key.split("/")[0] in SPARSE_FUNCTIONS:
        q["sparse_model"] = sparse_model_cost(node)
    return np.array([float(q[name]) for name in FEATURES[key]])


def sparse_model_cost(node) -> float:
    """The SparseEngine cost model's instructions for the encoding sparsify chose for this
    node's (int8, stored) weights, from the pass's own candidate builders."""
    from tfc.passes.sparsify import block_candidates, depthwise_candidate, depthwise_shape, layer_shape
    from tfc.sparse.depthwise import ENCODINGS as DW_ENCODINGS
    weight = node.inputs[1]
    layout = weight.sparse
    rows = np.asarray(weight.data).reshape(weight.type.shape[0], -1)
    if layout.encoding in DW_ENCODINGS:
        return depthwise_candidate(rows, depthwise_shape(node), layout.encoding).sparse_instructions
    for choice in block_candidates(rows, layer_shape(node), (layout.block,)):
        if choice.encoding == layout.encoding:
            return choice.sparse_instructions
    raise ValueError(f"{node.name}: no cost model for sparse encoding '{layout.encoding}'")


# ------------------------------------------------------------------------------------ estimate
@dataclass(frozen=True)
class InstructionEstimate:
    as_compiled: float          # the kernels the backend emits now
    sparse_engine: float        # with the SparseEngine's kernels where the sparsify pass chose them
    sparse_layers: int          # layers with a SparseLayout
    sparse_kernels: int         # layers the backend runs with a tfc_sparse_* kernel
    unknown: tuple[str, ...]    # backend functions without a fitted model (counted as 0)


def attention_cost(node) -> float | None:
    """tfc_attention_s8 runs, per head, arm_batch_matmul_s8 (q_h k_h^T), tfc_softmax_s8 and
    arm_batch_matmul_s8 (p_h v_h): the sum of those three fitted models at batch 1 (not fitted
    on its own: the fusion is newer than the samples)."""
    bmm, softmax = FITTED.get("arm_batch_matmul_s8"), FITTED.get("tfc_softmax_s8")
    if bmm is None or softmax is None:
        return None
    q, k, vt = (v.type.shape for v in node.inputs)
    heads, m, depth, n, width = int(np.prod(q[:-2])), q[-2], q[-1], k[-2], vt[-2]
    per_head = {"arm_batch_matmul_s8": [{"macs": m * n * depth, "outputs": m * n, "rows": m, "one": 1},
                                        {"macs": m * width * n, "outputs": m * width, "rows": m, "one": 1}],
                "tfc_softmax_s8": [{"elements": m * n, "rows": m, "one": 1}]}
    return heads * sum(float(np.dot(FITTED[fn], [q_[f] for f in FEATURES[fn]]))
                       for fn, calls in per_head.items() for q_ in calls)


def layer_cost(node, function: str) -> float | None:
    """Estimated instructions of one layer run by `function` (None: no model for it). A sparse
    kernel without a fitted correction costs what the cost model says."""
    if function == "tfc_attention_s8":
        return attention_cost(node)
    if function in SPARSE_FUNCTIONS and getattr(node.inputs[1], "sparse", None) is None:
        return None
    key = fit_key(function, node)
    coef = FITTED.get(key)
    if coef is None:
        return sparse_model_cost(node) if function in SPARSE_FUNCTIONS else None
    return float(np.dot(coef, features(node, key)))


def _sparse_function(node) -> str:
    """The sparse kernel that would run a conv/linear with a SparseLayout."""
    if node.op == "linear":
        return "tfc_sparse_fully_connected_s8"
    from tfc.sparse.depthwise import ENCODINGS as DW_ENCODINGS
    dw = node.inputs[1].sparse.encoding in DW_ENCODINGS
    return "tfc_sparse_depthwise_conv_s8" if dw else "tfc_sparse_convolve_s8"


def estimate(cm) -> InstructionEstimate:
    """Estimate the instructions of a CompiledModel (int8, planned) per inference."""
    nodes = {n.name: n for n in cm.ir.nodes}
    as_compiled = sparse_engine = 0.0
    sparse_layers, sparse_kernels, unknown = 0, 0, []
    for layer in cm.report.memory.layers:
        if not layer.function:          # aliases (reshape) cost nothing
            continue
        node = nodes[layer.node]
        weight = node.inputs[1] if get_op(node.op).weight_input is not None and len(node.inputs) > 1 else None
        has_layout = weight is not None and getattr(weight, "sparse", None) is not None and weight.data is not None
        sparse_layers += has_layout
        cost = layer_cost(node, layer.function)
        if cost is None:
            unknown.append(layer.function)
            continue
        sparse_kernels += layer.function in SPARSE_FUNCTIONS
        as_compiled += cost
        if has_layout and layer.function not in SPARSE_FUNCTIONS:   # a dense kernel for a sparse layout
            cost = layer_cost(node, _sparse_function(node))
        sparse_engine += cost
    return InstructionEstimate(as_compiled, sparse_engine, sparse_layers, sparse_kernels, tuple(sorted(set(unknown))))


# ------------------------------------------------------------------------------------ refitting
def layer_rows(samples) -> dict[str, list[tuple[np.ndarray, float]]]:
    """(features, bench instructions) per FEATURES key from (CompiledModel, BenchResult) pairs."""
    rows: dict[str, list] = {}
    for cm, result in samples:
        nodes = {n.name: n for n in cm.ir.nodes}
        for layer in result.layers:
            node = nodes.get(layer.node)
            if not layer.function or node is None:
                continue
            if layer.function in SPARSE_FUNCTIONS and getattr(node.inputs[1], "sparse", None) is None:
                continue
            key = fit_key(layer.function, node)
            if key in FEATURES:
                rows.setdefault(key, []).append((features(node, key), float(layer.instructions)))
    return rows


def fit(samples, min_layers: int = 8) -> dict[str, tuple[float, ...]]:
    """Coefficients per FEATURES key from (CompiledModel, tfc.bench BenchResult) pairs: relative
    least squares (every layer counts by its relative error), non-negative (scipy's NNLS), so a
    feature the data cannot separate gets 0 rather than a large +/- pair. Keys seen in fewer than
    `min_layers` layers are left out (a sparse encoding then costs the raw cost model)."""
    from scipy.optimize import nnls
    out = {}
    for key, pairs in layer_rows(samples).items():
        if len(pairs) < min_layers:
            continue
        a = np.array([f for f, _ in pairs], float)
        y = np.array([i for _, i in pairs], float)
        coef, _ = nnls(a / y[:, None], np.ones(len(y)))
        out[key] = tuple(round(float(c), 4) for c in coef)
    return out


def _trained_supernets(runs: list[str]) -> dict:
    """{space name: (SearchSpace, checkpoint path)} of the trained supernets in these `tfc-nas run`
    output folders (newest per space)."""
    import json
    import os

    from nas.space import SearchSpace
    paths = [os.path.join(r, "supernet.pt") for r in runs]
    found = {}
    for path in sorted((p for p in paths if os.path.exists(p)), key=os.path.getmtime, reverse=True):
        meta = os.path.join(os.path.dirname(path), "supernas.json")
        if os.path.exists(meta):
            with open(meta) as f:
                space = SearchSpace.from_dict(json.load(f)["chosen"])
            found.setdefault(space.name, (space, path))
    return found


def _samples(n: int, runs: list[str], seed: int = 0):
    """n (meta, CompiledModel, BenchResult): CNN and CNN+transformer spaces, widths 0.5 and 1,
    dense and sparse genomes, random-init supernets and (for the spaces `runs` trained) trained ones."""
    import random
    import sys

    import torch

    from nas import data
    from nas.cost import compile_model, export_onnx
    from nas.evolution import random_genome
    from nas.prune import apply_masks, make_masks
    from nas.space import make_space
    from nas.supernet import SuperNet, extract, recalibrate_bn
    from tfc.bench import bench
    rng = random.Random(seed)
    x = torch.from_numpy(data.resized(data.load("digits").x_train, 16)[:256])
    trained, nets = _trained_supernets(runs), {}
    configs = [(kind, wm, tr, dense) for kind in ("cnn", "hybrid") for wm in (0.5, 1.0) for tr in (False, True)
               for dense in (True, False) if not tr or (kind == "cnn" and f"w{wm:g}-r16" in trained)]
    out = []
    for i in range(n):
        kind, wm, tr, dense = configs[i % len(configs)]
        if (kind, wm, tr) not in nets:
            if tr:
                space, path = trained[f"w{wm:g}-r16"]
                net = SuperNet(space)
                net.load_state_dict(torch.load(path))
            else:
                space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=wm,
                                   transformer_start=2 if kind == "hybrid" else None)
                torch.manual_seed(seed)
                net = SuperNet(space)
            nets[kind, wm, tr] = space, net
        space, net = nets[kind, wm, tr]
        g = random_genome(space, rng, dense=dense)
        while kind == "hybrid" and not (g.arch.transformer and g.arch.transformer.depth):
            g = random_genome(space, rng, dense=dense)
        recalibrate_bn(net, g.arch, [x[:128], x[128:]])
        net.eval()
        static = extract(net, g.arch)
        apply_masks(make_masks(static, g.sparsity_dict()))
        cm = compile_model(export_onnx(static, x[:1], dynamo=False), x.numpy()[:64], "cortex-m7")
        meta = {"kind": kind, "width": wm, "trained": tr, "dense": dense, "key": g.key()}
        out.append((meta, cm, bench(cm).tfc))
        print(f"{i + 1}/{n}", kind, wm, "trained" if tr else "random", "dense" if dense else "sparse",
              out[-1][2].instructions, file=sys.stderr, flush=True)
    return out


def _main() -> None:
    """python -m nas.kernel_costs fit [N] [--runs DIR ...]: bench N models (trained supernets from the
    given run folders where they exist), fit on half, print FITTED and the held-out errors."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m nas.kernel_costs")
    ap.add_argument("command", choices=["fit"])
    ap.add_argument("n", type=int, nargs="?", default=24, help="models to bench (default 24)")
    ap.add_argument("--runs", nargs="*", default=[], metavar="DIR",
                    help="tfc-nas run folders whose trained supernets add trained samples")
    args = ap.parse_args()
    samples = _samples(args.n, args.runs)
    # alternate models of each config: the configs cycle, so every other round is held out
    per_round = len({(m["kind"], m["width"], m["trained"], m["dense"]) for m, _, _ in samples})
    held = [i // per_round % 2 == 1 for i in range(len(samples))]
    fitted = fit([(cm, b) for (_, cm, b), h in zip(samples, held) if not h])
    print("cost entries to paste into the kernels' `costs` (tfc/kernels/*.py):")
    for key, c in sorted(fitted.items()):
        print(f'    "{key}": {c},')
    FITTED.clear()
    FITTED.update(fitted)
    print(f"\nheld out ({sum(held)} models): model, bench instructions, estimate, error")
    for (meta, cm, b), h in zip(samples, held):
        if h:
            est = estimate(cm)
            what = f"{'dense' if meta['dense'] else 'sparse'} {meta['kind']} w{meta['width']:g}" + \
                   (" trained" if meta["trained"] else "")
            print(f"{what:24s} {meta['key'][:56]:56s} {b.instructions:>10,} {est.as_compiled:>12,.0f} "
                  f"{100 * (est.as_compiled / b.instructions - 1):+6.1f} %" + (f" unknown {est.unknown}" if est.unknown else ""))


if __name__ == "__main__":
    _main()
