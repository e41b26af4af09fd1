"""onnxruntime's post-training quantization as the corpus uses it: the QDQ files the builder
writes, and the baseline the harness holds tfc's PTQ to, calibrate the same way on the same samples."""
from __future__ import annotations

from pathlib import Path

from benchmarks.corpus.specs import calibration_samples


def quantize_qdq(src: Path, dst: Path, input_shape) -> None:
    """quantize_static: QDQ format, int8 activations, per-channel int8 weights."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    samples = calibration_samples(input_shape[1:])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{name: s[None]} for s in samples])

        def get_next(self):
            return next(self._it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
