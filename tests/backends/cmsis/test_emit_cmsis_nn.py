"""The generated projects linked against Arm's CMSIS-NN instead of tfc's kernels (make
CMSIS_NN_ROOT=...): same outputs as the interpreter and tflite-micro. Runs when the environment
variable CMSIS_NN_ROOT names a CMSIS-NN source tree (checked with commit 99f736a6)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from compare import assert_exact
from synthetic import int8_graph
from test_emit import _interp_batch, _random_inputs
from test_models import MODELS, int8_model
from tfc.backends.cmsis import write_project

ROOT = os.environ.get("CMSIS_NN_ROOT")
pytestmark = pytest.mark.skipif(not ROOT or not (Path(ROOT) / "Include" / "arm_nnfunctions.h").is_file(),
                                reason="set CMSIS_NN_ROOT to a CMSIS-NN source tree to run these")


def _build_and_run(info, tmp_path, inputs):
    build = tmp_path / "build"
    res = subprocess.run(["make", "-s", "-C", str(info.path), f"BUILD={build}", f"CMSIS_NN_ROOT={ROOT}",
                          "CFLAGS=-O2 -std=c99"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    n = len(inputs[0])
    (tmp_path / "in.bin").write_bytes(np.concatenate([x.reshape(n, -1) for x in inputs], axis=1).tobytes())
    res = subprocess.run([str(build / f"{info.name}_host"), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(n, -1)


@pytest.mark.parametrize("model", MODELS)
def test_mlperf_models_with_arm_cmsis_nn(model, mlperf_onnx, shared_data, tmp_path):
    info = write_project(int8_model(mlperf_onnx, model), tmp_path / "p", target="cortex-m7", name="m")
    data = np.load(shared_data / "mlperf_tiny" / "golden" / f"{model}.npz")
    x, y = data["x"], data["y_tflm"]
    got = _build_and_run(info, tmp_path, [x.reshape(len(x), *info.inputs[0].shape)])
    assert_exact(got, y.reshape(got.shape), f"{model} with Arm's CMSIS-NN vs tflite-micro")


def test_every_kernel_template_with_arm_cmsis_nn(tmp_path):
    graph = int8_graph()
    info = write_project(graph, tmp_path / "p", target="cortex-m7", name="syn")
    inputs = _random_inputs(graph, 20, seed=4)
    got = _build_and_run(info, tmp_path, inputs)
    want = np.concatenate([y.reshape(20, -1) for y in _interp_batch(graph, inputs)], axis=1)
    assert_exact(got, want, "synthetic model with Arm's CMSIS-NN vs interpreter")


def test_attention_one_head_at_a_time_with_arm_cmsis_nn(tmp_path):
    """tfc_attention_s8 calls Arm's arm_batch_matmul_s8 per head (batch 1, offset pointers)."""
    from test_attention_heads import compile_block
    cm, ints = compile_block(3, 20, 12, 5, "always", target="cortex-m7")
    assert any(n.op == "attention" for n in cm.ir.nodes), cm.ir
    info = write_project(cm.ir, tmp_path / "p", target="cortex-m7", name="att")
    got = _build_and_run(info, tmp_path, ints)
    want = np.concatenate([y.reshape(len(ints[0]), -1) for y in _interp_batch(cm.ir, ints)], axis=1)
    assert_exact(got, want, "attention (one head at a time) with Arm's CMSIS-NN vs interpreter")
