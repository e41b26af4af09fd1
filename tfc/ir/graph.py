"""The graph IR: SSA values that know their producer and users, nodes, and the graph holding both.

A `Graph` keeps its nodes in a valid execution order. Rewrites go through the graph's methods
(`add_node`, `remove_node`, `replace_all_uses`) so producer/user links stay consistent.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Sequence

import numpy as np

from tfc.errors import ShapeError
from tfc.ir.types import DType, QuantParams, SparseLayout, TensorType

_NAME_OK = re.compile(r"[A-Za-z0-9_.]+")
_META_SCALARS = (str, int, float, bool, type(None))


def sanitize_name(name: str) -> str:
    """Turn any string (ONNX tensor names hold '/', ':', ';' ...) into an IR identifier.

    TFLite-converted models name a fused tensor by joining every op it came from with ';'
    ("model/activation/Relu;model/batch_normalization/...;model/conv2d/Conv2D"); the first part
    names it well enough, and keeps dumps and per-layer tables readable."""
    head = name.split(";", 1)[0] or name
    clean = re.sub(r"[^A-Za-z0-9_.]", "_", head).strip("_") or "v"
    return clean


def meta_problem(meta: Any) -> str | None:
    """Why `meta` is not a dict of simple values (str, int, float, bool, None, or lists of them),
    or None when it is. Only such values print into the text form and parse back."""
    if not isinstance(meta, dict):
        return f"is a {type(meta).__name__}, not a dict"
    for key, value in meta.items():
        if not isinstance(key, str):
            return f"key {key!r} is not a string"
        if not _is_simple(value):
            return (f"[{key!r}] is a {type(value).__name__}; meta holds str, int, float, bool, None "
                    "or lists of them")
    return None


def _is_simple(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_simple(v) for v in value)
    return isinstance(value, _META_SCALARS)


class Value:
    """An SSA value: defined once (by a node, or as a graph input or constant), read by users."""

    __slots__ = ("name", "type", "quant", "sparse", "data", "producer", "uses", "meta")

    def __init__(self, name: str, type: TensorType, *, quant: QuantParams | None = None,
                 data: np.ndarray | None = None, sparse: SparseLayout | None = None):
        self.name = name
        self.type = type
        self.quant = quant
        self.sparse = sparse
        self.data = data                    # set for constants (weights) only
        self.producer: Node | None = None
        self.uses: list[tuple[Node, int]] = []  # (reading node, input index)
        self.meta: dict[str, Any] = {}          # analyses' notes (see meta_problem); printed in dumps

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def users(self) -> list["Node"]:
        """Distinct nodes reading this value, in the order they first read it."""
        seen: dict[int, Node] = {}
        for node, _ in self.uses:
            seen.setdefault(id(node), node)
        return list(seen.values())

    @property
    def ref(self) -> str:
        """How the text form refers to this value: @name for constants, %name otherwise."""
        return f"@{self.name}" if self.is_constant else f"%{self.name}"

    def __repr__(self) -> str:
        return f"Value({self.ref}: {self.type})"


class Node:
    """One operation: an op name, inputs, outputs and typed attributes checked by its OpSpec."""

    __slots__ = ("op", "name", "inputs", "outputs", "attrs", "meta")

    def __init__(self, op: str, name: str, attrs: dict[str, Any]):
        self.op = op
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.attrs = attrs
        self.meta: dict[str, Any] = {}          # analyses' notes (see meta_problem); printed in dumps

    @property
    def spec(self):
        from tfc.ir.ops import get_op
        return get_op(self.op)

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.name} ({self.op}) has {len(self.outputs)} outputs")
        return self.outputs[0]

    def set_input(self, index: int, value: Value) -> None:
        old = self.inputs[index]
        old.uses.remove((self, index))
        self.inputs[index] = value
        value.uses.append((self, index))

    def __repr__(self) -> str:
        return f"Node({self.op} '{self.name}')"


class Graph:
    """Inputs, outputs, constants and nodes in execution order."""

    def __init__(self, name: str = "model"):
        self.name = sanitize_name(name)
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.constants: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self._value_names: set[str] = set()
        self._node_names: set[str] = set()

    # ---- naming -------------------------------------------------------------------------
    def fresh_name(self, base: str) -> str:
        """A value name not yet used in this graph, derived from `base` (deterministic)."""
        base = sanitize_name(base)
        if base not in self._value_names:
            return base
        i = 1
        while f"{base}_{i}" in self._value_names:
            i += 1
        return f"{base}_{i}"

    def _fresh_node_name(self, base: str) -> str:
        if base not in self._node_names:
            return base
        i = 1
        while f"{base}_{i}" in self._node_names:
            i += 1
        return f"{base}_{i}"

    def _claim(self, name: str) -> str:
        if not _NAME_OK.fullmatch(name):
            raise ValueError(f"invalid value name {name!r}")
        if name in self._value_names:
            raise ValueError(f"value name {name!r} already used")
        self._value_names.add(name)
        return name

    # ---- building -----------------------------------------------------------------------
    def add_input(self, name: str, type: TensorType, quant: QuantParams | None = None) -> Value:
        problem = type.size_problem()
        if problem:
            raise ShapeError(f"graph input '{name}': {problem}", hint="give the input a smaller static shape")
        value = Value(self._claim(self.fresh_name(name)), type, quant=quant)
        self.inputs.append(value)
        return value

    def add_constant(self, name: str, data: np.ndarray, *, quant: QuantParams | None = None,
                     sparse: SparseLayout | None = None) -> Value:
        data = np.require(data, requirements="C")  # keeps 0-d arrays 0-d
        type = TensorType(data.shape, DType.from_numpy(data.dtype))
        value = Value(self._claim(self.fresh_name(name)), type, quant=quant, data=data,
                      sparse=sparse)
        self.constants[value.name] = value
        return value

    def add_node(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
                 name: str | None = None, output_names: Sequence[str] | None = None,
                 output_types: Sequence[TensorType] | None = None,
                 before: Node | None = None, after: Node | None = None) -> Node:
        """Create a node, infer its output types (unless given) and insert it.

        It goes at the end, or just before/after an existing node. The OpSpec checks the
        attributes and fills in defaults.
        """
        from tfc.ir.ops import get_op
        spec = get_op(op)
        node = Node(op, self._fresh_node_name(sanitize_name(name or op)), spec.check_attrs(attrs or {}, op))
        self._node_names.add(node.name)
        for i, value in enumerate(inputs):
            node.inputs.append(value)
            value.uses.append((node, i))
        types = list(output_types) if output_types is not None else spec.infer(node)
        for t in types:
            if (problem := t.size_problem()) is not None:
                for i, value in enumerate(inputs):
                    value.uses.remove((node, i))
                raise ShapeError(f"the result would be {problem}", node=node.name, op=op)
        names = list(output_names) if output_names else [
            node.name if len(types) == 1 else f"{node.name}_{i}" for i in range(len(types))]
        keep_quant = spec.moves_data and node.inputs and node.inputs[0].quant is not None \
            and node.inputs[0].quant.axis is None
        for out_name, t in zip(names, types):
            value = Value(self._claim(self.fresh_name(out_name)), t,
                          quant=node.inputs[0].quant if keep_quant else None)
            value.producer = node
            node.outputs.append(value)
        if before is not None:
            self.nodes.insert(self.nodes.index(before), node)
        elif after is not None:
            self.nodes.insert(self.nodes.index(after) + 1, node)
        else:
            self.nodes.append(node)
        return node

    # ---- rewriting ----------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every reader of `old` (nodes and graph outputs) reads `new` instead."""
        if old is new:
            return
        for node, index in list(old.uses):
            node.set_input(index, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs nobody reads any more."""
        for out in node.outputs:
            if out.uses or out in self.outputs:
                raise ValueError(f"cannot remove {node}: output {out.ref} is still read")
        for i, value in enumerate(node.inputs):
            value.uses.remove((node, i))
        self.nodes.remove(node)
        self._node_names.discard(node.name)
        for out in node.outputs:
            self._value_names.discard(out.name)

    def bypass(self, node: Node, replacement: Value | None = None) -> None:
        """Remove a single-output node, its readers reading `replacement` (default: input 0)."""
        self.replace_all_uses(node.output, replacement if replacement is not None else node.inputs[0])
        self.remove_node(node)

    def remove_unused_constants(self) -> int:
        dead = [name for name, v in self.constants.items() if not v.uses and v not in self.outputs]
        for name in dead:
            del self.constants[name]
            self._value_names.discard(name)
        return len(dead)

    def rename_node(self, node: Node, new_name: str) -> None:
        self._node_names.discard(node.name)
        node.name = self._fresh_node_name(sanitize_name(new_name))
        self._node_names.add(node.name)

    def rename_value(self, value: Value, new_name: str) -> None:
        if self.constants.get(value.name) is value:
            del self.constants[value.name]
            self._value_names.discard(value.name)
            value.name = self._claim(self.fresh_name(new_name))
            self.constants[value.name] = value
        else:
            self._value_names.discard(value.name)
            value.name = self._claim(self.fresh_name(new_name))

    # ---- queries ------------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        """Every value: inputs, constants, then node outputs in execution order."""
        yield from self.inputs
        yield from self.constants.values()
        for node in self.nodes:
            yield from node.outputs

    def find_value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(name)

    def find_node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def nodes_of(self, *ops: str) -> list[Node]:
        return [n for n in self.nodes if n.op in ops]

    def to_networkx(self):
        """A networkx DiGraph view: one vertex per node (by name), an edge per data dependency."""
        import networkx as nx
        g = nx.DiGraph()
        for node in self.nodes:
            g.add_node(node.name, node=node)
        for node in self.nodes:
            for value in node.inputs:
                if value.producer is not None:
                    g.add_edge(value.producer.name, node.name, value=value.name)
        return g

    def sort_topologically(self) -> None:
        """Re-order nodes into a valid execution order, keeping the current order where valid."""
        import networkx as nx
        position = {node.name: i for i, node in enumerate(self.nodes)}
        order = nx.lexicographical_topological_sort(self.to_networkx(), key=position.__getitem__)
        by_name = {n.name: n for n in self.nodes}
        self.nodes = [by_name[name] for name in order]

    def copy(self) -> "Graph":
        """A deep copy, `meta` included (constants' arrays are shared: they are never mutated in
        place)."""
        from tfc.ir.text import parse_graph, print_graph
        return parse_graph(print_graph(self), data_source=self)

    def __str__(self) -> str:
        from tfc.ir.text import print_graph
        return print_graph(self, with_data=False)

    def __repr__(self) -> str:
        return f"Graph('{self.name}': {len(self.nodes)} nodes, {len(self.constants)} constants)"

