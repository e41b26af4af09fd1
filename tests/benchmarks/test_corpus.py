"""The model corpus through tfc (benchmarks/corpus): a tiny subset built from torch alone runs in
CI; a few files of the real corpus run when it is built (`python -m benchmarks.corpus build`), and
all of it behind `slow`. A file the compiler cannot take yet must end as a row with its first
error, never as a crash of the harness."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.corpus.run import Row, evaluate, markdown
from benchmarks.corpus.specs import MANIFEST, MODELS, read_manifest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from benchmarks.corpus.tiny import build_tiny
    out = tmp_path_factory.mktemp("tiny-corpus")
    return out, build_tiny(out)


def test_tiny_corpus_imports_and_matches_onnxruntime_in_float(tiny):
    """Every tiny file imports, and tfc's float reference equals onnxruntime's output."""
    import onnxruntime as ort
    from tfc import interp
    from tfc.frontend.onnx import import_onnx
    out, entries = tiny
    x = np.random.default_rng(0).standard_normal(entries[0].input_shape).astype(np.float32)
    for entry in entries:
        graph = import_onnx(out / entry.onnx)
        session = ort.InferenceSession(str(out / entry.onnx), providers=["CPUExecutionProvider"])
        want = session.run(None, {session.get_inputs()[0].name: x})[0]
        got = interp.run(graph, [x])[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=entry.name)


def test_tiny_convnet_int8_is_within_half_a_db_of_onnxruntime_ptq(tiny):
    out, entries = tiny
    rows = [evaluate(e, models=out, m7=False) for e in entries if e.family == "tiny_convnet"]
    for row in rows:
        assert row.int8, f"{row.name}: {row.stage}: {row.error}"
        assert row.sqnr > 30, f"{row.name}: SQNR {row.sqnr:.1f} dB"
    # the dynamo export keeps BatchNorm for tfc to fold; measured 45.5 dB vs onnxruntime 45.3 dB
    dynamo = next(r for r in rows if r.name.endswith("dynamo"))
    assert dynamo.matches, f"{dynamo.name}: tfc {dynamo.sqnr:.2f} dB, onnxruntime {dynamo.sqnr_ort:.2f} dB"


def test_the_fused_qkv_attention_block_reaches_int8(tiny):
    """The attention block with one qkv Linear and chunk(3) (the legacy export's slices) compiles
    to int8 C, the projection split per slice at canonicalize, within 0.5 dB of onnxruntime's PTQ
    (measured 37.4 vs 33.1 dB)."""
    out, entries = tiny
    row = evaluate(next(e for e in entries if e.name == "tiny_attention.legacy"), models=out, m7=False)
    assert row.imports and row.int8, f"{row.stage}: {row.error}"
    assert row.matches, f"tfc {row.sqnr:.2f} dB, onnxruntime {row.sqnr_ort:.2f} dB"


def test_blocked_files_are_rows_with_their_first_error(tmp_path):
    """A float model with an op no int8 kernel runs (neg): a row naming it, no crash."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    from benchmarks.corpus.specs import Entry
    graph = h.make_graph([h.make_node("Conv", ["x", "w"], ["c"]), h.make_node("Neg", ["c"], ["y"])], "blocked",
                         [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
                         [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 6, 6])],
                         [onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32) / 27, "w")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "blocked.onnx")
    row = evaluate(Entry("blocked", "blocked", "float", "blocked.onnx", [1, 3, 8, 8]), models=tmp_path, m7=False)
    assert row.imports and not row.int8
    assert row.stage == "int8" and "no int8 kernel for op neg" in row.error, (row.stage, row.error)
    table = markdown([row], "versions")
    assert "| blocked | float |" in table and "no int8 kernel for op neg" in table


def test_a_missing_file_is_a_build_row():
    from benchmarks.corpus.specs import Entry
    row = evaluate(Entry("gone", "gone", "float", None, [1, 3, 8, 8], error="export: boom"))
    assert (row.stage, row.error, row.imports) == ("build", "export: boom", False)


# ------------------------------------------------------------------------------ the built corpus
def _corpus_entries():
    if not MANIFEST.exists():
        return []
    return read_manifest()


FAST = ("resnet.legacy", "resnet.legacy.qdq", "segformer.dynamo")   # a CNN, a QDQ file, a transformer


@pytest.mark.skipif(not MANIFEST.exists(), reason=f"the corpus is not built ({MANIFEST} is absent): "
                    "python -m benchmarks.corpus build")
@pytest.mark.parametrize("name", FAST)
def test_corpus_fast_subset(name):
    entries = {e.name: e for e in _corpus_entries()}
    if name not in entries or entries[name].onnx is None:
        pytest.skip(f"{name} is not in the built corpus")
    row = evaluate(entries[name], models=MODELS, m7=True)
    assert row.imports and row.int8, f"{name}: {row.stage}: {row.error}"
    assert row.fits_m7, f"{name}: flash {row.flash} B, SRAM {row.sram} B"
    assert row.matches, f"{name}: SQNR {row.sqnr} (ort {row.sqnr_ort}), LSB {row.lsb}"


@pytest.mark.skipif(not MANIFEST.exists(), reason="the corpus is not built: python -m benchmarks.corpus build")
def test_onnxruntime_baseline_quantizes_a_model_sharing_a_weight(tmp_path, monkeypatch):
    """quantize_static refuses a weight two nodes read ("shared mode is not supported for weight";
    poolformer's dynamo export shares its norms' InstanceNormalization scale and bias); the
    baseline gives each reader its own copy and quantizes that."""
    import onnx
    from benchmarks.corpus import ort_quant
    entries = {e.name: e for e in _corpus_entries()}
    entry = entries.get("poolformer.dynamo")
    if entry is None or entry.onnx is None:
        pytest.skip("poolformer.dynamo is not in the built corpus")
    unshared = []
    real = ort_quant._unshare_initializers
    monkeypatch.setattr(ort_quant, "_unshare_initializers", lambda a, b: (unshared.append(a), real(a, b)))
    ort_quant.quantize_qdq(MODELS / entry.onnx, tmp_path / "qdq.onnx", entry.input_shape)
    assert unshared and "QuantizeLinear" in [n.op_type for n in onnx.load(str(tmp_path / "qdq.onnx")).graph.node]


@pytest.mark.slow
@pytest.mark.skipif(not MANIFEST.exists(), reason="the corpus is not built: python -m benchmarks.corpus build")
def test_whole_corpus():
    """Every built file imports and its float graph equals onnxruntime; every row ends with a
    result or its first error."""
    from benchmarks.corpus.run import FLOAT_TOLERANCE
    rows: list[Row] = [evaluate(e, models=MODELS, m7=True) for e in _corpus_entries() if e.onnx]
    not_imported = [f"{r.name}: {r.error}" for r in rows if not r.imports]
    assert not not_imported, "files that do not import:\n  " + "\n  ".join(not_imported)
    wrong = [f"{r.name}: {r.float_err:.2g}" for r in rows if r.float_err is not None and not r.float_err < FLOAT_TOLERANCE]
    assert not wrong, f"float graphs that differ from onnxruntime: {wrong}"
    silent = [r.name for r in rows if not r.error and not r.int8]
    assert not silent, f"rows with neither a result nor an error: {silent}"
