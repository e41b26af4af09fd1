"""A sparse layer ready for the C kernels: encoded weights, per-channel records, call geometry.

`sparse_conv_layer` / `sparse_linear_layer` are what the C backend calls for a weight that carries
a SparseLayout: they return a `SparseLayer` whose `records_bytes()`, `skips`, `values` are the
const arrays to emit and whose `weights_struct()` gives the tfc_sparse_weights initializer fields.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from tfc.quant import fixed_point as fp
from tfc.quant.kernel_params import ActivationRange
from tfc.sparse import reference as sref
from tfc.sparse.encoding import BlockSparse, conv_from_virtual, decode, encode_conv

RECORD_BYTES = 20
_RECORD = struct.Struct("<iiiibbbb")
INPUT_MAGNITUDE = 255  # |x + input_offset| for int8 x and input_offset in [-127, 128]


@dataclass(frozen=True, eq=False)
class SparseLayer:
    encoded: BlockSparse
    kh: int
    kw: int
    cin: int
    width: int                 # padded input width (linear: number of vectors)
    bias: np.ndarray | None    # int32 [rows]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    output_offset: int
    activation: ActivationRange
    records: np.ndarray        # structured: count, bias, multiplier, rounding, kind, shift, empty

    @property
    def rows(self) -> int:
        return self.encoded.rows

    @property
    def block(self) -> int:
        return self.encoded.block

    def dense_weights(self) -> np.ndarray:
        """OHWI int8 weights back from the encoding."""
        return conv_from_virtual(decode(self.encoded), self.kh, self.kw, self.cin, self.block, self.width)

    def records_bytes(self) -> bytes:
        """rows + 1 records of 20 bytes (the last is the sentinel, count -1)."""
        out = [_RECORD.pack(*(int(v) for v in rec)) for rec in self.records]
        out.append(_RECORD.pack(-1, 0, 0, 0, 0, 0, 0, 0))
        return b"".join(out)

    @property
    def skips(self) -> np.ndarray:
        return self.encoded.skips

    @property
    def values(self) -> np.ndarray:
        return self.encoded.values

    def flash_bytes(self) -> int:
        """Records + skips + values (+ up to 7 bytes aligning the values)."""
        return RECORD_BYTES * (self.rows + 1) + self.encoded.stream_bytes()

    def weights_struct(self) -> dict[str, int]:
        """The scalar fields of tfc_sparse_weights (the three arrays come from the methods above)."""
        return {"rows": self.rows, "block": self.block, "kh": self.kh, "kw": self.kw, "cin": self.cin,
                "width": self.width, "output_offset": self.output_offset,
                "activation_min": self.activation.min, "activation_max": self.activation.max}


def _per_channel(values, rows: int, name: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in values)
    if len(values) == 1:
        values = values * rows
    if len(values) != rows:
        raise ValueError(f"{name}: {len(values)} values for {rows} output channels")
    return values


def _records(w_rows: np.ndarray, encoded: BlockSparse, bias, mults, shifts, output_offset: int,
             act: ActivationRange) -> np.ndarray:
    rows = encoded.rows
    b = np.zeros(rows, np.int64) if bias is None else np.asarray(bias, np.int64)
    bound = np.abs(b) + INPUT_MAGNITUDE * np.abs(w_rows.astype(np.int64)).sum(axis=1)
    rec = np.zeros(rows, dtype=[("count", "<i4"), ("bias", "<i4"), ("multiplier", "<i4"),
                                ("rounding", "<i4"), ("kind", "i1"), ("shift", "i1"), ("empty", "i1"),
                                ("reserved", "i1")])
    for r in range(rows):
        kind, sh, rnd = sref.requant_kind(int(bound[r]), mults[r], shifts[r], output_offset)
        empty = int(fp.requantize(np.int32(b[r]), mults[r], shifts[r])) + output_offset
        rec[r] = (encoded.counts[r], b[r], mults[r], rnd, kind, sh, min(max(empty, act.min), act.max), 0)
    return rec


def sparse_conv_layer(w_ohwi: np.ndarray, bias, multipliers, shifts, *, block: int, width: int,
                      output_offset: int, activation: ActivationRange = ActivationRange()) -> SparseLayer:
    """Encode a conv2d (OHWI int8 weights) for a padded input of `width` columns."""
    w = np.asarray(w_ohwi)
    if w.dtype != np.int8 or w.ndim != 4:
        raise TypeError(f"conv weights must be int8 OHWI, got {w.dtype} {w.shape}")
    rows, kh, kw, cin = w.shape
    encoded = encode_conv(w, block, width)
    mults = _per_channel(multipliers, rows, "multipliers")
    shs = _per_channel(shifts, rows, "shifts")
    if bias is not None:
        bias = np.asarray(bias, dtype=np.int32)
    recs = _records(w.reshape(rows, -1), encoded, bias, mults, shs, output_offset, activation)
    return SparseLayer(encoded, kh, kw, cin, width, bias, mults, shs, output_offset, activation, recs)


def sparse_linear_layer(w: np.ndarray, bias, multipliers, shifts, *, block: int, vectors: int = 1,
                        output_offset: int, activation: ActivationRange = ActivationRange()) -> SparseLayer:
    """Encode a linear layer (int8 [out, in]) applied to `vectors` input vectors at a time."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise TypeError(f"linear weights must be [out, in], got {w.shape}")
    return sparse_conv_layer(w.reshape(w.shape[0], 1, 1, w.shape[1]), bias, multipliers, shifts, block=block,
                             width=vectors, output_offset=output_offset, activation=activation)
