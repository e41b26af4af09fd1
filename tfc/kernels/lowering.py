"""From the int8 IR to the model's layers: which kernel runs each node (tfc.kernels' registry,
the same place the int8 interpreter asks), with which C function, dims, constants, scratch size
and arena slices; offsets from tfc.memory's planner. The C backend renders the result; the
plan-memory pass and fusion decisions read its arena.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tfc.errors import UnsupportedError
from tfc.ir.graph import Graph, Node, Value
from tfc.ir.types import DType
from tfc.kernels import records as L
from tfc.kernels.base import Kernel, decline_reason, get_kernel, kernels_for, select
from tfc.kernels.buffer_sizes import build_for_isa
from tfc.kernels.tiles import TiledRegion, find_regions, row_bytes
from tfc.memory import Allocation, Plan, graph_buffers, lower_bound, plan_memory
from tfc.quant.reference import depthwise_weights
from tfc.targets import Target


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
class Call:
    """One step of the model's invoke function: a layer's kernel call, or one band of a tiled
    layer, or (`move`) a memmove of a band buffer's kept rows to its start."""

    layer: L.Layer | None
    note: str = ""   # which band, for the comment above it
    move: tuple[int, int, int] | None = None   # (destination offset, source offset, bytes) in the arena


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
    regions: tuple[TiledRegion, ...] = ()
    tiled_calls: tuple[Call, ...] = ()   # invoke's calls where regions are tiled (else one per layer)

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_size

    @property
    def calls(self) -> tuple[Call, ...]:
        """The invoke function's kernel calls in order: each untiled layer once, each tiled
        region's layers band after band."""
        return self.tiled_calls or tuple(Call(layer) for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.weights)

    @property
    def sources(self) -> tuple[str, ...]:
        """The runtime C files its layers' kernels need (Kernel.sources), sorted: all a build compiles."""
        return tuple(sorted({s for layer in self.layers for s in get_kernel(layer.kernel).sources}))

    @property
    def quant_param_bytes(self) -> int:
        return sum(a.nbytes for layer in self.layers for a in layer.quant_arrays)

    @property
    def scratch_bytes(self) -> int:
        return max((layer.scratch_bytes for layer in self.layers), default=0)


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


# Flash kept free of weights for the code when deciding which layers keep pre-widened weights
# (the same reserve sparsify's target budget keeps).
CODE_RESERVE_BYTES = 64 * 1024


def _select_within_flash(graph: Graph, flash_bytes: int | None) -> dict[int, Kernel]:
    """Each node's kernel; where the kernels that widen weights (Kernel.extra_flash_bytes) would
    together overflow `flash_bytes` (less CODE_RESERVE_BYTES, with every int8 constant counted),
    the layers with the most extra flash take their next kernel until the rest fit."""
    kernels = {id(n): select(n) for n in graph.nodes}
    if flash_bytes is None:
        return kernels
    extra = {id(n): kernels[id(n)].extra_flash_bytes(n) for n in graph.nodes}
    over = (sum(v.type.nbytes for v in graph.constants.values()) + sum(extra.values()) + CODE_RESERVE_BYTES
            - flash_bytes)
    for node in sorted((n for n in graph.nodes if extra[id(n)] > 0), key=lambda n: (-extra[id(n)], n.name)):
        if over <= 0:
            break
        narrow = next((k for k in kernels_for(node.op) if k.extra_flash_bytes(node) == 0 and decline_reason(k, node) is None),
                      None)
        if narrow is not None:
            kernels[id(node)] = narrow
            over -= extra[id(node)]
    return kernels


