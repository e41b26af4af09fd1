"""Fit tfc/sparse/cost_model.py's constants to instruction counts on the emulated Cortex-M7.

    python benchmarks/fit_sparse_cost.py      # prints the constants to paste into cost_model.py

Measures sparse conv/linear layers over block sizes and densities (4-pixel passes from convs with
a width that is a multiple of 4, single passes from one-vector linear layers) and tfc's dense
kernels, then solves the linear least-squares problems of the model's form; the same for the
per-layer generated code (encoding brle-unrolled): the UNROLLED_* constants.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.quant.kernel_params import ConvParams, FullyConnectedParams  # noqa: E402
from tfc.backends.cmsis import sparse_harness as H  # noqa: E402
from tfc.sparse.codegen import layer_code, pixel_counts_for  # noqa: E402
from tfc.sparse.cost_model import LayerShape  # noqa: E402
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer  # noqa: E402
from tfc.sparse.prune import random_block_sparse  # noqa: E402

BLOCKS = (1, 2, 4, 8, 16)
DENSITIES = (0.05, 0.25, 0.6)
CONVS = [(16, 16, 1, 8), (32, 16, 3, 8), (24, 32, 1, 12)]   # (cin, cout, k, hw)
FCS = [(128, 64), (256, 32)]                                  # (in, out), one vector
CODES = []  # the generated code of every sparse case, in order (case field code = index + 1)


def conv_case(rng, cin, cout, k, hw, block, density, dense=False):
    w = random_block_sparse(rng, (cout, k * k * cin), block=block, density=density).reshape(cout, k, k, cin)
    p = ConvParams(input_offset=5, output_offset=-2, multipliers=(1 << 30,) * cout, shifts=(-8,) * cout,
                   padding=(k // 2, k // 2))
    x = rng.integers(-128, 128, (1, hw, hw, cin)).astype(np.int8)
    shape = LayerShape(cout, cin, k, k, hw, hw, in_h=hw + 2 * (k // 2), in_w=hw + 2 * (k // 2))
    if dense:
        return H.dense_conv_case(x, w, None, p), shape, 0
    layer = sparse_conv_layer(w, None, [1 << 30], [-8], block=block, width=hw + 2 * (k // 2), output_offset=-2)
    CODES.append(layer_code(layer, f"fit{len(CODES)}", pixel_counts=pixel_counts_for(hw, 1)))
    return ((H.sparse_conv_case(x, layer, p), H.sparse_conv_case(x, layer, p, code=len(CODES))),
            shape, layer.encoded)


def fc_case(rng, depth, out, block, density, dense=False):
    w = random_block_sparse(rng, (out, depth), block=block, density=density)
    p = FullyConnectedParams(input_offset=5, filter_offset=0, output_offset=-2, multipliers=(1 << 30,), shifts=(-8,))
    x = rng.integers(-128, 128, (1, depth)).astype(np.int8)
    shape = LayerShape(out, depth, linear=True, in_h=1, in_w=1)
    if dense:
        return H.dense_fc_case(x, w, None, p), shape, 0
    layer = sparse_linear_layer(w, None, [1 << 30], [-8], block=block, vectors=1, output_offset=-2)
    CODES.append(layer_code(layer, f"fit{len(CODES)}", pixel_counts=(1,)))
    return ((H.sparse_fc_case(x, layer, p), H.sparse_fc_case(x, layer, p, code=len(CODES))),
            shape, layer.encoded)


def measure(info, items):
    """Instruction counts, running as many cases per emulator run as the driver's buffers take."""
    counts, chunk, size, outs = [], [], 0, 0
    for case, _, _ in items:
        if chunk and (len(chunk) == H.MAX_CASES_PER_RUN or size + len(case.data) > 120_000
                      or outs + case.output_size > 36_000):
            counts += H.run_m7(info, chunk)[1]
            chunk, size, outs = [], 0, 0
        chunk.append(case)
        size += len(case.data)
        outs += case.output_size
    return counts + H.run_m7(info, chunk)[1]


def _form(items, k):
    return [(case[k], shape, enc) for case, shape, enc in items]


