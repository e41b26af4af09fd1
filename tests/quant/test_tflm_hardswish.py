"""hardswish's int8 table is TFLite Micro's HARD_SWISH at every code: a Keras hard-swish converted
to int8 TFLite, fed all 256 codes, equals tflite-micro through tfc's C (tfc_lut_s8). (The float
function rounded onto the grid, the table before, was one step off TFLM on the first hard-swish
of the corpus's MobileNetV3Small TFLite conversion.)"""
from __future__ import annotations

import numpy as np
import pytest

from tests.kernels.host_check import compile_tflite_oracle, run_c_exact, tflite_micro_outputs
from tfc.kernels import select


def test_hardswish_table_equals_tflite_micro_on_every_code(tmp_path):
    pytest.importorskip("tflite_micro")
    cm, _, tflite = compile_tflite_oracle("hardswish")
    node, = cm.ir.nodes
    assert node.op == "hardswish" and select(node).name == "lut"
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256)
    got = run_c_exact(cm.ir, [codes], tmp_path)[0].reshape(-1)
    want = tflite_micro_outputs(tflite, codes).reshape(-1)
    np.testing.assert_array_equal(got, want, err_msg="C vs tflite-micro, all 256 codes")


def test_integer_table_is_not_the_rounded_function():
    """On these grids TFLM's fixed point and the float function rounded onto the grid differ by
    one step on four codes; the table follows TFLM (checked against tflite-micro above)."""
    from tfc.ir.ops.quant import dequantize_array, quantize_array
    from tfc.ir.types import DType, QuantParams
    from tfc.quant.tflm_hardswish import hardswish_table
    xq, yq = QuantParams((0.05,), (3,)), QuantParams((0.01,), (-10,))
    real = dequantize_array(np.arange(-128, 128, dtype=np.int8), xq).astype(np.float64)
    rounded = quantize_array((real * np.clip(real + 3, 0, 6) / 6).astype(np.float32), yq, DType.I8)
    diff = hardswish_table(xq, yq).astype(int) - rounded
    assert np.abs(diff).max() == 1 and np.count_nonzero(diff) == 4
