"""Small float ONNX models built from a layer list, quantized by onnxruntime, compiled by tfc.

A model is a `ModelSpec`: an NCHW (or [1, features]) input shape and a list of `Layer`s, each an
op name and its attributes, as PyTorch exports them. `build_float_model` turns it into ONNX,
`ort_quantize` runs onnxruntime's `quantize_static` (QDQ, per-channel, int8 activations and
weights), `tfc_int8` compiles the QDQ model with canonicalize + quantize-int8, and `compare`
runs both on the same int8 inputs and measures the difference in output LSBs.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tfc.frontend.onnx import import_onnx
from tfc.interp import run
from tfc.ir.graph import Graph
from tfc.passes import run_pipeline
from tfc.quant.ort_numerics import onnxruntime_session as ort_session  # noqa: F401 (the tests' name)

OPSET = 17


@dataclass(frozen=True)
class Layer:
    op: str                      # conv | matmul | gemm | avgpool | maxpool | relu | relu6 | clip | residual | flatten
    attrs: tuple = ()            # sorted (name, value) pairs, so a spec prints and hashes

    def get(self, key, default=None):
        return dict(self.attrs).get(key, default)

    def __str__(self) -> str:
        return f"{self.op}({', '.join(f'{k}={v}' for k, v in self.attrs)})"


def layer(op: str, **attrs) -> Layer:
    return Layer(op, tuple(sorted(attrs.items())))


@dataclass(frozen=True)
class ModelSpec:
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    seed: int = 0
    two_inputs: bool = False     # "add" model: y = a + b with two graph inputs

    def __str__(self) -> str:
        inputs = "2 inputs " if self.two_inputs else ""
        return f"input {inputs}{list(self.input_shape)} seed={self.seed}: " + " -> ".join(map(str, self.layers))


# ------------------------------------------------------------------------------- float models
@dataclass
class _Builder:
    rng: np.random.Generator
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    count: int = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower() + "_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), **attrs))
        return out


def _conv_out(size: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def _weights(rng, shape, fan_in):
    return rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), size=shape).astype(np.float32)


def _apply(b: _Builder, lay: Layer, x: str, shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    op = lay.op
    if op == "conv":
        n, c, h, w = shape
        cout, kh, kw = lay.get("cout"), lay.get("kh"), lay.get("kw")
        group, (sh, sw), (dh, dw) = lay.get("group"), lay.get("stride"), lay.get("dilation")
        pads = list(lay.get("pads"))     # ONNX order [top, left, bottom, right]
        wgt = _weights(b.rng, (cout, c // group, kh, kw), c // group * kh * kw)
        inputs = [x, b.const("W", wgt)]
        if lay.get("bias"):
            inputs.append(b.const("B", b.rng.normal(0, 0.2, size=cout)))
        y = b.node("Conv", inputs, kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], pads=pads,
                   group=group)
        return y, (n, cout, _conv_out(h, kh, sh, dh, pads[0], pads[2]), _conv_out(w, kw, sw, dw, pads[1], pads[3]))
    if op in ("avgpool", "maxpool"):
        n, c, h, w = shape
        k, s, pads = lay.get("kernel"), lay.get("stride"), list(lay.get("pads"))
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=pads)
        if op == "avgpool":
            attrs["count_include_pad"] = 0
        y = b.node("AveragePool" if op == "avgpool" else "MaxPool", [x], **attrs)
        return y, (n, c, _conv_out(h, k[0], s[0], 1, pads[0], pads[2]), _conv_out(w, k[1], s[1], 1, pads[1], pads[3]))
    if op == "global_avgpool":
        return b.node("GlobalAveragePool", [x]), shape[:2] + (1, 1)
    if op == "flatten":
        return b.node("Flatten", [x], axis=1), (shape[0], int(np.prod(shape[1:])))
    if op in ("matmul", "gemm"):
        k, out = shape[-1], lay.get("out")
        wgt = _weights(b.rng, (out, k), k)
        bias = b.rng.normal(0, 0.2, size=out).astype(np.float32)
        if op == "gemm":   # PyTorch's nn.Linear on 2-d input: Gemm(x, W, b, transB=1)
            y = b.node("Gemm", [x, b.const("W", wgt), b.const("B", bias)], transB=1)
        else:              # nn.Linear on >2-d input: MatMul(x, W^T) + b
            y = b.node("MatMul", [x, b.const("W", wgt.T)])
            if lay.get("bias"):
                y = b.node("Add", [y, b.const("B", bias)])
        return y, shape[:-1] + (out,)
    if op == "relu":
        return b.node("Relu", [x]), shape
    if op in ("relu6", "clip"):
        lo, hi = (0.0, 6.0) if op == "relu6" else (lay.get("min"), lay.get("max"))
        return b.node("Clip", [x, b.const("lo", np.float32(lo)), b.const("hi", np.float32(hi))]), shape
    if op == "residual":  # x + conv3x3(x) (same shape), as a ResNet block adds
        c = shape[1]
        wgt = _weights(b.rng, (c, c, 3, 3), 9 * c)
        y = b.node("Conv", [x, b.const("W", wgt), b.const("B", b.rng.normal(0, 0.2, size=c))],
                   kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        return b.node("Add", [x, y]), shape
    if op == "residual2":  # x + conv3x3(relu(conv3x3(x))): the skip is not the last conv's input
        c = shape[1]
        h = b.node("Conv", [x, b.const("W", _weights(b.rng, (c, c, 3, 3), 9 * c)),
                            b.const("B", b.rng.normal(0, 0.2, size=c))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        h = b.node("Relu", [h])
        y = b.node("Conv", [h, b.const("W", _weights(b.rng, (c, c, 3, 3), 9 * c)),
                            b.const("B", b.rng.normal(0, 0.2, size=c))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        return b.node("Add", [x, y]), shape
    raise ValueError(f"unknown layer {op}")


def build_float_model(spec: ModelSpec) -> onnx.ModelProto:
    b = _Builder(np.random.default_rng(spec.seed))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(spec.input_shape))]
    if spec.two_inputs:
        inputs.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, list(spec.input_shape)))
        y, shape = b.node("Add", ["x", "x2"]), spec.input_shape
    else:
        y, shape = "x", spec.input_shape
    for lay in spec.layers:
        y, shape = _apply(b, lay, y, shape)
    b.nodes.append(helper.make_node("Identity", [y], ["y"], name="output"))
    graph = helper.make_graph(b.nodes, "spec", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
                              initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


# ----------------------------------------------------------------------------- onnxruntime PTQ
class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of {input name: array}."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):
        pass


def ort_quantize(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], *, method: str = "minmax",
                 per_channel: bool = True) -> onnx.ModelProto:
    """onnxruntime's quantize_static: QDQ, int8 activations and weights (per channel)."""
    from onnxruntime.quantization import CalibrationMethod
    calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}[method]
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR   # its "consider pre-processing" warnings
    try:
        return _quantize_static(model, feeds, calib, per_channel)
    finally:
        root.setLevel(level)