def fit():
    rng = np.random.default_rng(0)
    conv, fc, y_conv, y_fc, u_conv, u_fc = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        info = H.build_m7(Path(tmp) / "streams")
        # One ELF per layer shape for the generated code (all of it overflows 1 MiB of flash).
        groups = [(conv_case, c, conv, y_conv, u_conv) for c in CONVS] + [(fc_case, f, fc, y_fc, u_fc) for f in FCS]
        for g, (make, shape, items, ys, us) in enumerate(groups):
            CODES.clear()
            made = [make(rng, *shape, b, d) for b in BLOCKS for d in DENSITIES]
            gen_info = H.build_m7(Path(tmp) / f"gen{g}", codes=list(CODES))
            ys += measure(info, _form(made, 0))
            us += measure(gen_info, _form(made, 1))
            items += _form(made, 0)
        dconv = [conv_case(rng, *c, 4, 1.0, dense=True) for c in CONVS]
        dfc = [fc_case(rng, *f, 4, 1.0, dense=True) for f in FCS]
        y_dconv, y_dfc = measure(info, dconv), measure(info, dfc)

    def solve(items, ys, four: bool):
        """Least squares for F (per output), W (per widened value), c[B] (per block and pass)."""
        cols = 4 + len(BLOCKS)
        a = np.zeros((len(items), cols))
        for i, ((case, shape, enc), _y) in enumerate(zip(items, ys)):
            p4, p1 = shape.passes()
            passes = p4 if four else p1
            a[i, 0] = shape.outputs
            a[i, 1 if enc.block >= 4 else 3] = shape.widened_values(enc.block)
            a[i, 2] = passes * int((enc.counts > 0).sum())
            a[i, 4 + BLOCKS.index(enc.block)] = passes * enc.stored_blocks
        sol, *_ = np.linalg.lstsq(a, np.asarray(ys, float), rcond=None)
        pred = a @ sol
        rel = np.abs(pred - ys) / ys
        err = float(rel.max())
        worst = items[int(rel.argmax())]
        print(f"# worst: {worst[1]} block {worst[2].block} density {worst[2].density:.2f}: "
              f"measured {ys[int(rel.argmax())]}, fit {pred[int(rel.argmax())]:.0f}")
        return sol, err

    s4, e4 = solve(conv, y_conv, True)
    s1, e1 = solve(fc, y_fc, False)
    dc = np.linalg.lstsq(np.array([[s.macs, s.outputs] for _, s, _ in dconv], float), np.array(y_dconv, float),
                         rcond=None)[0]
    df = np.linalg.lstsq(np.array([[s.macs, s.outputs] for _, s, _ in dfc], float), np.array(y_dfc, float),
                         rcond=None)[0]
    print(f"# max relative fit error: 4-pixel {e4:.3f}, single {e1:.3f}")
    print(f"SPARSE_R4 = {s4[2]:.3f}")
    print(f"SPARSE_R1 = {s1[2]:.3f}")
    print(f"SPARSE_F4 = {s4[0]:.3f}")
    print(f"SPARSE_F1 = {s1[0]:.3f}")
    print("SPARSE_C4 = {" + ", ".join(f"{b}: {s4[4 + i]:.3f}" for i, b in enumerate(BLOCKS)) + "}")
    print("SPARSE_C1 = {" + ", ".join(f"{b}: {s1[4 + i]:.3f}" for i, b in enumerate(BLOCKS)) + "}")
    print(f"SPARSE_W = {{4: {s4[1]:.3f}, 1: {s4[3]:.3f}}}  # block >= 4 (SIMD widening) / < 4; "
          f"single-pass fit: {s1[1]:.3f} / {s1[3]:.3f}")
    u4, ue4 = solve(conv, u_conv, True)
    u1, ue1 = solve(fc, u_fc, False)
    print(f"# unrolled: max relative fit error: 4-pixel {ue4:.3f}, single {ue1:.3f}")
    print(f"UNROLLED_F4, UNROLLED_F1 = {u4[0]:.3f}, {u1[0]:.3f}")
    print(f"UNROLLED_R4, UNROLLED_R1 = {u4[2]:.3f}, {u1[2]:.3f}")
    print("UNROLLED_C4 = {" + ", ".join(f"{b}: {u4[4 + i]:.3f}" for i, b in enumerate(BLOCKS)) + "}")
    print("UNROLLED_C1 = {" + ", ".join(f"{b}: {u1[4 + i]:.3f}" for i, b in enumerate(BLOCKS)) + "}")
    # The dense constants (DENSE_1X1, DENSE_FIRST, DENSE_CONV, DENSE_FC) are the registry's dense
    # kernels' cost entries (python -m nas.kernel_costs fit); these are CMSIS-NN's arm_convolve_s8
    # and arm_fully_connected_s8 in the driver, for comparison only.
    print(f"# driver's CMSIS-NN-compatible dense conv: {dc[0]:.4f} per MAC + {dc[1]:.3f} per output")
    print(f"# driver's CMSIS-NN-compatible dense FC: {df[0]:.4f} per MAC + {df[1]:.3f} per output")


if __name__ == "__main__":
    fit()
