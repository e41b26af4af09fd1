"""Instructions of tfc's sparse int8 kernels against dense CMSIS-NN on the emulated Cortex-M7.

    python benchmarks/sparse_kernels.py --cmsis-nn /tmp/cmsis-nn [--blocks 4,1,8,16] [--json OUT]

Layers: A = 256x256 fully connected (one vector), B = 1x1 conv 16x16x64->64, C = 3x3 conv
16x16x32->32 (pad 1); random non-zero blocks along the reduction axis at 50/75/90/95 % sparsity,
the weights of block size b made sparse in blocks of b (so every block size sees the same
sparsity at its own granularity). Two sparse forms: the per-layer generated code ("unrolled",
encoding brle-unrolled) and the runtime kernels walking the brle streams ("streams").
Prints speedup = dense instructions / sparse instructions, dense being the real CMSIS-NN
(arm_fully_connected_s8, arm_convolve_1x1_s8_fast, arm_convolve_s8; built with the same flags)
and tfc's own dense kernels, and the flash of each form. Every sparse output is checked equal to
the dense one.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.quant.kernel_params import ActivationRange, ConvParams, FullyConnectedParams  # noqa: E402
from tfc.backends.cmsis import sparse_harness as H  # noqa: E402
from tfc.sparse.codegen import layer_code, pixel_counts_for  # noqa: E402
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer  # noqa: E402
from tfc.sparse.prune import random_block_sparse  # noqa: E402

SPARSITIES = (0.50, 0.75, 0.90, 0.95)
LAYERS = {"A": ("fc", 256, 256, 1, 1), "B": ("conv", 64, 64, 1, 16), "C": ("conv", 32, 32, 3, 16)}
TARGETS = {"A": (1.9, 3.6, 7.5, 12.0), "B": (2.8, 4.4, 7.5, 10.5), "C": (3.3, 6.0, 12.5, 19.0)}


def make_layer(name: str, sparsity: float, block: int, rng, code_index: int):
    """(generated-code case, streams case, dense case, LayerCode, stream flash bytes)."""
    kind, cin, cout, k, hw = LAYERS[name]
    w = random_block_sparse(rng, (cout, k * k * cin), block=block, density=1 - sparsity)
    bias = rng.integers(-2000, 2000, cout).astype(np.int32)
    mult = int(rng.integers(1 << 30, 1 << 31))
    shift = -9
    symbol = f"{name.lower()}{int(sparsity * 100)}_b{block}"
    if kind == "fc":
        x = rng.integers(-128, 128, (1, cin)).astype(np.int8)
        p = FullyConnectedParams(input_offset=7, filter_offset=0, output_offset=-3, multipliers=(mult,),
                                 shifts=(shift,))
        layer = sparse_linear_layer(w, bias, [mult], [shift], block=block, vectors=1, output_offset=-3)
        code = layer_code(layer, symbol, pixel_counts=(1,))
        return (H.sparse_fc_case(x, layer, p, code=code_index), H.sparse_fc_case(x, layer, p),
                H.dense_fc_case(x, w, bias, p), code, layer.flash_bytes())
    w = w.reshape(cout, k, k, cin)
    pad = k // 2
    x = rng.integers(-128, 128, (1, hw, hw, cin)).astype(np.int8)
    p = ConvParams(input_offset=7, output_offset=-3, multipliers=(mult,) * cout, shifts=(shift,) * cout,
                   padding=(pad, pad), activation=ActivationRange())
    width = H.padded_width(hw, k, 1, pad, hw)
    layer = sparse_conv_layer(w, bias, [mult], [shift], block=block, width=width, output_offset=-3)
    code = layer_code(layer, symbol, pixel_counts=pixel_counts_for(hw, 1))
    return (H.sparse_conv_case(x, layer, p, code=code_index), H.sparse_conv_case(x, layer, p),
            H.dense_conv_case(x, w, bias, p), code, layer.flash_bytes())


def _check(key, what, got, want):
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        raise SystemExit(f"{key}: {what} differs from tfc dense at {len(bad)} places, first {tuple(bad[0])}")


def measure(cmsis_nn: str | None, blocks, layers=tuple(LAYERS), seed: int = 1) -> dict:
    """Per (layer, sparsity, block): instructions and flash of both sparse forms; per (layer,
    sparsity): dense instructions (CMSIS-NN, tfc)."""
    rows = {}
    dense = {}
    with tempfile.TemporaryDirectory() as tmp:
        cm_elf = H.build_m7(Path(tmp) / "cmsis", cmsis_nn=cmsis_nn) if cmsis_nn else None
        for n in layers:
            for b in blocks:
                made = {s: make_layer(n, s, b, np.random.default_rng([seed, ord(n), int(s * 100), b]), i + 1)
                        for i, s in enumerate(SPARSITIES)}
                elf = H.build_m7(Path(tmp) / f"{n}{b}", codes=[m[3] for m in made.values()])
                for s, (gen, streams, dn, code, stream_flash) in made.items():
                    # One run per case: the driver's output buffer holds about 40 KiB.
                    (want,), (dense_count,) = H.run_m7(elf, [dn])
                    (got_gen,), (gen_count,) = H.run_m7(elf, [gen])
                    (got_streams,), (streams_count,) = H.run_m7(elf, [streams])
                    _check((n, s, b), "generated code", got_gen, want)
                    _check((n, s, b), "stream kernel", got_streams, want)
                    if (n, s) not in dense and b == blocks[0]:
                        cm = None
                        if cm_elf is not None:
                            cm_out, cm_counts = H.run_m7(cm_elf, [dn])
                            _check((n, s), "CMSIS-NN dense", cm_out[0], want)
                            cm = cm_counts[0]
                        dense[(n, s)] = (cm, dense_count)
                    counts = (gen_count, streams_count)
                    rows[(n, s, b)] = dict(unrolled=counts[0], streams=counts[1], stream_flash=stream_flash,
                                           table_bytes=code.table_bytes, blocks=code.blocks,
                                           code_estimate=code.code_bytes_estimate())
    return {"sparse": rows, "dense": dense}


def report(result: dict, blocks, layers=tuple(LAYERS), has_cmsis=True) -> str:
    sparse, dense = result["sparse"], result["dense"]
    lines = []
    refs = (("CMSIS-NN", 0),) if has_cmsis else ()
    for ref_name, idx in (*refs, ("tfc dense", 1)):
        for form in ("unrolled", "streams"):
            lines.append(f"\nspeedup = instructions({ref_name} dense) / instructions(tfc sparse, {form})")
            lines.append(f"{'layer':6} {'block':>5} " + " ".join(f"{int(s * 100):>7}%" for s in SPARSITIES))
            for n in layers:
                for b in blocks:
                    row = [dense[(n, s)][idx] / sparse[(n, s, b)][form] for s in SPARSITIES]
                    lines.append(f"{n:6} {b:>5} " + " ".join(f"{r:7.2f}x" for r in row))
                if idx == 0 and form == "unrolled" and n in TARGETS:
                    lines.append(f"{n:6} {'goal':>5} " + " ".join(f"{t:7.2f}x" for t in TARGETS[n]))
    lines.append("\ninstructions (dense CMSIS-NN / tfc dense; sparse unrolled / streams per block size)")
    for n in layers:
        for s in SPARSITIES:
            cm, td = dense[(n, s)]
            sp = "  ".join(f"b{b}={sparse[(n, s, b)]['unrolled']}/{sparse[(n, s, b)]['streams']}" for b in blocks)
            lines.append(f"{n} {int(s * 100)}%: cmsis={cm} tfc={td}  {sp}")
    lines.append("\nflash bytes: streams (records+skips+values) / unrolled table + estimated code")
    for n in layers:
        for s in SPARSITIES:
            sp = "  ".join(f"b{b}={sparse[(n, s, b)]['stream_flash']}/{sparse[(n, s, b)]['table_bytes']}"
                           f"+{sparse[(n, s, b)]['code_estimate']}" for b in blocks)
            lines.append(f"{n} {int(s * 100)}%: {sp}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmsis-nn", help="CMSIS-NN checkout (its dense kernels are the baseline)")
    ap.add_argument("--blocks", default="4,1,8,16", help="block sizes, comma-separated")
    ap.add_argument("--layers", default="A,B,C")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    blocks = [int(b) for b in args.blocks.split(",")]
    layers = tuple(args.layers.split(","))
    result = measure(args.cmsis_nn, blocks, layers)
    print(report(result, blocks, layers, has_cmsis=bool(args.cmsis_nn)))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"sparse": {"/".join(map(str, k)): v for k, v in result["sparse"].items()},
             "dense": {"/".join(map(str, k)): v for k, v in result["dense"].items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
