"""What `CompiledModel.run` takes and gives: onnxruntime's conventions, checked before any build.

InferenceSession.run(None, feed) takes a dict {input name: array} in the model's own input
dtypes and returns a list of arrays in its output dtypes. So does tfc: an int8 input (an int8
TFLite conversion) takes int8 values, a float input (a float or QDQ model) takes floats, which
are quantized with the compiled model's input parameters; an int8 output comes back as the int8
the C computed, a float output dequantized. A list (in input order) or, for a one-input model, a
bare array is accepted too, and a leading sample axis runs a batch in one process. `raw=True`
overrides the dtypes: int8 in and int8 out whatever the model declares.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from tfc.errors import ShapeError, TfcError
from tfc.ir.graph import Graph, sanitize_name
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.ir.types import DType, QuantParams


@dataclass(frozen=True)
class Port:
    """A model input or output as the caller sees it."""

    name: str
    shape: tuple[int, ...]
    dtype: DType              # the model's own (ONNX) dtype: float, int8 or uint8
    quant: QuantParams        # of the compiled int8 tensor

    @property
    def is_float(self) -> bool:
        return self.dtype.is_float


def ports(compiled: Graph, declared: Graph) -> tuple[list[Port], list[Port]]:
    """Inputs and outputs of the compiled int8 graph, with the dtypes the model declared."""
    def pair(final, before):
        return [Port(v.name, tuple(v.shape), b.dtype, v.quant) for v, b in zip(final, before)]
    return pair(compiled.inputs, declared.inputs), pair(compiled.outputs, declared.outputs)


def arrange(inputs, specs: list[Port]) -> list[np.ndarray]:
    """The caller's inputs (a dict by name, a list in order, or one array) as a list in input order."""
    names = [p.name for p in specs]
    if isinstance(inputs, Mapping):
        by_name = {}
        for key, value in inputs.items():
            name = key if key in names else sanitize_name(str(key))
            if name not in names:
                raise TfcError(f"run(): the model has no input named {key!r}; its inputs are {names}")
            by_name[name] = value
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TfcError(f"run(): no value for input(s) {missing}; the model's inputs are {names}")
        arrays = [by_name[n] for n in names]
    elif isinstance(inputs, np.ndarray) or np.isscalar(inputs):
        if len(specs) != 1:
            raise TfcError(f"run(): the model has {len(specs)} inputs {names}: give a list or a dict of arrays")
        arrays = [inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(specs):
            raise TfcError(f"run(): the model takes {len(specs)} input(s) {names}, got {len(arrays)}")
    return [np.asarray(a) for a in arrays]


def to_int8(arrays: list[np.ndarray], specs: list[Port], *, raw: bool) -> list[np.ndarray]:
    """Check each array's dtype, shape and values and turn it into the int8 the C takes."""
    out = []
    for x, p in zip(arrays, specs):
        _check_shape(x, p)
        if raw or p.dtype == DType.I8:
            out.append(_int8(x, p, raw))
        elif p.dtype == DType.U8:
            if x.dtype != np.uint8:
                raise TfcError(f"input {p.name}: the model takes uint8 values, got {x.dtype}",
                               hint="give uint8 values (x.astype(np.uint8)) or int8 ones with raw=True")
            out.append((x.astype(np.int16) - 128).astype(np.int8))
        else:
            if not np.issubdtype(x.dtype, np.floating):
                raise TfcError(f"input {p.name}: the model takes float values, got {x.dtype}",
                               hint="give float values, or int8 ones (quantized with the input's scale "
                                    f"{p.quant.scale[0]:.6g} and zero point {p.quant.zero_point[0]}) with raw=True")
            if not np.isfinite(x).all():
                raise TfcError(f"input {p.name}: holds NaN or inf", hint="give finite values")
            out.append(quantize_array(x.astype(np.float32), _per_tensor(p), DType.I8))
    return out


def from_int8(outputs: list[np.ndarray], specs: list[Port], *, raw: bool) -> list[np.ndarray]:
    """The C's int8 outputs in the model's own output dtypes."""
    result = []
    for y, p in zip(outputs, specs):
        if raw or p.dtype == DType.I8:
            result.append(y.astype(np.int8))
        elif p.dtype == DType.U8:
            result.append((y.astype(np.int16) + 128).astype(np.uint8))
        else:
            result.append(dequantize_array(y, _per_tensor(p)).astype(np.float32))
    return result


def _per_tensor(p: Port) -> QuantParams:
    return QuantParams((p.quant.scale[0],), (p.quant.zero_point[0],))


def _int8(x: np.ndarray, p: Port, raw: bool) -> np.ndarray:
    if x.dtype == np.int8:
        return x
    if raw and np.issubdtype(x.dtype, np.integer) and (not x.size or (x.min() >= -128 and x.max() <= 127)):
        return x.astype(np.int8)
    why = "raw=True takes int8 values" if raw else "the model takes int8 values"
    raise TfcError(f"input {p.name}: {why}, got {x.dtype}",
                   hint="give x.astype(np.int8)" + ("" if raw else "; a float model takes floats"))


def _check_shape(x: np.ndarray, p: Port) -> None:
    """One sample (the input's shape), a batch [N, *shape], or samples stacked along a batch
    axis of 1 ([N, *shape[1:]]), as the runners take them."""
    shape = tuple(x.shape)
    if shape == p.shape or shape[1:] == p.shape or (
            p.shape[:1] == (1,) and len(shape) == len(p.shape) and shape[1:] == p.shape[1:]):
        return
    dims = ", ".join(map(str, p.shape))
    raise ShapeError(f"input {p.name}: expected shape [{dims}] (or a batch [N, {dims}]), got {list(shape)}")
