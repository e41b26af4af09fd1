"""The dense convolution and fully-connected kernels (CMSIS-NN's arm_convolve_s8,
arm_convolve_1x1_s8_fast, arm_depthwise_conv_s8[_opt], arm_fully_connected[_per_channel]_s8,
and tfc_convolve_add_s8: a conv whose output is added to a residual)."""
from __future__ import annotations

import dataclasses

from tfc.errors import UnsupportedError
from tfc.kernels import buffer_sizes as bs
from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.quant import node_params as npar
from tfc.quant import reference as ref
from tfc.kernels import cost as C

# The runtime C files of CMSIS-NN's convolutions and fully connected layers, with the matrix
# products they share (Kernel.sources).
CONVOLVE_SOURCES = ("convolve_s8.c", "mat_mult_s8.c")
FULLY_CONNECTED_SOURCES = ("fully_connected_s8.c", "mat_mult_s8.c")


def dims4(shape) -> R.Dims:
    if len(shape) != 4:
        raise ValueError(f"expected an NHWC shape, got {list(shape)}")
    return R.Dims(*(int(d) for d in shape))


def bias_of(inputs):
    return inputs[2].astype("int32") if len(inputs) == 3 else None


def _bias_const(lw, i, node):
    # after the weights, so weights.c lists each layer's weights first
    return lw.const(node.inputs[2], i, "bias") if len(node.inputs) > 2 else None


def window_rows(rows, in_h: int, kernel_h: int, stride: int, pad_top: int, dilation: int = 1) -> tuple[int, int]:
    """Input rows [lo, hi) a sliding window reads for output rows [o0, o1) (clipped to the input:
    rows outside it are the layer's padding)."""
    o0, o1 = rows
    return (max(0, o0 * stride - pad_top), min(in_h, (o1 - 1) * stride - pad_top + (kernel_h - 1) * dilation + 1))


def band_padding(params, in_lo: int, out_lo: int):
    """`params` (a frozen record with stride and (top, left) padding) for a band whose input starts
    at row in_lo and output at row out_lo: the top padding left before the band's first row."""
    top = params.padding[0] + in_lo - out_lo * params.stride[0]
    return dataclasses.replace(params, padding=(top, params.padding[1]))


def band_dims(d: R.Dims, rows: tuple[int, int]) -> R.Dims:
    return dataclasses.replace(d, h=rows[1] - rows[0])


class _Conv(Kernel):
    """What the dense conv2d kernels share: parameters, numpy twin (by `depthwise`) and args."""

    ops = ("conv2d",)
    depthwise = False

    def params(self, node):
        return npar.conv_params(node)

    def run(self, node, inputs, p):
        out_hw = node.output.shape[1:3]
        if self.depthwise:
            return [ref.depthwise_conv2d(inputs[0], ref.depthwise_weights(inputs[1]), bias_of(inputs), p,
                                         output_hw=out_hw)]
        return [ref.conv2d(inputs[0], inputs[1], bias_of(inputs), p, output_hw=out_hw)]

    def args(self, lw, i, node, p):
        x, w, y = node.inputs[0], node.inputs[1], node.output
        cout, kh, kw, ck = w.shape
        weights = lw.const(w, i, "weights", "depthwise" if self.depthwise else "")
        filter_dims = R.Dims(1, kh, kw, cout) if self.depthwise else R.Dims(cout, kh, kw, ck)
        mult, shift = lw.quant_arrays(i, p)
        return R.ConvArgs(p, dims4(x.shape), filter_dims, R.Dims(1, 1, 1, cout), dims4(y.shape),
                          weights, _bias_const(lw, i, node), mult, shift)


class _ConvBands:
    """Band-of-rows execution (fused tiles) for the dense conv kernels taking ConvArgs."""

    def band_rows(self, node, p, rows):
        kh = node.inputs[1].shape[1]
        return (window_rows(rows, node.inputs[0].shape[1], kh, p.stride[0], p.padding[0], p.dilation[0]),)

    def band_args(self, args, node, p, in_rows, out_rows):
        return dataclasses.replace(args, params=band_padding(p, in_rows[0][0], out_rows[0]),
                                   input_dims=band_dims(args.input_dims, in_rows[0]),
                                   output_dims=band_dims(args.output_dims, out_rows))


