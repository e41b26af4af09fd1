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
