"""The verifier catches each broken invariant, and names it."""
from __future__ import annotations

import numpy as np
import pytest

from tfc.errors import VerificationError
from tfc.ir.graph import Graph, Value
from tfc.ir.text import parse_graph
from tfc.ir.types import DType, TensorType
from tfc.ir.verify import verify

TEXT = """
graph @g {
  input %x : f32[1,4]
  %a = relu(%x) : f32[1,4] loc("a")
  %b = clip(%a) {max=6.0, min=0.0} : f32[1,4] loc("b")
  output %b
}
"""


@pytest.fixture
def graph() -> Graph:
    g = parse_graph(TEXT)
    verify(g)
    return g


def break_order(g):
    g.nodes.reverse()


def break_ssa(g):
    g.nodes[1].outputs[0].name = "a"


def break_uses(g):
    g.nodes[0].inputs[0].uses.clear()


def break_producer(g):
    g.nodes[1].outputs[0].producer = g.nodes[0]


def break_attrs(g):
    g.nodes[1].attrs = {"min": 0.0}   # not canonical: the default for max is missing


def break_unknown_attr(g):
    g.nodes[1].attrs = dict(g.nodes[1].attrs, colour="red")


def break_arity(g):
    node = g.nodes[0]
    node.inputs.append(node.inputs[0])
    node.inputs[0].uses.append((node, 1))


def break_shape(g):
    g.nodes[0].outputs[0].type = TensorType((1, 5), DType.F32)


def break_output(g):
    g.outputs = [Value("ghost", TensorType((1, 4), DType.F32))]


def break_node_names(g):
    g.nodes[1].name = g.nodes[0].name


def break_stale_user(g):
    node = g.nodes[1]
    g.nodes.remove(node)
    g.outputs = [g.nodes[0].output]


def break_constant(g):
    k = g.add_constant("k", np.zeros(4, np.float32))
    k.data = np.zeros(3, np.float32)


def break_unknown_op(g):
    g.nodes[0].op = "frobnicate"


def break_value_meta(g):
    g.nodes[0].output.meta["count"] = np.int64(3)   # does not print as the text form's JSON


def break_node_meta(g):
    g.nodes[1].meta[7] = "seven"


@pytest.mark.parametrize("breaker, message", [
    (break_order, "read before it is defined"),
    (break_ssa, "defined twice"),
    (break_uses, "does not list this node as a user"),
    (break_producer, "does not name this node as its producer"),
    (break_attrs, "not in canonical form"),
    (break_unknown_attr, "unknown attribute(s) ['colour']"),
    (break_arity, "takes 1..1 inputs, got 2"),
    (break_shape, "has shape [1, 5], op infers [1, 4]"),
    (break_output, "graph output %ghost is not defined"),
    (break_node_names, "node name used twice"),
    (break_stale_user, "lists a stale user b"),
    (break_constant, "data float32[3] != type f32[4]"),
    (break_unknown_op, "unknown IR op 'frobnicate'"),
    (break_value_meta, "meta of %a ['count'] is a int64; meta holds str, int, float, bool, None"),
    (break_node_meta, "node 'b', op clip: node meta key 7 is not a string"),
], ids=lambda x: getattr(x, "__name__", None))
def test_verifier_names_each_broken_invariant(graph, breaker, message):
    breaker(graph)
    with pytest.raises(VerificationError) as e:
        verify(graph)
    assert message in str(e.value), f"expected {message!r} in {str(e.value)!r}"
