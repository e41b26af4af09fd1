"""quantize-int8: float or QDQ graph in, int8 graph out (see tfc/passes/quantize/lower.py).

A model that carries Q/DQ nodes keeps exactly its quantization parameters. A float model is
quantized from the `calibration` samples the user gave `tfc.compile` (post-training
quantization: per-channel symmetric int8 weights, int32 biases, per-tensor asymmetric int8
activations, ranges by min/max, percentile or MSE; a mean over H and W (GlobalAveragePool)
gets its own grid, widened by the spread of its per-sample extremes inside its input's range;
per-channel constant multiplies and adds after a linear fold into it first; a softmax writes onto
its calibrated grid, a sub's range is chosen by MSE where the method is min/max).
"""
from __future__ import annotations

from dataclasses import dataclass

from tfc.errors import QuantizationError, TargetError
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
        # whose int8 arithmetic the kernels reproduce: "auto" = auto_numerics' choice from who
        # quantized the model (tfc.compile sets the context option quantized_by)
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
            if ctx.target is not None:
                check_fits_before_calibration(graph, ctx.target)
            method = ctx.options.get("calibration_method", self.options.method)
            stats["calibrated-values"] = ptq.annotate(graph, samples, method=method,
                                                      percentile=self.options.percentile)
        numerics = self.options.numerics
        if numerics == "auto":                          # the pass option wins over tfc.compile's
            numerics = ctx.options.get("numerics") or "auto"
        stats.update(lower_to_int8(graph, *auto_numerics(numerics, ctx.options.get("quantized_by"), calibrated)))
        return PassResult(changed=True, stats={k: v for k, v in stats.items() if v})


def auto_numerics(numerics: str, quantized_by: str | None, calibrated: bool) -> tuple[str, bool]:
    """(numerics of the kernels, whether pure requantizations follow onnxruntime) for
    quantize-int8's numerics option. "auto": a model onnxruntime.quantization wrote means what
    onnxruntime computes, all of it; a TFLite conversion, tfc's own calibration and IR built in
    Python keep TFLite Micro's fixed point; any other QDQ ONNX file (PyTorch's, hand-written) keeps
    the fixed-point kernels, the fast ones, except its pure requantizations (DQ -> Q with only data
    movement or a clamp between): TFLite has no kernel they stand for there, so they follow what
    the graph means, DequantizeLinear then QuantizeLinear in float32, as onnxruntime computes it."""
    if numerics != "auto":
        return numerics, numerics == "onnxruntime"
    if calibrated or quantized_by in (None, "tflite"):
        return "cmsis", False
    if quantized_by == "onnxruntime":
        return "onnxruntime", True
    return "cmsis", True


def check_fits_before_calibration(graph, target) -> None:
    """Calibration runs the float model on every sample (float64, several times the int8 bytes):
    a model that cannot fit the target even as int8 is refused first, from its shapes alone.
    Lower bounds only: a computing node's int8 inputs and outputs are live together in SRAM, and
    every weight takes at least a byte of flash."""
    worst, worst_node = 0, None
    for node in graph.nodes:
        sizes = [v.type.size for v in (*node.inputs, *node.outputs) if not v.is_constant]
        # A data-moving node (transpose, reshape) may be folded away or run in place later.
        live = max(sizes, default=0) if node.spec.moves_data else sum(sizes)
        if live > worst:
            worst, worst_node = live, node
    weights = sum(v.type.size for v in graph.constants.values())
    problems = []
    if worst > target.sram_bytes:
        problems.append(f"SRAM: {worst_node.op} '{worst_node.name}' alone needs {worst:,} bytes for its int8 "
                        f"inputs and outputs, the target has {target.sram_bytes:,}")
    if weights > target.flash_bytes:
        problems.append(f"flash: the weights need at least {weights:,} bytes as int8, the target has "
                        f"{target.flash_bytes:,}")
    if problems:
        raise TargetError(f"the model cannot fit {target.name} ({'; '.join(problems)}), so it is not "
                          "calibrated", hint="shrink the model (smaller input, fewer channels, sparsity) or "
                                             "choose a target with more memory")
