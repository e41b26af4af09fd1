"""The generated project as files: deterministic bytes, warning-free C99, sanitizer-clean runs,
both build systems (output folders: test_project_dir.py), and every kernel template against the interpreter."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from compare import assert_exact
from synthetic import float_graph, int8_graph
from tfc import interp
from tfc.backends.cmsis import HostRunner, project, write_project
from tfc.backends.cmsis.emit import c_float, c_int
from tfc.errors import BuildError, TfcError, UnsupportedError

STRICT = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")


@pytest.fixture(scope="module")
def synthetic():
    return int8_graph()


def _random_inputs(graph, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=(n, *v.shape), dtype=np.int8) for v in graph.inputs]


def _interp_batch(graph, inputs):
    per_sample = [interp.run(graph, [x[i] for x in inputs]) for i in range(len(inputs[0]))]
    return [np.stack([s[k] for s in per_sample]) for k in range(len(graph.outputs))]


def test_every_kernel_template_equals_the_interpreter(synthetic, tmp_path):
    info = write_project(synthetic, tmp_path / "p", target="cortex-m7", name="syn")
    functions = {r.function for r in info.layers}
    # The 16-channel 1x1 runs on pre-widened weights, tfc_pointwise_wide_s8 (arm_convolve_1x1_s8_fast
    # shares the conv template and runs in tests/kernels/test_conv_wide_kernel.py: a 1x1 with an odd
    # C_OUT; tfc_convolve_wide_s8 there and in the MLPerf models' tests). The calibrated softmax runs
    # tfc_softmax_scaled_s8 (its own output grid); TFLite's fixed-grid one runs in the MLPerf tests.
    assert {"arm_convolve_s8", "arm_depthwise_conv_s8", "arm_max_pool_s8", "tfc_pointwise_wide_s8",
            "arm_elementwise_mul_s8", "tfc_requantize_s8", "tfc_transpose_s8",
            "arm_fully_connected_per_channel_s8", "tfc_softmax_scaled_s8"} <= functions
    inputs = _random_inputs(synthetic, 30)
    got = HostRunner(info, cache_dir=tmp_path / "cache", cflags=STRICT).run(inputs, raw=True)
    for k, (g, w) in enumerate(zip(got, _interp_batch(synthetic, inputs))):
        assert_exact(g, w, f"synthetic output {k} ({synthetic.outputs[k].name}): C vs interpreter")


def test_same_model_same_bytes(synthetic, tmp_path):
    a = write_project(synthetic, tmp_path / "first", target="cortex-m7", name="syn")
    b = write_project(int8_graph(), tmp_path / "elsewhere" / "second", target="cortex-m7", name="syn")
    assert a.files == b.files
    for rel in a.files:
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), f"{rel} differs between two compiles"
    for rel in a.files:
        text = (a.path / rel).read_text()
        for leak in (str(tmp_path), os.path.expanduser("~"), os.getcwd()):
            assert leak not in text, f"{rel} contains the path {leak}"


def test_strict_c99_without_warnings_via_make(synthetic, tmp_path):
    info = write_project(synthetic, tmp_path / "p", target="cortex-m7", name="syn")
    res = subprocess.run(["make", "-C", str(info.path), f"CFLAGS={' '.join(STRICT)}", f"BUILD={tmp_path / 'b'}"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr.lower(), res.stderr


def test_cmake_build_gives_the_same_outputs(synthetic, tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    info = write_project(synthetic, tmp_path / "p", target="cortex-m7", name="syn")
    build = tmp_path / "cmake-build"
    for cmd in (["cmake", "-S", str(info.path), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                ["cmake", "--build", str(build)]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout}\n{res.stderr}"
    inputs = _random_inputs(synthetic, 5, seed=3)
    data = np.concatenate([x.reshape(5, -1) for x in inputs], axis=1)
    (tmp_path / "in.bin").write_bytes(data.tobytes())
    res = subprocess.run([str(build / "syn_host"), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.int8).reshape(5, -1)
    want = np.concatenate([y.reshape(5, -1) for y in _interp_batch(synthetic, inputs)], axis=1)
    assert_exact(out, want, "CMake-built synthetic model vs interpreter")


def test_clean_under_address_and_undefined_sanitizers(synthetic, mlperf_onnx, tmp_path):
    from test_models import int8_model
    for name, graph in (("syn", synthetic), ("ww", int8_model(mlperf_onnx, "str_ww_ref_model"))):
        info = write_project(graph, tmp_path / name, target="cortex-m7", name=name)
        runner = HostRunner(info, cache_dir=tmp_path / "cache", sanitize=True)
        assert b"__asan" in runner.executable.read_bytes() and b"__ubsan" in runner.executable.read_bytes()
        inputs = _random_inputs(graph, 10, seed=1)
        got = runner.run(inputs, raw=True)  # a sanitizer report makes the program exit non-zero
        got = [got] if isinstance(got, np.ndarray) else got
        for k, (g, w) in enumerate(zip(got, _interp_batch(graph, inputs))):
            assert_exact(g, w, f"{name} output {k} under ASan/UBSan vs interpreter")


def test_failed_build_raises_and_caches_nothing(synthetic, tmp_path):
    info = write_project(synthetic, tmp_path / "p", target="cortex-m7", name="syn")
    with open(info.path / "model.c", "a") as f:
        f.write("\nthis is not C;\n")
    with pytest.raises(BuildError, match="building the generated project failed"):
        HostRunner(info, cache_dir=tmp_path / "cache")
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*")), "a failed build left files in the cache"


def test_float_graph_is_refused_with_a_hint(tmp_path):
    with pytest.raises(UnsupportedError, match="quantize-int8"):
        write_project(float_graph(), tmp_path / "p", target="cortex-m7", name="f")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("name", ["1abc", "a-b", "", "x y"])
def test_model_name_must_be_a_c_identifier(synthetic, tmp_path, name):
    with pytest.raises(TfcError, match="C identifier"):
        write_project(synthetic, tmp_path / "p", target="cortex-m7", name=name)


def test_c_literals():
    assert c_int(-(1 << 31)) == "(-2147483647 - 1)" and c_int(127) == "127"
    for v in (1.0, 0.00390625, 0.0037010426, 0.1, 3e-7, 12345.678):
        text = c_float(v)
        assert text.endswith("f") and np.float32(text[:-1]) == np.float32(v), text


@pytest.mark.parametrize("op", ["add", "mul"])
def test_constant_vector_repeats_over_rows_in_flash_once(op, tmp_path):
    """An int8 add/mul of tokens [T, C] and a constant [C] (onnxruntime's QDQ bias Add after a
    MatMul): the C calls the kernel once per row with the same C bytes, and equals the interpreter."""
    from tfc.ir.graph import Graph
    from tfc.ir.types import DType, QuantParams, TensorType
    g = Graph("rows")
    x = g.add_input("x", TensorType((1, 5, 12), DType.I8))
    x.quant = QuantParams((0.05,), (3,))
    vec = np.random.default_rng(0).integers(-128, 128, 12).astype(np.int8)
    c = g.add_constant("vec", vec, quant=QuantParams((0.02,), (-7,)))
    y = g.add_node(op, [x, c], output_types=[TensorType((1, 5, 12), DType.I8)]).output
    y.quant = QuantParams((0.06,), (1,))
    g.outputs.append(y)
    info = write_project(g, tmp_path / "p", target="cortex-m7", name="rows")
    weights = (tmp_path / "p" / "weights.c").read_text()
    assert "int8_t tfc_rows_l0_operand1[12]" in weights, weights
    inputs = _random_inputs(g, 7)
    got = HostRunner(info, cache_dir=tmp_path / "cache", cflags=STRICT).run(inputs, raw=True)
    want = _interp_batch(g, inputs)[0]
    assert_exact(np.asarray(got).reshape(want.shape), want, f"{op} of [1,5,12] and a constant [12]: C vs interpreter")
