"""Runs every corpus file through tfc and judges it with its oracle (tfc's environment).

Per file: import; compile to int8 for host (float files calibrate tfc's PTQ on the corpus's 32
calibration samples); run the generated C on held-out samples (16; 256 for a float file's SQNR,
where 16 leave the SQNR to chance by more than the goal's margin) and compare:
  int8-tflite  raw int8 in and out against tflite-micro running the .tflite      (goal 0 LSB)
  qdq-ort      against onnxruntime running the QDQ model, in output LSB           (goal <= 2 LSB)
  float        SQNR against onnxruntime's float output, beside the SQNR of onnxruntime's own
               quantize_static on the same calibration samples (goal: tfc >= ort - 0.5 dB)
and plan it for cortex-m7 (fits / flash / SRAM). A failing step ends the row with its first error.
"""
from __future__ import annotations

import os
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.corpus.ort_quant import quantize_qdq
from benchmarks.corpus.specs import MODELS, SQNR_EVALUATION, Entry, calibration_samples, evaluation_samples

LSB_GOAL = {"int8-tflite": 0, "qdq-ort": 2}
SQNR_MARGIN_DB = 0.5
FLOAT_TOLERANCE = 1e-4     # relative: tfc's float reference against onnxruntime


@dataclass
class Row:
    name: str
    kind: str
    params: int | None = None
    imports: bool = False
    int8: bool = False
    fits_m7: bool | None = None
    flash: int | None = None
    sram: int | None = None
    instructions: int | None = None
    m7_equals_host: bool | None = None
    float_err: float | None = None     # tfc's float reference vs onnxruntime, relative (float files)
    sqnr: float | None = None          # tfc's int8 vs float, dB (float files)
    sqnr_ort: float | None = None      # onnxruntime quantize_static vs float, dB (float files)
    lsb: int | None = None             # max |tfc - oracle| in output LSB (quantized files)
    error: str = ""                    # the first error, if a step failed
    stage: str = ""                    # which step it failed in
    blockers: tuple[str, ...] = ()     # every IR op the int8 step found no kernel for

    @property
    def matches(self) -> bool:
        if not self.int8:
            return False
        if self.kind in LSB_GOAL:
            return self.lsb is not None and self.lsb <= LSB_GOAL[self.kind]
        return (self.sqnr is not None and self.sqnr_ort is not None
                and self.sqnr >= self.sqnr_ort - SQNR_MARGIN_DB)


def first_error(e: BaseException) -> str:
    from tfc.errors import TfcError
    if isinstance(e, TfcError):
        text = str(e)
    else:
        text = f"{type(e).__name__}: {e}"
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.strip().startswith("hint:")]
    return " ".join(lines[:2])[:240] if lines else type(e).__name__


def int8_blockers(message: str) -> tuple[str, ...]:
    """The IR ops an int8 refusal lists ("  sub 'name': no int8 kernel for op sub", or another
    reason the kernel gave), each once."""
    import re
    found = re.findall(r"^\s+(\w+) '[^']*': (no int8 kernel for op \w+|.*)$", message, flags=re.M)
    return tuple(sorted({op if reason.startswith("no int8 kernel") else f"{op} ({_generic(reason)})"
                         for op, reason in found}))


def _generic(reason: str) -> str:
    import re
    return re.sub(r"(?<![\w.])[-+]?\d[\d.e+-]*", "N", reason)[:140]


def sqnr_db(reference: np.ndarray, actual: np.ndarray) -> float:
    reference, actual = reference.astype(np.float64), actual.astype(np.float64).reshape(reference.shape)
    noise = np.sum((reference - actual) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference ** 2) / noise))


def _ort_run(path, x: np.ndarray, qdq: bool = False) -> np.ndarray:
    """onnxruntime's outputs; qdq: a QDQ model's oracle, int8 Q/DQ kept as int8 as on Arm
    (session.qdqisint8allowed=1), not x86's partial uint8 rewrite with float fallbacks."""
    import onnxruntime as ort
    from tfc.quant.ort_numerics import onnxruntime_session
    session = (onnxruntime_session(path) if qdq else
               ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: xi})[0] for xi in x])


def _tflm_run(tflite: Path, x: np.ndarray) -> np.ndarray:
    import tflite_micro
    interp = tflite_micro.runtime.Interpreter.from_file(str(tflite))
    outs = []
    for xi in x:
        interp.set_input(xi, 0)
        interp.invoke()
        outs.append(interp.get_output(0).copy())
    return np.stack(outs)


def _input_name(path: Path) -> str:
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in initializers)