@register_kernel
class DepthwiseConv(_ConvBands, _Conv):
    """arm_depthwise_conv_s8_opt where it applies (one output channel per input channel, no
    dilation, batch 1; faster, but it needs scratch), else arm_depthwise_conv_s8 (no scratch)."""

    name = "depthwise_conv"
    function = "arm_depthwise_conv_s8_opt"   # or arm_depthwise_conv_s8: c_function
    sources = ("depthwise_conv_s8.c",)
    costs = {"arm_depthwise_conv_s8_opt": C.Cost(C.DEPTHWISE, (1.0348, 4.6106, 0.0, 19.5453, 0.8814, 0.0, 0.0, 7623.9648)),
             "arm_depthwise_conv_s8": C.Cost(C.DEPTHWISE, (0.0, 6.2272, 0.8891, 19.8686, 4.5113, 0.0, 17.5829, 3247.9875))}
    priority = 5
    depthwise = True
    has_lean_variant = True

    def decline(self, node):
        return None if npar.is_depthwise(node) else "not a depthwise conv (groups != input channels)"

    @staticmethod
    def _opt(node, p, lean: bool) -> bool:
        return p.ch_mult == 1 and p.dilation == (1, 1) and node.inputs[0].shape[0] == 1 and not lean

    def c_function(self, node, p, lean=False):
        return "arm_depthwise_conv_s8_opt" if self._opt(node, p, lean) else "arm_depthwise_conv_s8"

    def scratch_bytes(self, node, p, build, lean=False):
        if not self._opt(node, p, lean):
            return 0
        _, kh, kw, _ = node.inputs[1].shape
        return bs.depthwise_conv_s8_opt(node.inputs[0].shape[3], kh, kw, build)

    def lean_saves(self, node, p) -> bool:
        return self._opt(node, p, False)


@register_kernel
class Conv1x1(_ConvBands, _Conv):
    """arm_convolve_1x1_s8_fast: 1x1, no padding, stride 1, no dilation, one group."""

    name = "conv_1x1"
    function = "arm_convolve_1x1_s8_fast"
    sources = CONVOLVE_SOURCES
    costs = {"arm_convolve_1x1_s8_fast": C.Cost(C.MATMUL, (1.0243, 0.0, 15.033, 30.0609, 0.0, 0.0, 720.5588))}
    template = "conv"
    priority = 4

    def decline(self, node):
        return None if npar.is_pointwise_fast(node) else "not a 1x1, stride-1, unpadded, ungrouped conv"

    def scratch_bytes(self, node, p, build, lean=False):
        return bs.convolve_1x1_s8_fast(node.inputs[0].shape[3], build)


@register_kernel
class Conv(_ConvBands, _Conv):
    """arm_convolve_s8: any conv2d (groups too: C_IN = groups * CK)."""

    name = "conv"
    function = "arm_convolve_s8"
    sources = CONVOLVE_SOURCES
    costs = {"arm_convolve_s8": C.Cost(C.CONV, (8.3982, 0.0, 0.0, 69.0743, 0.0, 0.0, 0.0))}

    def scratch_bytes(self, node, p, build, lean=False):
        _, kh, kw, _ = node.inputs[1].shape
        return bs.convolve_s8(node.inputs[0].shape[3], kh, kw, build)


