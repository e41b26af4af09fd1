"""Pooling: arm_avgpool_s8 and arm_max_pool_s8 (input and output share their quantization)."""
from __future__ import annotations

import dataclasses

from tfc.kernels import buffer_sizes as bs
from tfc.kernels import records as R
from tfc.kernels.base import Kernel, register_kernel
from tfc.kernels.conv import band_dims, band_padding, dims4, require_activations, window_rows
from tfc.quant import node_params as npar
from tfc.quant import reference as ref
from tfc.kernels import cost as C


class _Pool(Kernel):
    template = "pool"

    def params(self, node):
        return npar.pool_params(node)

    def args(self, lw, i, node, p):
        require_activations(node)
        return R.PoolArgs(p, dims4(node.inputs[0].shape), R.Dims(1, p.filter[0], p.filter[1], 1),
                          dims4(node.output.shape))

    def band_rows(self, node, p, rows):
        return (window_rows(rows, node.inputs[0].shape[1], p.filter[0], p.stride[0], p.padding[0]),)

    def band_args(self, args, node, p, in_rows, out_rows):
        return dataclasses.replace(args, params=band_padding(p, in_rows[0][0], out_rows[0]),
                                   input_dims=band_dims(args.input_dims, in_rows[0]),
                                   output_dims=band_dims(args.output_dims, out_rows))


@register_kernel
class AvgPool(_Pool):
    name = "avgpool"
    ops = ("avgpool2d",)
    function = "arm_avgpool_s8"
    sources = ("pooling_s8.c",)
    costs = {"arm_avgpool_s8": C.Cost(C.POOL, (6.7233, 14.8807, 289.0465))}

    def run(self, node, inputs, p):
        return [ref.avg_pool(inputs[0], p, output_hw=node.output.shape[1:3])]

    def scratch_bytes(self, node, p, build, lean=False):
        return bs.avgpool_s8(node.output.shape[2], node.inputs[0].shape[3], build)


@register_kernel
class MaxPool(_Pool):
    name = "maxpool"
    ops = ("maxpool2d",)
    function = "arm_max_pool_s8"
    sources = ("pooling_s8.c",)
    costs = {"arm_max_pool_s8": C.Cost(C.POOL)}

    def run(self, node, inputs, p):
        return [ref.max_pool(inputs[0], p, output_hw=node.output.shape[1:3])]
