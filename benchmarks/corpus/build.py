"""Builds the corpus files (runs in the corpus venv: `python -m benchmarks.corpus build`).

Per transformers spec: the model from its Config class with seeded random weights, exported by
torch's dynamo exporter (opset 18) and its legacy exporter (opset 17; 18 for MobileViTV2, whose fold it writes from 18 only), plus an onnxruntime
quantize_static QDQ version of the legacy export where the spec asks. Per Keras spec: float ONNX
through tf2onnx, and a full-integer int8 TFLite file (kept as the oracle) converted to ONNX with
tf2onnx's TFLite path. A file whose spec key is unchanged is reused; a failure becomes a manifest
entry with its error, not a crash.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

from benchmarks.corpus.ort_quant import quantize_qdq
from benchmarks.corpus.specs import (HF, KERAS, MANIFEST, MODELS, NUM_LABELS, SEED, TORCH_EXPORTS, Entry,
                                     calibration_samples)

def _one_line(e: BaseException) -> str:
    # The whole message on one line: torch's exporters name the failing op on a later line.
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text[:300] if text else type(e).__name__


def _cached(path: Path, key: str) -> bool:
    stamp = path.with_suffix(path.suffix + ".key")
    return path.exists() and stamp.exists() and stamp.read_text() == key


def _stamp(path: Path, key: str) -> None:
    path.with_suffix(path.suffix + ".key").write_text(key)


# ------------------------------------------------------------------------------ transformers
def build_hf(spec, entries: list[Entry]) -> None:
    import torch
    import transformers
    shape = [1, 3, spec.image, spec.image]
    try:
        config_cls = getattr(transformers, spec.config)
        model_cls = getattr(transformers, spec.model)
    except AttributeError as e:
        entries.append(Entry(spec.name, spec.name, "float", None, shape,
                             error=f"not in transformers {transformers.__version__}: {e}"))
        return
    model = None
    for suffix, dynamo, opset in TORCH_EXPORTS:
        path = MODELS / f"{spec.name}.{suffix}.onnx"
        entry = Entry(f"{spec.name}.{suffix}", spec.name, "float", path.name, shape)
        entries.append(entry)
        try:
            if model is None:
                torch.manual_seed(SEED)
                config = config_cls(num_labels=NUM_LABELS, **spec.kwargs)
                model = _logits_only(randomize(model_cls(config)).eval())
            entry.params = sum(p.numel() for p in model.parameters())
            if not _cached(path, spec.key()):
                x = torch.from_numpy(calibration_samples(shape[1:], 1))
                extra = {"external_data": False} if dynamo else {}
                with torch.no_grad():
                    torch.onnx.export(model, (x,), str(path), dynamo=dynamo,
                                      opset_version=spec.opset(dynamo, opset),
                                      input_names=["pixel_values"], output_names=["logits"], **extra)
                _stamp(path, spec.key())
        except Exception as e:  # noqa: BLE001 - a failed export is a row of the table
            entry.onnx, entry.error = None, f"export: {_one_line(e)}"
            continue
        if spec.quantize and suffix == "legacy":
            _add_qdq(entries, spec, path, shape, entry.params)


def _add_qdq(entries, spec, path: Path, shape, params) -> None:
    qpath = path.with_name(path.name.replace(".onnx", ".qdq.onnx"))
    entry = Entry(qpath.name[:-len(".onnx")], spec.name, "qdq-ort", qpath.name, shape, params=params)
    entries.append(entry)
    try:
        if not _cached(qpath, spec.key()):
            quantize_qdq(path, qpath, shape)
            _stamp(qpath, spec.key())
    except Exception as e:  # noqa: BLE001
        entry.onnx, entry.error = None, f"quantize_static: {_one_line(e)}"


def randomize(model):
    """Weights with the statistics of a trained network, seeded: transformers initializes for
    training (std 0.02, zero biases, zero-initialized last layers), which leaves some random
    models with outputs of 0 or 1e-5 and identical zero biases. Tensors: normal / sqrt(fan-in);
    1-D weights (norm scales, layer scales): 1 + 0.1 normal; biases and other 1-D: 0.1 normal."""
    import torch
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            if p.dim() >= 2:
                p.copy_(noise / max(p[0].numel(), 1) ** 0.5)
            elif name.endswith("weight") or "scale" in name:
                p.copy_(1 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)
    return model


def _logits_only(model):
    import torch

    class LogitsOnly(torch.nn.Module):
        """The classifier with a plain tensor output (transformers returns a ModelOutput)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return self.model(pixel_values=pixel_values).logits
    return LogitsOnly(model)


