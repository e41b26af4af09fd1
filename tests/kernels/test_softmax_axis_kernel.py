"""tfc_softmax_axis_s8: int8 softmax over an axis other than the last. A Keras softmax over axis 1
converted to int8 TFLite (TRANSPOSE, SOFTMAX, TRANSPOSE, which canonicalize folds into one
softmax{axis=1}) against tflite-micro: 0 LSB; the C equals the interpreter under ASan/UBSan and
needs one column of scratch."""
from __future__ import annotations

import numpy as np
import pytest

from tests.kernels.host_check import compile_tflite_oracle, run_c_exact, tflite_micro_outputs
from tfc.kernels import select


def test_softmax_over_axis_1_equals_tflite_micro(tmp_path):
    pytest.importorskip("tflite_micro")
    cm, x, tflite = compile_tflite_oracle("softmax_axis")
    node, = cm.ir.nodes_of("softmax")
    assert node.attrs["axis"] % 4 == 1 and not cm.ir.nodes_of("transpose")
    kernel = select(node)
    p = kernel.params(node)
    assert kernel.name == "softmax_axis" and (p.outer, p.length, p.inner) == (1, 6, 40)
    got = run_c_exact(cm.ir, [x], tmp_path)[0]
    want = tflite_micro_outputs(tflite, x)
    np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg="C vs tflite-micro")
    info = cm.save(tmp_path / "project")
    assert info.scratch_bytes == 6
