"""tfc_depthwise_kx1_wide_s8: Kh x 1 depthwise layers on inputs one pixel wide (the streaming wake
word model's shape) and 1 x Kw on inputs one pixel tall, odd and even tap counts (the specialised
2, 3, 5, 8 tap pairs and the generic loop), odd run lengths, ReLU and ReLU6 ranges, give the int8
interpreter's integers (the dense depthwise twin) bit for bit: portable and emulated-DSP host builds
under ASan/UBSan, and the emulated Cortex-M7. tflite-micro agreement on the real model:
tests/backends/cmsis/test_models.py and tests/targets/cortex_m/test_models.py (str_ww)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cmsis.compare import assert_exact
from tests.kernels.host_check import assert_both_host_builds_exact
from tests.kernels.test_depthwise_wide_kernel import compiled, dw_chain
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc.kernels import select
from tfc.kernels.depthwise_kx1 import DepthwiseKx1, kx1_weights

C = 8
V = [0, 0, 0, 0]
# (kernel, stride, pads, clip max or None), along a column of 31 pixels
COLUMN = [((3, 1), 1, V, None),    # 29 outputs: pairs of outputs + one alone; 2 tap pairs
          ((4, 1), 1, V, 6.0),     # an even tap count, 2 pairs; ReLU6
          ((7, 1), 1, V, None),    # 4 pairs: the generic loop
          ((15, 1), 1, V, None),   # 8 pairs
          ((3, 1), 1, [1, 0, 1, 0], None)]   # padded: declined
COLUMN_SHAPE = (1, C, 31, 1)
ROW = [((1, 5), 1, V, None), ((1, 10), 1, V, 6.0), ((1, 3), 2, V, None)]   # the last: stride 2, declined
ROW_SHAPE = (1, 12, 1, 27)


@pytest.fixture(scope="module")
def column():
    return compiled(dw_chain(COLUMN_SHAPE, COLUMN, seed=2), COLUMN_SHAPE, seed=3)


@pytest.fixture(scope="module")
def row():
    return compiled(dw_chain(ROW_SHAPE, ROW, seed=6), ROW_SHAPE, seed=7)


def test_the_kernel_takes_the_unpadded_stride_1_layers(column, row):
    nodes = column[0].ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["depthwise_kx1"] * 4 + ["depthwise_conv"]
    assert "padded" in DepthwiseKx1().decline(nodes[-1])
    nodes = row[0].ir.nodes_of("conv2d")
    assert [select(n).name for n in nodes] == ["depthwise_kx1"] * 2 + ["depthwise_conv"]
    assert "stride" in DepthwiseKx1().decline(nodes[-1])


def test_both_host_builds_equal_the_interpreter(column, row, tmp_path):
    for name, (cm, x, want) in (("column", column), ("row", row)):
        assert_both_host_builds_exact(cm.ir, x, want, tmp_path / name, f"dw_{name}")


def test_emulated_m7_equals_the_interpreter(column, row, qemu):  # noqa: F811
    for cm, x, want in (column, row):
        assert_exact(cm.run(x, raw=True)[0], want, "emulated Cortex-M7 vs the int8 interpreter")


def test_weights_are_doubled_tap_pairs_with_a_zero_after_an_odd_last_tap():
    w = np.random.default_rng(0).integers(-127, 128, (4, 5, 1, 1)).astype(np.int8)
    wide = kx1_weights(w).reshape(4, 6)
    assert (wide[:, :5] == 2 * w.reshape(4, 5).astype(np.int16)).all() and (wide[:, 5] == 0).all()


def test_square_windows_are_declined(tmp_path):
    shape = (1, 8, 14, 14)
    cm, _, _ = compiled(dw_chain(shape, [((3, 3), 1, V, None)]), shape)
    node = cm.ir.nodes_of("conv2d")[0]
    assert "one column or row" in DepthwiseKx1().decline(node)
