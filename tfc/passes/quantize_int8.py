"""quantize-int8: float or QDQ graph in, int8 graph out (see tfc/quant/lower.py).

A model that carries Q/DQ nodes keeps exactly its quantization parameters. A float model is
quantized from the `calibration` samples the user gave `tfc.compile` (post-training
quantization: per-channel symmetric int8 weights, int32 biases, per-tensor asymmetric int8
activations, ranges by min/max, percentile or MSE).
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.errors import QuantizationError
from tfc.passes.base import Pass, PassContext, PassResult, register_pass
from tfc.quant import ptq
from tfc.quant.lower import lower_to_int8


@register_pass
class QuantizeInt8(Pass):
    name = "quantize-int8"
    description = "quantize to int8 (keep a QDQ model's params, or calibrate a float model) and lower to int8 ops"

    @dataclass(frozen=True)
    class Options:
        method: str = "minmax"        # minmax | percentile | mse
        percentile: float = 99.99

    def run(self, graph, ctx: PassContext) -> PassResult:
        stats = {}
        if ptq.needs_calibration(graph):
            samples = ctx.options.get("calibration")
            if samples is None:
                raise QuantizationError(
                    "this float model has no quantization parameters and no calibration data was given",
                    hint="pass calibration=<array of sample inputs> to tfc.compile (or --calibration FILE.npy), "
                         "or give a model already quantized with Q/DQ nodes")
            method = ctx.options.get("calibration_method", self.options.method)
            stats["calibrated-values"] = ptq.annotate(graph, samples, method=method,
                                                      percentile=self.options.percentile)
        stats.update(lower_to_int8(graph))
        return PassResult(changed=True, stats={k: v for k, v in stats.items() if v})
