"""OpSpec: the one place an op is defined (attributes, inference, references), and its registry."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from tfc.errors import ShapeError, UnsupportedError, VerificationError
from tfc.ir.types import DType, TensorType

_REQUIRED = object()
ATTR_TYPES = ("int", "float", "ints", "floats", "str", "bool")


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its type (one of ATTR_TYPES) and default (none = required)."""

    type: str
    default: Any = _REQUIRED
    quiet: bool = False     # the text form leaves it out while it holds its default

    def shown(self, value: Any) -> bool:
        return not (self.quiet and value == self.default)

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def coerce(self, value: Any) -> Any:
        if self.type == "int":
            if isinstance(value, (bool, float)) or int(value) != value:
                raise TypeError(f"expected an int, got {value!r}")
            return int(value)
        if self.type == "float":
            return float(value)
        if self.type == "bool":
            if value not in (True, False, 0, 1):
                raise TypeError(f"expected a bool, got {value!r}")
            return bool(value)
        if self.type == "str":
            if not isinstance(value, str):
                raise TypeError(f"expected a string, got {value!r}")
            return value
        if self.type == "ints":
            return [Attr("int").coerce(v) for v in value]
        if self.type == "floats":
            return [float(v) for v in value]
        raise AssertionError(self.type)


class OpSpec:
    """Base class of op definitions. Subclasses set `name`, `attrs`, `num_inputs` and implement
    `infer` (output types) and `reference` (numpy float semantics)."""

    name: ClassVar[str]
    attrs: ClassVar[dict[str, Attr]] = {}
    num_inputs: ClassVar[tuple[int, int]] = (1, 1)   # (min, max)
    doc: ClassVar[str] = ""

    # ---- traits: the facts passes, quantization and the verifier ask, instead of op-name lists --
    # Data movement (reshape, transpose, ...): works on the stored integers of a quantized tensor,
    # and its outputs keep the input's QuantParams (the verifier checks it on int8 graphs).
    moves_data: ClassVar[bool] = False
    # Creates values of its own (pad's fill): not a pure rearrangement of its input's values.
    creates_values: ClassVar[bool] = False
    # Its int8 kernel computes on the input's grid (data movement; pooling, as TFLite requires):
    # quantize-int8 gives the output the input's grid and requantizes after it where needed.
    same_grid_int8: ClassVar[bool] = False
    # A producer read only by this op may compute straight onto this op's output grid: the op's
    # outputs are its input's values, moved or clamped (relu, clip, max pooling, reshape, ...).
    grid_transparent: ClassVar[bool] = False
    # A pure output clamp (relu, clip): it folds into a producer's clamp (`has_output_clamp`),
    # and the value it reads needs no quantization parameters of its own.
    is_clamp: ClassVar[bool] = False
    # Elementwise (output element i depends on input element i; binary ops broadcast).
    elementwise: ClassVar[bool] = False
    broadcasting_binary: ClassVar[bool] = False
    # Runs on a transposed tensor unchanged but for the attributes naming axes (`axis_attrs`, or
    # `permute_attrs`): the layout pass sinks transposes through it.
    layout_agnostic: ClassVar[bool] = False
    axis_attrs: ClassVar[tuple[str, ...]] = ()
    # Inputs laid out like the result (batchnorm's parameters are per-channel vectors): a count,
    # None for all of them.
    layout_operands: ClassVar[int | None] = None
    # Attributes of a fused output clamp in real units (ACTIVATION_ATTRS), if the op has one.
    output_clamp: ClassVar[tuple[str, str] | None] = None
    # The input holding a constant weight whose output channels are axis 0 (conv, linear): what
    # batchnorm folds into, sparsify prunes and the report's storage column describes.
    weight_input: ClassVar[int | None] = None
    # A fused op's (producer, consumer) ops: what fuse folded into one node and a dense twin splits
    # back (tfc.passes.fusion.epilogue).
    fused_from: ClassVar[tuple[str, str] | None] = None
    # Its output is a statistic of many input values (a mean over H and W), so it has few values
    # per sample and it never leaves its input's range: calibration widens its range by the
    # spread of the per-sample extremes, inside the input's range (tfc.quant.calibration).
    calibration_headroom: ClassVar[bool] = False
    # The range method PTQ uses for the op's output where the user left the default (min/max):
    # "mse" for a difference of correlated tensors (PoolFormer's pool(x) - x), whose bulk is
    # narrow next to rare large differences, so min/max spends most levels on values never near.
    calibration_method: ClassVar[str | None] = None
    # The int8 output grid TFLite Micro / CMSIS-NN fix for the op: (scale, zero point).
    fixed_int8_output: ClassVar[tuple[float, int] | None] = None
    # Whether tfc's int8 kernel writes any output grid (a table of the float function): PTQ then
    # calibrates the output like any other value rather than taking fixed_int8_output, which
    # spends levels on outputs never seen (a sigmoid whose outputs stay below 0.6 keeps 1.7x
    # finer steps; EfficientNet's squeeze-and-excite gates 49 -> 62 dB).
    any_int8_output_grid: ClassVar[bool] = False
    # Converts between reals and a quantized grid (quantize, dequantize): the importer keeps
    # such nodes on constants, so a QDQ model's weight quantization survives.
    quant_boundary: ClassVar[bool] = False
    # (input attribute, output attribute) naming the layout, "nhwc" or "nchw", in which the op
    # reads its first input and writes its output (conv2d): fuse folds a model-boundary transpose
    # into it where a kernel reads or writes that layout directly (Kernel.layouts).
    layout_attrs: ClassVar[tuple[str, str] | None] = None

    @property
    def keeps_grid(self) -> bool:
        """The int8 output is on the input's grid."""
        return self.moves_data or self.same_grid_int8

    @property
    def has_output_clamp(self) -> bool:
        return self.output_clamp is not None

    def permute_attrs(self, attrs: dict[str, Any], perm: Sequence[int]) -> dict[str, Any]:
        """The attributes for the untransposed tensor, when the op's data operands are
        `transpose(x, perm)` (layout-agnostic ops only)."""
        a = dict(attrs)
        rank = len(perm)
        for key in self.axis_attrs:
            if isinstance(a[key], list):
                a[key] = sorted(perm[ax % rank] for ax in a[key]) if self.sorted_axes else \
                    [perm[ax % rank] for ax in a[key]]
            else:
                a[key] = perm[a[key] % rank]
        return a

    sorted_axes: ClassVar[bool] = False   # list-valued axis attributes are kept sorted

    def clamp_bounds(self, attrs: dict[str, Any]) -> tuple[float, float]:
        """The real interval a clamp op (`is_clamp`) keeps."""
        raise NotImplementedError(f"{self.name} is not a clamp")

    def check_attrs(self, attrs: dict[str, Any], where: str = "") -> dict[str, Any]:
        """Coerce attribute values to their declared types and fill defaults; sorted by name."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise VerificationError(f"unknown attribute(s) {sorted(unknown)} for op {self.name}",
                                    node=where or None)
        out = {}
        for key, spec in sorted(self.attrs.items()):
            if key in attrs:
                try:
                    out[key] = spec.coerce(attrs[key])
                except (TypeError, ValueError) as e:
                    raise VerificationError(f"attribute {key} of {self.name}: {e}",
                                            node=where or None) from None
            elif spec.required:
                raise VerificationError(f"op {self.name} needs attribute {key}", node=where or None)
            else:
                out[key] = spec.default if not isinstance(spec.default, list) else list(spec.default)
        return out

    def check_arity(self, node) -> None:
        lo, hi = self.num_inputs
        if not lo <= len(node.inputs) <= hi:
            raise VerificationError(
                f"{self.name} takes {lo}..{hi} inputs, got {len(node.inputs)}", node=node.name)

    def infer(self, node) -> list[TensorType]:
        raise NotImplementedError

    def reference(self, node, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Float semantics in numpy; inputs already dequantized where they carry QuantParams."""
        raise NotImplementedError

    def macs(self, node) -> int:
        """Multiply-accumulates of one run (the dense count, whatever the weights' storage); 0 for
        ops without a weighted reduction. `tfc bench` divides instructions by it."""
        return 0


