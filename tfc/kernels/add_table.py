"""tfc_add_table_s8: arm_elementwise_add_s8 with each input's rescaling read from a table.

TFLite's int8 ADD rescales each input on its own ((a + offset) << 20, requantized to twice the
larger input scale) before summing; that is a function of one int8 value, so its 256 values go to
flash as an int32 table per input (2 KiB per add) and the C keeps only the sum's rescaling: about
10.75 instructions per element on the Cortex-M7 against the table-free add's 17. Tried above `add`
(priority 1) for every add whose operands have the output's size; the same numbers as `add`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.kernels import cost as C
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.elementwise import Add
from tfc.quant import fixed_point as fp
from tfc.quant import reference as ref

INT8_VALUES = np.arange(-128, 128, dtype=np.int64)
INT32_MAX = 2**31 - 1
# Below this many elements the 2 KiB of tables buy fewer than ~2,000 instructions.
MIN_ELEMENTS = 256
TABLE_BYTES = 2 * 256 * 4   # one int32[256] per input


def rescaled_inputs(p) -> tuple[np.ndarray, np.ndarray]:
    """Per input, its rescaled value (TFLite's ADD before the sum) for a = -128..127."""
    return tuple(fp.requantize(fp.shl_wrap(INT8_VALUES + off, p.left_shift), mult, shift).astype(np.int64)
                 for off, mult, shift in ((p.input_1_offset, p.input_1_mult, p.input_1_shift),
                                          (p.input_2_offset, p.input_2_mult, p.input_2_shift)))


def table_decline(p) -> str | None:
    """Why the tables cannot carry these parameters (None: they can): the C bounds every sum by
    the tables' end entries, so each table must be monotone, and twice the sum must fit int32."""
    if p.input_1_mult < 0 or p.input_2_mult < 0:
        return "a negative input multiplier (the tables' monotone bound assumes TFLite's non-negative ones)"
    r1, r2 = rescaled_inputs(p)
    if any(np.any(np.diff(r) < 0) for r in (r1, r2)):
        return "an input's rescaling is not monotone (its shifted offset wraps int32)"
    if 2 * (np.abs(r1).max() + np.abs(r2).max()) > INT32_MAX:
        return "twice the rescaled sum could leave int32"
    return None


@dataclass(frozen=True)
class AddTableArgs(R.AddArgs):
    tables: tuple = ()      # two ConstArrays, int32[256]: twice each input's rescaled value


@register_kernel
class AddTable(Add):
    name = "add_table"
    function = "tfc_add_table_s8"
    sources = ("tfc_add_table_s8.c",)
    priority = 1
    # Measured on the hybrid (1,536 and 4,096 elements: 16,640 and 44,159 instructions).
    costs = {"tfc_add_table_s8": C.Cost(C.ELEMENTS, (10.75, 128.0))}
    template_source = """{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set p = layer.args.params %}
{% set step = layer.args.step %}
{{ m.comment(layer) }}
{{ m.repeat_open(layer) }}
    {{ layer.function }}({{ m.operand(layer, 0, step) }}, {{ m.operand(layer, 1, step) }},
        {{ layer.args.tables[0].symbol }}, {{ layer.args.tables[1].symbol }}, {{ m.at(layer.output) }}{{ (" + " ~ step) if step }},
        {{ layer.args.elements }}, {{ p.out_offset }}, {{ p.out_mult }}, {{ p.out_shift }}, {{ p.activation.min }}, {{ p.activation.max }});
{{ m.repeat_close(layer) }}
{% endmacro %}
"""

    def decline(self, node):
        reason = super().decline(node)
        if reason is not None:
            return reason
        if node.output.type.size < MIN_ELEMENTS:
            return f"{node.output.type.size} elements: the 2 KiB of input tables would cost more flash than they save"
        return table_decline(self.params(node))

    def extra_flash_bytes(self, node):
        return TABLE_BYTES

    def args(self, lw, i, node, p):
        base = super().args(lw, i, node, p)
        tables = tuple(lw.flash(f"tfc_{lw.name}_l{i}_in{k + 1}_table", "int32_t", 2 * r,
                                f"layer {i}: add input {k + 1} rescaled (times 2), for a = -128..127")
                       for k, r in enumerate(rescaled_inputs(p)))
        return AddTableArgs(base.params, base.size, base.operands, base.block, tables)
