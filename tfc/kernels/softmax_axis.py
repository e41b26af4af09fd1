"""tfc_softmax_axis_s8: int8 softmax over an axis other than the last (MobileViTV2's linear
attention normalizes its context scores over the tokens of a [B, 1, P, N] tensor).

Each column along the axis is gathered into the scratch buffer, normalized there by
tfc_softmax_scaled_s8 (arm_softmax_s8's integers, TFLite Micro's SOFTMAX, which runs over the
last axis only; onto the output's own grid for grid="output") and scattered back: the integers equal transposing the axis last, the softmax kernel,
and transposing back, which is what a TFLite conversion does, without the two transposed copies."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.transformer import Softmax
from tfc.quant import kernel_params as kp
from tfc.quant import node_params as npar
from tfc.quant import reference as ref


@dataclass(frozen=True)
class SoftmaxAxisParams:
    softmax: kp.SoftmaxParams
    outer: int       # product of the dims before the axis
    length: int      # the axis
    inner: int       # product of the dims after it: the stride between a column's elements


@dataclass(frozen=True)
class SoftmaxAxisArgs:
    params: SoftmaxAxisParams
    table: R.ConstArray

    @property
    def flash_arrays(self) -> tuple[R.ConstArray, ...]:
        return (self.table,)


@register_kernel
class SoftmaxAxis(Kernel):
    name = "softmax_axis"
    ops = ("softmax",)
    function = "tfc_softmax_axis_s8"
    sources = ("tfc_softmax_axis_s8.c", *Softmax.sources)
    priority = -1          # after `softmax`, which runs the last axis in place
    template_source = """\
{#- tfc_softmax_axis_s8: Layer with SoftmaxAxisArgs; one column in the scratch at a time. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set p = layer.args.params %}
{{ m.comment(layer) }}
    {{ layer.function }}({{ m.at(layer.inputs[0]) }}, {{ m.at(layer.output) }}, {{ p.outer }}, {{ p.length }}, {{ p.inner }},
        {{ layer.args.table.symbol }}, {{ p.softmax.out_mult }}, {{ p.softmax.out_shift }}, {{ m.at(layer.scratch) }});
{% endmacro %}
"""

    def decline(self, node):
        x = node.inputs[0]
        if node.attrs["axis"] % x.type.rank == x.type.rank - 1:
            return "the softmax is over the last axis (softmax runs it)"
        return None

    def params(self, node):
        shape = node.inputs[0].shape
        axis = node.attrs["axis"] % len(shape)
        return SoftmaxAxisParams(npar.softmax_params(node, any_axis=True), math.prod(shape[:axis]), shape[axis],
                                 math.prod(shape[axis + 1:]))

    def run(self, node, inputs, p):
        x = inputs[0].reshape(p.outer, p.length, p.inner)
        y = np.moveaxis(ref.softmax(np.moveaxis(x, 1, -1), p.softmax), -1, 1)
        return [np.ascontiguousarray(y).reshape(node.output.shape)]

    def scratch_bytes(self, node, params, build, lean=False):
        return params.length

    def args(self, lw, i, node, p):
        table = lw.flash(f"tfc_{lw.name}_l{i}_exp", "uint32_t", ref.softmax_exp_table(p.softmax),
                         f"layer {i}: softmax exp() of x - column max, plus 2^11, entry diff + 255")
        return SoftmaxAxisArgs(p, table)