def _float_error(graph, path: Path, x: np.ndarray) -> float:
    """max |tfc - onnxruntime| / max |onnxruntime| of the imported float graph."""
    from tfc.interp import run
    want = _ort_run(path, x[:, None])
    got = np.stack([run(graph, [xi[None]])[0] for xi in x]).reshape(want.shape)
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def evaluate(entry: Entry, *, models: Path = MODELS, m7: bool = True, bench: bool = False) -> Row:
    """One corpus file through every step; never raises."""
    row = Row(entry.name, entry.kind, entry.params)
    if entry.onnx is None:
        row.stage, row.error = "build", entry.error or "not built"
        return row
    try:
        _evaluate(entry, row, models, m7, bench)
    except Exception as e:  # noqa: BLE001 - a failure is a row of the table, with its stage
        row.error = first_error(e)
        row.blockers = int8_blockers(str(e))
        if row.stage == "cortex-m7" and "does not fit" in row.error:
            row.fits_m7 = False          # an answer, not a failure: the error says by how much
        if os.environ.get("TFC_CORPUS_DEBUG"):
            traceback.print_exc()
    return row


def _evaluate(entry: Entry, row: Row, models: Path, m7: bool, bench: bool) -> None:
    import tfc
    from tfc.frontend.onnx import import_onnx
    path = models / entry.onnx
    row.stage = "import"
    # tf2onnx's TFLite path leaves the batch dim symbolic: the user gives the deployed shape.
    input_shapes = {_input_name(path): list(entry.input_shape)}
    graph = import_onnx(path, input_shapes=input_shapes)
    row.imports = True
    shape = entry.input_shape
    if entry.kind == "float":
        row.stage = "float"
        row.float_err = _float_error(graph, path, evaluation_samples(shape[1:], 2))
    calib = calibration_samples(shape[1:]) if entry.kind == "float" else None
    row.stage = "int8"
    cm = tfc.compile(path, target="host", calibration=calib, input_shapes=input_shapes)
    row.stage = "run"
    x_eval = evaluation_samples(shape[1:], SQNR_EVALUATION) if entry.kind == "float" else evaluation_samples(shape[1:])
    if entry.kind == "int8-tflite":
        x_raw = np.random.default_rng(1).integers(-128, 128, size=(len(x_eval), *shape), dtype=np.int8)
        got = np.asarray(cm.run(x_raw, raw=True))
        row.int8 = True
        row.stage = "oracle"
        want = _tflm_run(models / entry.oracle, x_raw)
        row.lsb = int(np.max(np.abs(got.reshape(want.shape).astype(np.int32) - want)))
        raw_in = x_raw
    else:
        got = np.asarray(cm.run(x_eval))
        row.int8 = True
        row.stage = "oracle"
        want = _ort_run(path, x_eval[:, None], qdq=entry.kind == "qdq-ort")
        got = got.reshape(want.shape)
        if entry.kind == "qdq-ort":
            scale = float(np.ravel(cm.ir.outputs[0].quant.scale)[0])
            row.lsb = int(np.round(np.max(np.abs(got - want)) / scale))
        else:
            row.sqnr = sqnr_db(want, got)
            with tempfile.TemporaryDirectory(prefix="tfc-corpus-") as tmp:
                qpath = Path(tmp) / "ort_qdq.onnx"
                quantize_qdq(path, qpath, shape)
                row.sqnr_ort = sqnr_db(want, _ort_run(qpath, x_eval[:, None]))
        raw_in = None
    if m7:
        row.stage = "cortex-m7"
        m7cm = tfc.compile(path, target="cortex-m7", calibration=calib, input_shapes=input_shapes)
        report = m7cm.report
        row.flash, row.sram = report.flash_bytes, report.sram_bytes
        target = m7cm.target
        row.fits_m7 = (row.flash is not None and row.sram is not None
                       and row.flash <= target.flash_bytes and row.sram <= target.sram_bytes)
        if bench and row.fits_m7:
            from tfc.bench import bench as run_bench
            x1 = (raw_in[:1] if raw_in is not None else
                  np.random.default_rng(2).integers(-128, 128, size=(1, *shape), dtype=np.int8))
            result = run_bench(m7cm, inputs=x1).tfc
            row.instructions = result.instructions
            host = np.asarray(cm.run(x1, raw=True)).astype(np.int8).tobytes()
            row.m7_equals_host = result.outputs[0] == host
    row.stage, row.error = "", ""


# ------------------------------------------------------------------------------ the table
def _yes(flag) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


def _num(n, fmt="{:,}") -> str:
    return "-" if n is None else fmt.format(n)


