"""From the int8 IR to the model's layers: which CMSIS-NN function runs each node, with which
dims, constants, scratch size and arena slices.

The kernel family and its integer parameters come from tfc.quant.node_params (the int8
interpreter asks the same place); scratch sizes from tfc.quant.buffer_sizes for the build the
target implies; offsets from tfc.memory's planner.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfc.errors import UnsupportedError
from tfc.ir.graph import Graph, Node, Value
from tfc.ir.types import DType
from tfc.memory import Allocation, Plan, graph_buffers, lower_bound, plan_memory
from tfc.quant import buffer_sizes as bs
from tfc.quant import node_params as npar
from tfc.quant.int8_ops import depthwise_weights
from tfc.backends.cmsis import layers as L
from tfc.backends.cmsis import ort_layers as OL
from tfc.backends.cmsis import sparse_layers as SL
from tfc.backends.cmsis import transformer_layers as TL

# Kernels that read each byte before writing it, so they may write over an input: the input
# indices they may overwrite, in order of preference. conv_add must (it adds into its skip tensor).
IN_PLACE_INPUTS = {"requantize": (0,), "add": (0, 1), "mul": (0, 1), "conv_add": (3,), "lut": (0,), "layernorm": (0,),
                   "ort_layernorm": (0,)}


@dataclass(frozen=True)
class IoTensor:
    """A graph input or output as the C API sees it."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    slice: L.ArenaSlice

    @property
    def size(self) -> int:
        return self.slice.size


@dataclass(frozen=True)
class LoweredModel:
    name: str                      # the C identifier prefix: tfc_<name>_run
    build: str                     # "dsp" or "portable": the scratch-size rules used
    layers: tuple[L.Layer, ...]
    inputs: tuple[IoTensor, ...]
    outputs: tuple[IoTensor, ...]
    weights: tuple[L.ConstArray, ...]  # weights.c, in first-use order
    allocation: Allocation
    plan: Plan
    lower_bound: int

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_size

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.weights)

    @property
    def quant_param_bytes(self) -> int:
        return sum(a.nbytes for layer in self.layers for a in layer.quant_arrays)

    @property
    def scratch_bytes(self) -> int:
        return max((layer.scratch_bytes for layer in self.layers), default=0)


def _dims4(shape) -> L.Dims:
    if len(shape) != 4:
        raise ValueError(f"expected an NHWC shape, got {list(shape)}")
    return L.Dims(*(int(d) for d in shape))


_INT8_HINT = ("the C backend runs int8 graphs: run canonicalize,quantize-int8 first "
              "(with calibration samples for a float model)")


def _check_int8(graph: Graph) -> None:
    for node in graph.nodes:
        for v in node.outputs:
            if v.dtype.is_float:
                raise UnsupportedError(f"{node.op} computes {v.ref} in {v.type.dtype.value}: the graph is not "
                                       "an int8 graph", node=node.name, op=node.op, hint=_INT8_HINT)
    for kind, values in (("input", graph.inputs), ("output", graph.outputs)):
        for v in values:
            q = v.quant
            if v.dtype != DType.I8 or q is None or q.axis is not None:
                raise UnsupportedError(
                    f"graph {kind} {v.ref} is {v.type.dtype.value} without per-tensor int8 quantization",
                    hint=_INT8_HINT)


