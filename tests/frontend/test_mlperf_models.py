"""Every MLPerf Tiny ONNX model imports, verifies, round-trips through the text form, and runs in
tfc.interp like onnxruntime: float models within 1e-4 relative, int8 QDQ models within a few LSB
(the interpreter's QDQ semantics are onnxruntime's, so they agree almost everywhere)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.models.compare import assert_close
from tfc import interp
from tfc.frontend.onnx import import_onnx
from tfc.ir.text import parse_graph, print_graph
from tfc.ir.verify import verify

ort = pytest.importorskip("onnxruntime")

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mlperf_tiny"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/mlperf_tiny")
MODELS = sorted(p.name for p in (DATA / "onnx").glob("*.onnx"))
FLOAT_MODELS = ["pretrainedResnet.onnx", "vww_96_float.onnx", "ad01_fp32.onnx",
                "kws_ref_model_fp32_from_savedmodel.onnx"]
INT8_MODELS = ["pretrainedResnet_quant.onnx", "kws_ref_model.onnx", "vww_96_int8.onnx",
               "ad01_int8.onnx", "str_ww_ref_model.onnx"]
FLOAT_RTOL = 1e-4
# onnxruntime and the interpreter both round QDQ in float; they may still split a tie differently.
INT8_MAX_LSB = 2
RANDOM_SEEDS = (0, 1, 2)

pytestmark = pytest.mark.skipif(not MODELS, reason=f"no MLPerf Tiny models under {DATA}")


def _golden(name: str):
    path = DATA / "golden" / name.replace(".onnx", ".npz")
    return np.load(path) if path.exists() else None


def _random_input(value, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if value.dtype.is_float:
        return rng.standard_normal(value.shape).astype(np.float32)
    return rng.integers(-128, 128, value.shape).astype(value.dtype.numpy)


def _inputs_and_expected(name: str, graph):
    """(input, onnxruntime output) pairs: the golden file's, then random inputs."""
    session = ort.InferenceSession(str(DATA / "onnx" / name), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    pairs = []
    golden = _golden(name)
    if golden is not None:
        pairs += [(golden["x"][i:i + 1], golden["y_ort"][i:i + 1]) for i in range(len(golden["x"]))]
    for seed in RANDOM_SEEDS:
        x = _random_input(graph.inputs[0], seed)
        pairs.append((x, session.run(None, {input_name: x})[0]))
    return pairs


@pytest.fixture(scope="module", params=MODELS)
def imported(request):
    return request.param, import_onnx(DATA / "onnx" / request.param)


def test_imports_and_verifies(imported):
    name, graph = imported
    verify(graph)
    assert len(graph.inputs) == 1 and len(graph.outputs) == 1, f"{name}: {graph.inputs} -> {graph.outputs}"


def test_text_form_round_trips(imported):
    name, graph = imported
    text = print_graph(graph)
    again = print_graph(parse_graph(text))
    if again != text:
        diff = next(i for i, (a, b) in enumerate(zip(text.splitlines(), again.splitlines())) if a != b)
        pytest.fail(f"{name}: print(parse(print(g))) differs at line {diff + 1}:\n"
                    f"  {text.splitlines()[diff][:200]}\n  {again.splitlines()[diff][:200]}")


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_model_matches_onnxruntime(name):
    graph = import_onnx(DATA / "onnx" / name)
    for i, (x, want) in enumerate(_inputs_and_expected(name, graph)):
        got = interp.run(graph, [x])[0]
        assert_close(got, want.reshape(got.shape), FLOAT_RTOL, f"{name} input #{i}")


@pytest.mark.parametrize("name", INT8_MODELS)
def test_int8_model_matches_onnxruntime(name):
    graph = import_onnx(DATA / "onnx" / name)
    worst = 0
    for i, (x, want) in enumerate(_inputs_and_expected(name, graph)):
        got = interp.run(graph, [x])[0]
        assert got.dtype == want.dtype and got.shape == want.reshape(got.shape).shape
        lsb = np.abs(got.astype(np.int64) - want.reshape(got.shape).astype(np.int64))
        worst = max(worst, int(lsb.max()))
        assert lsb.max() <= INT8_MAX_LSB, (f"{name} input #{i}: {int((lsb > 0).sum())} outputs differ, "
                                           f"max {int(lsb.max())} LSB at {np.unravel_index(lsb.argmax(), lsb.shape)}")
    print(f"\n{name}: max |tfc.interp - onnxruntime| = {worst} LSB")


def test_qdq_weights_stay_int8_with_per_channel_params():
    graph = import_onnx(DATA / "onnx" / "kws_ref_model.onnx")
    convs = graph.nodes_of("conv2d")
    assert convs, "no conv2d imported"
    for conv in convs:
        w = conv.inputs[1]
        assert w.producer is not None and w.producer.op == "dequantize", f"{conv.name}: weight {w}"
        const = w.producer.inputs[0]
        assert const.is_constant and const.dtype.value == "i8", f"{conv.name}: weight constant {const}"
        assert const.quant.axis == 0 and len(const.quant.scale) == const.shape[0], \
            f"{conv.name}: per-channel params {const.quant} do not follow output channels of {const.shape}"
    assert graph.inputs[0].quant is not None, "the int8 input should carry its QuantParams"