def _db(x) -> str:
    return "-" if x is None else ("inf" if x == float("inf") else f"{x:.1f}")


def table(rows: list[Row]) -> str:
    head = ("| model | kind | params | imports | int8 | fits M7 | flash B | SRAM B | instructions | M7 = host "
            "| float err | SQNR dB | ort PTQ dB | LSB | oracle | first error |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        oracle = "-" if not r.int8 else ("ok" if r.matches else "miss")
        error = f"{r.stage}: {r.error}".replace("|", "\\|") if r.error else ""
        lines.append(f"| {r.name} | {r.kind} | {_num(r.params)} | {_yes(r.imports)} | {_yes(r.int8)} "
                     f"| {_yes(r.fits_m7)} | {_num(r.flash)} | {_num(r.sram)} | {_num(r.instructions)} | {_yes(r.m7_equals_host)} "
                     f"| {_num(r.float_err, '{:.0e}')} | {_db(r.sqnr)} | {_db(r.sqnr_ort)} | {_num(r.lsb)} | {oracle} | {error} |")
    return "\n".join(lines)


def census(rows: list[Row]) -> dict[str, int]:
    """How many files each first error (without model-specific names) blocks."""
    import re
    counts: dict[str, int] = {}
    for r in rows:
        if r.error:
            key = f"{r.stage}: " + _generic(re.sub(r"'[^']*'|file \S+", "…", r.error))
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_BLOCKER_KINDS = (("broadcast", "broadcasting"), ("multiplier", "requantization multiplier out of range"),
                  ("last axis", "not over the last axis"), ("too fine", "scale too fine"))


def _blocker_key(blocker: str) -> str:
    """'mul (int8 mul of shapes ...: broadcasting is not supported ...)' -> 'mul (broadcasting)'."""
    op, _, reason = blocker.partition(" (")
    return next((f"{op} ({kind})" for word, kind in _BLOCKER_KINDS if word in reason), blocker)


def blocker_census(rows: list[Row]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        for op in sorted({_blocker_key(b) for b in r.blockers}):
            counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summary(rows: list[Row]) -> str:
    n = len(rows)
    built = sum(r.stage != "build" for r in rows)
    floats = [r for r in rows if r.kind == "float" and r.imports]
    return (f"{n} corpus files ({built} built): {sum(r.imports for r in rows)} import "
            f"({sum(r.float_err is not None and r.float_err < FLOAT_TOLERANCE for r in floats)} of the "
            f"{len(floats)} float ones equal onnxruntime within {FLOAT_TOLERANCE:g}), "
            f"{sum(r.int8 for r in rows)} reach int8 C and run on the host, "
            f"{sum(r.matches for r in rows)} match their oracle, "
            f"{sum(bool(r.fits_m7) for r in rows)} fit the Cortex-M7.")


def markdown(rows: list[Row], versions: str) -> str:
    blocks = ["# The model corpus", "",
              "Generated by `python -m benchmarks.corpus run` (after `python -m benchmarks.corpus build`);",
              "do not edit by hand. How the files are made: benchmarks/corpus/README.md.", "",
              summary(rows), "",
              "Oracles: `int8-tflite` files (tf2onnx conversions of full-integer TFLite models) against",
              "tflite-micro running the `.tflite` on 16 random int8 inputs, goal 0 LSB; `qdq-ort` files",
              "(onnxruntime quantize_static) against onnxruntime on 16 samples, goal <= 2 LSB; `float` files",
              f"quantized by tfc's PTQ on 32 calibration samples, SQNR against onnxruntime's float output on",
              f"{SQNR_EVALUATION} held-out samples, goal >= onnxruntime quantize_static's SQNR (same samples) - "
              f"{SQNR_MARGIN_DB} dB",
              "(on 16 samples LSB-level changes swing a deep model's SQNR by more than that margin).",
              "flash = model data (weights, biases, requantization parameters); SRAM = the arena.",
              "float err = max |tfc's float reference - onnxruntime| / max |onnxruntime| of the imported",
              "float graph on 2 samples (the importer's own check). instructions: one inference on the",
              "emulated Cortex-M7 (`run --bench`), whose raw output is compared with the host build's (M7 = host).", "",
              table(rows), "", "## What stops the rest (first error, files)", ""]
    blocks += [f"- {n} x {k}" for k, n in census(rows).items()] or ["- nothing"]
    blocks += ["", "## Int8 kernels the int8 step is missing (files that need each)", ""]
    blocks += [f"- {n} x {k}" for k, n in blocker_census(rows).items()] or ["- none"]
    blocks += ["", "## Versions", "", versions, ""]
    return "\n".join(blocks)
