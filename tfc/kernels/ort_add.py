"""tfc_ort_add_s8: int8 a + b (broadcasting) as onnxruntime's fused QLinearAdd computes it on x86-64
(MLAS's float kernel), for adds of a QDQ model (numerics="onnxruntime"). In float32, with the
ratios r_a = s_a / s_y, r_b = s_b / s_y and the zero points folded into one constant,
    fixed = z_y - fmaf(r_a, z_a, r_b * z_b)
    y = clamp(rint(fmaf(a, r_a, fmaf(b, r_b, fixed))))          (a, b: the raw int8 values)
rint rounding half to even. Where a is one value per row of the walk (a [N, 1] + [1, N] add)
onnxruntime passes the operands the other way round (a as its scalar "B"), so the roles of a
and b swap in both lines. Matched on every int8 pair for 12 scale / zero-point sets, broadcasting
and not (tests/kernels/test_ort_add_kernel.py), under the session tfc judges QDQ models with
(tfc.quant.ort_numerics.onnxruntime_session). onnxruntime's Arm (NEON) build computes QLinearAdd
in fixed point instead (MlasCalcQLinearAddParameters); this kernel follows the x86 build.
The C calls fmaf (VFMA.F32 on the Cortex-M7's FPv5, libm on a host); numpy has no fused
multiply-add, so the twin computes it exactly: see `fmaf`."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfc.kernels.base import register_kernel
from tfc.kernels.elementwise import WalkingBinary
from tfc.quant import ort_numerics as ort
from tfc.quant.node_params import clamp_range
from tfc.quant.operands import per_tensor

f32 = np.float32


@dataclass(frozen=True)
class OrtAddParams:
    ratios: tuple[float, float]       # float32(s_a / s_y), float32(s_b / s_y)
    fixed: float                      # float32: the zero points' part (module docstring)
    swapped: bool                     # a's term fused last (a is one value per row)
    act_min: int
    act_max: int


def fmaf(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """float32 x * y + z rounded once, for float32 x holding an integer |x| <= 255: the product is
    exact in float64 (9 by 24 significant bits); the float64 sum s is made exact with TwoSum's
    error e and rounded to odd (an inexact s with an even last bit moves one ulp towards e), and
    a float64 rounded to odd rounds to float32 (53 >= 24 + 2 bits) as the exact value would
    (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums", 2008)."""
    p = x.astype(np.float64) * y.astype(np.float64)
    z = z.astype(np.float64)
    s = p + z
    bp = s - p
    e = (p - (s - bp)) + (z - bp)
    even = (s.view(np.int64) & 1) == 0
    s = np.where((e != 0) & even, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return s.astype(f32)


def ort_add_s8(a: np.ndarray, b: np.ndarray, p: OrtAddParams) -> np.ndarray:
    """tfc_ort_add_s8's float32 arithmetic on numpy-broadcast operands."""
    x, y = np.broadcast_arrays(a.astype(f32), b.astype(f32))
    r = [np.full(x.shape, ratio, f32) for ratio in p.ratios]
    fixed = np.full(x.shape, p.fixed, f32)
    v = fmaf(y, r[1], fmaf(x, r[0], fixed)) if p.swapped else fmaf(x, r[0], fmaf(y, r[1], fixed))
    return np.rint(np.clip(v, f32(p.act_min), f32(p.act_max))).astype(np.int8)


def zero_point_part(r_first: float, z_first: int, r_second: float, z_second: int, z_y: int) -> float:
    """float32 z_y - fmaf(r_first, z_first, r_second * z_second): MLAS's FixedPart (fused as the
    compiler contracts it in MLAS's FMA build)."""
    one = lambda v: np.array([v], f32)   # noqa: E731
    inner = one(f32(r_second) * f32(z_second))
    return float((f32(z_y) - fmaf(one(z_first), one(r_first), inner))[0])


@register_kernel
class OrtAdd(WalkingBinary):
    name = "ort_add"
    ops = ("add",)
    function = "tfc_ort_add_s8"
    sources = ("tfc_ort_add_s8.c",)
    priority = 20
    numerics = ort.ONNXRUNTIME
    call_args = ("{{ p.ratios[0] | c_float }}, {{ p.ratios[1] | c_float }}, {{ p.fixed | c_float }}, "
                 "{{ 1 if p.swapped else 0 }}, {{ p.act_min }}, {{ p.act_max }}")

    def decline(self, node):
        if not ort.uses_onnxruntime(node):
            return "numerics is not onnxruntime"
        for v in (*node.inputs, node.output):
            if v.quant is None or v.quant.axis is not None:
                return f"{v.ref} is not quantized per tensor"
        return super().decline(node)

    def operator_params(self, node):
        a, b = node.inputs
        aq, bq, yq = (per_tensor(v, what, node) for v, what in ((a, "input 1"), (b, "input 2"),
                                                               (node.output, "output")))
        sy = f32(yq.scale[0])
        ra, rb = (float(f32(f32(q.scale[0]) / sy)) for q in (aq, bq))
        za, zb, zy = (int(q.zero_point[0]) for q in (aq, bq, yq))
        strides = self.walk(node).strides                # [k][3]: 0 where operand k is one value per row
        swapped = strides[0][3] == 0 and strides[1][3] != 0
        fixed = zero_point_part(rb, zb, ra, za, zy) if swapped else zero_point_part(ra, za, rb, zb, zy)
        act = clamp_range(node.attrs.get("act_min", -math.inf), node.attrs.get("act_max", math.inf), yq)
        return OrtAddParams((ra, rb), fixed, swapped, act.min, act.max)

    def run(self, node, inputs, p):
        return [ort_add_s8(inputs[0], inputs[1], p.op).reshape(node.output.shape)]