class _Lowering:
    def __init__(self, graph: Graph, name: str, build: str, flash_bytes: int | None = None):
        self.graph, self.name, self.build = graph, name, build
        self.consts: dict[tuple[str, str], L.ConstArray] = {}
        self.kernels: dict[int, Kernel] = _select_within_flash(graph, flash_bytes)
        self.params = {id(n): self.kernels[id(n)].params(n) for n in graph.nodes}
        self.low_memory: set[int] = set()  # nodes given their kernel's scratch-free variant
        self.strategies: tuple[str, ...] | None = None  # placement strategies (None: all, best kept)
        self.regions = find_regions(graph, lambda n: (self.kernels[id(n)], self.params[id(n)]))

    def function(self, node: Node) -> str:
        return self.kernels[id(node)].c_function(node, self.params[id(node)], id(node) in self.low_memory)

    def scratch_bytes(self, node: Node) -> int:
        kernel = self.kernels[id(node)]
        return kernel.scratch_bytes(node, self.params[id(node)], self.build, id(node) in self.low_memory)

    def in_place(self, node: Node) -> tuple[int, ...]:
        return self.kernels[id(node)].in_place

    def lean_candidates(self) -> list[Node]:
        """Nodes whose kernel has a scratch-free variant that would drop scratch here."""
        return [n for n in self.graph.nodes if self.kernels[id(n)].has_lean_variant
                and self.kernels[id(n)].lean_saves(n, self.params[id(n)])]

    # ---- constants ------------------------------------------------------------------------
    def const(self, value: Value, node_index: int, role: str, layout: str = "") -> L.ConstArray:
        """A constant operand of the node (weights, bias) in weights.c, by the value's name."""
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
        """A constant made by a kernel itself (sparse encodings), emitted into weights.c."""
        self.consts[(array.symbol, "generated")] = array
        return array

    def flash(self, symbol: str, ctype: str, values, source: str) -> L.ConstArray:
        """A table a kernel computes (exp tables, multipliers, indices) in weights.c, by symbol."""
        key = (symbol, "generated")
        if key not in self.consts:
            dtype = {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32, "uint32_t": np.uint32,
                     "float": np.float32}[ctype]
            self.consts[key] = L.ConstArray(symbol, ctype, np.asarray(values, dtype=dtype).reshape(-1), source)
        return self.consts[key]

    def quant_arrays(self, index: int, p) -> tuple[L.ConstArray, L.ConstArray]:
        """Per-output-channel requantization multipliers and shifts (model.c)."""
        def arr(role, values):
            return L.ConstArray(f"l{index}_{role}", "int32_t", np.asarray(values, dtype=np.int32),
                                f"layer {index}: requantization {role}, per output channel")
        return arr("multipliers", p.multipliers), arr("shifts", p.shifts)

    def args(self, i: int, node: Node):
        return self.kernels[id(node)].args(self, i, node, self.params[id(node)])


def _plan(graph: Graph, lw: _Lowering) -> tuple[Allocation, Plan]:
    allocation = graph_buffers(graph, scratch_bytes=lw.scratch_bytes, in_place=lw.in_place,
                               spans=tuple(r.span() for r in lw.regions))
    return allocation, plan_memory(allocation.buffers, lw.strategies)


def _plan_with_lean_kernels(graph: Graph, lw: _Lowering) -> tuple[Allocation, Plan]:
    """Plan; if the fast kernels' scratch buffers make the arena bigger, give every such layer its
    scratch-free variant (depthwise _opt -> generic), then hand the fast kernel back to each
    layer where that costs no arena bytes. Deterministic, so every caller gets the same kernels
    and the same plan."""
    allocation, plan = _plan(graph, lw)
    lean = lw.lean_candidates()
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


def lower(graph: Graph, *, name: str, build: str, strategies=None, flash_bytes: int | None = None) -> LoweredModel:
    """Choose the kernels, plan the arena and resolve every operand of `graph` (int8 IR).
    `strategies` restricts the arena planner to the named strategies (tests compare them);
    `flash_bytes` (the target's) limits which layers keep pre-widened weights: where the lowered
    model's constants, its generated code (sparse layers' unrolled rows) and CODE_RESERVE_BYTES
    exceed it, more of them go back to int8 weights."""
    _check_int8(graph)
    budget = flash_bytes
    while True:
        lw = _Lowering(graph, name, build, budget)
        model = _lower_with(graph, lw, name, build, strategies)
        if flash_bytes is None:
            return model
        code = sum(getattr(layer.args, "code_bytes_estimate", 0) for layer in model.layers)
        over = model.weight_bytes + model.quant_param_bytes + code + CODE_RESERVE_BYTES - flash_bytes
        if over <= 0 or not any(k.extra_flash_bytes(n) for n in graph.nodes for k in [lw.kernels[id(n)]]):
            return model
        budget -= over


