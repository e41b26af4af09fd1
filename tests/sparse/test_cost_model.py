"""The fitted cost model predicts fresh instruction counts on the emulated Cortex-M7 within 10 %."""
from __future__ import annotations

import numpy as np
import pytest

from tfc.quant.kernel_params import ConvParams, FullyConnectedParams
from tfc.sparse import cost_model as cm
from tfc.backends.cmsis import sparse_harness as H
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer
from tfc.sparse.prune import random_block_sparse

from tests.targets.cortex_m.conftest import qemu, qemu_plugins, toolchain  # noqa: F401


def test_cost_model_predicts_fresh_measurements(qemu_plugins, tmp_path):  # noqa: F811
    rng = np.random.default_rng(99)  # other weights than the fit's
    info = H.build_m7(tmp_path)
    cases, predictions, names = [], [], []
    for cin, cout, k, hw, block, density in [(32, 24, 3, 8, 4, 0.3), (48, 32, 1, 8, 8, 0.5),
                                             (16, 16, 3, 12, 16, 0.2), (40, 16, 1, 8, 2, 0.4)]:
        w = random_block_sparse(rng, (cout, k * k * cin), block=block, density=density).reshape(cout, k, k, cin)
        p = ConvParams(input_offset=1, output_offset=0, multipliers=(1 << 30,) * cout, shifts=(-8,) * cout,
                       padding=(k // 2, k // 2))
        layer = sparse_conv_layer(w, None, [1 << 30], [-8], block=block, width=hw + 2 * (k // 2), output_offset=0)
        cases.append(H.sparse_conv_case(rng.integers(-128, 128, (1, hw, hw, cin)).astype(np.int8), layer, p))
        shape = cm.LayerShape(cout, cin, k, k, hw, hw, in_h=hw + 2 * (k // 2), in_w=hw + 2 * (k // 2))
        predictions.append(cm.sparse_instructions(shape, block, layer.encoded.stored_blocks,
                                                  int((layer.encoded.counts > 0).sum())))
        names.append(f"conv {k}x{k} {cin}->{cout} {hw}x{hw} B{block} d{density}")
    for depth, out, block, density in [(192, 96, 4, 0.3), (160, 48, 8, 0.5)]:
        w = random_block_sparse(rng, (out, depth), block=block, density=density)
        p = FullyConnectedParams(input_offset=1, filter_offset=0, output_offset=0, multipliers=(1 << 30,), shifts=(-8,))
        layer = sparse_linear_layer(w, None, [1 << 30], [-8], block=block, output_offset=0)
        cases.append(H.sparse_fc_case(rng.integers(-128, 128, (1, depth)).astype(np.int8), layer, p))
        shape = cm.LayerShape(out, depth, linear=True, in_h=1, in_w=1)
        predictions.append(cm.sparse_instructions(shape, block, layer.encoded.stored_blocks,
                                                  int((layer.encoded.counts > 0).sum())))
        names.append(f"linear {depth}->{out} B{block} d{density}")
    _, counts = H.run_m7(info, cases)
    errors = {n: (pred - got) / got for n, pred, got in zip(names, predictions, counts)}
    bad = {n: f"{e:+.1%}" for n, e in errors.items() if abs(e) > 0.10}
    assert not bad, f"predictions off by more than 10 %: {bad} (measured {dict(zip(names, counts))})"


def test_dense_constants_are_the_dense_kernels_cost_entries():
    """cost_model's dense forms mirror the registry's fitted entries of the kernels that run a
    dense layer, feature for feature (a refit of the kernels' costs must reach sparsify too)."""
    from tfc.kernels.conv_first import MAX_CHANNELS, MAX_DEPTH
    from tfc.kernels.cost import cost_entries
    entries = cost_entries()

    def coef(function, names):
        cost = entries[function]
        return tuple(cost.coefficients[cost.features.index(n)] for n in names)

    assert cm.DENSE_1X1 == coef("tfc_pointwise_wide_s8", ("macs", "outputs", "pixels", "reads", "one"))
    assert cm.DENSE_FIRST == coef("tfc_convolve_first_s8", ("macs", "outputs", "pixels"))
    assert cm.DENSE_CONV == coef("tfc_convolve_wide_s8", ("macs", "outputs", "pixels"))
    assert cm.DENSE_FC == coef("arm_fully_connected_per_channel_s8", ("macs4", "macs1", "outputs", "vectors", "one"))
    assert (cm.FIRST_MAX_CHANNELS, cm.FIRST_MAX_DEPTH) == (MAX_CHANNELS, MAX_DEPTH)
    for name in ("tfc_pointwise_wide_s8", "tfc_convolve_first_s8", "tfc_convolve_wide_s8"):
        cost = entries[name]       # the features left out are zero in the fit
        used = {"macs", "outputs", "pixels", "reads", "one"} if name == "tfc_pointwise_wide_s8" else \
            {"macs", "outputs", "pixels"}
        assert all(c == 0 for f, c in zip(cost.features, cost.coefficients) if f not in used), name


@pytest.mark.parametrize("shape, measured", [
    # the hybrid's dense build (benchmarks/sparse_end_to_end.py --model hybrid, tfc bench, 6d40b0d)
    (cm.LayerShape(64, 16, out_h=16, out_w=16), 316264),             # 1x1 16->64 16x16
    (cm.LayerShape(16, 64, out_h=16, out_w=16), 248680),             # 1x1 64->16
    (cm.LayerShape(24, 64, out_h=8, out_w=8), 89194),                # 1x1 64->24 8x8
    (cm.LayerShape(96, 24, 2, 2, 4, 4, stride=2), 140829),           # patch embedding 2x2/2
    (cm.LayerShape(16, 3, 3, 3, 16, 16, stride=2), 158769),          # stem 3x3/2 on 3 channels
    (cm.LayerShape(96, 96, out_w=16, linear=True), 169936),          # q/k/v/out over 16 tokens
    (cm.LayerShape(192, 96, out_w=16, linear=True), 336112),         # MLP up
    (cm.LayerShape(96, 192, out_w=16, linear=True), 550681),         # MLP down (no 4-row path)
])
def test_dense_estimates_match_the_hybrid_dense_build(shape, measured):
    assert abs(cm.dense_instructions(shape) - measured) / measured < 0.10
