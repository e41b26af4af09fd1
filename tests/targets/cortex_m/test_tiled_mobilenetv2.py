"""Issue 17's MobileNetV2-0.35 @144 (the corpus's keras_mobilenetv2_144: Keras application,
random weights, full-integer TFLite through tf2onnx --tflite) with extra_macs=0.10: a chain of
fused-tile regions brings its arena from 311,040 B layer by layer to within 69,632 B, with the
untiled build's outputs (and tflite-micro's) bit for bit; on the emulated M7 (slow) it runs
within 1.15x the untiled build's executed instructions. Skipped where the corpus is not built."""
from __future__ import annotations

import numpy as np
import pytest

import tfc
from benchmarks.corpus.specs import MODELS

ONNX = MODELS / "keras_mobilenetv2_144.int8.onnx"
TFLITE = MODELS / "keras_mobilenetv2_144.int8.tflite"
SHAPE = [1, 144, 144, 3]
ARENA_BOUND = 69_632
UNTILED_ARENA = 311_040

pytestmark = pytest.mark.skipif(not ONNX.exists() or not TFLITE.exists(), reason=(
    f"{ONNX.name} is not in the corpus cache ({MODELS}): "
    "python -m benchmarks.corpus build --only keras_mobilenetv2_144"))


@pytest.fixture(scope="module")
def builds():
    import onnx
    # tf2onnx names the input after Keras's layer counter, which depends on the build's order
    shapes = {onnx.load(str(ONNX)).graph.input[0].name: SHAPE}
    untiled = tfc.compile(ONNX, target="cortex-m7", input_shapes=shapes)
    tiled = tfc.compile(ONNX, target="cortex-m7", input_shapes=shapes, extra_macs=0.10)
    return untiled, tiled


def _samples(n: int) -> np.ndarray:
    return np.random.default_rng(17).integers(-128, 128, size=(n, 1, 144, 144, 3), dtype=np.int8)


def test_the_chain_of_regions_fits_the_bound_within_the_budget(builds):
    untiled, tiled = builds
    assert untiled.report.memory.arena_bytes == UNTILED_ARENA
    assert tiled.report.memory.arena_bytes <= ARENA_BOUND
    chosen = sorted((c for c in tiled.findings["tile"][1] if c.chosen), key=lambda c: c.first)
    assert len(chosen) >= 3 and [c.region for c in chosen] == [f"tile{k}" for k in range(len(chosen))]
    assert all(a.last < b.first for a, b in zip(chosen, chosen[1:]))
    total = sum(n.spec.macs(n) for n in tiled.ir.nodes)
    assert 0 <= sum(c.extra_macs for c in chosen) <= 0.10 * total


def test_tiled_matches_the_untiled_build_and_tflite_micro_on_the_host(builds):
    tflite_micro = pytest.importorskip("tflite_micro")
    untiled, tiled = builds
    x = _samples(2)
    got = tiled.run(x, raw=True, on="host")[0]
    assert np.array_equal(got, untiled.run(x, raw=True, on="host")[0]), "tiled vs untiled MobileNetV2 @144 (host C)"
    interp = tflite_micro.runtime.Interpreter.from_file(str(TFLITE))
    want = []
    for xi in x:
        interp.set_input(xi, 0)
        interp.invoke()
        want.append(interp.get_output(0))
    assert np.array_equal(got.reshape(len(x), -1), np.stack(want).reshape(len(x), -1)), "tiled vs tflite-micro"


@pytest.mark.slow
def test_on_the_m7_within_the_instruction_bound(builds, qemu_plugins, tmp_path):
    from tfc.bench import bench
    untiled, tiled = builds
    x = _samples(1)
    ours, theirs = bench(tiled, inputs=x, cache_dir=tmp_path).tfc, bench(untiled, inputs=x, cache_dir=tmp_path).tfc
    assert ours.outputs == theirs.outputs
    assert ours.sram.arena == tiled.report.memory.arena_bytes
    assert 1.0 < ours.instructions / theirs.instructions <= 1.15, f"{ours.instructions:,} vs {theirs.instructions:,}"
