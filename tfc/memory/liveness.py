"""From a graph in execution order to the buffers a static arena must hold.

Step i is the i-th node. Every activation (graph inputs and outputs included: the arena holds
them) gets a buffer live from the step that writes it to the last step that reads it; graph
inputs are live from step 0, graph outputs to the last step. Aliases share storage:
- a reshape never copies: its output is its input's bytes under another shape (values are never
  written twice, so sharing is safe whatever else reads the input);
- a node that `in_place` allows (an elementwise kernel reading each byte before writing it, or
  conv2d_add writing over its skip tensor) writes over an input when no later step reads that
  input or any reshape of it.
Kernel scratch buffers are live during their node only.

A tiled span (fused-tile execution, tfc.kernels.tiles) runs its steps band by band: a value made
and consumed inside it holds one band (its band buffer's size, same lifetime steps: every band
repeats them), the values it reads or writes whole are live across all its steps, and its output
may be pinned to its input's offset (Buffer.pin: the caller proved the rows each band writes are
dead by then), so the two share bytes while the input's rows die and the output's are born.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from tfc.ir.graph import Graph, Node, Value
from tfc.memory.buffers import DEFAULT_ALIGNMENT, Buffer


@dataclass(frozen=True)
class TiledSpan:
    """Steps first..last run band by band (see the module docstring)."""

    first: int
    last: int
    band_bytes: Mapping[str, int]    # value name -> bytes of its band buffer (values inside the span)
    whole: tuple[str, ...]           # values read or written whole: live across the span
    # (output, input, offset): the output may be written over the input, `offset` bytes past its start
    overlay: tuple[str, str, int] | None
    # band buffers keep rows from one band to the next (halo reuse): live across the whole span
    keep_bands: bool = False

    def __post_init__(self):
        object.__setattr__(self, "band_bytes", MappingProxyType(dict(self.band_bytes)))

    def holds(self, step: int) -> bool:
        return self.first <= step <= self.last


def is_reshape(node: Node) -> bool:
    return node.op == "reshape"


@dataclass(frozen=True)
class Allocation:
    """The buffers to place, and which buffer holds each value and each node's scratch."""

    buffers: tuple[Buffer, ...]
    value_buffer: Mapping[str, str]    # value name -> buffer name (aliases share one)
    scratch_buffer: Mapping[str, str]  # node name -> its scratch buffer name (nodes with scratch only)

    def __post_init__(self):
        object.__setattr__(self, "value_buffer", MappingProxyType(dict(self.value_buffer)))
        object.__setattr__(self, "scratch_buffer", MappingProxyType(dict(self.scratch_buffer)))

    def buffer(self, name: str) -> Buffer:
        return next(b for b in self.buffers if b.name == name)


