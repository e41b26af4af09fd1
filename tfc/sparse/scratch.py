"""Scratch bytes of the sparse kernels (the `_get_buffer_size` rules of tfc_sparse.h), shared by the
C backend's arena planning and sparsify's SRAM-aware choice."""
from __future__ import annotations

from tfc.sparse.encoding import groups_of


def padded_width(x_w: int, kw: int, stride: int, pad_left: int, out_w: int) -> int:
    """The widened image's width a conv needs (its sparse weights are encoded for it)."""
    return max(x_w + pad_left, (out_w - 1) * stride + kw)


def conv_scratch_bytes(x_shape, w_shape, out_shape, stride, pad, block: int) -> int:
    """tfc_sparse_convolve_s8_get_buffer_size: the whole widened, zero-padded input image (NHWC
    shapes, OHWI weights); one widened row for a 1x1 kernel, which reads one row per output row."""
    _, in_h, in_w, cin = x_shape
    _, kh, kw, _ = w_shape
    _, out_h, out_w, _ = out_shape
    wp = padded_width(in_w, kw, stride[1], pad[1], out_w)
    hp = 1 if kh == 1 else max((out_h - 1) * stride[0] + kh, in_h + pad[0])
    return hp * groups_of(cin, block) * wp * block * 2


def fc_scratch_bytes(vectors: int, depth: int, block: int) -> int:
    """tfc_sparse_fully_connected_s8_get_buffer_size: the widened input vectors."""
    return groups_of(depth, block) * vectors * block * 2


def depthwise_scratch_bytes(x_shape, w_shape, out_shape, stride, pad) -> int:
    """tfc_sparse_depthwise_conv_s8_get_buffer_size: the zero-point-padded planes of four channels
    (the kernel runs channels four at a time, in place)."""
    _, kh, kw, _ = w_shape
    _, out_h, out_w, _ = out_shape
    return ((out_h - 1) * stride[0] + kh) * ((out_w - 1) * stride[1] + kw) * 4
