"""`tfc bench` on the emulated Cortex-M7: repeatable instruction counts per layer, flash and SRAM
that agree with tfc's own plan, the table and the JSON; CMSIS-NN beside tfc when a checkout is
given (CMSIS_NN_ROOT)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import tfc
from tfc.bench import Bench, bench, bench_json, format_bench, parse_map
from tfc.cli import main
from tfc.targets.cortex_m.tools import INSTALL_SCRIPT, missing_tools

MODEL = "kws_ref_model"


@pytest.fixture(scope="module")
def emulator():
    missing = missing_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm", "gcc")
    if missing:
        pytest.skip(f"missing {', '.join(missing)}; run {INSTALL_SCRIPT}")


@pytest.fixture(scope="module")
def compiled(mlperf_onnx):
    return tfc.compile(mlperf_onnx / f"{MODEL}.onnx", target="cortex-m7")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-builds")


def test_instruction_counts_are_identical_on_two_runs(emulator, compiled, cache):
    first = bench(compiled, samples=2, cache_dir=cache).tfc
    second = bench(compiled, samples=2, cache_dir=cache).tfc
    differ = [(a.index, a.instructions, b.instructions) for a, b in zip(first.layers, second.layers)
              if a.instructions != b.instructions]
    assert not differ, f"per-layer counts differ between runs (layer, first, second): {differ}"
    assert first.instructions == second.instructions
    layers = sum(layer.instructions for layer in first.layers)
    # The inference region holds the layers plus the glue between calls (a few per layer).
    assert layers <= first.instructions <= layers + 64 * len(first.layers), (layers, first.instructions)
    assert first.outputs == second.outputs


def test_memory_agrees_with_the_plan(emulator, compiled, cache):
    r = bench(compiled, cache_dir=cache).tfc
    plan = compiled.report.memory
    assert r.sram.arena == plan.arena_bytes, f"arena in the ELF {r.sram.arena} != planned {plan.arena_bytes}"
    assert r.flash.weights == plan.weight_bytes, f"weights.c in the ELF {r.flash.weights} != planned {plan.weight_bytes}"
    assert r.flash.quant_params >= plan.quant_param_bytes
    parts = (r.flash.weights + r.flash.quant_params + r.flash.model_code + r.flash.kernel_code
             + r.flash.harness + r.flash.data_init)
    # The linked image also holds the alignment gaps between sections (16-byte aligned arrays).
    assert r.flash.total - 1024 <= parts <= r.flash.total, f"flash parts {parts} vs linked image {r.flash.total}"
    assert 0 < r.sram.stack_peak < r.sram.stack_reserved
    assert r.sram.total_static >= r.sram.arena + r.sram.other_static + r.sram.stack_reserved


def test_cli_prints_the_table_and_writes_json(emulator, mlperf_onnx, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CMSIS_NN_ROOT", raising=False)
    out = tmp_path / "bench.json"
    assert main(["bench", str(mlperf_onnx / f"{MODEL}.onnx"), "--target", "cortex-m7", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("tfc_depthwise_3x3_wide_s8", "tfc_softmax_s8", "total", "weights (weights.c)", "stack peak"):
        assert needle in text, f"{needle!r} missing from the table:\n{text}"
    data = json.loads(out.read_text())
    assert data["tfc"]["instructions"] > 0 and len(data["tfc"]["layers"]) == 13 and "cmsis_nn" not in data
    assert set(data["tfc"]["flash"]) >= {"weights", "quant_params", "kernel_code", "total"}


def test_macs_and_instructions_per_mac(emulator, compiled, cache):
    r = bench(compiled, cache_dir=cache).tfc
    # DS-CNN by hand: 10x4/2 conv of 1 channel to 25x5x64, then four (3x3 depthwise, 64x64
    # pointwise) pairs on 25x5, then a 64 -> 12 classifier.
    want = {0: 25 * 5 * 64 * 10 * 4, 11: 64 * 12}
    want.update({i: 25 * 5 * 64 * 9 for i in (1, 3, 5, 7)})
    want.update({i: 25 * 5 * 64 * 64 for i in (2, 4, 6, 8)})
    got = {layer.index: layer.macs for layer in r.layers if layer.macs}
    assert got == want, f"MACs per layer {got} != {want}"
    assert r.macs == sum(want.values())
    assert r.layers[1].per_mac == r.layers[1].instructions / (25 * 5 * 64 * 9)
    assert r.per_mac == r.instructions / r.macs
    text = format_bench(Bench(r))
    assert "instr/MAC" in text and f"{r.macs:,}" in text and f"{r.per_mac:.2f}" in text, text
    assert bench_json(Bench(r))["tfc"]["macs"] == r.macs


def test_parse_map_reads_split_and_single_line_entries():
    text = """Discarded input sections
 .text          0x00000000        0x0 /b/obj/x.o
