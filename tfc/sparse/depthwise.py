"""Sparse depthwise convolution ("dw-taps"): per channel only the non-zero kernel taps.

A depthwise conv's reduction axis per output channel is its Kh*Kw taps; sparsity there is blocks
of one tap (the kernel runs one channel at a time, so a tap pattern shared by a group of channels
would buy nothing). `sparse_depthwise_layer` builds what tfc_sparse_depthwise_conv_s8 reads
(runtime/include/tfc_sparse_depthwise.h, docs/sparse-format.md "Depthwise taps"):

* records, 12 bytes per channel: int32 bias + input_offset * sum(w) (modulo 2^32; the kernel reads
  a padded image whose padding holds the input zero point, so x + input_offset is never formed),
  int32 multiplier, int8 kind, int8 shift (as tfc_sparse_row), uint8 tap count, int8 empty output;
* taps, 2 bytes per non-zero tap: uint8 ky * kw + kx, int8 weight, channel after channel;
* encoding "dw-taps-lut" only: luts, 256 bytes per channel of one tap, channel after channel: such
  a channel's output is a function of one input byte, lut[(uint8)x] (requantization, zero point
  and clamp included), so the kernel spends a load, a table load and a store per output instead of
  a load, a MAC, the requantization and a store (what pruning a 3x3 kernel to ~15 % leaves is
  mostly one-tap channels). Faster, and larger than the dense layer: sparsify weighs both forms.

Flash: 12 * channels + 2 * non-zero taps (+ 256 * one-tap channels for dw-taps-lut), against dense
Kh*Kw*C weights + 4 B bias + 8 B of per-channel multiplier and shift.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.quant import fixed_point as fp
from tfc.quant.kernel_params import ActivationRange
from tfc.sparse import reference as sref
from tfc.sparse.layer import INPUT_MAGNITUDE

ENCODING = "dw-taps"
LUT_ENCODING = "dw-taps-lut"
ENCODINGS = (ENCODING, LUT_ENCODING)
RECORD_BYTES = 12
TAP_BYTES = 2
LUT_BYTES = 256  # per one-tap channel
MAX_TAPS = 64  # SP_DW_MAX_TAPS in tfc_sparse_depthwise_s8.c
RECORD_DTYPE = np.dtype([("bias", "<i4"), ("multiplier", "<i4"), ("kind", "i1"), ("shift", "i1"),
                         ("count", "u1"), ("empty", "i1")])


@dataclass(frozen=True, eq=False)
class SparseDepthwiseLayer:
    weights: np.ndarray        # int8 [C, kh, kw]
    bias: np.ndarray | None    # int32 [C]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    input_offset: int
    output_offset: int
    activation: ActivationRange
    records: np.ndarray        # RECORD_DTYPE [C]
    taps: np.ndarray           # uint8 [2 * non-zero taps]
    luts: np.ndarray           # int8 [256 * one-tap channels]

    @property
    def channels(self) -> int:
        return self.weights.shape[0]

    @property
    def kh(self) -> int:
        return self.weights.shape[1]

    @property
    def kw(self) -> int:
        return self.weights.shape[2]

    @property
    def nonzero_taps(self) -> int:
        return int(np.count_nonzero(self.weights))

    @property
    def nonempty_channels(self) -> int:
        return int(self.weights.reshape(self.channels, -1).any(axis=1).sum())

    @property
    def density(self) -> float:
        return self.nonzero_taps / self.weights.size if self.weights.size else 0.0

    def records_bytes(self) -> bytes:
        return self.records.astype(RECORD_DTYPE).tobytes()

    @property
    def encoding(self) -> str:
        return LUT_ENCODING if self.luts.size else ENCODING

    @property
    def one_tap_channels(self) -> int:
        return int((self.records["count"] == 1).sum())

    def flash_bytes(self) -> int:
        return RECORD_BYTES * self.channels + int(self.taps.nbytes) + int(self.luts.nbytes)

    def cmsis_weights(self) -> np.ndarray:
        """[1, kh, kw, C]: the dense kernel's filter (tfc.quant.reference.depthwise_conv2d)."""
        return np.ascontiguousarray(self.weights.transpose(1, 2, 0)[None])

    def weights_struct(self) -> dict[str, int]:
        """The scalar fields of tfc_sparse_dw_weights."""
        return {"channels": self.channels, "kh": self.kh, "kw": self.kw, "input_offset": self.input_offset,
                "output_offset": self.output_offset}


