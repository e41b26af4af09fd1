"""Runs ONNX's own backend node tests through import_onnx + tfc.interp and classifies each case.

A case is in scope when its op (from the model, or its name for multi-node "expanded" cases) is
one the importer is meant to support. Each in-scope case ends as exactly one of:
  pass         imported and every output matched the stored one within the case's rtol/atol
  pass-frozen  passed after inputs that must be constants for tfc (shapes, axes, Clip bounds,
               Q/DQ params...) were frozen as initializers from the case's own data
Cases stored at an opset above 21 (onnx 1.23 stores many at 22..28, where the ops only gained
new dtypes) are first lowered with onnx.version_converter; the table counts those passes too.
  pass-folded  passed only with *every* input frozen: the whole case folded to constants at
               import (ops tfc accepts on constants only: Equal, Where, Range, ...)
  skip         outside tfc's scope, with the reason (opset, dtype, unsupported attribute, ...)
  fail         anything else: a mismatch, or an error that is not a clean "unsupported"
`python -m tests.ir.onnx_backend_sweep` prints the per-op table.
"""
from __future__ import annotations

import functools
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from tfc import interp
from tfc.errors import ShapeError, TfcError, UnsupportedError
from tfc.frontend.onnx import import_onnx
from tfc.frontend.onnx.loader import MAX_OPSET, MIN_OPSET, opset_version
from tfc.frontend.onnx.registry import supported_ops

# The brief's op list and the corpus's additions: the ops whose backend cases are in scope.
# (IsNaN/IsInf are left out: tfc takes computed tensors as finite, so they import as all-false;
#  tests/frontend/test_import_corpus_ops.py checks the softmax guard dynamo writes with them.)
TARGET_OPS = tuple("""
    Conv Gemm MatMul Add Sub Mul Div Relu Clip Sigmoid HardSwish HardSigmoid Gelu Erf Tanh Softmax
    LayerNormalization ReduceMean Pow Sqrt BatchNormalization AveragePool MaxPool GlobalAveragePool
    Flatten Reshape Transpose Squeeze Unsqueeze Concat Split Slice Gather Cast Expand Pad Identity
    Dropout Constant Shape Size ConstantOfShape Range Equal Where QuantizeLinear DequantizeLinear
    InstanceNormalization GroupNormalization ReduceSum ReduceL2 ReduceSumSquare Tile Col2Im Einsum
""".split())
_NAME_ALIASES = {"batchnorm": "BatchNormalization"}
_SUPPORTED_DTYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.INT8,
                     onnx.TensorProto.UINT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32,
                     onnx.TensorProto.INT64, onnx.TensorProto.BOOL}


@dataclass(frozen=True)
class CaseResult:
    name: str
    op: str
    status: str          # pass | pass-frozen | pass-folded | skip | fail
    reason: str = ""
    lowered_from: int | None = None    # the stored opset, when lowered to 21 first


def _squash(name: str) -> str:
    return name.lower().replace("_", "")


def primary_op(case) -> str | None:
    """The target op a backend case tests, or None when it tests something else."""
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type if nodes[0].op_type in TARGET_OPS else None
    test = _squash(case.name[len("test_"):])
    candidates = {_squash(op): op for op in TARGET_OPS} | _NAME_ALIASES
    matches = [key for key in candidates if test.startswith(key)]
    return candidates[max(matches, key=len)] if matches else None


@functools.lru_cache(maxsize=1)
def in_scope_cases() -> tuple:
    from onnx.backend.test.loader import load_node_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_node_model_tests()
    return tuple((case, op) for case in cases if (op := primary_op(case)) is not None)


def _dtype_problem(model: onnx.ModelProto) -> str | None:
    graph = model.graph
    for v in list(graph.input) + list(graph.output):
        t = v.type.tensor_type.elem_type if v.type.HasField("tensor_type") else -1
        if t not in _SUPPORTED_DTYPES:
            kind = onnx.TensorProto.DataType.Name(t).lower() if t >= 0 else "non-tensor"
            return f"dtype {kind}"
    return None


def _freeze_inputs(model: onnx.ModelProto, inputs, keep_first: bool) -> onnx.ModelProto:
    """Graph inputs (all, or all after the first) become initializers holding the case's data."""
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    first = 1 if keep_first else 0
    keep = list(frozen.graph.input[:first])
    for inp, array in list(zip(frozen.graph.input, inputs))[first:]:
        frozen.graph.initializer.append(numpy_helper.from_array(np.asarray(array), inp.name))
    del frozen.graph.input[:]
    frozen.graph.input.extend(keep)
    return frozen


