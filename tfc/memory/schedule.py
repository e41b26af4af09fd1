"""Memory-aware execution orders: among the valid orders of a graph's nodes, which keeps the
arena smallest. Independent branches (a ResNet skip conv and its main path, the towers of an
inception block) can run in any order, and which runs first decides what is live together.

Candidate orders come from a few list-scheduling heuristics; the caller's `arena_of(order)`
(the real plan, with the kernels' scratch and in-place rules) picks the winner. Pure: the
graph is not touched.
"""
from __future__ import annotations

from typing import Callable, Sequence

from tfc.ir.graph import Graph, Node


def _dependencies(graph: Graph) -> dict[int, set[int]]:
    deps = {id(n): set() for n in graph.nodes}
    for node in graph.nodes:
        for v in node.inputs:
            if v.producer is not None and id(v.producer) in deps:
                deps[id(node)].add(id(v.producer))
    return deps


def _list_schedule(graph: Graph, choose: Callable[[list[Node], dict], Node]) -> list[Node]:
    """A valid order built by repeatedly picking one ready node with `choose`."""
    deps = _dependencies(graph)
    done: set[int] = set()
    order: list[Node] = []
    remaining = list(graph.nodes)
    state = {"last": None, "readers_left": {id(v): len(v.uses) for v in graph.values()}}
    while remaining:
        ready = [n for n in remaining if deps[id(n)] <= done]
        node = choose(ready, state)
        order.append(node)
        done.add(id(node))
        remaining.remove(node)
        state["last"] = node
        for v in node.inputs:
            state["readers_left"][id(v)] = state["readers_left"].get(id(v), 1) - 1
    return order


def _net_bytes(node: Node, state) -> int:
    """Bytes this node adds to the live set: its outputs minus the inputs it reads last."""
    freed = sum(v.type.nbytes for v in {id(v): v for v in node.inputs}.values()
                if not v.is_constant and state["readers_left"].get(id(v), 0) == sum(1 for u, _ in v.uses if u is node))
    return sum(v.type.nbytes for v in node.outputs) - freed


def candidate_orders(graph: Graph) -> list[list[Node]]:
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    orders = [list(graph.nodes)]
    # Free memory first: the ready node that grows the live set least.
    orders.append(_list_schedule(graph, lambda ready, st: min(
        ready, key=lambda n: (_net_bytes(n, st), position[id(n)]))))
    # Finish a branch: prefer a reader of what was just computed.
    def depth_first(ready, st):
        last = st["last"]
        follow = [n for n in ready if last is not None and any(v.producer is last for v in n.inputs)]
        return min(follow or ready, key=lambda n: position[id(n)])
    orders.append(_list_schedule(graph, depth_first))
    # Smallest outputs first: delay the node that creates the biggest tensor.
    orders.append(_list_schedule(graph, lambda ready, st: min(
        ready, key=lambda n: (sum(v.type.nbytes for v in n.outputs), position[id(n)]))))
    unique, seen = [], set()
    for order in orders:
        key = tuple(id(n) for n in order)
        if key not in seen:
            seen.add(key)
            unique.append(order)
    return unique


def best_order(graph: Graph, arena_of: Callable[[Sequence[Node]], int]) -> tuple[list[Node], dict[str, int]]:
    """The candidate order with the smallest arena (the current order wins ties)."""
    results = []
    for order in candidate_orders(graph):
        results.append((arena_of(order), order))
    best_size, best = min(results, key=lambda r: r[0])  # min keeps the first of equals: the current order
    return best, {"orders-tried": len(results), "arena-before": results[0][0], "arena-after": best_size}