class _Lowering:
    def __init__(self, graph: Graph, name: str, build: str):
        self.graph, self.name, self.build = graph, name, build
        self.consts: dict[tuple[str, str], L.ConstArray] = {}
        self.kernels = {id(n): npar.kernel_for(n) for n in graph.nodes}
        self.params = {id(n): npar.params_for(n) for n in graph.nodes}
        self.low_memory: set[int] = set()  # nodes given a scratch-free kernel variant
        self.strategies: tuple[str, ...] | None = None  # placement strategies (None: all, best kept)

    # ---- choices that do not depend on the arena ------------------------------------------
    def function(self, node: Node) -> str:
        kernel = self.kernels[id(node)]
        if kernel in TL.FUNCTIONS:
            return TL.FUNCTIONS[kernel]
        if kernel in SL.FUNCTIONS:
            return SL.FUNCTIONS[kernel]
        if kernel in OL.FUNCTIONS:
            return OL.FUNCTIONS[kernel]
        if kernel == "depthwise_conv":
            return "arm_depthwise_conv_s8_opt" if self._dw_opt(node) else "arm_depthwise_conv_s8"
        if kernel == "fully_connected":
            per_channel = self.params[id(node)].per_channel
            return "arm_fully_connected_per_channel_s8" if per_channel else "arm_fully_connected_s8"
        return {"conv": "arm_convolve_s8", "conv_1x1": "arm_convolve_1x1_s8_fast", "add": "arm_elementwise_add_s8",
                "mul": "arm_elementwise_mul_s8", "avgpool": "arm_avgpool_s8", "maxpool": "arm_max_pool_s8",
                "requantize": "tfc_requantize_s8", "transpose": "tfc_transpose_s8",
                "conv_add": "tfc_convolve_add_s8",
                "reshape": ""}[kernel]

    def _dw_opt(self, node: Node) -> bool:
        # CMSIS-NN's _opt kernel: one output channel per input channel, no dilation, batch 1;
        # faster, but it needs a scratch buffer: nodes in `low_memory` take the generic kernel.
        p = self.params[id(node)]
        return (p.ch_mult == 1 and p.dilation == (1, 1) and node.inputs[0].shape[0] == 1
                and id(node) not in self.low_memory)

    def scratch_bytes(self, node: Node) -> int:
        kernel, x = self.kernels[id(node)], node.inputs[0]
        if kernel in SL.FAMILIES:
            return SL.scratch_bytes(kernel, node)
        if kernel in TL.FAMILIES:
            return TL.scratch_bytes(kernel, node)
        if kernel in OL.FAMILIES:
            return OL.scratch_bytes(kernel, node)
        if kernel == "conv":
            _, kh, kw, _ = node.inputs[1].shape
            return bs.convolve_s8(x.shape[3], kh, kw, self.build)
        if kernel == "conv_1x1":
            return bs.convolve_1x1_s8_fast(x.shape[3], self.build)
        if kernel == "depthwise_conv":
            _, kh, kw, _ = node.inputs[1].shape
            return bs.depthwise_conv_s8_opt(x.shape[3], kh, kw, self.build) if self._dw_opt(node) else 0
        if kernel == "avgpool":
            return bs.avgpool_s8(node.output.shape[2], x.shape[3], self.build)
        if kernel == "conv_add":
            _, kh, kw, _ = node.inputs[1].shape
            conv = bs.convolve_s8(x.shape[3], kh, kw, self.build)
            return (conv + 3) // 4 * 4 + node.output.shape[2] * node.output.shape[3]
        return 0

    # ---- constants ------------------------------------------------------------------------
    def const(self, value: Value, node_index: int, role: str, layout: str = "") -> L.ConstArray:
        if value.data is None:
            raise UnsupportedError(f"{value.ref} must be a constant (weights are compiled into flash)")
        key = (value.name, layout)
        if key not in self.consts:
            data = depthwise_weights(value.data) if layout == "depthwise" else value.data
            ctype = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t"}.get(np.dtype(data.dtype))
            if ctype is None:
                raise UnsupportedError(f"constant {value.ref} of type {value.type} in an int8 kernel",
                                       hint="weights must be int8 and biases int32 (run quantize-int8)")
            self.consts[key] = L.ConstArray(f"tfc_{self.name}_l{node_index}_{role}", ctype,
                                            np.ascontiguousarray(data).reshape(-1),
                                            f"{value.ref} : {value.type}" + (f", {layout} layout" if layout else ""))
        return self.consts[key]

    def add_const(self, array: L.ConstArray) -> L.ConstArray:
        """A constant made by a kernel family itself (sparse encodings), emitted into weights.c."""
        self.consts[(array.symbol, "generated")] = array
        return array

    def quant_arrays(self, index: int, p) -> tuple[L.ConstArray, L.ConstArray]:
        def arr(role, values):
            return L.ConstArray(f"l{index}_{role}", "int32_t", np.asarray(values, dtype=np.int32),
                                f"layer {index}: requantization {role}, per output channel")
        return arr("multipliers", p.multipliers), arr("shifts", p.shifts)

    # ---- per family args --------------------------------------------------------------------
    def args(self, i: int, node: Node):
        kernel, p = self.kernels[id(node)], self.params[id(node)]
        x, y = node.inputs[0], node.output
        def bias():  # after the weights, so weights.c lists each layer's weights first
            return self.const(node.inputs[2], i, "bias") if len(node.inputs) > 2 else None

        if kernel == "conv_add":
            w = node.inputs[1]
            cout, kh, kw, ck = w.shape
            mult, shift = self.quant_arrays(i, p.conv)
            return L.ConvAddArgs(p, _dims4(x.shape), L.Dims(cout, kh, kw, ck), L.Dims(1, 1, 1, cout),
                                 _dims4(y.shape), self.const(w, i, "weights"), bias(), mult, shift, y.type.size)
        if kernel in TL.FAMILIES:
            return TL.args(self, i, node, kernel, p)
        if kernel in SL.FAMILIES:
            return SL.args(self, i, node, kernel, p)
        if kernel in OL.FAMILIES:
            return OL.args(self, i, node, kernel, p)
        if kernel not in ("conv", "conv_1x1", "depthwise_conv", "fully_connected", "add", "mul"):
            for v in node.inputs:
                if v.data is not None:
                    raise UnsupportedError(f"constant operand {v.ref} of an int8 {node.op}", node=node.name,
                                           op=node.op, hint="the C kernels take activations here; "
                                           "canonicalize folds all-constant nodes")
        if kernel in ("conv", "conv_1x1", "depthwise_conv"):
            w = node.inputs[1]
            cout, kh, kw, ck = w.shape
            depthwise = kernel == "depthwise_conv"
            weights = self.const(w, i, "weights", "depthwise" if depthwise else "")
            filter_dims = L.Dims(1, kh, kw, cout) if depthwise else L.Dims(cout, kh, kw, ck)
            mult, shift = self.quant_arrays(i, p)
            return L.ConvArgs(p, _dims4(x.shape), filter_dims, L.Dims(1, 1, 1, cout), _dims4(y.shape),
                              weights, bias(), mult, shift)
        if kernel == "fully_connected":
            w = node.inputs[1]
            out_c, depth = w.shape
            batches = x.type.size // depth
            mult, shift = self.quant_arrays(i, p) if p.per_channel else (None, None)
            weights = self.const(w, i, "weights")
            return L.FullyConnectedArgs(p, L.Dims(batches, 1, 1, depth), L.Dims(depth, 1, 1, out_c),
                                        L.Dims(1, 1, 1, out_c), L.Dims(batches, 1, 1, out_c),
                                        weights, bias(), mult, shift)
        if kernel in ("add", "mul"):
            operands = ()
            if any(v.data is not None for v in node.inputs):
                live = iter(range(len(node.inputs)))  # index into the layer's arena inputs
                operands = tuple(TL.constant_operand(self, i, node, k) if v.data is not None else next(live)
                                 for k, v in enumerate(node.inputs))
            block = min((c.values.size for c in operands if not isinstance(c, int)), default=y.type.size)
            return (L.AddArgs if kernel == "add" else L.MulArgs)(p, y.type.size, operands, block)
        if kernel in ("avgpool", "maxpool"):
            return L.PoolArgs(p, _dims4(x.shape), L.Dims(1, p.filter[0], p.filter[1], 1), _dims4(y.shape))
        if kernel == "requantize":
            return L.RequantizeArgs(p, y.type.size)
        if kernel == "transpose":
            shape, perm = TL.simplify_transpose(tuple(x.shape), tuple(node.attrs["perm"]))
            perm = list(perm)
            if len(perm) > 4:
                raise UnsupportedError(f"transpose of rank {len(perm)} (the C kernel handles rank <= 4)",
                                       node=node.name, op=node.op)
            pad = 4 - len(perm)
            return L.TransposeArgs(tuple([1] * pad + list(shape)), tuple(list(range(pad)) + [d + pad for d in perm]))
        if kernel == "reshape":
            if x.data is not None:
                raise UnsupportedError("reshape of a constant reached the backend", node=node.name, op=node.op,
                                       hint="run canonicalize (it folds constant reshapes)")
            return L.ReshapeArgs()
        raise UnsupportedError(f"no C emitter for kernel {kernel}", node=node.name, op=node.op)