def _compare(name: str, got, want, rtol: float, atol: float) -> str | None:
    """None when equal within tolerance, else what differed, where and by how much."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"output {name}: shape {list(got.shape)} != expected {list(want.shape)}"
    if want.dtype.kind in "biu" or want.dtype == bool:
        bad = got.astype(want.dtype) != want
        if bad.any():
            i = np.unravel_index(np.argmax(bad), bad.shape)
            return f"output {name}: {bad.sum()} of {bad.size} differ, first at {list(i)}: {got[i]} != {want[i]}"
        return None
    g, w = got.astype(np.float64), want.astype(np.float64)
    both_nan = np.isnan(g) & np.isnan(w)
    err = np.abs(g - w)
    bad = ~both_nan & (g != w) & ~(err <= atol + rtol * np.abs(w))
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err, -1)), bad.shape)
        return (f"output {name}: {bad.sum()} of {bad.size} beyond rtol={rtol} atol={atol}; worst at "
                f"{list(i)}: got {g[i]!r}, expected {w[i]!r} (|diff| {err[i]:.3g})")
    return None


def _input_shapes(model, inputs) -> dict:
    init = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    return {n: list(np.shape(a)) for n, a in zip(names, inputs)}


def _array(a) -> np.ndarray:
    """Backend data sets hold arrays, or TensorProtos for dtypes numpy lacks natively."""
    return numpy_helper.to_array(a) if isinstance(a, onnx.TensorProto) else np.asarray(a)


def _run_case(model, case, frozen: int) -> str | None:
    for inputs, outputs in case.data_sets:
        inputs, outputs = [_array(a) for a in inputs], [_array(a) for a in outputs]
        feed = inputs[:len(model.graph.input)] if frozen else inputs
        graph = import_onnx(model, input_shapes=_input_shapes(model, feed))
        got = interp.run(graph, [np.asarray(a) for a in feed])
        if len(got) != len(outputs):
            return f"{len(got)} outputs, expected {len(outputs)}"
        for out, g, w in zip(case.model.graph.output, got, outputs):
            problem = _compare(out.name, g, w, case.rtol, case.atol)
            if problem:
                return problem
    return None


def _lower(model: onnx.ModelProto) -> onnx.ModelProto | None:
    from onnx import version_converter
    try:
        return version_converter.convert_version(model, MAX_OPSET)
    except Exception:  # noqa: BLE001 - the converter reports "no adapter" as plain exceptions
        return None


def run_case(case, op: str) -> CaseResult:
    model = case.model
    opset = opset_version(model)
    lowered_from = None
    if opset < MIN_OPSET:
        return CaseResult(case.name, op, "skip", f"opset {opset} below {MIN_OPSET}")
    problem = _dtype_problem(model)
    if problem:
        return CaseResult(case.name, op, "skip", problem)
    if opset > MAX_OPSET:
        model, lowered_from = _lower(model), opset
        if model is None:
            return CaseResult(case.name, op, "skip",
                              f"opset {opset}: onnx.version_converter cannot lower it to {MAX_OPSET}")
    unsupported = sorted({n.op_type for n in model.graph.node} - set(supported_ops()))
    if unsupported:
        return CaseResult(case.name, op, "skip", f"uses ops tfc does not import: {', '.join(unsupported)}")
    result = _import_and_compare(case, op, model)
    return CaseResult(result.name, result.op, result.status, result.reason, lowered_from)


def _import_and_compare(case, op: str, model: onnx.ModelProto) -> CaseResult:
    frozen = ""
    try:
        try:
            mismatch = _run_case(model, case, frozen=False)
        except UnsupportedError as e:
            if "must be a constant" not in e.message:
                raise
            frozen = "pass-frozen"
            data = [_array(a) for a in case.data_sets[0][0]]
            try:
                mismatch = _run_case(_freeze_inputs(model, data, keep_first=True), case, frozen=True)
            except UnsupportedError as e2:
                if "must be a constant" not in e2.message:
                    raise
                frozen = "pass-folded"
                mismatch = _run_case(_freeze_inputs(model, data, keep_first=False), case, frozen=True)
    except (UnsupportedError, ShapeError) as e:
        return CaseResult(case.name, op, "skip", _reason(e))
    except TfcError as e:
        return CaseResult(case.name, op, "fail", f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - a crash is a failure to report, not to hide
        return CaseResult(case.name, op, "fail", f"crash {type(e).__name__}: {e}")
    if mismatch:
        return CaseResult(case.name, op, "fail", mismatch)
    return CaseResult(case.name, op, frozen or "pass")


def _reason(e: TfcError) -> str:
    """A short, case-independent reason (node and tensor names stripped) for grouping skips."""
    text = e.message.splitlines()[0]
    text = re.sub(r"'[^']*'", "'…'", text)
    return f"{type(e).__name__}: {text}"


@functools.lru_cache(maxsize=1)
def sweep() -> tuple[CaseResult, ...]:
    return tuple(run_case(case, op) for case, op in in_scope_cases())


def summary(results) -> str:
    by_op: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_op[r.op][r.status] += 1
        if r.status.startswith("pass") and r.lowered_from:
            by_op[r.op]["lowered"] += 1
    cols = ("pass", "pass-frozen", "pass-folded", "skip", "fail")
    header = f"{'op':<20}" + "".join(f"{c:>12}" for c in cols) + f"{'total':>7}{'(passes lowered from opset>21)':>32}"
    lines = [header]
    total = Counter()
    for op in sorted(by_op):
        c = by_op[op]
        total.update(c)
        lines.append(f"{op:<20}" + "".join(f"{c[k]:>12}" for k in cols)
                     + f"{sum(c[k] for k in cols):>7}{c['lowered']:>32}")
    lines.append(f"{'TOTAL':<20}" + "".join(f"{total[k]:>12}" for k in cols)
                 + f"{len(results):>7}{total['lowered']:>32}")
    reasons = Counter((r.op, r.reason) for r in results if r.status == "skip")
    lines.append("\nskip reasons (op: reason x count):")
    lines += [f"  {op}: {reason} x{n}" for (op, reason), n in sorted(reasons.items())]
    failures = [r for r in results if r.status == "fail"]
    if failures:
        lines.append("\nfailures:")
        lines += [f"  {r.name} [{r.op}]: {r.reason}" for r in failures]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(sweep()))
