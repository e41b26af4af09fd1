"""The typed records the templates render: one Layer per IR node, with the arena slices it reads
and writes, its C function, and its kernel's `args` record of plain integers and the parameter
dataclasses of tfc.quant.kernel_params. Nothing here is C text."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfc.quant import kernel_params as kp


@dataclass(frozen=True)
class Dims:
    """cmsis_nn_dims."""

    n: int
    h: int
    w: int
    c: int


@dataclass(frozen=True)
class ArenaSlice:
    offset: int
    size: int


@dataclass(frozen=True, eq=False)
class ConstArray:
    """A const array in flash: weights, biases (weights.c) or multipliers/shifts (model.c)."""

    symbol: str
    ctype: str          # "int8_t" or "int32_t"
    values: np.ndarray  # 1-D, in the order the kernel reads them
    source: str         # what it holds, for the comment above it

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    def as_ints(self) -> list[int]:
        return self.values.tolist()


@dataclass(frozen=True)
class ConvArgs:
    params: kp.ConvParams | kp.DepthwiseConvParams
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims
    weights: ConstArray
    bias: ConstArray | None
    multipliers: ConstArray
    shifts: ConstArray


@dataclass(frozen=True)
class ConvAddArgs:
    """tfc_convolve_add_s8: the conv's args, the add's params; inputs are (x, residual)."""

    params: Any  # tfc.quant.node_params.ConvAddParams
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims
    weights: ConstArray
    bias: ConstArray | None
    multipliers: ConstArray
    shifts: ConstArray
    size: int


@dataclass(frozen=True)
class FullyConnectedArgs:
    params: kp.FullyConnectedParams
    input_dims: Dims
    filter_dims: Dims
    bias_dims: Dims
    output_dims: Dims
    weights: ConstArray
    bias: ConstArray | None
    multipliers: ConstArray | None  # per-channel only
    shifts: ConstArray | None


class _RepeatedCalls:
    """Elementwise args whose constant operand is shorter than the output: `calls` kernel calls of
    `block` elements each, the live operands and the output advancing, the constant not."""

    @property
    def calls(self) -> int:
        return self.size // self.block if self.block else 1

    @property
    def elements(self) -> int:
        """Elements per call."""
        return self.block or self.size

    @property
    def step(self) -> str:
        """The C offset of call r into the live operands and the output ("" for a single call)."""
        return f"r * {self.block}" if self.calls > 1 else ""


@dataclass(frozen=True)
class AddArgs(_RepeatedCalls):
    params: kp.AddParams
    size: int
    # Per operand: an index into Layer.inputs, or a ConstArray in flash; () = the two inputs.
    operands: tuple = ()
    block: int = 0  # elements per kernel call: a constant operand shorter than the output repeats


@dataclass(frozen=True)
class MulArgs(_RepeatedCalls):
    params: kp.MulParams
    size: int
    operands: tuple = ()  # as AddArgs.operands
    block: int = 0        # as AddArgs.block


@dataclass(frozen=True)
class PoolArgs:
    params: kp.PoolParams
    input_dims: Dims
    filter_dims: Dims
    output_dims: Dims


@dataclass(frozen=True)
class RequantizeArgs:
    params: kp.RequantizeParams
    size: int


@dataclass(frozen=True)
class TransposeArgs:
    shape: tuple[int, int, int, int]  # input shape, padded to rank 4 with leading 1s
    perm: tuple[int, int, int, int]


@dataclass(frozen=True)
class ReshapeArgs:
    """No code: the output is the input's arena bytes (the planner aliases them)."""


@dataclass(frozen=True)
class Layer:
    index: int
    node: str
    op: str
    kernel: str                   # the kernel's name (tfc.kernels: the registered Kernel)
    function: str                 # the C function called ("" for a reshape)
    template: str                 # the kernel's template, relative to the backend's templates
    inputs: tuple[ArenaSlice, ...]
    input_refs: tuple[str, ...]   # IR names, for the comment
    output: ArenaSlice
    output_ref: str
    scratch: ArenaSlice | None
    args: Any

    @property
    def weight_arrays(self) -> tuple[ConstArray, ...]:
        return tuple(a for a in (getattr(self.args, "weights", None), getattr(self.args, "bias", None),
                                 *getattr(self.args, "flash_arrays", ())) if a is not None)

    @property
    def quant_arrays(self) -> tuple[ConstArray, ...]:
        return tuple(a for a in (getattr(self.args, "multipliers", None), getattr(self.args, "shifts", None))
                     if a is not None)

    @property
    def scratch_bytes(self) -> int:
        return self.scratch.size if self.scratch else 0
