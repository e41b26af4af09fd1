"""Tiny full-integer TFLite models of TFLite's averaging ops (MEAN, AVERAGE_POOL_2D), written by
TensorFlow's own converter, with their tf2onnx conversions: the oracles of
tests/quant/test_tflm_pool.py (tflite-micro runs the .tflite, tfc the .onnx). Runs in the corpus
venv (TensorFlow is not in tfc's environment); the files are small and live in git:

    ~/.cache/tfc-corpus/venv/bin/python -m benchmarks.corpus.tflite_pool tests/quant/data/tflite_pool
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

SEED = 20261207


def _models(tf_keras):
    L = tf_keras.layers

    def net(shape, *layers):
        x = inp = L.Input(shape=shape, batch_size=1)
        for layer in layers:
            x = layer(x)
        return tf_keras.Model(inp, x)

    # The input feeds the average directly: the converter gives the MEAN's output its own scale,
    # so the int8 kernel requantizes (the GlobalAveragePooling of the Keras MobileNets).
    return {
        "gap_hw": net((5, 7, 24), L.GlobalAveragePooling2D()),                      # MEAN axes (1, 2)
        "gap_hw_keepdims": net((3, 3, 40), L.GlobalAveragePooling2D(keepdims=True)),
        "mean_tokens": net((12, 16), L.GlobalAveragePooling1D()),                   # MEAN axis 1
        "mean_channels": net((4, 6, 20), L.Lambda(lambda t: tf_keras.backend.mean(t, axis=-1))),
        "avgpool": net((6, 6, 8), L.AveragePooling2D(2)),                          # AVERAGE_POOL_2D
    }


def main(out: str) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras
    import tf2onnx
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tf_keras.utils.set_random_seed(SEED)
    for name, model in _models(tf_keras).items():
        shape = (1, *model.input_shape[1:])
        rng = np.random.default_rng(SEED)
        # Calibration skewed per sample, so the average's range differs from its input's.
        samples = [(rng.standard_normal(shape) * rng.uniform(0.3, 3) + rng.uniform(-1, 1)).astype(np.float32)
                   for _ in range(32)]
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        _write(out_dir, name, converter.convert(), tf2onnx)
        if name == "gap_hw":
            _write(out_dir, "gap_hw_same_params", _same_params(converter.convert()), tf2onnx)


def _write(out_dir: Path, name: str, flatbuffer: bytes, tf2onnx) -> None:
    tfl = out_dir / f"{name}.tflite"
    tfl.write_bytes(flatbuffer)
    tf2onnx.convert.from_tflite(str(tfl), opset=17, output_path=str(out_dir / f"{name}.onnx"))
    print(name, tfl.stat().st_size, "B")


def _same_params(flatbuffer: bytes) -> bytes:
    """The model with its first op's output on its input's scale and zero point (TFLite Micro's
    MEAN has a branch for equal parameters; the converter never writes one for these models)."""
    import tempfile
    from tensorflow.lite.tools import flatbuffer_utils as fu
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tflite"
        path.write_bytes(flatbuffer)
        model = fu.read_model(str(path))
        graph = model.subgraphs[0]
        op = graph.operators[0]
        src, dst = graph.tensors[op.inputs[0]].quantization, graph.tensors[op.outputs[0]].quantization
        dst.scale, dst.zeroPoint = list(src.scale), list(src.zeroPoint)
        fu.write_model(model, str(path))
        return path.read_bytes()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/quant/data/tflite_pool")
