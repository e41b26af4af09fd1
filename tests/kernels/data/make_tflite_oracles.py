"""Builds the tiny TFLite int8 models the kernel tests use as tflite-micro oracles, and their ONNX
conversions (tf2onnx's TFLite path, as the corpus converts Keras models). Runs in the corpus venv
(TensorFlow is not in tfc's environment):

    TF_USE_LEGACY_KERAS=1 ~/.cache/tfc-corpus/venv/bin/python tests/kernels/data/make_tflite_oracles.py

Deterministic seeds; the outputs are committed beside this script (a few KiB each)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
HERE = Path(__file__).resolve().parent


def _se_mul(keras, layers):
    """Squeeze-and-excite: x * sigmoid(dense(gap(x))), a [1,8,8,16] x [1,1,1,16] MUL."""
    x = keras.Input((8, 8, 16), batch_size=1)
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(16, 1, activation="sigmoid")(s)
    return keras.Model(x, layers.Multiply()([x, s]))


def _sub(keras, layers):
    """PoolFormer's token mixer pool(x) - x (equal shapes), and x minus its channel mean
    (a [1,6,6,8] - [1,6,6,1] SUB that broadcasts)."""
    x = keras.Input((6, 6, 8), batch_size=1)
    y = layers.Conv2D(8, 3, padding="same")(x)
    pooled = layers.AveragePooling2D(3, strides=1, padding="same")(y)
    mixed = layers.Subtract()([pooled, y])
    mean = layers.Lambda(lambda t: keras.backend.mean(t, axis=-1, keepdims=True))(mixed)
    return keras.Model(x, layers.Lambda(lambda ab: ab[0] - ab[1])([mixed, mean]))


def _softmax_axis(keras, layers):
    """A softmax over the rows of [1, 6, 5, 8] (axis 1, not the last): TFLite's SOFTMAX runs the
    last axis only, so the converter puts it between two TRANSPOSEs."""
    x = keras.Input((6, 5, 8), batch_size=1)
    y = layers.Conv2D(8, 1)(x)
    return keras.Model(x, layers.Softmax(axis=1)(y))


def _hardswish(keras, layers):
    """MobileNetV3's hard-swish, x * relu6(x + 3) / 6, which the converter fuses into one
    HARD_SWISH; 256 inputs, so one sample of all codes reads every entry of tfc's table."""
    x = keras.Input((256,), batch_size=1)
    return keras.Model(x, layers.Multiply()([x, layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)]))


MODELS = {"se_mul": _se_mul, "sub": _sub, "softmax_axis": _softmax_axis, "hardswish": _hardswish}


def main() -> None:
    import tensorflow as tf
    import tf2onnx
    import tf_keras as keras
    from tf_keras import layers
    for name, build in MODELS.items():
        tf.random.set_seed(0)
        keras.utils.set_random_seed(0)
        model = build(keras, layers)
        rng = np.random.default_rng(0)
        shape = tuple(model.input.shape)
        samples = [rng.normal(0, 1, shape).astype(np.float32) for _ in range(32)]
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        tflite = HERE / f"{name}.tflite"
        tflite.write_bytes(converter.convert())
        tf2onnx.convert.from_tflite(str(tflite), opset=17, output_path=str(HERE / f"{name}.tflite.onnx"))
        print(name, tflite.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
