"""Sparse depthwise (tfc_sparse_depthwise_conv_s8, encoding dw-taps) against the dense depthwise
kernel (arm_depthwise_conv_s8_opt) on the emulated Cortex-M7: instructions per layer by taps per
channel, outputs checked against the numpy reference, and a least-squares fit of the cost model's
depthwise constants (tfc/sparse/cost_model.py: DW_*), printed for pasting.

    python benchmarks/sparse_depthwise.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.quant import reference as ref  # noqa: E402
from tfc.quant.kernel_params import DepthwiseConvParams  # noqa: E402
from tfc.sparse import cost_model as cm  # noqa: E402
from tfc.backends.cmsis import sparse_harness as H  # noqa: E402
from tfc.sparse.depthwise import sparse_depthwise_layer  # noqa: E402

SHAPES = [(64, 16, 3, 1), (64, 16, 3, 2), (16, 8, 3, 1), (32, 12, 5, 1), (24, 10, 3, 2)]  # C, hw, k, stride
TAPS = [0, 1, 2, 3, 5]


def _layer(rng, c, hw, k, stride, taps):
    w = np.zeros((c, k * k), np.int8)
    for ch in range(c):
        idx = rng.choice(k * k, size=min(taps, k * k), replace=False)
        w[ch, idx] = rng.integers(1, 128, len(idx)) * rng.choice([-1, 1], len(idx))
    w = w.reshape(c, k, k)
    bias = rng.integers(-3000, 3000, c).astype(np.int32)
    p = DepthwiseConvParams(input_offset=7, output_offset=-3, ch_mult=1,
                            multipliers=tuple(int(m) for m in rng.integers(1 << 30, 1 << 31, c)),
                            shifts=tuple(int(s) for s in rng.integers(-10, -3, c)), stride=(stride, stride),
                            padding=(k // 2, k // 2))
    x = rng.integers(-128, 128, (1, hw, hw, c)).astype(np.int8)
    layer = sparse_depthwise_layer(w, bias, p.multipliers, p.shifts, input_offset=7, output_offset=-3)
    return x, layer, bias, p


def measure():
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        info = H.build_m7(tmp)
        for c, hw, k, stride in SHAPES:
            for taps in TAPS + ["dense"]:
                x, layer, bias, p = _layer(rng, c, hw, k, stride, 1 if taps == "dense" else taps)
                want = ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p)
                case = (H.dense_depthwise_case(x, layer.cmsis_weights(), bias, p) if taps == "dense"
                        else H.sparse_depthwise_case(x, layer, p))
                (got,), (n,) = H.run_m7(info, [case])
                if not np.array_equal(got, want):
                    raise SystemExit(f"C{c} {hw}x{hw} k{k} s{stride} taps {taps}: "
                                     f"{np.count_nonzero(got != want)} outputs differ from the reference")
                shape = cm.LayerShape(c, 1, k, k, want.shape[1], want.shape[2], stride=stride,
                                      in_h=hw + 2 * (k // 2), in_w=hw + 2 * (k // 2))
                rows.append((shape, taps, n))
                print(f"C{c:3d} {hw:2d}x{hw:<2d} k{k} s{stride} taps/channel {taps!s:>5}: {n:8d} instructions")
    return rows


def fit(rows):
    sparse = [(s, t, n) for s, t, n in rows if t != "dense"]
    a = np.array([cm.depthwise_features(s, [t] * s.cout) for s, t, _ in sparse], dtype=float)
    b = np.array([n for _, _, n in sparse], dtype=float)
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    # Dense: the 3x3 channel-pair path costs a constant per output at each stride; the generic loop
    # (other kernels) a cost per tap and per output.
    dense = [(s, n) for s, t, n in rows if t == "dense"]
    dw3 = {stride: [(s, n) for s, n in dense if cm.dense_dw3_applies(s) and s.stride == stride] for stride in (1, 2)}
    per_out = {stride: sum(n for _, n in r) / sum(s.outputs for s, _ in r) for stride, r in dw3.items() if r}
    generic = [(s, n) for s, n in dense if not cm.dense_dw3_applies(s)]
    print("\n# ---- fitted by benchmarks/sparse_depthwise.py ----")
    for name, v in zip(cm.DW_FEATURES, coef):
        print(f"{name} = {v:.3f}")
    print(f"DENSE_DW3_OUT_S1, DENSE_DW3_OUT_S2 = {per_out.get(1, 0):.3f}, {per_out.get(2, 0):.3f}")
    err = max(abs(a_ @ coef - n) / n for a_, n in zip(a, b))
    errd = max(abs(per_out[s.stride] * s.outputs - n) / n for r in dw3.values() for s, n in r)
    print(f"# max fit error: sparse {100 * err:.1f} %, dense 3x3 {100 * errd:.1f} %")
    if len(generic) >= 2:
        ad = np.array([[s.outputs * s.kh * s.kw, s.outputs] for s, _ in generic], dtype=float)
        cd, *_ = np.linalg.lstsq(ad, np.array([n for _, n in generic], dtype=float), rcond=None)
        print(f"DENSE_DW_TAP, DENSE_DW_OUT = {cd[0]:.3f}, {cd[1]:.3f}")
    else:
        print(f"# generic dense loop: {len(generic)} shape measured, DENSE_DW_TAP / DENSE_DW_OUT not refitted")


if __name__ == "__main__":
    fit(measure())