# A fused output clamp (ReLU = [0, inf], ReLU6 = [0, 6]) in real units; the int8 kernels turn it
# into a clamp on the quantized output exactly as TFLite Micro's CalculateActivationRange does.
ACTIVATION_ATTRS = {"act_min": Attr("float", float("-inf")), "act_max": Attr("float", float("inf"))}
OUTPUT_CLAMP = ("act_min", "act_max")   # an op's `output_clamp` when it has ACTIVATION_ATTRS

# Whose integer arithmetic an int8 kernel reproduces: "cmsis" (TFLite Micro / CMSIS-NN fixed-point
# requantization) or "onnxruntime" (float32 requantization and onnxruntime's QLinearSoftmax and
# float ReduceMean, for graphs a QDQ model defined; see tfc/quant/ort_numerics.py).
NUMERICS = ("cmsis", "onnxruntime")
NUMERICS_ATTR = {"numerics": Attr("str", "cmsis", quiet=True)}

# An op whose int8 output its kernel can store as the sparse kernels' int16 cells of this block
# (0: a plain int8 tensor); set by fuse where every reader is a sparse layer (tfc/sparse/cells.py).
CELLS_ATTR = "cells"
CELLS_ATTRS = {CELLS_ATTR: Attr("int", 0, quiet=True)}