@register_kernel
class ConvAdd(Kernel):
    """tfc_convolve_add_s8: conv2d onto the mid grid, then the add of the residual (input 3), into
    the residual's bytes: the same integers as the two unfused nodes."""

    name = "conv_add"
    ops = ("conv2d_add",)
    function = "tfc_convolve_add_s8"
    sources = ("tfc_convolve_add_s8.c", *CONVOLVE_SOURCES, "elementwise_s8.c")  # and Add's C
    costs = {"tfc_convolve_add_s8": C.Cost(C.CONV, (1.8586, 74.6655, 193.5384, 9.999, 0.0, 0.0, 1259.2497))}
    in_place = (3,)

    def params(self, node):
        return npar.conv_add_params(node)

    def run(self, node, inputs, p):
        conv = ref.conv2d(inputs[0], inputs[1], bias_of(inputs[:3]), p.conv, output_hw=node.output.shape[1:3])
        first, second = (inputs[3], conv) if p.residual_first else (conv, inputs[3])
        return [ref.add(first, second, p.add)]

    def scratch_bytes(self, node, p, build, lean=False):
        _, kh, kw, _ = node.inputs[1].shape
        conv = bs.convolve_s8(node.inputs[0].shape[3], kh, kw, build)
        return (conv + 3) // 4 * 4 + node.output.shape[2] * node.output.shape[3]

    def args(self, lw, i, node, p):
        x, w, y = node.inputs[0], node.inputs[1], node.output
        cout, kh, kw, ck = w.shape
        mult, shift = lw.quant_arrays(i, p.conv)
        return R.ConvAddArgs(p, dims4(x.shape), R.Dims(cout, kh, kw, ck), R.Dims(1, 1, 1, cout),
                             dims4(y.shape), lw.const(w, i, "weights"), _bias_const(lw, i, node), mult, shift,
                             y.type.size)

    def band_rows(self, node, p, rows):
        c = p.conv
        x = window_rows(rows, node.inputs[0].shape[1], node.inputs[1].shape[1], c.stride[0], c.padding[0],
                        c.dilation[0])
        return x, rows   # the residual: the output's own rows

    def band_args(self, args, node, p, in_rows, out_rows):
        y = band_dims(args.output_dims, out_rows)
        return dataclasses.replace(args, params=dataclasses.replace(p, conv=band_padding(p.conv, in_rows[0][0],
                                                                                         out_rows[0])),
                                   input_dims=band_dims(args.input_dims, in_rows[0]), output_dims=y,
                                   size=y.n * y.h * y.w * y.c)


@register_kernel
class FullyConnected(Kernel):
    """arm_fully_connected_s8 (per-tensor weights) / arm_fully_connected_per_channel_s8."""

    name = "fully_connected"
    ops = ("linear",)
    function = "arm_fully_connected_s8"      # or ..._per_channel_s8: c_function
    sources = FULLY_CONNECTED_SOURCES
    costs = {"arm_fully_connected_per_channel_s8": C.Cost(C.MATMUL, (0.9855, 1.6258, 15.3437, 7.4668, 0.0, 0.0, 1032.1696)),
             "arm_fully_connected_s8": C.Cost(C.MATMUL)}

    def params(self, node):
        return npar.linear_params(node)

    def run(self, node, inputs, p):
        return [ref.fully_connected(inputs[0], inputs[1], bias_of(inputs), p).reshape(node.output.shape)]

    def c_function(self, node, p, lean=False):
        return "arm_fully_connected_per_channel_s8" if p.per_channel else "arm_fully_connected_s8"

    def args(self, lw, i, node, p):
        x, w = node.inputs[0], node.inputs[1]
        out_c, depth = w.shape
        batches = x.type.size // depth
        mult, shift = lw.quant_arrays(i, p) if p.per_channel else (None, None)
        weights = lw.const(w, i, "weights")
        return R.FullyConnectedArgs(p, R.Dims(batches, 1, 1, depth), R.Dims(depth, 1, 1, out_c),
                                    R.Dims(1, 1, 1, out_c), R.Dims(batches, 1, 1, out_c),
                                    weights, _bias_const(lw, i, node), mult, shift)


def require_activations(node) -> None:
    """The C kernels of pooling, requantization and data movement read the arena only."""
    for v in node.inputs:
        if v.data is not None:
            raise UnsupportedError(f"constant operand {v.ref} of an int8 {node.op}", node=node.name, op=node.op,
                                   hint="the C kernels take activations here; canonicalize folds all-constant nodes")