class _Sets:
    """Union-find keyed by id(Value); the root is the earliest-written member."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def add(self, v: Value) -> None:
        self.parent.setdefault(id(v), id(v))

    def find(self, k: int) -> int:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def join(self, earlier: Value, later: Value) -> None:
        self.parent[self.find(id(later))] = self.find(id(earlier))


def _overwritable(answer) -> tuple[int, ...]:
    """`in_place(node)` may answer a bool (input 0 or none) or the input indices it may overwrite."""
    if answer is True:
        return (0,)
    if not answer:
        return ()
    return tuple(answer)


def graph_buffers(graph: Graph, *, scratch_bytes: Callable[[Node], int] = lambda node: 0,
                  in_place: Callable[[Node], bool | tuple[int, ...]] = lambda node: False,
                  alignment: int = DEFAULT_ALIGNMENT, spans: tuple[TiledSpan, ...] = ()) -> Allocation:
    """The arena buffers of `graph` (nodes in execution order). `scratch_bytes(node)` is the
    kernel's scratch size; `in_place(node)` says which inputs the node's kernel may overwrite:
    True for input 0, or a tuple of input indices in order of preference. `spans`: the steps
    run band by band (fused tiles)."""
    n_steps = len(graph.nodes)
    end = max(n_steps - 1, 0)
    consts = {id(v) for v in graph.constants.values()}
    written: dict[int, int] = {id(v): 0 for v in graph.inputs}       # value -> step that writes it
    values: dict[int, Value] = {id(v): v for v in graph.inputs}
    for i, node in enumerate(graph.nodes):
        for v in node.outputs:
            written[id(v)], values[id(v)] = i, v

    # 1. reshape classes: one piece of data under several shapes.
    data = _Sets()
    for v in values.values():
        data.add(v)
    for node in graph.nodes:
        if is_reshape(node) and id(node.inputs[0]) not in consts:
            data.join(node.inputs[0], node.output)
    outputs = {id(v) for v in graph.outputs}
    step = {id(node): i for i, node in enumerate(graph.nodes)}
    last_read: dict[int, int] = {}
    for k, v in values.items():
        root = data.find(k)
        uses = [step[id(n)] for n, _ in v.uses if id(n) in step]
        last = end if k in outputs else max(uses + [written[k]])
        last_read[root] = max(last_read.get(root, 0), last)
    size = {k: v.type.nbytes for k, v in values.items()}
    by_name = {v.name: k for k, v in values.items()}
    for span in spans:
        for name, nbytes in span.band_bytes.items():
            size[by_name[name]] = nbytes
        for name in (*span.whole, *(span.band_bytes if span.keep_bands else ())):
            k = by_name[name]
            if span.holds(written[k]):
                written[k] = span.first    # band 0 writes it before band 1 reads the span's inputs
            root = data.find(k)
            last_read[root] = max(last_read[root], span.last)

    # 2. in-place writes: the output joins an input's storage when that data dies here (the
    #    first such input among those the kernel may overwrite).
    storage = _Sets()
    for k in values:
        storage.add(values[data.find(k)])
    output_roots = {data.find(o) for o in outputs}
    for i, node in enumerate(graph.nodes):
        if any(span.holds(i) for span in spans):
            continue   # band buffers differ in size from the tensors: no in-place inside a span
        for index in _overwritable(in_place(node)):
            x = node.inputs[index] if index < len(node.inputs) else None
            if (x is not None and id(x) in values and last_read[data.find(id(x))] == i
                    and data.find(id(x)) not in output_roots
                    and storage.find(data.find(id(x))) != storage.find(data.find(id(node.output)))
                    and node.output.type.nbytes == x.type.nbytes):
                storage.join(values[data.find(id(x))], values[data.find(id(node.output))])
                break

    # 3. one buffer per storage: the union of its members' lifetimes.
    lives: dict[int, list[int]] = {}
    for k, v in values.items():
        root = storage.find(data.find(k))
        lo, hi = written[k], last_read[data.find(k)]
        life = lives.setdefault(root, [lo, hi, 0])
        life[0], life[1], life[2] = min(life[0], lo), max(life[1], hi), max(life[2], size[k])
    position = {k: i for i, k in enumerate(values)}      # graph inputs, then outputs in execution order
    order = sorted(lives, key=lambda r: (lives[r][0], position[r]))
    pins = {}
    for span in spans:
        if span.overlay:
            out, x = (storage.find(data.find(by_name[n])) for n in span.overlay[:2])
            if out != x:
                pins[out] = (values[x].name, span.overlay[2])
    buffers = [Buffer(values[r].name, lives[r][2], lives[r][0], lives[r][1], alignment, position[r],
                      *pins.get(r, (None, 0))) for r in order]
    value_buffer = {v.name: values[storage.find(data.find(k))].name for k, v in values.items()}
    scratch_buffer = {}
    for i, node in enumerate(graph.nodes):
        size = scratch_bytes(node)
        if size > 0:
            name = f"scratch:{node.name}"
            buffers.append(Buffer(name, size, i, i, alignment, len(values) + i))
            scratch_buffer[node.name] = name
    return Allocation(tuple(buffers), value_buffer, scratch_buffer)