Linker script and memory map
 .text.arm_convolve_s8
                0x00000400      0x2a4 /tmp/b/cortex-m7/obj/runtime/src/convolve_s8.o
                0x00000400                arm_convolve_s8
 .rodata        0x00000700       0x10 /usr/lib/libc_nano.a(libc_a-memcpy.o)
 *fill*         0x00000710        0x4
 .bss.arena     0x20000000     0x3e80 /tmp/b/cortex-m7/obj/model.o
"""
    got = [(p.section, p.address, p.size, p.origin) for p in parse_map(text)]
    assert got == [(".text.arm_convolve_s8", 0x400, 0x2a4, "runtime/src/convolve_s8.o"),
                   (".rodata", 0x700, 0x10, "libc_nano.a(libc_a-memcpy.o)"),
                   (".bss.arena", 0x20000000, 0x3e80, "model.o")], got


@pytest.mark.slow
def test_cmsis_nn_build_matches_and_is_compared(emulator, compiled, cache):
    root = os.environ.get("CMSIS_NN_ROOT")
    if not root or not Path(root, "Include", "arm_nnfunctions.h").is_file():
        pytest.skip("set CMSIS_NN_ROOT to a CMSIS-NN checkout to compare with Arm's kernels")
    b = bench(compiled, cmsis_nn_root=root, cache_dir=cache)
    assert b.outputs_agree, "tfc's kernels and CMSIS-NN give different outputs on the same input"
    assert [layer.function for layer in b.cmsis_nn.layers] == [layer.function for layer in b.tfc.layers]
    assert "CMSIS-NN" in format_bench(b) and bench_json(b)["outputs_identical"] is True


def _dummy_cmsis_nn(root: Path) -> Path:
    """A folder shaped like a CMSIS-NN checkout whose only kernel is broken C: a build that
    links it fails, so a build that succeeds did not take it."""
    (root / "Include").mkdir(parents=True)
    (root / "Include" / "arm_nnfunctions.h").write_text("#error this dummy CMSIS-NN must not be used\n")
    (root / "Source").mkdir()
    (root / "Source" / "arm_dummy_s8.c").write_text("#error this dummy CMSIS-NN must not be used\n")
    return root


def test_cmsis_nn_root_in_the_environment_is_ignored_unless_asked(emulator, mlperf_onnx, tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setenv("CMSIS_NN_ROOT", str(_dummy_cmsis_nn(tmp_path / "cmsis-nn")))
    monkeypatch.setenv("CFLAGS", "-DTFC_NOT_A_REAL_FLAG -O0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    assert main(["bench", str(mlperf_onnx / f"{MODEL}.onnx"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "CMSIS-NN" not in text.split("flash (bytes)")[1].splitlines()[0], text
    data = json.loads(out.read_text())
    assert data["tfc"]["kernels"] == "tfc" and "cmsis_nn" not in data
    # The same counts as a build from an environment without the variables.
    monkeypatch.delenv("CMSIS_NN_ROOT")
    monkeypatch.delenv("CFLAGS")
    clean = bench(tfc.compile(mlperf_onnx / f"{MODEL}.onnx", target="cortex-m7"), cache_dir=tmp_path / "clean").tfc
    assert data["tfc"]["instructions"] == clean.instructions


def test_cmsis_nn_without_a_path_takes_the_environment_and_says_when_unset(mlperf_onnx, capsys, monkeypatch):
    monkeypatch.delenv("CMSIS_NN_ROOT", raising=False)
    assert main(["bench", str(mlperf_onnx / f"{MODEL}.onnx"), "--cmsis-nn"]) == 2
    assert "--cmsis-nn without a path needs CMSIS_NN_ROOT" in capsys.readouterr().err


def test_bench_prints_each_sparse_layers_choice_why_and_the_other_forms(emulator, cache):
    from benchmarks.sparse_models import qdq_model
    cm = tfc.compile(qdq_model("A", 0.95), target="cortex-m7")
    b = bench(cm, cache_dir=cache)
    text = format_bench(b)
    fc = next(layer for layer in b.tfc.layers if layer.op == "linear")
    assert f"fc: b4 brle-unrolled, measured {fc.instructions:,} instructions: the fastest form" in text, text
    for form in ("dense", "b4 brle ", "b1 brle-unrolled", "b16 brle"):
        assert f"  {form}" in text, f"{form!r} missing from:\n{text}"
    data = bench_json(b)
    assert data["sparse_layers"][0]["chosen"] == "b4 brle-unrolled"
    assert {e["form"] for e in data["sparse_layers"][0]["estimates"]} >= {"dense", "b4 brle", "b4 brle-unrolled"}
