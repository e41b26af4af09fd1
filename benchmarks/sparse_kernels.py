"""Instructions of tfc's sparse int8 kernels against dense CMSIS-NN on the emulated Cortex-M7.

    python benchmarks/sparse_kernels.py --cmsis-nn /tmp/cmsis-nn [--blocks 1,4,8,16]

Layers: A = 256x256 fully connected (one vector), B = 1x1 conv 16x16x64->64, C = 3x3 conv
16x16x32->32 (pad 1); random non-zero blocks along the reduction axis at 50/75/90/95 % sparsity.
Prints speedup = dense instructions / sparse instructions, dense being the real CMSIS-NN
(arm_fully_connected_s8, arm_convolve_1x1_s8_fast, arm_convolve_s8; built with the same flags)
and tfc's own dense kernels. Every sparse output is checked equal to the dense one.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.quant.kernel_params import ActivationRange, ConvParams, FullyConnectedParams  # noqa: E402
from tfc.sparse import harness as H  # noqa: E402
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer  # noqa: E402
from tfc.sparse.prune import random_block_sparse  # noqa: E402

SPARSITIES = (0.50, 0.75, 0.90, 0.95)
LAYERS = {"A": ("fc", 256, 256, 1, 1), "B": ("conv", 64, 64, 1, 16), "C": ("conv", 32, 32, 3, 16)}


def make_layer(name: str, sparsity: float, block: int, rng):
    """(sparse case, dense case) for one benchmark layer."""
    kind, cin, cout, k, hw = LAYERS[name]
    w = random_block_sparse(rng, (cout, k * k * cin), block=4, density=1 - sparsity)
    bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    mult = int(rng.integers(1 << 30, 1 << 31))
    shift = -9
    if kind == "fc":
        x = rng.integers(-128, 128, (1, cin)).astype(np.int8)
        p = FullyConnectedParams(input_offset=7, filter_offset=0, output_offset=-3, multipliers=(mult,),
                                 shifts=(shift,))
        layer = sparse_linear_layer(w, bias, [mult], [shift], block=block, vectors=1, output_offset=-3)
        return H.sparse_fc_case(x, layer, p), H.dense_fc_case(x, w, bias, p)
    w = w.reshape(cout, k, k, cin)
    pad = k // 2
    x = rng.integers(-128, 128, (1, hw, hw, cin)).astype(np.int8)
    p = ConvParams(input_offset=7, output_offset=-3, multipliers=(mult,) * cout, shifts=(shift,) * cout,
                   padding=(pad, pad), activation=ActivationRange())
    width = H.padded_width(hw, k, 1, pad, hw)
    layer = sparse_conv_layer(w, bias, [mult], [shift], block=block, width=width, output_offset=-3)
    return H.sparse_conv_case(x, layer, p), H.dense_conv_case(x, w, bias, p)


def measure(cmsis_nn: str | None, blocks, seed: int = 1):
    """{(layer, sparsity, block): sparse instructions}, {(layer, sparsity): (cmsis, tfc dense)}."""
    rng = np.random.default_rng(seed)
    cases = {(n, s, b): make_layer(n, s, b, np.random.default_rng([seed, ord(n), int(s * 100), b]))
             for n in LAYERS for s in SPARSITIES for b in blocks}
    del rng
    with tempfile.TemporaryDirectory() as tmp:
        tfc_elf = H.build_m7(Path(tmp) / "tfc")
        cm_elf = H.build_m7(Path(tmp) / "cmsis", cmsis_nn=cmsis_nn) if cmsis_nn else None
        sparse, dense = {}, {}
        for key, (sp, dn) in cases.items():
            outs, counts = H.run_m7(tfc_elf, [sp, dn])
            if not np.array_equal(outs[0], outs[1]):
                bad = np.argwhere(outs[0] != outs[1])
                raise SystemExit(f"{key}: sparse output differs from tfc dense at {len(bad)} places, "
                                 f"first {tuple(bad[0])}")
            sparse[key] = counts[0]
            n, s, b = key
            if (n, s) not in dense:
                cm = None
                if cm_elf is not None:
                    cm_out, cm_counts = H.run_m7(cm_elf, [dn])
                    if not np.array_equal(cm_out[0], outs[1]):
                        raise SystemExit(f"{key}: CMSIS-NN dense differs from tfc dense")
                    cm = cm_counts[0]
                dense[(n, s)] = (cm, counts[1])
    return sparse, dense


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmsis-nn", help="CMSIS-NN checkout (its dense kernels are the baseline)")
    ap.add_argument("--blocks", default="4,1,8,16", help="block sizes, comma-separated")
    args = ap.parse_args(argv)
    blocks = [int(b) for b in args.blocks.split(",")]
    sparse, dense = measure(args.cmsis_nn, blocks)
    for ref_name, idx in (("CMSIS-NN", 0), ("tfc dense", 1)):
        if idx == 0 and not args.cmsis_nn:
            continue
        print(f"\nspeedup = instructions({ref_name} dense) / instructions(tfc sparse)")
        print(f"{'layer':6} {'block':>5} " + " ".join(f"{int(s * 100):>7}%" for s in SPARSITIES))
        for n in LAYERS:
            for b in blocks:
                row = [dense[(n, s)][idx] / sparse[(n, s, b)] for s in SPARSITIES]
                print(f"{n:6} {b:>5} " + " ".join(f"{r:7.2f}x" for r in row))
    print("\ninstructions: dense CMSIS-NN / tfc dense, sparse per block size")
    for n in LAYERS:
        for s in SPARSITIES:
            cm, td = dense[(n, s)]
            sp = "  ".join(f"b{b}={sparse[(n, s, b)]}" for b in blocks)
            print(f"{n} {int(s * 100)}%: cmsis={cm} tfc={td}  {sp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
