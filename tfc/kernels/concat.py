"""tfc_concat_s8: int8 concatenation of N inputs (activations, or constants in flash) along an axis.

Each input lands on the output's grid: an input on that grid is copied, one on another grid is
rescaled with tfc_requantize_s8's fixed-point arithmetic (node_params.grid_change). So the result
equals, bit for bit, requantize-then-concatenate: TFLite Micro's CONCATENATION (which requires
equal grids) after a QUANTIZE per differing input. Calibrated models give every activation its
own grid, which is why the kernel rescales instead of declining.

tfc_concat_lut_s8 (numerics="onnxruntime", a QDQ model's concat): onnxruntime dequantizes each
input, concatenates in float and quantizes once; an int8 input has 256 values, so each rescaled
input is a 256-entry table of exactly that (tfc.quant.ort_numerics.requantize_table). The
fixed-point rescale rounds twice and can land one step off where the float result does not sit
near a tie (a ViT's class token: 0.488 steps rounded to 1)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.ir.types import DType
from tfc.kernels import records as R
from tfc.kernels.base import PlannedKernel, register_kernel
from tfc.kernels.elementwise import Requantize, arena_or_flash_operands
from tfc.quant import kernel_params as kp
from tfc.quant import ort_numerics as ort
from tfc.quant import reference as ref
from tfc.quant.node_params import grid_change
from tfc.quant.operands import per_tensor


# Both concat kernels' call opens the same way: the input pointers (arena or flash) and sizes.
_CALL_HEAD = """\
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set p = layer.args.params %}
{% set n = p.sizes | length %}
{{ m.comment(layer) }}
    {
        const int8_t *const inputs[{{ n }}] = { {% for o in layer.args.operands %}{{ (m.at(layer.inputs[o]) if o is number else o.symbol) ~ (", " if not loop.last else "") }}{% endfor %} };
        static const int32_t sizes[{{ n }}] = { {{ p.sizes | join(", ") }} };
"""


@dataclass(frozen=True)
class ConcatParams:
    outer: int                                # product of the dims before the axis
    sizes: tuple[int, ...]                    # per input: elements per outer step (axis length * inner)
    grids: tuple[kp.RequantizeParams, ...]    # per input: onto the output's grid

    @property
    def output_offset(self) -> int:
        return self.grids[0].output_offset


@dataclass(frozen=True)
class ConcatArgs:
    params: ConcatParams
    # Per input: an index into Layer.inputs (an activation) or a ConstArray (a constant, in flash).
    operands: tuple

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return tuple(o for o in self.operands if not isinstance(o, int))


def _why_not(node) -> str | None:
    for v in (*node.inputs, node.output):
        if v.quant is None or v.dtype != DType.I8:
            return f"{v.ref} is not an int8 tensor with quantization params"
        if v.quant.axis is not None:
            return f"{v.ref} is quantized per channel (the kernel rescales per tensor)"
    return None


def _concat_plan(node) -> ConcatParams | str:
    """Both concat kernels' layout and each input's grid change onto the output (or why not)."""
    reason = _why_not(node)
    if reason:
        return reason
    out = node.output
    axis = node.attrs["axis"] % out.type.rank
    yq = per_tensor(out, "output", node)
    return ConcatParams(outer=math.prod(out.shape[:axis]),
                        sizes=tuple(math.prod(v.shape[axis:]) for v in node.inputs),
                        grids=tuple(grid_change(per_tensor(v, f"input {k}", node), yq)
                                    for k, v in enumerate(node.inputs)))


@register_kernel
class Concat(PlannedKernel):
    name = "concat"
    ops = ("concat",)
    function = "tfc_concat_s8"
    sources = ("tfc_concat_s8.c", *Requantize.sources)
    template_source = """\
{#- tfc_concat_s8: Layer with ConcatArgs; each input rescaled onto the output grid (multiplier 0: copied). -#}
""" + _CALL_HEAD + """\
        static const int32_t input_offsets[{{ n }}] = { {% for g in p.grids %}{{ g.input_offset }}{{ ", " if not loop.last }}{% endfor %} };
        static const int32_t multipliers[{{ n }}] = { {% for g in p.grids %}{{ 0 if g.identity else g.multiplier }}{{ ", " if not loop.last }}{% endfor %} };
        static const int32_t shifts[{{ n }}] = { {% for g in p.grids %}{{ 0 if g.identity else g.shift }}{{ ", " if not loop.last }}{% endfor %} };
        {{ layer.function }}(inputs, sizes, input_offsets, multipliers, shifts, {{ n }}, {{ p.outer }}, {{ p.output_offset }},
            {{ m.at(layer.output) }});
    }
{% endmacro %}
"""

    def plan(self, node):
        return _concat_plan(node)

    def run(self, node, inputs, p):
        # Multiplier 0 (the same grid) is a copy in the C, whatever the offsets say.
        parts = [x.reshape(p.outer, size) if g.multiplier == 0 else ref.requantize(x.reshape(p.outer, size), g)
                 for x, size, g in zip(inputs, p.sizes, p.grids)]
        return [np.concatenate(parts, axis=1).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        return ConcatArgs(p, arena_or_flash_operands(lw, i, node))


@dataclass(frozen=True)
class LutConcatParams:
    outer: int
    sizes: tuple[int, ...]
    tables: tuple[tuple[int, ...] | None, ...]   # per input: its 256 results (q + 128), None: copied


@dataclass(frozen=True)
class LutConcatArgs:
    params: LutConcatParams
    operands: tuple
    tables: tuple                                 # per input: a ConstArray, or None

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (*(o for o in self.operands if not isinstance(o, int)), *(t for t in self.tables if t is not None))


@register_kernel
class OrtConcat(PlannedKernel):
    name = "ort_concat"
    ops = ("concat",)
    function = "tfc_concat_lut_s8"
    sources = Concat.sources
    priority = 20
    numerics = ort.ONNXRUNTIME
    template_source = """\
{#- tfc_concat_lut_s8: Layer with LutConcatArgs; each input copied or mapped through its table. -#}
""" + _CALL_HEAD + """\
        const int8_t *const tables[{{ n }}] = { {% for t in layer.args.tables %}{{ t.symbol if t else "0" }}{{ ", " if not loop.last }}{% endfor %} };
        {{ layer.function }}(inputs, sizes, tables, {{ n }}, {{ p.outer }}, {{ m.at(layer.output) }});
    }
{% endmacro %}
"""

    def plan(self, node):
        if not ort.uses_onnxruntime(node):
            return "numerics is not onnxruntime"
        base = _concat_plan(node)
        if isinstance(base, str):
            return base
        yq = per_tensor(node.output, "output", node)
        return LutConcatParams(base.outer, base.sizes, tuple(
            None if g.identity else tuple(int(t) for t in ort.requantize_table(per_tensor(v, f"input {k}", node), yq))
            for k, (v, g) in enumerate(zip(node.inputs, base.grids))))

    def run(self, node, inputs, p):
        parts = [x.reshape(p.outer, size) if t is None else np.asarray(t, np.int8)[x.reshape(p.outer, size).astype(np.int64) + 128]
                 for x, size, t in zip(inputs, p.sizes, p.tables)]
        return [np.concatenate(parts, axis=1).reshape(node.output.shape)]

    def args(self, lw, i, node, p):
        tables = tuple(None if t is None else lw.flash(f"tfc_{lw.name}_l{i}_table{k}", "int8_t", t,
                                                         f"layer {i}: input {k} onto the output grid, entry q + 128")
                       for k, t in enumerate(p.tables))
        return LutConcatArgs(p, arena_or_flash_operands(lw, i, node), tables)