def flash_bytes(channels: int, nonzero_taps: int, one_tap_channels: int = 0) -> int:
    return RECORD_BYTES * channels + TAP_BYTES * nonzero_taps + LUT_BYTES * one_tap_channels


def one_tap_lut(bias: int, weight: int, multiplier: int, shift: int, *, input_offset: int, output_offset: int,
                activation: ActivationRange) -> np.ndarray:
    """int8 [256]: the output of a one-tap channel for each input byte, indexed by (uint8)x; the
    dense kernel's integers (tfc.quant.reference's requantization, zero point and clamp)."""
    x = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)
    acc = fp.wrap_int32(bias + weight * (x + input_offset))
    out = fp.requantize(acc, multiplier, shift).astype(np.int64) + output_offset
    return np.clip(out, activation.min, activation.max).astype(np.int8)


def dense_flash_bytes(channels: int, taps: int) -> int:
    """arm_depthwise_conv_s8's weights, int32 bias and per-channel int32 multiplier and shift."""
    return channels * taps + 12 * channels


def _per_channel(values, n: int, name: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in values)
    if len(values) == 1:
        values *= n
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} channels")
    return values


def sparse_depthwise_layer(w: np.ndarray, bias, multipliers, shifts, *, input_offset: int, output_offset: int,
                           activation: ActivationRange = ActivationRange(), luts: bool = False) -> SparseDepthwiseLayer:
    """Encode depthwise weights: int8 [C, kh, kw], or the IR's OHWI [C, kh, kw, 1]; luts: with the
    one-tap channels' tables (encoding dw-taps-lut)."""
    w = np.asarray(w)
    if w.ndim == 4 and w.shape[3] == 1:
        w = w[..., 0]
    if w.dtype != np.int8 or w.ndim != 3:
        raise TypeError(f"depthwise weights must be int8 [C, kh, kw] (or [C, kh, kw, 1]), got {w.dtype} {w.shape}")
    c, kh, kw = w.shape
    if kh * kw > MAX_TAPS:
        raise ValueError(f"depthwise kernel {kh}x{kw}: the sparse kernel takes at most {MAX_TAPS} taps")
    if not -127 <= input_offset <= 128:
        raise ValueError(f"input offset {input_offset} outside [-127, 128] (an int8 zero point's negation)")
    mults, shs = _per_channel(multipliers, c, "multipliers"), _per_channel(shifts, c, "shifts")
    b = np.zeros(c, np.int64) if bias is None else np.asarray(bias, np.int64)
    flat = w.reshape(c, -1).astype(np.int64)
    bound = np.abs(b) + INPUT_MAGNITUDE * np.abs(flat).sum(axis=1)
    folded = fp.wrap_int32(b + input_offset * flat.sum(axis=1))
    rec = np.zeros(c, RECORD_DTYPE)
    taps, tables, with_luts = [], [], luts
    for ch in range(c):
        kind, sh, _ = sref.requant_kind(int(bound[ch]), mults[ch], shs[ch], output_offset)
        empty = int(fp.requantize(np.int32(b[ch]), mults[ch], shs[ch])) + output_offset
        nz = np.flatnonzero(flat[ch])
        rec[ch] = (folded[ch], mults[ch], kind, sh, len(nz), min(max(empty, activation.min), activation.max))
        for t in nz:
            taps += [int(t), int(flat[ch, t]) & 0xFF]
        if with_luts and len(nz) == 1:
            tables.append(one_tap_lut(int(b[ch]), int(flat[ch, nz[0]]), mults[ch], shs[ch], input_offset=input_offset,
                                    output_offset=output_offset, activation=activation))
    return SparseDepthwiseLayer(w, None if bias is None else np.asarray(bias, np.int32), mults, shs, input_offset,
                                output_offset, activation, rec, np.asarray(taps, dtype=np.uint8),
                                np.concatenate(tables) if tables else np.zeros(0, np.int8))
