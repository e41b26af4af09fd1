"""Post-training quantization of a float graph from calibration samples.

`annotate` gives the graph exactly the form canonicalize gives a QDQ model: every activation
carries per-tensor asymmetric int8 params (from observed ranges), conv/linear weights become
per-channel symmetric int8 constants and their biases int32 constants at input x weight scale.
tfc.passes.quantize.lower then turns that into the int8 graph.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from tfc.errors import QuantizationError
from tfc.interp import run
from tfc.ir.graph import Graph, Value
from tfc.ir.types import QuantParams
from tfc.quant import calibration as cal
from tfc.passes.quantize import legalize
from tfc.passes.quantize.lower import propagate_params
from tfc.passes.quantize.transformer_lower import layernorm_constants_to_int32

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def needs_calibration(graph: Graph) -> bool:
    """True for a float model: nothing in it carries quantization parameters yet."""
    return not any(v.quant is not None for v in graph.values())


def _sample_list(graph: Graph, samples) -> list[list[np.ndarray]]:
    """Calibration data as a list of per-sample input lists, validated against the graph inputs."""
    if isinstance(samples, Mapping):
        per_input = [samples.get(v.name) for v in graph.inputs]
        if any(a is None for a in per_input):
            raise QuantizationError(f"calibration data must name every input: {[v.name for v in graph.inputs]}")
    elif len(graph.inputs) == 1:
        per_input = [samples]
    else:
        # A bare array would be split along its first axis, mistaking N samples of one input
        # for one array per input whenever N happens to equal the number of inputs.
        per_input = None if isinstance(samples, np.ndarray) else list(samples)
        if per_input is None or len(per_input) != len(graph.inputs):
            raise QuantizationError(f"the model has {len(graph.inputs)} inputs: give calibration data as a dict "
                                    f"{{name: array}} for {[v.name for v in graph.inputs]}")
    arrays = []
    for value, data in zip(graph.inputs, per_input):
        try:
            data = np.asarray(data)
        except (ValueError, TypeError) as e:
            raise QuantizationError(f"calibration data for input {value.name} is not an array: {e}") from None
        if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
            raise QuantizationError(f"calibration data for input {value.name} has dtype {data.dtype}",
                                    hint="give float samples")
        if data.size == 0:
            raise QuantizationError(f"calibration data for input {value.name} holds no samples",
                                    hint="give at least one sample (more give better ranges)")
        one = value.shape
        if data.shape == one:
            data = data[None]
        elif data.shape[1:] == one[1:] and one[0] == 1:
            data = data[:, None]
        elif data.shape[1:] != one:
            raise QuantizationError(
                f"calibration data for input {value.name} has shape {list(data.shape)}; "
                f"expected [N, {', '.join(str(d) for d in one[1:])}] or [N, {', '.join(str(d) for d in one)}]")
        data = data.astype(np.float32)
        if not np.isfinite(data).all():
            raise QuantizationError(f"calibration data for input {value.name} holds NaN or inf")
        if len(data) == 0:
            raise QuantizationError("calibration data holds no samples")
        arrays.append(data)
    counts = {len(a) for a in arrays}
    if len(counts) != 1:
        raise QuantizationError(f"calibration inputs have different sample counts {sorted(counts)}")
    return [[a[i] for a in arrays] for i in range(counts.pop())]


def _check_weights(graph: Graph) -> None:
    for value in graph.constants.values():
        if value.dtype.is_float and not np.isfinite(value.data).all():
            users = ", ".join(f"{n.op} '{n.name}'" for n in value.users) or "no node"
            raise QuantizationError(f"constant {value.ref} (read by {users}) holds NaN or inf",
                                    hint="fix the model's weights; tfc cannot quantize non-finite values")


def _check_types(graph: Graph) -> None:
    """A float model is quantized from float values: an integer graph input, or an integer weight
    or bias without quantization parameters, has no meaning calibration could give it."""
    for value in graph.inputs:
        if not value.dtype.is_float:
            raise QuantizationError(
                f"graph input {value.ref} is {value.dtype.value}, but this float model is quantized by "
                "calibration, which needs float inputs",
                hint="declare the input as float (the type the model computes in), or give a model "
                     "quantized with Q/DQ nodes")
    for node in graph.nodes_of("conv2d", "linear", "matmul"):
        for role, value in zip(("input", "weights", "bias"), node.inputs):
            if value.is_constant and not value.dtype.is_float and value.quant is None:
                raise QuantizationError(
                    f"the {role} {value.ref} are {value.dtype.value} without quantization parameters; "
                    "calibration quantizes float weights",
                    node=node.name, op=node.op,
                    hint="store the weights as float, or quantize the model with Q/DQ nodes")


def _assigns_own_params(graph: Graph, value: Value) -> bool:
    node = value.producer
    if node is None:
        return True
    if node.spec.keeps_grid:
        return False
    if len(value.uses) == 1 and value not in graph.outputs and value.uses[0][0].spec.is_clamp:
        return False
    return True


def _quantize_weights(graph: Graph) -> None:
    for node in graph.nodes_of("conv2d", "linear"):
        w = node.inputs[1]
        if w.is_constant and w.dtype.is_float:
            q = cal.symmetric_weight_params(w.data, axis=0)
            b = node.inputs[2] if len(node.inputs) == 3 else None
            if b is not None and b.is_constant and b.dtype.is_float and node.inputs[0].quant is not None:
                q = cal.bias_safe_weight_params(q, b.data, node.inputs[0].quant.scale[0])
            # The SparseLayout sparsify chose stays with the weight (zeros stay zero: symmetric).
            node.set_input(1, graph.add_constant(w.name + "_q", cal.quantize_weights(w.data, q), quant=q,
                                                 sparse=w.sparse))
        if len(node.inputs) == 3 and node.inputs[2].is_constant and node.inputs[2].dtype.is_float:
            b, xq = node.inputs[2], node.inputs[0].quant
            data, q = cal.quantize_bias(b.data, xq.scale[0], node.inputs[1].quant)
            node.set_input(2, graph.add_constant(b.name + "_q", data, quant=q))
    for node in graph.nodes:
        for i, value in enumerate(node.inputs):
            if value.is_constant and value.dtype.is_float and not node.spec.moves_data:
                lo, hi = float(value.data.min(initial=0.0)), float(value.data.max(initial=0.0))
                q = cal.activation_params(lo, hi)
                from tfc.ir.ops.quant import quantize_array
                node.set_input(i, graph.add_constant(value.name + "_q", quantize_array(value.data, q, q.storage), quant=q))
    graph.remove_unused_constants()


HEADROOM_SPREADS = 2.0


def _calibrated_range(value: Value, observers: dict) -> tuple[float, float]:
    """The observed range; for an op with `calibration_headroom`, widened (HEADROOM_SPREADS
    standard deviations of the per-sample extremes) but never past the range of the grid TFLite
    fixes for the op (a softmax's [0, 1)), or else its input's observed range."""
    observer, node = observers[value.name], value.producer
    if node is None or not node.spec.calibration_headroom:
        return observer.range()
    lo, hi = observer.range_with_headroom(HEADROOM_SPREADS)
    if node.spec.fixed_int8_output:
        scale, zero_point = node.spec.fixed_int8_output
        bounds = ((-128 - zero_point) * scale, (127 - zero_point) * scale)
    else:
        source = observers.get(node.inputs[0].name)
        bounds = source.range() if source is not None else (lo, hi)
    return max(lo, bounds[0]), min(hi, bounds[1])


def _method_for(value: Value, method: str) -> str:
    """The user's range method, or the op's own (calibration_method) where the user left min/max."""
    spec = value.producer.spec if value.producer else None
    return spec.calibration_method if method == "minmax" and spec and spec.calibration_method else method


def annotate(graph: Graph, samples, *, method: str = "minmax", percentile: float = 99.99) -> int:
    """Calibrate on `samples` and annotate the graph in place; returns the number of activations
    that got their own parameters."""
    _check_types(graph)
    legalize.matmul_to_linear(graph)
    legalize.fold_bias_add(graph)
    legalize.fold_channel_affine(graph)
    _check_weights(graph)
    batches = _sample_list(graph, samples)
    observed = [v for v in graph.values() if not v.is_constant and v.dtype.is_float and _assigns_own_params(graph, v)]
    observers = {v.name: cal.RangeObserver(_method_for(v, method), percentile) for v in observed}
    for inputs in batches:
        values = run(graph, inputs, keep=True)
        for name, obs in observers.items():
            x = values[name]
            if not np.isfinite(x).all():
                raise QuantizationError(f"value %{name} becomes NaN or inf on a calibration sample",
                                        hint="check the model and the samples' range")
            if x.size and float(np.abs(x).max()) > _FLOAT32_MAX:   # the interpreter sums in float64
                raise QuantizationError(f"value %{name} exceeds float32's range on a calibration sample "
                                        "(the float model itself overflows to inf there)",
                                        hint="check the model's weights and the samples' range")
            obs.observe(x)
    for value in observed:
        spec = value.producer.spec if value.producer else None
        grid = spec.fixed_int8_output if spec and not spec.any_int8_output_grid else None
        fixed = QuantParams((grid[0],), (grid[1],)) if grid else None
        value.quant = fixed or cal.activation_params(*_calibrated_range(value, observers))
    # Pooling outputs take their input's params (the int8 kernels need that), through propagation:
    # the input may itself get its params only there (a pool after a transpose, say).
    propagate_params(graph)
    # No oracle's integers to reproduce here: an op that offers a choice rounds to the nearest
    # level, and writes onto the grid calibration gave its output.
    for node in graph.nodes:
        if "rounding" in node.spec.attrs:
            node.attrs["rounding"] = "nearest"
        if "grid" in node.spec.attrs:
            node.attrs["grid"] = "output"
    layernorm_constants_to_int32(graph)
    _quantize_weights(graph)
    return len(observed)
