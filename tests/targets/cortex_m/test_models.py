"""Compiled models on each emulated Cortex-M target (the `cortex_m_target` fixture: cortex-m7,
cortex-m4, cortex-m55): the ELF the project's `make TARGET=<target>` builds (-Wall -Wextra
-Werror, tfc's start-up code and linker script) gives byte-identical outputs to the host build
and to tflite-micro, a model that does not fit is refused naming the memory and the bytes, and
`tfc run` / CompiledModel.run use the emulated core for a Cortex-M target."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfc
from tfc.backends.cmsis import HostRunner, TargetRunner, check_fits, plan_project, write_project
from tfc.cli import main
from tfc.errors import TargetError
from tfc.ir.graph import Graph
from tfc.ir.types import DType, TensorType
from tfc.passes import PassContext, PassManager
from tfc.targets import Target

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backends" / "cmsis"))
from synthetic import int8_graph  # noqa: E402  (the backend tests' 2-in/2-out model)

FAST_MODEL = "kws_ref_model"   # conv, depthwise, 1x1, average pool, fully connected, softmax
MODELS = ["pretrainedResnet_quant", "kws_ref_model", "vww_96_int8", "ad01_int8", "str_ww_ref_model"]


def _diff(got: np.ndarray, want: np.ndarray, what: str) -> str:
    bad = np.argwhere(got != want)
    first = tuple(bad[0]) if len(bad) else None
    return (f"{what}: {len(bad)} of {got.size} values differ; first at {first}: "
            f"got {got[first] if first else '-'}, want {want[first] if first else '-'}")


def assert_same(got, want, what):
    got, want = np.asarray(got), np.asarray(want).reshape(np.shape(got))
    assert np.array_equal(got, want), _diff(got, want, what)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("builds")


def _golden(shared_data, model):
    data = np.load(shared_data / "mlperf_tiny" / "golden" / f"{model}.npz")
    return data["x"], data["y_tflm"]


def _batch(model, shape, shared_data):
    """The golden inputs, then 3 random ones: (all samples, how many are golden, golden outputs)."""
    x, y = _golden(shared_data, model)
    rand = np.random.default_rng(7).integers(-128, 128, size=(3, *shape), dtype=np.int8)
    return np.concatenate([x.reshape(-1, *shape), rand]), len(x), y


@pytest.fixture(scope="module")
def on_host(mlperf_onnx, shared_data, tmp_path_factory, cache):
    """on_host(model): the model compiled for the host target (gcc, plain C) run on its batch, once
    per model, shared by every Cortex-M target's test."""
    outputs = {}

    def run(model):
        if model not in outputs:
            info = tfc.compile(mlperf_onnx / f"{model}.onnx", target="host").save(
                tmp_path_factory.mktemp("host") / model)
            batch, _, _ = _batch(model, info.inputs[0].shape, shared_data)
            outputs[model] = HostRunner(info, cache_dir=cache).run(batch, raw=True)
        return outputs[model]
    return run


def _check_model(model, target, mlperf_onnx, shared_data, tmp_path, cache, on_host):
    """The model on the emulated `target`, profiled: equal to the host build and to tflite-micro,
    every layer counted once per inference. Returns the instructions per inference."""
    cm = tfc.compile(mlperf_onnx / f"{model}.onnx", target=target)
    info = cm.save(tmp_path / model)
    on_target = TargetRunner(info, profile=True, cache_dir=cache)
    batch, golden, y = _batch(model, info.inputs[0].shape, shared_data)
    got = on_target.run(batch, raw=True)          # one QEMU run, all samples
    assert on_target.last_run.stack_peak < on_target.elf.stack_size
    assert_same(got, on_host(model), f"{model}: emulated {target} vs host, {len(batch)} inputs")
    assert_same(got[:golden], y, f"{model}: emulated {target} vs tflite-micro on the golden inputs")
    regions = on_target.last_run.instructions.regions
    assert all(regions[layer.index].entered == len(batch) for layer in info.layers), \
        f"{model} on {target}: a layer was not counted once per inference: {sorted(regions)}"
    return regions[65535].instructions // regions[65535].entered


def test_fast_model_on_each_target_equals_host_and_tflite_micro(cortex_m_target, qemu_plugins, mlperf_onnx,
                                                                shared_data, tmp_path, cache, on_host,
                                                                record_property):
    per_inference = _check_model(FAST_MODEL, cortex_m_target, mlperf_onnx, shared_data, tmp_path, cache, on_host)
    record_property("instructions_per_inference", per_inference)


@pytest.mark.slow
@pytest.mark.parametrize("model", [m for m in MODELS if m != FAST_MODEL])
def test_every_mlperf_model_on_each_target_equals_host_and_tflite_micro(model, cortex_m_target, qemu_plugins,
                                                                        mlperf_onnx, shared_data, tmp_path, cache,
                                                                        on_host):
    _check_model(model, cortex_m_target, mlperf_onnx, shared_data, tmp_path, cache, on_host)