def _quantize_static(model, feeds, calib, per_channel) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        onnx.save(model, src)
        quantize_static(str(src), str(dst), _Reader(feeds), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=calib,
                        extra_options={"CalibTensorRangeSymmetric": False})
        return onnx.load(dst)


# --------------------------------------------------------------------------------------- tfc
def tfc_int8(model: onnx.ModelProto, ctx=None, numerics: str = "cmsis") -> Graph:
    """canonicalize + quantize-int8; numerics="onnxruntime" gives the kernels onnxruntime's
    arithmetic (what tfc.compile picks for a model onnxruntime.quantization wrote)."""
    graph = import_onnx(model)
    run_pipeline(graph, f"canonicalize,quantize-int8{{numerics={numerics}}}", ctx)
    return graph


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """onnxruntime's QuantizeLinear: x / scale rounded half to even, plus zero point, saturated."""
    q = np.round(x.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


@dataclass
class Difference:
    max_lsb: int
    mean_lsb: float
    where: tuple[int, ...]
    tfc_value: int
    ort_value: int
    count: int

    def __str__(self) -> str:
        return (f"max {self.max_lsb} LSB at index {list(self.where)} (tfc {self.tfc_value}, onnxruntime "
                f"{self.ort_value}); mean {self.mean_lsb:.3f} LSB over {self.count} outputs")


def compare(qdq: onnx.ModelProto, graph: Graph, floats: list[dict[str, np.ndarray]]) -> Difference:
    """Run onnxruntime (QDQ, float in) and tfc (int8 in) on the same inputs: the tfc inputs are
    the QDQ model's first QuantizeLinear of each float input, and onnxruntime gets them back
    dequantized, so both start from identical integers."""
    sess = ort_session(qdq)
    out_q = graph.outputs[0].quant
    worst, diffs = None, []
    for feed in floats:
        ints = [quantize(feed[v.name], v.quant.scale[0], v.quant.zero_point[0]) for v in graph.inputs]
        ort_feed = {v.name: dequantize(q, v.quant.scale[0], v.quant.zero_point[0]) for v, q in zip(graph.inputs, ints)}
        y_ort = sess.run(None, ort_feed)[0]
        y_ort_q = np.round(y_ort / np.float32(out_q.scale[0])).astype(np.int64) + out_q.zero_point[0]
        y_tfc = run(graph, ints)[0].astype(np.int64)
        assert y_tfc.shape == y_ort_q.shape, f"output shapes differ: tfc {y_tfc.shape}, onnxruntime {y_ort_q.shape}"
        d = np.abs(y_tfc - y_ort_q)
        diffs.append(d.ravel())
        at = np.unravel_index(int(np.argmax(d)), d.shape)
        if worst is None or d[at] > worst[0]:
            worst = (int(d[at]), tuple(int(i) for i in at), int(y_tfc[at]), int(y_ort_q[at]))
    alld = np.concatenate(diffs)
    return Difference(worst[0], float(alld.mean()), worst[1], worst[2], worst[3], alld.size)


def random_feeds(spec: ModelSpec, count: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    names = ["x", "x2"] if spec.two_inputs else ["x"]
    return [{n: rng.normal(0.0, 1.0, size=spec.input_shape).astype(np.float32) for n in names}
            for _ in range(count)]




# ------------------------------------------------------------------ the QDQ model's parameters
def _init(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _folded_bias_outputs(model: onnx.ModelProto) -> set[str]:
    """Tensors onnxruntime quantizes between a MatMul and its bias Add (tfc folds that Add into
    an int32 bias, so their params legitimately disappear)."""
    inits, producer = _init(model), {o: n for n in model.graph.node for o in n.output}
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    folded = set()
    for q in model.graph.node:
        if q.op_type != "QuantizeLinear" or q.input[0] not in producer:
            continue
        if producer[q.input[0]].op_type != "MatMul":
            continue
        dqs = readers.get(q.output[0], [])
        adds = [a for dq in dqs for a in readers.get(dq.output[0], []) if a.op_type == "Add"]
        if adds and all(any(producer.get(i) is not None and producer[i].op_type == "DequantizeLinear"
                            and producer[i].input[0] in inits for i in a.input) for a in adds):
            folded.add(q.output[0])
    return folded


def activation_params(model: onnx.ModelProto) -> tuple[set, set]:
    """(all, foldable): the (float32 scale, zero point) of every QuantizeLinear on an activation."""
    inits, folded = _init(model), _folded_bias_outputs(model)
    every, foldable = set(), set()
    for q in model.graph.node:
        if q.op_type != "QuantizeLinear" or q.input[0] in inits:
            continue
        p = (float(np.float32(inits[q.input[1]])), int(inits[q.input[2]]))
        (foldable if q.output[0] in folded else every).add(p)
    return every, foldable - every


def tfc_activation_params(graph: Graph) -> set:
    return {(float(np.float32(v.quant.scale[0])), int(v.quant.zero_point[0]))
            for v in graph.values() if not v.is_constant and v.quant is not None}


def per_channel_rows(data: np.ndarray, axis: int) -> np.ndarray:
    """Each channel's integers, sorted: equal for the same weights in OIHW or OHWI, [in,out] or [out,in]."""
    rows = np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1)
    return np.sort(rows.astype(np.int64), axis=1)


def weight_mismatches(model: onnx.ModelProto, graph: Graph) -> list[str]:
    """Every per-channel int8 weight and int32 bias of the QDQ model must be in tfc's graph
    (same name prefix) with the same scales and the same integers per channel."""
    inits = _init(model)
    problems = []
    for dq in model.graph.node:
        if dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            continue
        data, raw_scale = inits[dq.input[0]], inits[dq.input[1]]
        scale = np.atleast_1d(raw_scale).astype(np.float32)
        if data.dtype not in (np.int8, np.int32) or raw_scale.ndim == 0 and data.dtype == np.int8:
            continue      # per-tensor int8 constants (a folded bias Add's operand) are not weights
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1) if raw_scale.ndim else 0
        if axis >= data.ndim and scale.size == 1:
            axis = 0      # a one-channel bias: onnxruntime writes scale [1] and leaves the default axis 1
        candidates = [v for v in graph.constants.values() if v.name.startswith(dq.input[0])]
        if not candidates:
            if data.dtype == np.int32:
                continue  # a bias folded together with another (reported through the outputs)
            problems.append(f"{dq.input[0]}: not in tfc's graph")
            continue
        v = candidates[0]
        got = np.asarray(v.quant.scale, dtype=np.float32) if v.quant is not None else None
        if got is None or got.shape != scale.shape or not np.array_equal(got, scale):
            problems.append(f"{dq.input[0]}: scales differ (tfc {got}, QDQ {scale})")
        elif not np.array_equal(per_channel_rows(v.data, v.quant.axis or 0), per_channel_rows(data, axis)):
            problems.append(f"{dq.input[0]}: integers differ")
    return problems


def bias_add_rounding_lsb(model: onnx.ModelProto) -> float:
    """How far, in output LSB, QDQ's two extra roundings before a bias Add (the MatMul output on
    its grid, the bias on its int8 grid) can move the result: (s_matmul + s_bias) / (2 s_out)."""
    inits = _init(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    worst = 0.0
    for add in model.graph.node:
        if add.op_type != "Add":
            continue
        dqs = [producer.get(i) for i in add.input]
        if any(dq is None or dq.op_type != "DequantizeLinear" for dq in dqs):
            continue
        outs = [q for q in readers.get(add.output[0], []) if q.op_type == "QuantizeLinear"]
        if not outs:
            continue
        s_out = float(inits[outs[0].input[1]])
        worst = max(worst, sum(float(np.max(inits[dq.input[1]])) for dq in dqs) / (2 * s_out))
    return worst
