"""The IR verifier: checks the invariants every pass must keep.

SSA (each value defined once), execution order (a value is defined before it is read),
producer/user links, registered ops with valid attributes and arity, recorded types equal to
the op's inferred types, graph outputs that exist, `meta` that prints (simple values only), and
the op traits' invariants (a data-movement op on integer data keeps its input's quantization grid).
"""
from __future__ import annotations

from tfc.errors import TfcError, VerificationError
from tfc.ir.graph import Graph, meta_problem


def verify(graph: Graph) -> None:
    """Raise VerificationError naming the first broken invariant."""
    defined: set[int] = set()
    names: set[str] = set()

    def define(value, where):
        if id(value) in defined or value.name in names:
            raise VerificationError(f"value {value.ref} defined twice", node=where)
        defined.add(id(value))
        names.add(value.name)

    for v in graph.inputs:
        if v.producer is not None or v.is_constant:
            raise VerificationError(f"graph input {v.ref} has a producer or data")
        define(v, None)
    for name, v in graph.constants.items():
        if not v.is_constant or v.name != name:
            raise VerificationError(f"constant @{name} has no data or a mismatched name")
        if tuple(v.data.shape) != v.shape or v.data.dtype != v.dtype.numpy:
            raise VerificationError(f"constant {v.ref}: data {v.data.dtype}{list(v.data.shape)} != type {v.type}")
        define(v, None)
    node_names: set[str] = set()
    for node in graph.nodes:
        if node.name in node_names:
            raise VerificationError("node name used twice", node=node.name, op=node.op)
        node_names.add(node.name)
        try:
            spec = node.spec
            spec.check_arity(node)
            if spec.check_attrs(node.attrs, node.name) != node.attrs:
                raise VerificationError("attributes are not in canonical form", node=node.name, op=node.op)
        except TfcError as e:
            raise VerificationError(e.message, node=node.name, op=node.op) from None
        for i, value in enumerate(node.inputs):
            if id(value) not in defined:
                raise VerificationError(f"input {i} ({value.ref}) is read before it is defined",
                                        node=node.name, op=node.op)
            if (node, i) not in value.uses:
                raise VerificationError(f"{value.ref} does not list this node as a user",
                                        node=node.name, op=node.op)
        try:
            inferred = spec.infer(node)
        except TfcError as e:
            raise VerificationError(f"type inference failed: {e.message}", node=node.name, op=node.op) from None
        if len(inferred) != len(node.outputs):
            raise VerificationError(f"{len(node.outputs)} outputs, op defines {len(inferred)}",
                                    node=node.name, op=node.op)
        for out, t in zip(node.outputs, inferred):
            if out.producer is not node:
                raise VerificationError(f"{out.ref} does not name this node as its producer", node=node.name)
            if out.type.shape != t.shape:
                raise VerificationError(f"{out.ref} has shape {list(out.type.shape)}, op infers {list(t.shape)}",
                                        node=node.name, op=node.op)
            define(out, node.name)
        _check_traits(node)
    for v in graph.values():
        for user, i in v.uses:
            if user not in graph.nodes or user.inputs[i] is not v:
                raise VerificationError(f"{v.ref} lists a stale user {user.name}")
        problem = meta_problem(v.meta)
        if problem:
            raise VerificationError(f"meta of {v.ref} {problem}", node=v.producer.name if v.producer else None)
    for node in graph.nodes:
        problem = meta_problem(node.meta)
        if problem:
            raise VerificationError(f"node meta {problem}", node=node.name, op=node.op)
    for v in graph.outputs:
        if id(v) not in defined:
            raise VerificationError(f"graph output {v.ref} is not defined")


def _same_grid(a, b) -> bool:
    """Equal scales and zero points (a transpose may move a per-channel axis)."""
    return a.scale == b.scale and a.zero_point == b.zero_point and a.storage == b.storage


def _check_traits(node) -> None:
    spec = node.spec
    if spec.moves_data:
        x = node.inputs[0]
        for out in node.outputs:
            if x.quant is None or out.quant is None or x.dtype.is_float or out.dtype.is_float:
                continue   # float data may be re-rounded onto another grid (QDQ semantics)
            if not _same_grid(x.quant, out.quant):
                raise VerificationError(
                    f"{node.op} moves stored integers, so {out.ref} must keep the grid of {x.ref} "
                    f"(scale {list(x.quant.scale)}, zero point {list(x.quant.zero_point)}), "
                    f"not scale {list(out.quant.scale)}, zero point {list(out.quant.zero_point)}",
                    node=node.name, op=node.op, hint="requantize after it (quantize-int8 does)")
