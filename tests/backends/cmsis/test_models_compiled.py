"""The backend through the public surface: tfc.compile's default pipeline, CompiledModel.run /
save and the report, and the `tfc run` / `tfc compile -o` commands."""
from __future__ import annotations

import numpy as np
import pytest

import tfc
from compare import assert_exact
from tfc.cli import main


@pytest.fixture(scope="module")
def resnet(mlperf_onnx):
    return tfc.compile(mlperf_onnx / "pretrainedResnet_quant.onnx", target="cortex-m7")


@pytest.fixture(scope="module")
def golden(shared_data):
    data = np.load(shared_data / "mlperf_tiny" / "golden" / "pretrainedResnet_quant.npz")
    return data["x"], data["y_tflm"]


def test_default_pipeline_runs_bit_exact(resnet, golden):
    assert "quantize-int8" in resnet.pipeline.split(",") and resnet.pipeline.endswith("plan-memory")
    x, y = golden
    assert_exact(resnet.run(x, raw=True)[0], y, "CompiledModel.run(raw=True) vs tflite-micro")
    # The model's ONNX input and output are int8 (a TFLite conversion): int8 in, int8 out, as
    # onnxruntime runs it; one sample in, one sample out.
    (one,) = resnet.run({resnet.ir.inputs[0].name: x[:1]})       # the model's own shape [1, 32, 32, 3]
    assert one.dtype == np.int8 and one.shape == tuple(resnet.ir.outputs[0].shape) == y[:1].shape
    assert_exact(one, y[:1], "CompiledModel.run(int8 sample) vs tflite-micro")


def test_report_has_flash_sram_and_layers(resnet):
    r = resnet.report
    m = r.memory
    assert m is not None, r.memory_note
    assert r.sram_bytes == m.arena_bytes >= m.arena_lower_bound > 0
    assert r.flash_bytes == m.weight_bytes + m.quant_param_bytes
    assert len(m.layers) == len(resnet.ir.nodes)
    text = str(r)
    assert f"{m.arena_bytes:,} B arena" in text and "tfc_convolve_wide_s8" in text


def test_report_says_why_a_float_graph_has_no_plan(mlperf_onnx):
    cm = tfc.compile(mlperf_onnx / "pretrainedResnet_quant.onnx", pipeline="canonicalize")
    assert cm.report.memory is None and "quantize-int8" in cm.report.memory_note
    assert "memory     not planned" in str(cm.report)


def test_save_writes_the_project(resnet, tmp_path):
    info = resnet.save(tmp_path / "out")
    assert info.name == "pretrainedresnet_quant"
    assert (tmp_path / "out" / "model.h").read_text().count("int tfc_pretrainedresnet_quant_run(") == 1


def test_cli_run_and_compile(mlperf_onnx, golden, tmp_path, capsys):
    x, y = golden
    np.save(tmp_path / "x.npy", x)
    model = str(mlperf_onnx / "pretrainedResnet_quant.onnx")
    assert main(["run", model, "--input", str(tmp_path / "x.npy"), "--raw", "--output", str(tmp_path / "y.npy")]) == 0
    assert_exact(np.load(tmp_path / "y.npy"), y, "tfc run --raw vs tflite-micro")
    assert main(["compile", model, "-o", str(tmp_path / "proj"), "--name", "resnet"]) == 0
    out = capsys.readouterr().out
    assert "C project:" in out and (tmp_path / "proj" / "model.c").is_file()
    assert main(["run", model, "--input", str(tmp_path / "missing.npy")]) == 2
    assert "cannot read the input array" in capsys.readouterr().err
