"""Instruction estimates for one conv/linear layer on the Cortex-M7: tfc's dense kernels and the
sparse kernels by block size and density. The form is DESIGN's:

    sparse ≈ F × outputs + (R × non-empty channels + c[B] × stored blocks) × pixel passes
             + W × widened input values
    dense  ≈ m × MACs + f × outputs

A pixel pass is a group of 4 output pixels (stride 1), or a single pixel (the leftovers, strided
convs, one-vector linear layers: `c1` then). Constants were FITTED by least squares to instruction
counts of the emulated Cortex-M7 (QEMU 7.2 mps2-an500, arm-none-eabi-gcc 12.2 -O2, DSP path) with
`python benchmarks/fit_sparse_cost.py`, which prints this table; refit after changing the kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.sparse.codegen import strided_quads

# ---- fitted constants (benchmarks/fit_sparse_cost.py; max fit error 23 % at density ~0) ---------
SPARSE_F4 = 6.587      # per output, 4-pixel passes
SPARSE_F1 = 12.215     # per output, single-pixel passes
SPARSE_R4 = 35.475     # per non-empty output channel per 4-pixel pass (block-loop entry, requantization)
SPARSE_R1 = 22.755     # per non-empty output channel per single pass
SPARSE_C4 = {1: 11.955, 2: 17.764, 4: 24.127, 8: 44.932, 16: 85.172}  # per stored block per 4-pixel pass
SPARSE_C1 = {1: 7.971, 2: 11.057, 4: 12.084, 8: 19.800, 16: 34.075}   # per stored block per single pass
SPARSE_W = {4: 2.160, 1: 11.361}  # per widened input value: block >= 4 (SIMD widening) / block < 4
# The per-layer generated code (encoding brle-unrolled), same form (max fit error 33 % at density
# ~0, 3.8 % on single passes); refitted after its RIGHT channels' weights were doubled.
UNROLLED_F4, UNROLLED_F1 = 3.284, 5.284
UNROLLED_R4, UNROLLED_R1 = 15.004, 5.191
UNROLLED_C4 = {1: 6.627, 2: 6.829, 4: 13.258, 8: 26.177, 16: 53.248}
UNROLLED_C1 = {1: 2.906, 2: 3.136, 4: 4.222, 8: 8.163, 16: 15.934}
# --------------------------------------------------------------------------------------------------

# ---- tfc's dense kernels: what a layer left dense runs --------------------------------------------
# The cost entries of the dense kernels the registry picks for a conv/linear layer (Kernel.costs in
# tfc/kernels/, fitted to `tfc bench` counts by `python -m nas.kernel_costs fit`; a test checks these
# equal them), over the features their entries name. They replace one conv form and one linear form
# fitted before issue 16's kernels (1.29 instructions per MAC + 9.7 per output for every conv):
# that form put the hybrid's dense 1x1 convs at 1.6x their measured count, so sparse forms looked
# better against dense than they are. On the hybrid's dense build these are within 8 % per layer.
DENSE_1X1 = (0.7268, 5.9261, 45.3626, 1.5486, 3440.3374)   # tfc_pointwise_wide_s8: macs, outputs, pixels, reads, 1
DENSE_FIRST = (0.9706, 2.8918, 124.9885)                    # tfc_convolve_first_s8: macs, outputs, pixels
DENSE_CONV = (0.8965, 4.8314, 328.3788)                     # tfc_convolve_wide_s8: macs, outputs, pixels
DENSE_FC = (0.9855, 1.6258, 15.3437, 7.4668, 1032.1696)     # arm_fully_connected_per_channel_s8:
                                                            # macs4, macs1, outputs, vectors, 1
FIRST_MAX_CHANNELS, FIRST_MAX_DEPTH = 4, 64     # tfc.kernels.conv_first's MAX_CHANNELS, MAX_DEPTH
FC_ROWS4_MAX_DEPTH = 128                        # the FC's 4-row path (nas.kernel_costs: macs4)


@dataclass(frozen=True)
class LayerShape:
    """A conv (kh, kw > 0) or linear (kh = kw = 1, out_h = 1, out_w = vectors) layer."""

    cout: int
    cin: int
    kh: int = 1
    kw: int = 1
    out_h: int = 1
    out_w: int = 1
    stride: int = 1
    in_h: int | None = None
    in_w: int | None = None
    linear: bool = False

    @property
    def outputs(self) -> int:
        return self.cout * self.out_h * self.out_w

    @property
    def macs(self) -> int:
        return self.outputs * self.kh * self.kw * self.cin

    def passes(self, strided_quads: bool = False) -> tuple[int, int]:
        """(4-pixel passes, single-pixel passes) over the output; strided_quads: the kernel runs
        strided convs 4 pixels per pass too (the generated code, blocks of 4 or more)."""
        if self.stride != 1 and not strided_quads:
            return 0, self.out_h * self.out_w
        return self.out_h * (self.out_w // 4), self.out_h * (self.out_w % 4)

    def widened_values(self, block: int) -> int:
        g = -(-self.cin // block)
        h = self.in_h if self.in_h is not None else self.out_h + self.kh - 1
        w = self.in_w if self.in_w is not None else self.out_w + self.kw - 1
        return h * w * g * block


def dense_instructions(layer: LayerShape) -> float:
    """The dense kernel tfc runs for this layer: a linear layer the per-channel FC, a 1x1 conv
    (channels in fours) the pointwise kernel, a conv of at most 4 input channels the first-layer
    kernel, any other the wide conv."""
    cols = layer.kh * layer.kw * layer.cin
    if layer.linear:
        vectors = layer.out_h * layer.out_w
        rows4 = vectors // 4 * 4 if vectors >= 4 and 4 <= cols <= FC_ROWS4_MAX_DEPTH else 0
        macs4 = rows4 * cols * layer.cout
        return float(np.dot(DENSE_FC, (macs4, layer.macs - macs4, layer.outputs, vectors, 1)))
    pixels = layer.out_h * layer.out_w
    if layer.kh == layer.kw == 1 and layer.cin % 4 == 0 and layer.cout % 4 == 0:
        return float(np.dot(DENSE_1X1, (layer.macs, layer.outputs, pixels, pixels * cols, 1)))
    form = DENSE_FIRST if layer.cin <= FIRST_MAX_CHANNELS and cols <= FIRST_MAX_DEPTH else DENSE_CONV
    return float(np.dot(form, (layer.macs, layer.outputs, pixels)))


def sparse_instructions(layer: LayerShape, block: int, stored_blocks: float,
                        nonempty_rows: float | None = None) -> float:
    """stored_blocks: over all output channels (escapes included), e.g. BlockSparse.stored_blocks;
    nonempty_rows: channels with a stored block (default: all)."""
    p4, p1 = layer.passes()
    rows = layer.cout if nonempty_rows is None else nonempty_rows
    w = SPARSE_W[4 if block >= 4 else 1]
    return (SPARSE_F4 * 4 * p4 * layer.cout + SPARSE_F1 * p1 * layer.cout
            + (SPARSE_R4 * p4 + SPARSE_R1 * p1) * rows
            + (SPARSE_C4[block] * p4 + SPARSE_C1[block] * p1) * stored_blocks
            + w * layer.widened_values(block))


def unrolled_instructions(layer: LayerShape, block: int, stored_blocks: float,
                          nonempty_rows: float | None = None) -> float:
    """The per-layer generated code (tfc.sparse.codegen): the same form, its own constants."""
    p4, p1 = layer.passes(strided_quads=strided_quads(block))
    rows = layer.cout if nonempty_rows is None else nonempty_rows
    w = SPARSE_W[4 if block >= 4 else 1]
    return (UNROLLED_F4 * 4 * p4 * layer.cout + UNROLLED_F1 * p1 * layer.cout
            + (UNROLLED_R4 * p4 + UNROLLED_R1 * p1) * rows
            + (UNROLLED_C4[block] * p4 + UNROLLED_C1[block] * p1) * stored_blocks
            + w * layer.widened_values(block))


def expected_stored_blocks(layer: LayerShape, block: int, density: float) -> float:
    """Non-zero blocks for a block density (escapes ignored)."""
    return density * layer.cout * layer.kh * layer.kw * -(-layer.cin // block)


def expected_nonempty_rows(layer: LayerShape, block: int, density: float) -> float:
    """Channels with at least one non-zero block when blocks are non-zero independently."""
    nb = layer.kh * layer.kw * -(-layer.cin // block)
    return layer.cout * (1.0 - (1.0 - density) ** nb)


# ---- depthwise (tfc_sparse_depthwise_conv_s8, encoding dw-taps; benchmarks/sparse_depthwise.py) ----
# Per channel and output pixel: an empty channel is a store, a one-tap channel a table look-up
# (DW_LUT); a channel of 2 or 3 taps runs a loop specialised for its count, more taps a loop over
# its tap list; plus per-row and per-channel set-up and the copy into the four-channel
# zero-point-padded planes (bytes). Fitted by benchmarks/sparse_depthwise.py on the emulated M7 to
# the in-place kernel with doubled weights (four pixels per step; max error 14.3 %, the rows and
# planes of small layers being what the linear form fits worst); refit after changing the kernel.
# The generic dense loop's DENSE_DW_TAP / DENSE_DW_OUT predate the 3x3 path and were not refitted
# (the benchmark now measures one such shape, 12x12x32 5x5: 580,775, 12 % above the estimate).
DW_FEATURES = ("DW_EMPTY", "DW_LUT", "DW_FAST", "DW_FAST_TAP", "DW_ANY", "DW_ANY_TAP", "DW_ROW", "DW_CHANNEL",
               "DW_IMAGE")
DW_EMPTY = 4.736
# A one-tap channel's output by its table (encoding dw-taps-lut: a load, a table load, a store and
# a quarter of the loop, ~4 instructions): not in the fit below; set so the form reproduces the
# hybrid's two depthwise layers measured with and without tables (16x16x64 stride 1: 187,243 ->
# 151,177; 8x8 stride 2: 76,381 -> 65,095; 42 of 64 channels with one tap): the table saves ~3.5
# instructions per output, and DW_ROW and DW_IMAGE carry most of a channel's fixed cost in this form.
DW_LUT = 0.8
DW_FAST = 0.914
DW_FAST_TAP = 3.425
DW_ANY = 1.510
DW_ANY_TAP = 7.549
DW_ROW = 104.957
DW_CHANNEL = 27.334
DW_IMAGE = 0.208
DENSE_DW_TAP, DENSE_DW_OUT = 3.409, 25.237    # the generic loop (kernels other than dense 3x3)
# The 3x3 channel-pair kernel (stride 1 or 2, channels a multiple of 4): per output, by stride.
DENSE_DW3_OUT_S1, DENSE_DW3_OUT_S2 = 31.415, 52.907


def depthwise_features(layer: LayerShape, taps_per_channel, luts: bool = False) -> list[float]:
    """The DW_FEATURES of a depthwise layer (cout channels) whose channel c keeps taps_per_channel[c];
    luts: the one-tap channels run by table (encoding dw-taps-lut)."""
    counts = [int(t) for t in taps_per_channel]
    pixels = layer.out_h * layer.out_w
    lut = [t for t in counts if t == 1] if luts else []
    fast = [t for t in counts if (2 if luts else 1) <= t <= 3]
    many = [t for t in counts if t > 3]
    nonempty = len(lut) + len(fast) + len(many)
    image = ((layer.out_h - 1) * layer.stride + layer.kh) * ((layer.out_w - 1) * layer.stride + layer.kw) * layer.cout
    return [pixels * (len(counts) - nonempty), pixels * len(lut), pixels * len(fast), pixels * sum(fast),
            pixels * len(many), pixels * sum(many), layer.out_h * nonempty, len(counts), image]


def sparse_depthwise_instructions(layer: LayerShape, taps_per_channel, luts: bool = False) -> float:
    coef = [globals()[name] for name in DW_FEATURES]
    return float(sum(c * f for c, f in zip(coef, depthwise_features(layer, taps_per_channel, luts))))


def dense_dw3_applies(layer: LayerShape) -> bool:
    """Whether tfc's arm_depthwise_conv_s8_opt takes its 3x3 channel-pair path for this layer."""
    return layer.kh == layer.kw == 3 and layer.stride in (1, 2) and layer.cout % 4 == 0


def dense_depthwise_instructions(layer: LayerShape) -> float:
    """tfc's arm_depthwise_conv_s8_opt (ch_mult 1)."""
    if dense_dw3_applies(layer):
        return (DENSE_DW3_OUT_S1 if layer.stride == 1 else DENSE_DW3_OUT_S2) * layer.outputs
    return DENSE_DW_TAP * layer.outputs * layer.kh * layer.kw + DENSE_DW_OUT * layer.outputs