def _lower_with(graph: Graph, lw: _Lowering, name: str, build: str, strategies) -> LoweredModel:
    lw.strategies = tuple(strategies) if strategies else None
    allocation, plan = _plan_with_lean_kernels(graph, lw)

    def value_slice(v: Value) -> L.ArenaSlice:
        return L.ArenaSlice(plan.offsets[allocation.value_buffer[v.name]], v.type.nbytes)

    layers = []
    for i, node in enumerate(graph.nodes):
        scratch = allocation.scratch_buffer.get(node.name)
        layers.append(L.Layer(
            index=i, node=node.name, op=node.op, kernel=lw.kernels[id(node)].name, function=lw.function(node),
            template=lw.kernels[id(node)].template_name,
            inputs=tuple(value_slice(v) for v in node.inputs if v.data is None),
            input_refs=tuple(v.ref for v in node.inputs if v.data is None),
            output=value_slice(node.output), output_ref=node.output.ref,
            scratch=L.ArenaSlice(plan.offsets[scratch], lw.scratch_bytes(node)) if scratch else None,
            args=lw.args(i, node)))

    def io(v: Value) -> IoTensor:
        return IoTensor(v.name, tuple(v.shape), float(v.quant.scale[0]), int(v.quant.zero_point[0]), value_slice(v))

    calls = _tiled_calls(graph, lw, layers, value_slice) if lw.regions else ()
    return LoweredModel(name=name, build=build, layers=tuple(layers),
                        inputs=tuple(io(v) for v in graph.inputs), outputs=tuple(io(v) for v in graph.outputs),
                        weights=tuple(lw.consts.values()), allocation=allocation, plan=plan,
                        lower_bound=lower_bound(allocation.buffers), regions=lw.regions, tiled_calls=calls)


def _band_layer(lw: _Lowering, region: TiledRegion, band, layer: L.Layer, node: Node, value_slice) -> L.Layer:
    """`layer` restricted to one band: pointers to the band's first rows, its heights and padding."""
    kernel, params = lw.kernels[id(node)], lw.params[id(node)]
    inner = {id(v) for v in region.inner}

    def at(v: Value, rows) -> L.ArenaSlice:
        # a band buffer holds the band's rows of v from its first needed row; a whole tensor all rows
        start = band.rows[v.name][0] if id(v) in inner else 0
        return L.ArenaSlice(value_slice(v).offset + (rows[0] - start) * row_bytes(v), (rows[1] - rows[0]) * row_bytes(v))

    out_rows = band.computed[node.output.name]
    in_rows = kernel.band_rows(node, params, out_rows)
    acts = [v for v in node.inputs if v.data is None]
    return dataclasses.replace(layer, inputs=tuple(at(v, r) for v, r in zip(acts, in_rows)),
                               output=at(node.output, out_rows),
                               args=kernel.band_args(layer.args, node, params, in_rows, out_rows))


def _tiled_calls(graph: Graph, lw: _Lowering, layers, value_slice) -> tuple[Call, ...]:
    starts = {r.first: r for r in lw.regions}
    calls, i = [], 0
    while i < len(layers):
        region = starts.get(i)
        if region is None:
            calls.append(Call(layers[i]))
            i += 1
            continue
        values = {v.name: v for v in region.inner}
        for k, band in enumerate(region.bands):
            out = band.rows[region.output.name]
            note = f"{region.name} band {k + 1}/{len(region.bands)}: rows {out[0]}..{out[1] - 1} of {region.output.ref}"
            for name, first, count in band.moves:   # halo rows kept from the band before
                start, rb = value_slice(values[name]).offset, row_bytes(values[name])
                calls.append(Call(None, note, (start, start + first * rb, count * rb)))
                note = ""
            for j, node in enumerate(region.nodes):
                if node.output.name in band.computed:
                    calls.append(Call(_band_layer(lw, region, band, layers[i + j], node, value_slice), note))
                    note = ""
        i = region.last + 1
    return tuple(calls)


def lower_for(graph: Graph, *, target: str | Target, name: str = "model", strategies=None) -> LoweredModel:
    """`lower` with the kernel build (scratch rules) of `target`."""
    t = Target.from_string(target)
    return lower(graph, name=name, build=build_for_isa(t.isa), strategies=strategies, flash_bytes=t.flash_bytes)


@dataclass(frozen=True)
class ArenaPlan:
    """The arena of an int8 graph as its kernels would have it: chosen kernels' scratch and
    in-place rules planned, without building any kernel's call record (fusion and scheduling
    decisions compare many of these)."""

    allocation: Allocation
    plan: Plan

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_size


def plan_arena(graph: Graph, *, target: str | Target) -> ArenaPlan:
    """The arena `lower_for` would plan for `graph` on `target`, from the kernel registry alone."""
    _check_int8(graph)
    t = Target.from_string(target)
    lw = _Lowering(graph, "model", build_for_isa(t.isa), t.flash_bytes)
    return ArenaPlan(*_plan_with_lean_kernels(graph, lw))
