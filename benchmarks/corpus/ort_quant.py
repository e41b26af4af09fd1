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

    def run(model_path) -> None:
        quantize_static(str(model_path), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)

    try:
        run(src)
    except ValueError as e:
        if "shared mode is not supported for weight" not in str(e):
            raise
        # quantize_static refuses a weight that two nodes read (the dynamo exporter shares
        # identical constants); give each reader its own copy and calibrate again.
        unshared = dst.with_name(dst.stem + ".unshared.onnx")
        _unshare_initializers(src, unshared)
        run(unshared)


def _unshare_initializers(src: Path, dst: Path) -> None:
    import onnx
    model = onnx.load(str(src))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    seen: set[str] = set()
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name not in inits:
                continue
            if name in seen:
                copy = onnx.TensorProto()
                copy.CopyFrom(inits[name])
                copy.name = f"{name}__{node.name or len(graph.initializer)}_{k}"
                graph.initializer.append(copy)
                node.input[k] = copy.name
            seen.add(name)
    onnx.save(model, str(dst))