def _plan(graph: Graph, lw: _Lowering) -> tuple[Allocation, Plan]:
    allocation = graph_buffers(graph, scratch_bytes=lw.scratch_bytes,
                               in_place=lambda n: IN_PLACE_INPUTS.get(lw.kernels[id(n)], ()))
    return allocation, plan_memory(allocation.buffers, lw.strategies)


def _plan_with_lean_kernels(graph: Graph, lw: _Lowering) -> tuple[Allocation, Plan]:
    """Plan; if the fast kernels' scratch buffers make the arena bigger, give every such layer its
    scratch-free variant (depthwise _opt -> generic), then hand the fast kernel back to each
    layer where that costs no arena bytes. Deterministic, so every caller gets the same kernels
    and the same plan."""
    allocation, plan = _plan(graph, lw)
    lean = [n for n in graph.nodes if lw.kernels[id(n)] == "depthwise_conv" and lw._dw_opt(n)]
    if not lean:
        return allocation, plan
    lw.low_memory.update(id(n) for n in lean)
    best = _plan(graph, lw)
    if best[1].arena_size >= plan.arena_size:
        lw.low_memory.clear()
        return allocation, plan
    for node in lean:  # keep speed wherever memory allows it
        lw.low_memory.discard(id(node))
        trial = _plan(graph, lw)
        if trial[1].arena_size <= best[1].arena_size:
            best = trial
        else:
            lw.low_memory.add(id(node))
    return best


