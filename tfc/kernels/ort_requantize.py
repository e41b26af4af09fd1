"""tfc_ort_requantize_s8: int8 -> int8 onto another grid (quantize, relu, clip) with onnxruntime's
arithmetic, for nodes with numerics="onnxruntime": what onnxruntime computes for DequantizeLinear,
the float op between, and QuantizeLinear. The input's reals come from a 256-entry float32 table,
(q - z_x) s_x; then the division by the output scale, the clamp and round half to even
(tfc_ort_to_s8), as MLAS does it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.conv import require_activations
from tfc.quant import ort_numerics as ort
from tfc.quant.operands import per_tensor

f32 = np.float32


@dataclass(frozen=True)
class OrtRequantizeParams:
    dequantized: tuple[float, ...]   # 256 float32: (q - z_x) s_x for q = -128..127
    output_scale: float
    lo: float                        # clamp on x / s_y: the int8 range less the offset, and the op's clamp
    hi: float
    output_offset: int


@dataclass(frozen=True)
class OrtRequantizeArgs:
    params: OrtRequantizeParams
    size: int
    table: object                    # records.ConstArray


@register_kernel
class OrtRequantize(Kernel):
    name = "ort_requantize"
    ops = ("quantize", "relu", "clip")
    function = "tfc_ort_requantize_s8"
    sources = ("tfc_ort_requantize_s8.c",)
    priority = 20
    numerics = ort.ONNXRUNTIME
    pure_requantization = True
    in_place = (0,)
    template_source = """\
{#- tfc_ort_requantize_s8: Layer with OrtRequantizeArgs. -#}
{% import "_macros.j2" as m %}
{% macro data(layer) %}{% endmacro %}
{% macro call(layer) %}
{% set a = layer.args %}
{% set p = a.params %}
{{ m.comment(layer) }}
    {{ layer.function }}({{ m.at(layer.inputs[0]) }}, {{ m.at(layer.output) }}, {{ a.size }}, {{ a.table.symbol }},
        {{ p.output_scale | c_float }}, {{ p.lo | c_float }}, {{ p.hi | c_float }}, {{ p.output_offset }});
{% endmacro %}
"""

    def decline(self, node):
        return None if ort.uses_onnxruntime(node) else "numerics is not onnxruntime"

    def params(self, node):
        xq, yq = per_tensor(node.inputs[0], "input", node), per_tensor(node.output, "output", node)
        q = np.arange(-128, 128, dtype=np.int64)
        deq = ((q - xq.zero_point[0]).astype(f32) * f32(xq.scale[0])).astype(f32)
        sy, zy = f32(yq.scale[0]), yq.zero_point[0]
        lo, hi = f32(-128 - zy), f32(127 - zy)
        if node.spec.is_clamp:   # the float op's clamp, divided by s_y as the real value would be
            a, b = node.spec.clamp_bounds(node.attrs)
            if not math.isinf(a):
                lo = max(lo, f32(f32(a) / sy))
            if not math.isinf(b):
                hi = min(hi, f32(f32(b) / sy))
        return OrtRequantizeParams(tuple(float(v) for v in deq), float(sy), float(lo), float(hi), zy)

    def run(self, node, inputs, p):
        v = (np.asarray(p.dequantized, dtype=f32)[inputs[0].astype(np.int64) + 128] / f32(p.output_scale)).astype(f32)
        v = np.clip(v, f32(p.lo), f32(p.hi))
        return [(np.rint(v).astype(np.int64) + p.output_offset).astype(np.int8)]

    def args(self, lw, i, node, p):
        require_activations(node)
        table = lw.flash(f"tfc_{lw.name}_l{i}_dequantized", "float", p.dequantized,
                         f"layer {i}: (q - z_x) s_x in float32, entry q + 128")
        return OrtRequantizeArgs(p, node.output.type.size, table)
