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
from tfc.passes.quantize import ptq
from tfc.passes.quantize.lower import lower_to_int8


@register_pass
class QuantizeInt8(Pass):
    name = "quantize-int8"
    description = "quantize to int8 (keep a QDQ model's params, or calibrate a float model) and lower to int8 ops"

    @dataclass(frozen=True)
    class Options:
        method: str = "minmax"        # minmax | percentile | mse
        percentile: float = 99.99
        # whose int8 arithmetic the kernels reproduce: "auto" = onnxruntime's for a model that
        # onnxruntime.quantization wrote (tfc.compile sets the context option quantized_by), else
        # TFLite Micro / CMSIS-NN's (calibrated models, TFLite conversions)
        numerics: str = "auto"        # auto | cmsis | onnxruntime

    def run(self, graph, ctx: PassContext) -> PassResult:
        stats = {}
        calibrated = ptq.needs_calibration(graph)
        if calibrated:
            samples = ctx.options.get("calibration")
            if samples is None:
                raise QuantizationError(
                    "this float model has no quantization parameters and no calibration data was given",
                    hint="pass calibration=<array of sample inputs> to tfc.compile (or --calibration FILE.npy), "
                         "or give a model already quantized with Q/DQ nodes")
            method = ctx.options.get("calibration_method", self.options.method)
            stats["calibrated-values"] = ptq.annotate(graph, samples, method=method,
                                                      percentile=self.options.percentile)
        numerics = self.options.numerics
        if numerics == "auto":
            by_onnxruntime = ctx.options.get("quantized_by") == "onnxruntime"
            numerics = "onnxruntime" if by_onnxruntime and not calibrated else "cmsis"
        stats.update(lower_to_int8(graph, numerics))
        return PassResult(changed=True, stats={k: v for k, v in stats.items() if v})
