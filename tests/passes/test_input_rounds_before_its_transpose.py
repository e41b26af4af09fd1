"""onnxruntime's quantize_static of an NHWC model (tf2onnx's Keras export) quantizes the input
after its Transpose to NCHW: the graph input itself must take those params (round-before-moving
on a graph input), or the int8 graph has an input without quantization parameters."""
from __future__ import annotations

import numpy as np
from onnx import helper

import tfc
from tests.frontend.onnx_builders import make_model, run_onnxruntime


def test_nhwc_input_quantized_after_its_transpose(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    rng = np.random.default_rng(5)
    model = make_model([helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
                        helper.make_node("Conv", ["xt", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["y"], ["r"])],
                       [("x", [1, 8, 8, 3])], [("r", [1, 4, 8, 8])],
                       {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                        "b": rng.standard_normal(4).astype(np.float32)}, opset=13)
    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    src.write_bytes(model.SerializeToString())
    samples = rng.standard_normal((8, 1, 8, 8, 3)).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"x": s} for s in samples])

        def get_next(self):
            return next(self._it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    cm = tfc.compile(str(dst), target="host")
    assert cm.ir.inputs[0].quant is not None
    import onnx
    qdq = onnx.load(str(dst))
    scale = float(np.ravel(cm.ir.outputs[0].quant.scale)[0])
    for x in samples[:4]:
        want = run_onnxruntime(qdq, {"x": x})[0]
        got = np.asarray(cm.run(x)).reshape(want.shape)
        assert np.max(np.abs(got - want)) / scale <= 2 + 1e-6
