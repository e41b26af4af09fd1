"""tfc_div_s8: int8 a / b of two operands that may broadcast (ConvNeXtV2's GRN, SwiftFormer's
normalize: x / norm). Division of two activations has no integer form that pays, so the kernel
computes as onnxruntime runs a QDQ Div, in float32, one IEEE operation per step:
    q = clamp(rint(((float(a - za) * sa) / (float(b - zb) * sb)) / sy)) + zy
(DequantizeLinear of each input, the division, QuantizeLinear; rint rounds half to even). The
numpy twin does the same float32 operations, so the C, the twin and onnxruntime agree bit for
bit; tfc's PTQ uses the same kernel. b on its zero point (a zero divisor) gives the output's
extreme of a's sign (QuantizeLinear of +-inf), and 0 / 0 gives -128, as onnxruntime quantizes
the NaN (on x86 the conversion of NaN is INT_MIN, then saturated).
Walked as rank 4 like tfc_broadcast_mul_s8; a constant operand stays in flash in its shape."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.kernels.base import register_kernel
from tfc.kernels.elementwise import WalkingBinary
from tfc.quant.operands import per_tensor

I8_MIN, I8_MAX = -128, 127


@dataclass(frozen=True)
class DivParams:
    zero_points: tuple[int, int]
    scales: tuple[float, float]       # float32 values
    out_scale: float                  # float32
    out_offset: int


def div_s8(a: np.ndarray, b: np.ndarray, p: DivParams) -> np.ndarray:
    """The float32 arithmetic of tfc_div_s8 on numpy-broadcast operands."""
    f32 = np.float32
    fa = (a.astype(np.int32) - p.zero_points[0]).astype(f32) * f32(p.scales[0])
    fb = (b.astype(np.int32) - p.zero_points[1]).astype(f32) * f32(p.scales[1])
    fa, fb = np.broadcast_arrays(fa, fb)
    lo, hi = f32(I8_MIN - p.out_offset), f32(I8_MAX - p.out_offset)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (fa / fb) / f32(p.out_scale)
    v = np.where(fb == 0, np.where(fa > 0, hi, lo), v)
    v = np.clip(v, lo, hi)
    return (np.rint(v).astype(np.int32) + p.out_offset).astype(np.int8)


@register_kernel
class Div(WalkingBinary):
    name = "div"
    ops = ("div",)
    function = "tfc_div_s8"
    sources = ("tfc_div_s8.c",)
    call_args = ("{{ p.zero_points[0] }}, {{ p.scales[0] | c_float }}, {{ p.zero_points[1] }}, "
                 "{{ p.scales[1] | c_float }}, {{ p.out_scale | c_float }}, {{ p.out_offset }}")

    def operator_params(self, node):
        a, b = node.inputs
        aq, bq, yq = (per_tensor(v, what, node) for v, what in ((a, "input 1"), (b, "input 2"),
                                                               (node.output, "output")))
        f32 = lambda q: float(np.float32(q.scale[0]))   # noqa: E731
        return DivParams((int(aq.zero_point[0]), int(bq.zero_point[0])), (f32(aq), f32(bq)), f32(yq),
                         int(yq.zero_point[0]))

    def run(self, node, inputs, p):
        return [div_s8(inputs[0], inputs[1], p.op).reshape(node.output.shape)]