def test_synthetic_model_two_inputs_two_outputs_profiled(qemu_plugins, tmp_path, cache):
    info = write_project(int8_graph(), tmp_path / "syn", target="cortex-m7", name="syn")
    rng = np.random.default_rng(3)
    samples = [rng.integers(-128, 128, size=(5, *s.shape), dtype=np.int8) for s in info.inputs]
    runner = TargetRunner(info, profile=True, cache_dir=cache)
    got = runner.run_raw(samples)
    want = HostRunner(info, cache_dir=cache).run_raw(samples)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"synthetic output {i}: emulated Cortex-M7 (profiled build) vs host")
    regions = runner.last_run.instructions.regions
    assert {layer.index for layer in info.layers} <= set(regions), f"layers without a count: {sorted(regions)}"
    assert all(regions[layer.index].entered == 5 for layer in info.layers)
    assert regions[65535].entered == 5           # main_target.c's region around each inference


def test_only_a_profiled_build_carries_markers(toolchain, tmp_path):
    info = write_project(int8_graph(), tmp_path / "syn", target="cortex-m7", name="syn")
    flags = [*Target.from_string("cortex-m7").cflags, "-O2",
             "-Wall", "-Wextra", "-Werror", "-I.", "-Iruntime/include", "-Itarget"]
    markers = {}
    for profile in (False, True):
        obj = tmp_path / f"model_{profile}.o"
        subprocess.run(["arm-none-eabi-gcc", *flags, *(["-DTFC_PROFILE"] if profile else []), "-c", "model.c",
                        "-o", str(obj)], cwd=info.path, check=True)
        text = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True).stdout
        markers[profile] = text.count("\tdbg\t")
    assert markers == {False: 0, True: 2 * len(info.layers)}, f"DBG markers in model.o (profiled?: count): {markers}"


# ---- models that do not fit -------------------------------------------------------------------
def _int8(graph: Graph) -> Graph:
    rng = np.random.default_rng(0)
    calibration = {v.name: rng.standard_normal((2, *v.shape)).astype(np.float32) for v in graph.inputs}
    PassManager("canonicalize,quantize-int8").run(graph, PassContext(options={"calibration": calibration}))
    return graph


def _big_activation() -> Graph:
    """A 1x1 convolution on 200x200x8: input and output 320,000 bytes each, both live at once."""
    g = Graph("too_much_sram")
    x = g.add_input("x", TensorType((1, 200, 200, 8), DType.F32))
    w = g.add_constant("w", np.full((8, 1, 1, 8), 0.1, np.float32))
    g.outputs.append(g.add_node("conv2d", [x, w]).output)
    return _int8(g)


def _big_weights() -> Graph:
    """A 1100 -> 1000 fully connected layer: 1,100,000 bytes of int8 weights."""
    g = Graph("too_much_flash")
    x = g.add_input("x", TensorType((1, 1100), DType.F32))
    w = g.add_constant("w", np.random.default_rng(1).standard_normal((1000, 1100)).astype(np.float32))
    g.outputs.append(g.add_node("linear", [x, w]).output)
    return _int8(g)


def test_plan_over_flash_is_refused_naming_bytes():
    info = plan_project(_big_weights(), target="cortex-m7")
    with pytest.raises(TargetError) as e:
        check_fits(info, "cortex-m7", 8192)
    over = info.weight_bytes + info.quant_param_bytes - 1024 * 1024
    assert f"flash by {over} bytes" in e.value.message, e.value.message


def test_plan_over_sram_is_refused_before_building(tmp_path):
    info = write_project(_big_activation(), tmp_path / "big", target="cortex-m7", name="big")
    with pytest.raises(TargetError) as e:
        TargetRunner(info, cache_dir=tmp_path / "cache")
    over = info.arena_bytes + 8192 - 320 * 1024
    assert f"SRAM by {over} bytes" in e.value.message and "arena" in e.value.message, e.value.message
    assert not (tmp_path / "cache").exists(), "it built although the plan does not fit"


def test_link_time_overflow_names_region_and_bytes(toolchain, tmp_path):
    info = write_project(_big_activation(), tmp_path / "big", target="cortex-m7", name="big")
    with pytest.raises(TargetError) as e:
        TargetRunner(info, cache_dir=tmp_path / "cache", check_plan=False)
    assert "overflows SRAM by" in e.value.message and "bytes" in e.value.message, e.value.message


# ---- the public surface -----------------------------------------------------------------------
def test_compiled_model_and_tfc_run_use_the_emulated_core(qemu, mlperf_onnx, shared_data, tmp_path):
    x, y = _golden(shared_data, FAST_MODEL)
    cm = tfc.compile(mlperf_onnx / f"{FAST_MODEL}.onnx", target="cortex-m7")
    rand = np.random.default_rng(7).integers(-128, 128, size=(3, *x.shape[1:]), dtype=np.int8)
    batch = np.concatenate([x, rand])
    on_m7 = cm.run(batch, raw=True)[0]
    assert type(cm._runners["target"]).__name__ == "TargetRunner"
    assert_same(on_m7[:len(x)], y, "CompiledModel.run on the emulated M7 vs tflite-micro (golden inputs)")
    assert_same(on_m7, cm.run(batch, raw=True, on="host")[0], "CompiledModel.run: emulated M7 vs host, golden + random")
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    assert main(["run", str(mlperf_onnx / f"{FAST_MODEL}.onnx"), "--input", str(tmp_path / "x.npy"), "--raw",
                 "--output", str(out)]) == 0
    assert_same(np.load(out), y, "tfc run --target cortex-m7 (default) vs tflite-micro")
