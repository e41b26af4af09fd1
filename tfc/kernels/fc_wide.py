"""tfc_fully_connected_wide_s8: a batch-1, per-tensor linear layer (arm_fully_connected_s8's
integers) whose weights are stored widened to int16, grouped 4 rows x 4 columns: the inner loop
needs no unpacking (13 instructions per 16 MACs instead of 23) and pays twice the weight flash.

It runs a layer only where the widened weights stay under `MAX_WIDE_BYTES`, and the lowering hands
the layer back to arm_fully_connected_s8 where the target's flash would not hold every widened
layer (tfc.kernels.lowering: widest layers first).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.errors import TfcError
from tfc.kernels import records as R
from tfc.kernels.base import register_kernel
from tfc.kernels.conv import FullyConnected, _bias_const
from tfc.quant import kernel_params as kp
from tfc.kernels import cost as C

MAX_WIDE_BYTES = 256 * 1024   # widened weights of one layer (int16): AD's largest layer is 160 KiB
# The widened input (and the conv kernels' window buffers) live on the stack of the model's run
# function, as arm_convolve_1x1_s8_fast's widened rows do, so they never grow the arena; a layer
# needing more than this keeps the int8 kernels.
MAX_STACK_BYTES = 3 * 1024


def wide_weights(w: np.ndarray) -> np.ndarray:
    """[rows, cols] int8 -> the kernel's int16 order: groups of 4 rows (zero rows pad the last),
    blocks of 4 columns (zero columns pad the last), each row's 4 values of a block together in
    the order 0, 2, 1, 3 (SXTAB16 widens the input into that order)."""
    rows, cols = w.shape
    rp, cp = -(-rows // 4) * 4, -(-cols // 4) * 4
    padded = np.zeros((rp, cp), np.int16)
    padded[:rows, :cols] = w
    # [group, row-in-group, block, 4] -> [group, block, row-in-group, 4]
    blocks = padded.reshape(rp // 4, 4, cp // 4, 4)[..., [0, 2, 1, 3]]
    return blocks.transpose(0, 2, 1, 3).reshape(-1)


def scratch_cols(depth: int) -> int:
    return -(-depth // 4) * 4


@dataclass(frozen=True)
class WideFcArgs:
    params: kp.FullyConnectedParams
    rows: int
    cols: int
    weights: R.ConstArray        # int16, wide_weights order
    bias: R.ConstArray | None

    @property
    def stack_words(self) -> int:
        """uint64_t words of the widened input (int16, padded to whole blocks of 4)."""
        return scratch_cols(self.cols) // 4


@register_kernel
class FullyConnectedWide(FullyConnected):
    """The fast dense linear kernel where its flash fits (see the module docstring)."""

    name = "fully_connected_wide"
    function = "tfc_fully_connected_wide_s8"
    sources = ("tfc_fully_connected_wide_s8.c",)
    costs = {"tfc_fully_connected_wide_s8": C.Cost(C.MATMUL)}
    priority = 10
    template_source = """\
{#- tfc_fully_connected_wide_s8: Layer with WideFcArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{% set p = a.params %}
{{ m.comment(layer) }}
    {
        uint64_t x16[{{ a.stack_words }}]; /* the widened input */
        tfc_fully_connected_wide_s8({{ m.at(layer.inputs[0]) }}, {{ a.weights.symbol }}, {{ a.bias.symbol if a.bias else "NULL" }},
            {{ m.at(layer.output) }}, (int16_t *)(void *)x16, {{ a.rows }}, {{ a.cols }},
            {{ p.input_offset }}, {{ p.multipliers[0] }}, {{ p.shifts[0] }}, {{ p.output_offset }},
            {{ p.activation.min }}, {{ p.activation.max }});
    }
{% endmacro %}
"""

    def decline(self, node):
        x, w = node.inputs[0], node.inputs[1]
        if w.data is None:
            return "the weights are not a constant"
        if w.sparse is not None:
            return "the weights are sparse"
        out_c, depth = w.shape
        if x.type.size != depth:
            return f"batch {x.type.size // depth} (the wide kernel runs batch 1)"
        try:
            if self.params(node).per_channel:
                return "per-channel weights"
        except TfcError as e:  # the plain kernel says it when it runs the node
            return f"no int8 parameters: {e}"
        wide = 2 * (-(-out_c // 4) * 4) * scratch_cols(depth)
        if wide > MAX_WIDE_BYTES:
            return f"its widened weights ({wide:,} B) exceed {MAX_WIDE_BYTES:,} B of flash"
        if 2 * scratch_cols(depth) > MAX_STACK_BYTES:
            return f"its widened input ({2 * scratch_cols(depth):,} B) exceeds {MAX_STACK_BYTES:,} B of stack"
        return None

    def c_function(self, node, p, lean=False):
        return self.function

    def extra_flash_bytes(self, node):
        out_c, depth = node.inputs[1].shape
        return 2 * (-(-out_c // 4) * 4) * scratch_cols(depth) - out_c * depth

    def args(self, lw, i, node, p):
        w = node.inputs[1]
        out_c, depth = w.shape
        weights = lw.flash(f"tfc_{lw.name}_l{i}_weights_wide", "int16_t", wide_weights(w.data),
                           f"{w.ref} : {w.type}, widened to int16 in groups of 4 rows x 4 columns")
        return WideFcArgs(p, out_c, depth, weights, _bias_const(lw, i, node))