def lower(graph: Graph, *, name: str, build: str, strategies=None) -> LoweredModel:
    """Choose the kernels, plan the arena and resolve every operand of `graph` (int8 IR).
    `strategies` restricts the arena planner to the named strategies (tests compare them)."""
    _check_int8(graph)
    lw = _Lowering(graph, name, build)
    lw.strategies = tuple(strategies) if strategies else None
    allocation, plan = _plan_with_lean_kernels(graph, lw)

    def value_slice(v: Value) -> L.ArenaSlice:
        return L.ArenaSlice(plan.offsets[allocation.value_buffer[v.name]], v.type.nbytes)

    layers = []
    for i, node in enumerate(graph.nodes):
        scratch = allocation.scratch_buffer.get(node.name)
        layers.append(L.Layer(
            index=i, node=node.name, op=node.op, kernel=lw.kernels[id(node)], function=lw.function(node),
            inputs=tuple(value_slice(v) for v in node.inputs if v.data is None),
            input_refs=tuple(v.ref for v in node.inputs if v.data is None),
            output=value_slice(node.output), output_ref=node.output.ref,
            scratch=L.ArenaSlice(plan.offsets[scratch], lw.scratch_bytes(node)) if scratch else None,
            args=lw.args(i, node)))

    def io(v: Value) -> IoTensor:
        return IoTensor(v.name, tuple(v.shape), float(v.quant.scale[0]), int(v.quant.zero_point[0]), value_slice(v))

    return LoweredModel(name=name, build=build, layers=tuple(layers),
                        inputs=tuple(io(v) for v in graph.inputs), outputs=tuple(io(v) for v in graph.outputs),
                        weights=tuple(lw.consts.values()), allocation=allocation, plan=plan,
                        lower_bound=lower_bound(allocation.buffers))
