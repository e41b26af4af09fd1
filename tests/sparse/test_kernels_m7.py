"""The sparse kernels built for the Cortex-M7 (DSP instructions, and portable C) and run on QEMU give
the bytes of the dense numpy reference."""
from __future__ import annotations

import numpy as np
import pytest

from tfc.quant import reference as ref
from tfc.quant.kernel_params import ActivationRange, ConvParams, FullyConnectedParams
from tfc.backends.cmsis import sparse_harness as H
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer
from tfc.sparse.prune import random_block_sparse

from tests.targets.cortex_m.conftest import qemu, qemu_plugins, toolchain  # noqa: F401


@pytest.mark.parametrize("dsp", [True, False], ids=["dsp", "portable"])
def test_m7_sparse_kernels_match_reference(qemu_plugins, tmp_path, dsp):  # noqa: F811
    info = H.build_m7(tmp_path, dsp=dsp)
    rng = np.random.default_rng(2)
    cases, wants = [], []
    for k, cin, cout, hw, block, density in [(3, 16, 8, 6, 4, 0.3), (1, 12, 8, 5, 8, 0.5), (3, 6, 5, 7, 1, 0.5),
                                             (3, 8, 6, 5, 2, 0.0), (1, 32, 4, 4, 16, 1.0)]:
        w = random_block_sparse(rng, (cout, k * k * cin), block=block, density=density).reshape(cout, k, k, cin)
        bias = rng.integers(-4000, 4000, cout).astype(np.int32)
        p = ConvParams(input_offset=9, output_offset=-4, multipliers=tuple(int(m) for m in rng.integers(1 << 30, 1 << 31, cout)),
                       shifts=tuple(int(s) for s in rng.integers(-10, 1, cout)), padding=(k // 2, k // 2),
                       activation=ActivationRange(-100, 110))
        x = rng.integers(-128, 128, (1, hw, hw, cin)).astype(np.int8)
        out_hw = H.conv_out_hw(x.shape, k, k, p)
        layer = sparse_conv_layer(w, bias, p.multipliers, p.shifts, block=block,
                                  width=H.padded_width(hw, k, 1, k // 2, out_hw[1]), output_offset=-4,
                                  activation=p.activation)
        cases.append(H.sparse_conv_case(x, layer, p))
        wants.append(ref.conv2d(x, w, bias, p))
    for n in (1, 6):
        w = random_block_sparse(rng, (10, 50), block=4, density=0.4)
        p = FullyConnectedParams(input_offset=-5, filter_offset=0, output_offset=3, multipliers=(1 << 30,),
                                 shifts=(-7,))
        x = rng.integers(-128, 128, (n, 50)).astype(np.int8)
        layer = sparse_linear_layer(w, None, [1 << 30], [-7], block=4, vectors=n, output_offset=3)
        cases.append(H.sparse_fc_case(x, layer, p))
        wants.append(ref.fully_connected(x, w, None, p))
    outs, _ = H.run_m7(info, cases, count=False)
    for i, (got, want) in enumerate(zip(outs, wants)):
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"case {i}: {len(bad)} outputs differ, first at {tuple(bad[0])}: " \
                              f"{got[tuple(bad[0])]} != {want[tuple(bad[0])]}"


def test_m7_sparse_depthwise_matches_reference(qemu_plugins, tmp_path):  # noqa: F811
    """tfc_sparse_depthwise_conv_s8 with real DSP instructions: 1/2/3-tap loops, the tap-list loop,
    empty channels, strides 1 and 2, clamp, ReLU layers (output zero point -128: no sign correction)
    whose shifts 7 and 8 take the immediate-shift loops, and the dense depthwise kernel beside it."""
    from tfc.quant.kernel_params import DepthwiseConvParams
    from tfc.sparse.depthwise import sparse_depthwise_layer
    info = H.build_m7(tmp_path)
    rng = np.random.default_rng(3)
    cases, wants = [], []
    for c, k, stride, density, clamp, relu in [(12, 3, 1, 0.15, False, False), (9, 3, 2, 0.3, True, False),
                                               (8, 5, 1, 0.5, False, False), (6, 3, 1, 0.0, False, False),
                                               (5, 7, 2, 1.0, True, False), (16, 3, 1, 0.2, False, True),
                                               (12, 3, 2, 0.25, False, True)]:
        w = (rng.integers(-127, 128, (c, k * k)) * (rng.random((c, k * k)) < density)).astype(np.int8)
        w = w.reshape(c, k, k)
        bias = rng.integers(-4000, 4000, c).astype(np.int32)
        act = ActivationRange(-100, 110) if clamp else ActivationRange()
        out_off = -128 if relu else 3
        shifts = rng.choice([-7, -8], c) if relu else rng.integers(-10, 1, c)
        p = DepthwiseConvParams(input_offset=-11, output_offset=out_off, ch_mult=1,
                                multipliers=tuple(int(m) for m in rng.integers(1 << 30, 1 << 31, c)),
                                shifts=tuple(int(s) for s in shifts), stride=(stride, stride),
                                padding=(k // 2, k // 2), activation=act)
        x = rng.integers(-128, 128, (1, 7, 8, c)).astype(np.int8)
        layer = sparse_depthwise_layer(w, bias, p.multipliers, p.shifts, input_offset=-11, output_offset=out_off,
                                       activation=act)
        want = ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p)
        cases += [H.sparse_depthwise_case(x, layer, p), H.dense_depthwise_case(x, layer.cmsis_weights(), bias, p)]
        wants += [want, want]
    outs, _ = H.run_m7(info, cases, count=False)
    for i, (got, want) in enumerate(zip(outs, wants)):
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"case {i} ({'sparse' if i % 2 == 0 else 'dense'}): {len(bad)} outputs differ, " \
                              f"first at {tuple(bad[0])}: {got[tuple(bad[0])]} != {want[tuple(bad[0])]}"


def test_m7_sparse_depthwise_rows_of_eight_match_reference(qemu_plugins, tmp_path):  # noqa: F811
    """Output rows of 8 and 16 pixels (the eight-per-step loops of one-tap tables and 1..3-tap
    immediate-shift channels), strides 1 and 2, ReLU and plain layers, input rows of 8k pixels
    copied by LDRs and an STM around 0, 1 and 2 rows and columns of padding, on the emulated M7."""
    from tests.sparse.test_depthwise_host import whole_row_layer
    info = H.build_m7(tmp_path)
    cases, wants = [], []
    for i, (stride, relu, luts, out_w, pad) in enumerate([(1, True, True, 16, 1), (2, True, True, 8, 1),
                                                           (1, True, False, 8, 1), (2, True, False, 16, 1),
                                                           (1, False, True, 8, 1), (2, False, False, 8, 1),
                                                           (1, True, True, 16, 0), (2, True, False, 8, 2)]):
        x, layer, bias, p = whole_row_layer(i, stride, relu, luts, out_w, channels=8, pad=pad)
        cases.append(H.sparse_depthwise_case(x, layer, p))
        wants.append(ref.depthwise_conv2d(x, layer.cmsis_weights(), bias, p))
    outs, _ = H.run_m7(info, cases, count=False)
    for i, (got, want) in enumerate(zip(outs, wants)):
        assert np.array_equal(got, want), f"case {i}: {np.count_nonzero(got != want)} outputs differ"