# ------------------------------------------------------------------------------ keras
def build_keras(spec, entries: list[Entry]) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras
    nhwc = [1, spec.image, spec.image, 3]
    float_path = MODELS / f"{spec.name}.float.onnx"
    tfl_path = MODELS / f"{spec.name}.int8.tflite"
    int8_path = MODELS / f"{spec.name}.int8.onnx"
    float_entry = Entry(f"{spec.name}.float", spec.name, "float", float_path.name, nhwc)
    int8_entry = Entry(f"{spec.name}.tflite", spec.name, "int8-tflite", int8_path.name, nhwc,
                       oracle=tfl_path.name)
    entries += [float_entry, int8_entry]
    try:
        tf.random.set_seed(SEED)
        tf_keras.utils.set_random_seed(SEED)
        module, function = spec.builder.split(":")
        fn = getattr(importlib.import_module(f"tf_keras.{module}"), function)
        model = randomize_keras(fn(input_shape=tuple(nhwc[1:]), weights=None, classes=NUM_LABELS, **spec.kwargs),
                                statistics_samples(nhwc[1:]))
    except Exception as e:  # noqa: BLE001
        for entry in (float_entry, int8_entry):
            entry.onnx, entry.error = None, f"keras: {_one_line(e)}"
        return
    params = int(model.count_params())
    float_entry.params = int8_entry.params = params
    import tf2onnx
    try:
        if not _cached(float_path, spec.key()):
            signature = (tf.TensorSpec(nhwc, tf.float32, name="input"),)
            tf2onnx.convert.from_keras(model, input_signature=signature, opset=17, output_path=str(float_path))
            _stamp(float_path, spec.key())
    except Exception as e:  # noqa: BLE001
        float_entry.onnx, float_entry.error = None, f"tf2onnx: {_one_line(e)}"
    try:
        if not _cached(int8_path, spec.key()):
            samples = calibration_samples(nhwc[1:])
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([s[None]] for s in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
            tfl_path.write_bytes(converter.convert())
            tf2onnx.convert.from_tflite(str(tfl_path), opset=17, output_path=str(int8_path))
            _stamp(int8_path, spec.key())
    except Exception as e:  # noqa: BLE001
        int8_entry.onnx, int8_entry.error = None, f"tflite/tf2onnx: {_one_line(e)}"
    if spec.quantize and float_entry.onnx:
        _add_qdq(entries, spec, float_path, nhwc, params)


def randomize_keras(model, samples):
    """As randomize, for Keras: He-normal kernels (Glorot's init shrinks the signal through ~30
    ReLU layers until the logits are ~1e-9), BatchNorm scale and shift near a trained network's,
    and BatchNorm statistics measured on `samples`, so that each normalizes its input as a trained
    network's does. (Fixed statistics let MobileNetV3Large's activations grow to +-260 and its logits
    to +-85: the final softmax is then one-hot, and its SQNR measures the one near-tie of 256 samples.)"""
    import numpy as np
    import tf_keras
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        depthwise = type(layer).__name__ == "DepthwiseConv2D"
        for w in layer.weights:
            name, shape = w.name.split("/")[-1].split(":")[0], tuple(w.shape)
            noise = rng.standard_normal(shape).astype(np.float32)
            if len(shape) >= 2:
                fan_in = int(np.prod(shape[:2] if depthwise else shape[:-1]))
                value = noise * np.float32(np.sqrt(2.0 / fan_in))
            elif name == "gamma":
                value = 1 + 0.1 * noise
            else:
                value = 0.1 * noise
            w.assign(value.astype(np.float32))
    # In layer order (a functional model's is topological): each measurement sees the earlier ones.
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            x = tf_keras.Model(model.inputs, layer.input)(samples, training=False).numpy().astype(np.float64)
            axes = tuple(i for i in range(x.ndim) if i != x.ndim - 1)
            layer.moving_mean.assign(x.mean(axis=axes).astype(np.float32))
            layer.moving_variance.assign(x.var(axis=axes).astype(np.float32))
    return model


def statistics_samples(shape) -> np.ndarray:
    """The samples BatchNorm statistics are measured on: neither the calibration nor the evaluation ones."""
    return calibration_samples(shape, seed=SEED + 2)


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="spec names to build (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args(argv)
    MODELS.mkdir(parents=True, exist_ok=True)
    previous = json.loads(MANIFEST.read_text()) if args.only and MANIFEST.exists() else []
    by_family: dict[str, list[Entry]] = {}
    for e in previous:
        by_family.setdefault(e["family"], []).append(Entry(**e))
    for spec in HF + KERAS:
        if args.only and spec.name not in args.only:
            continue
        print(f"building {spec.name}", flush=True)
        entries: list[Entry] = []
        try:
            (build_hf if spec in HF else build_keras)(spec, entries)
        except Exception as e:  # noqa: BLE001 - one broken builder must not stop the rest
            if args.verbose:
                traceback.print_exc()
            entries.append(Entry(spec.name, spec.name, "float", None, [], error=f"build: {_one_line(e)}"))
        for e in entries:
            if e.error:
                print(f"  {e.name}: {e.error}", flush=True)
        by_family[spec.name] = entries
        _write_manifest(by_family)          # after each spec: an interrupted build keeps its work
    _write_manifest(by_family)
    entries = [e for es in by_family.values() for e in es]
    print(f"{sum(e.onnx is not None for e in entries)}/{len(entries)} corpus files in {MODELS}")
    return 0


def _write_manifest(by_family: dict[str, list[Entry]]) -> None:
    """The entries in spec order (the table's order)."""
    entries = [e for spec in HF + KERAS for e in by_family.get(spec.name, [])]
    MANIFEST.write_text(json.dumps([asdict(e) for e in entries], indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
