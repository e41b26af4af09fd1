"""plan-memory on real models: the arena (scratch included) against tflite-micro's, the checker,
the timeline in the dump, the fit error; and outputs unchanged by fusion and planning."""
import numpy as np
import pytest

import tfc
from tfc.errors import TargetError
from tfc.ir.graph import Graph
from tfc.ir.types import DType, QuantParams, TensorType
from tfc.memory import check_plan

# tflite-micro's non-persistent arena for each model (../shared/data/mlperf_tiny/README.md).
TFLM_ARENA = {"pretrainedResnet_quant": 49152, "kws_ref_model": 16000, "vww_96_int8": 73728,
              "ad01_int8": 768, "str_ww_ref_model": 6656}


@pytest.mark.parametrize("model", sorted(TFLM_ARENA))
def test_arena_no_larger_than_tflite_micro_and_outputs_bit_exact(mlperf_onnx, shared_data, model, tmp_path):
    cm = tfc.compile(mlperf_onnx / f"{model}.onnx", target="cortex-m7", dump_ir=tmp_path)
    arena = cm.report.sram_bytes
    print(f"{model}: tfc arena {arena} B (scratch included), tflite-micro {TFLM_ARENA[model]} B, "
          f"ratio {arena / TFLM_ARENA[model]:.3f}")
    assert arena <= TFLM_ARENA[model], f"{model}: tfc needs {arena} B, tflite-micro {TFLM_ARENA[model]} B"
    if model == "vww_96_int8":
        assert arena < TFLM_ARENA[model]
    dump = (tmp_path / f"{len(cm.pipeline.split(',')):02d}-plan-memory.tfcir").read_text()
    assert "# arena " in dump and "live bytes" in dump, "the dump carries the plan's timeline"
    golden = np.load(shared_data / "mlperf_tiny" / "golden" / f"{model}.npz")
    y = cm.run(golden["x"], raw=True)[0]
    want = golden["y_tflm"].reshape(len(golden["x"]), -1).astype(int)
    got = np.asarray(y).reshape(len(golden["x"]), -1).astype(int)
    assert np.array_equal(got, want), f"{model}: max diff {np.abs(got - want).max()} LSB vs tflite-micro"


def _wide_model(channels: int) -> Graph:
    g = Graph("wide")
    q = QuantParams(0.05, -3)
    x = g.add_input("x", TensorType((1, 128, 128, channels), DType.I8), q)
    w = g.add_constant("w", np.ones((channels, 1, 1, channels), np.int8), quant=QuantParams((0.01,) * channels, (0,), 0))
    n = g.add_node("conv2d", [x, w], name="big_conv")
    n.output.quant = q
    g.outputs = [n.output]
    return g


def test_model_too_big_for_sram_names_the_bytes_and_the_peak_layer():
    with pytest.raises(TargetError) as err:
        tfc.compile(_wide_model(16), target="cortex-m7")
    msg = str(err.value)
    assert "SRAM" in msg and "over by" in msg and "big_conv" in msg, msg
    # input and output of 128x128x16 int8 live together; the budget is 320 KiB
    assert f"over by {2 * 128 * 128 * 16 - 320 * 1024:,} B" in msg, msg


def test_plan_of_compiled_model_passes_the_checker(mlperf_onnx):
    from tfc.backends.cmsis.project import lower_for
    cm = tfc.compile(mlperf_onnx / "pretrainedResnet_quant.onnx", target="cortex-m7")
    model, _ = lower_for(cm.ir, target="cortex-m7", name="m")
    check_plan(model.allocation.buffers, model.plan)
    assert model.lower_bound <= model.arena_bytes