# The activation layouts an op with `layout_attrs` may name; NHWC is tfc's own.
LAYOUTS = ("nhwc", "nchw")
TO_NHWC = (0, 2, 3, 1)     # the transpose perm from NCHW to NHWC
TO_NCHW = (0, 3, 1, 2)     # and back


def apply_activation(y: np.ndarray, attrs: dict) -> np.ndarray:
    lo, hi = attrs["act_min"], attrs["act_max"]
    if lo == float("-inf") and hi == float("inf"):
        return y
    return np.clip(y, lo, hi)


_REGISTRY: dict[str, OpSpec] = {}


def register_op(cls):
    """Class decorator: register an OpSpec subclass under its `name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"op {cls.name} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def get_op(name: str) -> OpSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnsupportedError(f"unknown IR op '{name}'",
                               hint=f"known ops: {', '.join(sorted(_REGISTRY))}") from None


def registered_ops() -> dict[str, OpSpec]:
    return dict(sorted(_REGISTRY.items()))


_FLAG_TRAITS = ("moves_data", "creates_values", "same_grid_int8", "grid_transparent", "is_clamp", "elementwise",
                "broadcasting_binary", "layout_agnostic", "quant_boundary")


def op_traits(spec: OpSpec) -> list[str]:
    """The op's traits as words, for `tfc ops` and docs."""
    words = [t.replace("_", "-") for t in _FLAG_TRAITS if getattr(spec, t)]
    if spec.axis_attrs:
        words.append(f"axes in {'/'.join(spec.axis_attrs)}")
    if spec.output_clamp:
        words.append("output clamp")
    if spec.weight_input is not None:
        words.append(f"weight input {spec.weight_input}")
    if spec.fixed_int8_output:
        words.append(f"int8 output grid q({spec.fixed_int8_output[0]:g},{spec.fixed_int8_output[1]})"
                     + (" (TFLite's; PTQ calibrates it)" if spec.any_int8_output_grid else ""))
    if spec.calibration_method:
        words.append(f"calibrated by {spec.calibration_method}")
    if "numerics" in spec.attrs:
        words.append("numerics (cmsis/onnxruntime)")
    if spec.layout_attrs:
        words.append(f"layouts in {'/'.join(spec.layout_attrs)}")
    return words


def real_type(value) -> TensorType:
    """The type a float op sees: integer tensors that carry QuantParams read as f32 reals."""
    if value.quant is not None and not value.dtype.is_float:
        return value.type.with_dtype(DType.F32)
    return value.type


def shape_error(node, message: str) -> ShapeError:
    return ShapeError(message, node=node.name, op=node.op)


def broadcast_shapes(node, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise shape_error(node, f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def normalize_axis(node, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise shape_error(node, f"axis {axis} out of range for rank {rank}")
    return axis % rank
