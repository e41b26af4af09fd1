"""Loading and validating ONNX models: bytes, paths or ModelProtos in, a checked ModelProto out.

Everything that can go wrong because the *file* is bad (not protobuf, truncated, fails the ONNX
checker, wrong opset) ends here as a ModelLoadError or UnsupportedError naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from tfc.errors import ModelLoadError, UnsupportedError
from tfc.ir.types import DType

MIN_OPSET, MAX_OPSET = 13, 21

# ONNX TensorProto element types tfc can hold. Others (bfloat16, float8, int4, string, ...) are
# reported as unsupported where they appear.
_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: DType.F32, onnx.TensorProto.DOUBLE: DType.F64,
    onnx.TensorProto.INT8: DType.I8, onnx.TensorProto.UINT8: DType.U8,
    onnx.TensorProto.INT16: DType.I16, onnx.TensorProto.INT32: DType.I32,
    onnx.TensorProto.INT64: DType.I64, onnx.TensorProto.BOOL: DType.BOOL,
}


def dtype_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"type #{elem_type}"


def to_dtype(elem_type: int, *, file: str | None, what: str) -> DType:
    """The tfc DType for an ONNX element type, or UnsupportedError naming `what`."""
    try:
        return _ONNX_DTYPES[elem_type]
    except KeyError:
        raise UnsupportedError(
            f"{what} has element type {dtype_name(elem_type)}, which tfc does not support",
            file=file, hint="tfc handles float32/float64, int8/uint8/int16/int32/int64 and bool "
                            "tensors; convert the model (e.g. float16 -> float32) before importing") from None


def load_model(model) -> tuple[onnx.ModelProto, str]:
    """Read and check `model` (a path, bytes or ModelProto); returns it and a label for errors."""
    if isinstance(model, onnx.ModelProto):
        proto, label = model, model.graph.name or "<ModelProto>"
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto, label = _parse(bytes(model), "<bytes>"), "<bytes>"
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        label = str(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(f"cannot read the model file: {e.strerror or e}", file=label,
                                 hint="check the path") from None
        proto = _parse(data, label)
    else:
        raise ModelLoadError(f"cannot import a {type(model).__name__}",
                             hint="pass a path to an .onnx file, its bytes, or an onnx.ModelProto")
    _check(proto, label)
    return proto, label


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"not a valid ONNX file (protobuf decoding failed: {e})", file=label,
                             hint="the file is truncated or not an ONNX model; re-export it") from None
    if not proto.HasField("graph") or proto.ir_version == 0:
        raise ModelLoadError("not an ONNX model (no graph or no IR version)", file=label,
                             hint="the file is truncated or not an ONNX model; re-export it")
    return proto


def opset_version(proto: onnx.ModelProto) -> int:
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def _check(proto: onnx.ModelProto, label: str) -> None:
    version = opset_version(proto)
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise UnsupportedError(
            f"the model uses ONNX opset {version}; tfc imports opsets {MIN_OPSET}..{MAX_OPSET}",
            file=label, hint="convert it with onnx.version_converter.convert_version(model, 17)")
    _check_names(proto, label)
    _check_defined(proto, label)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid model"
        raise ModelLoadError(f"the ONNX checker rejects the model: {first}", file=label,
                             hint="the file is corrupt or was written by a broken exporter; re-export it") from None
    except (ValueError, RuntimeError, DecodeError) as e:   # checker internals on garbage protos
        raise ModelLoadError(f"the ONNX checker could not read the model: {e}", file=label,
                             hint="the file is corrupt; re-export it") from None


def _check_names(proto: onnx.ModelProto, label: str) -> None:
    """Protobuf hands back bytes for string fields that are not valid UTF-8: a corrupt file."""
    graph = proto.graph
    names = [graph.name] + [v.name for v in list(graph.input) + list(graph.output)]
    names += [t.name for t in graph.initializer]
    for node in graph.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output]
        names += [a.name for a in node.attribute]
    for name in names:
        if not isinstance(name, str):
            raise ModelLoadError(f"a name in the graph is not valid UTF-8 text ({bytes(name)[:40]!r})",
                                 file=label, hint="the file is corrupt; re-export it")


def _check_defined(proto: onnx.ModelProto, label: str) -> None:
    """Every node input is a graph input, an initializer or an earlier node's output (the ONNX
    checker says so too, but without naming the node and op in a way tfc can report)."""
    graph = proto.graph
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name not in defined:
                raise ModelLoadError(
                    f"input '{name}' is not defined: no initializer, graph input or earlier node produces it",
                    file=label, node=node.name or f"{node.op_type}_{index}", op=node.op_type,
                    hint="an initializer is missing or the nodes are out of order; re-export the model")
        defined.update(node.output)


def tensor_to_array(tensor: onnx.TensorProto, *, file: str | None, what: str) -> np.ndarray:
    """A TensorProto's contents as a numpy array of a tfc-supported dtype."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise UnsupportedError(f"{what} is stored in an external data file", file=file,
                               hint="save the model with all tensors inside (onnx.save(model, path, save_as_external_data=False))")
    to_dtype(tensor.data_type, file=file, what=what)
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise ModelLoadError(f"{what} is malformed: {e}", file=file,
                             hint="the file is corrupt; re-export it") from None
    return np.require(array, requirements="C")
