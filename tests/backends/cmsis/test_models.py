"""The MLPerf Tiny int8 models compiled to C, built with gcc and run on the host, against
tflite-micro's outputs (0 LSB) and the int8 interpreter (0 LSB)."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from compare import assert_exact
from tfc import interp
from tfc.backends.cmsis import HostRunner, write_project
from tfc.frontend.onnx import import_onnx
from tfc.kernels import select
from tfc.passes import run_pipeline

MODELS = ["pretrainedResnet_quant", "kws_ref_model", "vww_96_int8", "ad01_int8", "str_ww_ref_model"]
WERROR = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")


def int8_model(mlperf_onnx, model: str):
    graph = import_onnx(mlperf_onnx / f"{model}.onnx")
    run_pipeline(graph, "canonicalize,quantize-int8")
    return graph


@pytest.fixture(scope="module", params=MODELS)
def built(request, mlperf_onnx, tmp_path_factory):
    """(model name, int8 graph, ProjectInfo, HostRunner) for cortex-m7, built once per module."""
    model = request.param
    graph = int8_model(mlperf_onnx, model)
    out = tmp_path_factory.mktemp(model)
    info = write_project(graph, out / "project", target="cortex-m7", name=model.lower())
    return model, graph, info, HostRunner(info, cache_dir=out / "cache", cflags=WERROR)


def _golden(shared_data, model):
    data = np.load(shared_data / "mlperf_tiny" / "golden" / f"{model}.npz")
    return data["x"], data["y_tflm"]


def test_reproduces_tflite_micro_goldens(built, shared_data):
    model, graph, info, runner = built
    x, y = _golden(shared_data, model)
    got = runner.run(x, raw=True)
    assert_exact(got, y.reshape(got.shape), f"{model}: generated C vs tflite-micro on {len(x)} stored inputs")


def test_equals_interpreter_on_100_random_inputs(built):
    model, graph, info, runner = built
    shape = graph.inputs[0].shape
    x = np.random.default_rng(2024).integers(-128, 128, size=(100, *shape), dtype=np.int8)
    got = runner.run(x, raw=True)  # one process, all 100 samples
    want = np.stack([interp.run(graph, [xi])[0] for xi in x])
    assert_exact(got, want, f"{model}: generated C vs int8 interpreter on 100 random inputs")


def test_report_matches_the_project(built):
    model, graph, info, runner = built
    assert len(info.layers) == len(graph.nodes)
    assert info.arena_lower_bound <= info.arena_bytes
    # Each softmax also puts its 256-entry uint32 exp() table (tfc_softmax_s8) in weights.c.
    tables = 256 * 4 * sum(n.op == "softmax" for n in graph.nodes)
    # Layers on pre-widened weights (tfc_fully_connected_wide_s8, tfc_convolve_wide_s8,
    # tfc_depthwise_3x3_wide_s8, tfc_depthwise_kx1_wide_s8) store more; some kernels' channel records
    # also hold the multipliers and shifts model.c would.
    widened = sum(select(n).extra_flash_bytes(n)
                  + (8 * n.inputs[1].shape[0] if select(n).requantization_in_records else 0) for n in graph.nodes)
    assert info.weight_bytes == sum(v.type.nbytes for v in graph.constants.values()) + tables + widened, \
        f"{model}: weights.c should hold every constant once (widened ones as int16), plus the softmax tables"
    model_h = (info.path / "model.h").read_text()
    assert f"#define TFC_{model.upper()}_ARENA_BYTES {info.arena_bytes}\n" in model_h
    assert info.scratch_bytes == max(r.scratch_bytes for r in info.layers)


def test_float_run_quantizes_and_dequantizes_with_the_model_params(built):
    model, graph, info, runner = built
    spec_in, spec_out = info.inputs[0], info.outputs[0]
    q = np.random.default_rng(7).integers(-128, 128, size=(3, *spec_in.shape), dtype=np.int8)
    real = ((q.astype(np.float32) - spec_in.zero_point) * np.float32(spec_in.scale)).astype(np.float32)
    got = runner.run(real)
    raw = runner.run(q, raw=True)
    want = (raw.astype(np.float32) - spec_out.zero_point) * np.float32(spec_out.scale)
    np.testing.assert_array_equal(got, want, err_msg=f"{model}: float path != dequantized raw path")


def test_wake_word_real_samples(mlperf_onnx, shared_data, tmp_path):
    """The 45 labelled spectrograms: the C classifies exactly as the interpreter, and gets the
    41/45 the data README reports for tflite-micro."""
    data = np.load(shared_data / "mlperf_tiny" / "data" / "str_ww_calibration_samples.npz")
    specs, labels = data["specs"], data["labels"].astype(int)
    graph = int8_model(mlperf_onnx, "str_ww_ref_model")
    q = graph.inputs[0].quant
    assert abs(q.scale[0] - 0.00370104) < 1e-8 and q.zero_point[0] == -128, "README's input params changed"
    x = np.clip(np.round(specs / q.scale[0]) + q.zero_point[0], -128, 127).astype(np.int8)
    runner = HostRunner(write_project(graph, tmp_path / "p", target="cortex-m7", name="ww"),
                        cache_dir=tmp_path / "cache")
    got = runner.run(x, raw=True)
    want = np.stack([interp.run(graph, [xi[None]])[0][0] for xi in x])
    assert_exact(got, want, "str_ww: generated C vs interpreter on the 45 real samples")
    correct = int((got.argmax(axis=1) == labels).sum())
    assert correct == 41, f"str_ww: {correct}/45 correct, tflite-micro gets 41/45"


def test_host_target_runs_the_plain_c_kernels(mlperf_onnx, shared_data, tmp_path):
    graph = int8_model(mlperf_onnx, "kws_ref_model")
    info = write_project(graph, tmp_path / "p", target="host", name="kws")
    assert info.build == "portable"
    assert "\nEMULATE_DSP = 0\n" in (info.path / "Makefile").read_text()
    # Its arena has no room for the DSP kernels' scratch: model.c refuses a DSP build.
    res = subprocess.run(["gcc", "-fsyntax-only", "-DTFC_EMULATE_DSP", "-I.", "-Iruntime/include", "model.c"],
                         cwd=info.path, capture_output=True, text=True)
    assert res.returncode != 0 and "compiled for the host's plain-C kernels" in res.stderr, res.stderr
    x, y = _golden(shared_data, "kws_ref_model")
    got = HostRunner(info, cache_dir=tmp_path / "cache", cflags=WERROR).run(x, raw=True)
    assert_exact(got, y.reshape(got.shape), "kws for target host (portable kernels) vs tflite-micro")
