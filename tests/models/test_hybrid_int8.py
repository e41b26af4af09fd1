"""The hybrid end to end in int8: the PyTorch exports (dynamo opset 18/20, TorchScript opset 17;
nn.MultiheadAttention and hand-written attention) compile for cortex-m7 after calibration on 64
samples and run as generated C on the host. Over 256 inputs against onnxruntime's float model:
SQNR >= 25 dB, the same top-1 class on >= 98 %, and at least the SQNR of onnxruntime's own
quantize_static (QDQ, per channel, MinMax) from the same samples minus 0.5 dB (issue 14's rule); the C equals tfc's int8
interpreter; flash and SRAM fit the STM32F746.

The random-weight hybrid's logits are not flat (std ~0.8, mean top-1/top-2 margin ~0.7 over
256 inputs), so top-1 agreement is a meaningful check as it stands.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.torch
pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e .[export])")
ort = pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

import tfc  # noqa: E402
from tests.models.export import CONFIGS, ExportConfig, cached_export, export_cache_dir  # noqa: E402
from tests.models.hybrid import INPUT_SHAPE  # noqa: E402
from tfc import interp  # noqa: E402
from tfc.ir.ops.quant import dequantize_array, quantize_array  # noqa: E402

CALIBRATION, EVALUATION = 64, 256
MIN_SQNR_DB, MIN_TOP1 = 25.0, 0.98
# issue 14's rule for PTQ against onnxruntime's quantize_static; the calibrated attention-probability
# grid (which gains DeiT 0.39 dB) puts dynamo18-mha 0.14 dB under onnxruntime (39.15 vs 39.29).
ORT_MARGIN_DB = 0.5


def sqnr_db(reference: np.ndarray, quantized: np.ndarray) -> float:
    noise = ((reference - quantized) ** 2).sum()
    return float(10 * np.log10((reference ** 2).sum() / noise)) if noise else float("inf")


def samples(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *INPUT_SHAPE)).astype(np.float32)


@pytest.fixture(scope="session")
def hybrid_export_dir(tmp_path_factory):
    return export_cache_dir(tmp_path_factory)


def export_path(config: ExportConfig, cache_dir):
    if config.exporter == "dynamo":
        pytest.importorskip("onnxscript", reason="torch's dynamo ONNX exporter needs onnxscript>=0.6")
    return cached_export(cache_dir, config)


def float_outputs(path, inputs) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": x})[0] for x in inputs])


def onnxruntime_static_sqnr(path, calibration, inputs, reference) -> float:
    from tests.quant.qdq_models import ort_quantize, ort_session
    qdq = ort_quantize(onnx.load(str(path)), [{"input": x} for x in calibration])
    session = ort_session(qdq)
    return sqnr_db(reference, np.concatenate([session.run(None, {"input": x})[0] for x in inputs]))


def check_export(config: ExportConfig, cache_dir) -> dict:
    path = export_path(config, cache_dir)
    calibration, inputs = samples(0, CALIBRATION), samples(1, EVALUATION)
    cm = tfc.compile(str(path), target="cortex-m7", calibration=calibration)
    ops = {n.op for n in cm.ir.nodes}
    assert {"layernorm", "batch_matmul", "softmax", "gelu", "hardswish", "reduce_mean"} <= ops, sorted(ops)
    reference = float_outputs(path, inputs)
    got = cm.run(inputs)[0].reshape(reference.shape)

    inq, outq = cm.ir.inputs[0].quant, cm.ir.outputs[0].quant
    raw = cm.run(np.stack([quantize_array(x, inq, inq.storage) for x in inputs[:4]]), raw=True)[0]
    for i in range(4):
        want = interp.run(cm.ir, [quantize_array(inputs[i], inq, inq.storage)])[0]
        diff = np.abs(raw[i].reshape(want.shape).astype(int) - want.astype(int))
        assert diff.max() == 0, f"{config.id} input {i}: C differs from the int8 interpreter by {diff.max()} LSB"

    sqnr = sqnr_db(reference, got)
    top1 = float((reference.argmax(-1) == got.argmax(-1)).mean())
    ort_sqnr = onnxruntime_static_sqnr(path, calibration, inputs, reference)
    report = cm.report
    numbers = dict(sqnr=sqnr, top1=top1, ort_sqnr=ort_sqnr, flash=report.flash_bytes, sram=report.sram_bytes)
    print(f"\n[{config.id}] SQNR {sqnr:.2f} dB, top-1 {top1:.1%}; onnxruntime quantize_static {ort_sqnr:.2f} dB; "
          f"flash {report.flash_bytes} B, SRAM {report.sram_bytes} B; output scale {outq.scale[0]:.5f}")
    assert sqnr >= MIN_SQNR_DB, f"{config.id}: SQNR {sqnr:.2f} dB < {MIN_SQNR_DB} dB"
    assert top1 >= MIN_TOP1, f"{config.id}: top-1 agreement {top1:.1%} < {MIN_TOP1:.0%}"
    assert sqnr >= ort_sqnr - ORT_MARGIN_DB, \
        f"{config.id}: tfc {sqnr:.2f} dB < onnxruntime quantize_static {ort_sqnr:.2f} dB - {ORT_MARGIN_DB}"
    target = cm.target
    assert report.flash_bytes <= target.flash_bytes and report.sram_bytes <= target.sram_bytes, numbers
    return numbers


def test_hybrid_dynamo_mha_int8_end_to_end(hybrid_export_dir):
    check_export(ExportConfig("dynamo", 18, "mha"), hybrid_export_dir)


@pytest.mark.parametrize("exporter, opset", [("legacy", 17), pytest.param("dynamo", 18, marks=pytest.mark.slow)])
def test_fused_qkv_compiles_as_separate_projections(exporter, opset, hybrid_export_dir):
    """One qkv Linear + chunk(3) (the exporters' Split: slices of the features) compiles to the
    graph separate q/k/v Linears give: the same ops (in another order), no slice, and the same int8 outputs (so the
    same SQNR; the slice kernel on one shared grid was 0.095 dB under in the dynamo export)."""
    fused, separate = (tfc.compile(str(export_path(ExportConfig(exporter, opset, a), hybrid_export_dir)),
                                   target="host", calibration=samples(0, CALIBRATION)) for a in ("fused", "explicit"))
    assert sorted(n.op for n in fused.ir.nodes) == sorted(n.op for n in separate.ir.nodes)
    assert not fused.ir.nodes_of("slice")
    inq = fused.ir.inputs[0].quant
    assert inq == separate.ir.inputs[0].quant
    for x in samples(1, 4):
        ints = [quantize_array(x, inq, inq.storage)]
        assert np.array_equal(interp.run(fused.ir, ints)[0], interp.run(separate.ir, ints)[0])


@pytest.mark.slow
@pytest.mark.parametrize("config", [c for c in CONFIGS if c.id != "dynamo18-mha"], ids=lambda c: c.id)
def test_hybrid_int8_end_to_end(config, hybrid_export_dir):
    check_export(config, hybrid_export_dir)


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS,
                         ids=lambda c: c.id)
def test_hybrid_quantized_by_onnxruntime_compiles_and_agrees(config, hybrid_export_dir):
    """The same network quantized beforehand by onnxruntime (QDQ) keeps its params in tfc; the
    generated C agrees with onnxruntime's QDQ model within 2 LSB on every output, for all six
    exports. tfc.compile sees that onnxruntime.quantization wrote the model and gives conv,
    linear, batch_matmul, softmax, mean and layernorm onnxruntime's own arithmetic
    (numerics="onnxruntime": float32 requantization as QLinearConv/QLinearMatMul/QGemm,
    QLinearSoftmax's float table, the float ReduceMean and LayerNormalization;
    tfc/quant/ort_numerics.py). Node by node on onnxruntime's own int8 tensors every node then
    equals onnxruntime, except the q/k/v MatMuls of the explicit-attention exports, which
    onnxruntime leaves unfused and sums in float (1-2 near-ties in 37k values); the later blocks
    amplify those into the few 1-2 LSB differences of the histogram (before: up to 4 LSB)."""
    from tests.quant.qdq_models import ort_quantize, ort_session
    path = export_path(config, hybrid_export_dir)
    qdq = ort_quantize(onnx.load(str(path)), [{"input": x} for x in samples(0, CALIBRATION)])
    cm = tfc.compile(qdq, target="cortex-m7")
    numerics = {n.attrs["numerics"] for n in cm.ir.nodes if "numerics" in n.attrs}
    assert numerics == {"onnxruntime"}, f"{config.id}: kernels with numerics {sorted(numerics)}"
    inq, outq = cm.ir.inputs[0].quant, cm.ir.outputs[0].quant
    ints = np.stack([quantize_array(x, inq, inq.storage) for x in samples(1, 64)])
    got = cm.run(ints, raw=True)[0].reshape(len(ints), -1).astype(int)
    interpreted = np.stack([interp.run(cm.ir, [x])[0].reshape(-1) for x in ints[:4]]).astype(int)
    assert np.array_equal(got[:4], interpreted), f"{config.id}: C differs from the int8 interpreter"
    session = ort_session(qdq)
    ref = np.concatenate([session.run(None, {"input": dequantize_array(x, inq)})[0] for x in ints])
    want = np.clip(np.round(ref / np.float32(outq.scale[0])) + outq.zero_point[0], -128, 127).astype(int)
    diff = np.abs(got - want)
    print(f"\n[{config.id} QDQ] |C - onnxruntime| LSB histogram {np.bincount(diff.ravel()).tolist()}")
    assert diff.max() <= 2, (f"{config.id}: C vs onnxruntime QDQ up to {diff.max()} LSB "
                             f"({int((diff > 2).sum())} of {diff.size} outputs above 2)")


def test_tfc_compile_prints_the_hybrids_flash_and_sram_within_budget(hybrid_export_dir, tmp_path, capsys):
    import re

    from tfc.cli import main
    from tfc.targets import TARGETS
    path = export_path(ExportConfig("legacy", 17, "explicit"), hybrid_export_dir)
    np.save(tmp_path / "calibration.npy", samples(0, CALIBRATION))
    assert main(["compile", str(path), "--target", "cortex-m7", "--calibration", str(tmp_path / "calibration.npy")]) == 0
    out = capsys.readouterr().out
    flash = re.search(r"^flash\s+([\d,]+) B", out, re.M)
    sram = re.search(r"^SRAM\s+([\d,]+) B", out, re.M)
    assert flash and sram, f"tfc compile did not print flash and SRAM lines:\n{out}"
    flash, sram = (int(m.group(1).replace(",", "")) for m in (flash, sram))
    target = TARGETS["cortex-m7"]
    print(f"\n[tfc compile legacy17-explicit] flash {flash} B of {target.flash_bytes}, SRAM {sram} B of {target.sram_bytes}")
    assert flash <= target.flash_bytes and sram <= target.sram_bytes, out
