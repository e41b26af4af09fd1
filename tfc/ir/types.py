"""Typed facts about values: element types, tensor types, quantization and sparsity.

All are frozen dataclasses so they can be shared between values and compared by content.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class DType(enum.Enum):
    """Element types tfc understands. The value is the short name used in the text form."""

    F32 = "f32"
    F64 = "f64"
    F16 = "f16"
    I8 = "i8"
    U8 = "u8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    BOOL = "bool"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_NUMPY[self])

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F64, DType.F16)

    @classmethod
    def from_numpy(cls, dtype) -> "DType":
        dtype = np.dtype(dtype)
        for member, name in _NUMPY.items():
            if np.dtype(name) == dtype:
                return member
        raise ValueError(f"no tfc dtype for numpy dtype {dtype}")

    @classmethod
    def parse(cls, text: str) -> "DType":
        return cls(text)


_NUMPY = {
    DType.F32: "float32", DType.F64: "float64", DType.F16: "float16", DType.I8: "int8",
    DType.U8: "uint8", DType.I16: "int16", DType.I32: "int32", DType.I64: "int64",
    DType.BOOL: "bool",
}


# The most elements one tensor may have: the generated C indexes tensors with int32.
MAX_TENSOR_ELEMENTS = 2**31 - 1


@dataclass(frozen=True)
class TensorType:
    """A static shape and an element type. tfc has no dynamic shapes: every dim is an int >= 0."""

    shape: tuple[int, ...]
    dtype: DType

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def size_problem(self) -> str | None:
        """Why tfc cannot hold a tensor of this type (negative or over-large dims: the C kernels
        index with int32), or None."""
        if any(d < 0 for d in self.shape):
            return f"a negative dim in {list(self.shape)}"
        if self.size > MAX_TENSOR_ELEMENTS:
            return (f"{list(self.shape)} is {self.size:,} elements, more than tfc supports "
                    f"({MAX_TENSOR_ELEMENTS:,}: the C kernels index with int32)")
        return None

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)

    def with_dtype(self, dtype: DType) -> "TensorType":
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        return f"{self.dtype.value}[{','.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point).

    `axis` is None for per-tensor parameters (one scale and zero point), else the axis along which
    the per-channel scales apply. Scales are kept as Python floats that hold float32 values, the
    precision TFLite and ONNX store them in, so requantization matches theirs bit for bit.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None
    storage: DType = DType.I8   # the integer type of the quantized tensor (its clamp range)

    def __post_init__(self):
        scale = tuple(float(np.float32(s)) for s in np.atleast_1d(self.scale))
        zp = tuple(int(z) for z in np.atleast_1d(self.zero_point))
        if len(zp) == 1 and len(scale) > 1:
            zp = zp * len(scale)
        if len(scale) != len(zp):
            raise ValueError(f"{len(scale)} scales but {len(zp)} zero points")
        if self.axis is None and len(scale) != 1:
            raise ValueError("per-tensor quantization takes exactly one scale")
        if self.storage.is_float or self.storage == DType.BOOL:
            raise ValueError(f"quantized storage type must be an integer type, not {self.storage.value}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def scale_array(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float32)

    def zero_point_array(self) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=np.int64)


SPARSE_BLOCK_SIZES = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class SparseLayout:
    """How a weight matrix is stored sparsely.

    The matrix is viewed as rows = output channels and columns = the reduction axis
    (Kh*Kw*Cin for conv, `in` for linear); columns are cut into blocks of `block` values and only
    blocks with a non-zero value are stored, in blockwise run-length coding ("brle"). The zero
    pattern itself is not duplicated here: it is read off the weights, which stay the truth.
    """

    block: int
    density: float
    encoding: str = "brle"

    def __post_init__(self):
        if self.block not in SPARSE_BLOCK_SIZES:
            raise ValueError(f"block size {self.block} not in {SPARSE_BLOCK_SIZES}")
        if not 0.0 <= self.density <= 1.0:
            raise ValueError(f"density {self.density} outside [0, 1]")
