"""The text form: parse(print(g)) prints identically, for hand-written and random graphs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.strategies import graphs
from tfc.errors import ParseError
from tfc.ir.graph import Graph
from tfc.ir.text import parse_graph, print_graph
from tfc.ir.types import DType, TensorType

@settings(max_examples=40)
@given(graphs())
def test_print_parse_print_is_identical(graph):
    text = print_graph(graph)
    again = print_graph(parse_graph(text))
    assert again == text, _first_difference(text, again)
    assert text.isascii()


@settings(max_examples=15)
@given(graphs())
def test_printing_is_deterministic_and_copy_prints_the_same(graph):
    assert print_graph(graph) == print_graph(graph) == print_graph(graph.copy())


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                     st.floats(allow_nan=False, width=64), st.text(max_size=6))
_META = st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)),
                        max_size=3)


@settings(max_examples=30)
@given(graphs(), st.data())
def test_meta_prints_as_a_comment_and_parses_back(graph, data):
    """Meta on any node or value (unicode, '#', quotes and all) rides along as an ASCII comment."""
    owners = list(graph.nodes) + list(graph.values())
    for owner in data.draw(st.lists(st.sampled_from(owners), max_size=4, unique_by=id)):
        owner.meta = data.draw(_META)
    text = print_graph(graph)
    assert text.isascii()
    back = parse_graph(text)
    assert print_graph(back) == text, _first_difference(text, print_graph(back))
    for name, node in zip([n.name for n in graph.nodes], back.nodes):
        assert node.meta == _as_parsed(graph.find_node(name).meta)
    for value in graph.values():
        assert back.find_value(value.name).meta == _as_parsed(value.meta)
    assert print_graph(graph.copy()) == text


def _as_parsed(meta: dict) -> dict:
    """Tuples come back as lists: JSON has one sequence type."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in meta.items()}


def test_meta_comment_sits_after_the_line_it_describes():
    g = parse_graph("""graph @g {
  input %x : f32[1,4]  # a hand-written comment is ignored
  %y = relu(%x) : f32[1,4] loc("y")  # meta: node {"by": "fuse"}, %y {"range": [0.0, 6.0]}
  output %y
}
""")
    assert g.nodes[0].meta == {"by": "fuse"} and g.find_value("y").meta == {"range": [0.0, 6.0]}
    assert g.inputs[0].meta == {}
    assert '  %y = relu(%x) : f32[1,4] loc("y")  # meta: node {"by": "fuse"}, %y {"range": [0.0, 6.0]}\n' \
        in print_graph(g)


def test_unprintable_meta_is_named():
    g = parse_graph("graph @g {\n  input %x : f32[1]\n  %y = relu(%x) : f32[1] loc(\"y\")\n  output %y\n}\n")
    g.nodes[0].meta["hist"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"meta of node: \['hist'\] is a ndarray"):
        print_graph(g)


def _first_difference(a: str, b: str) -> str:
    for n, (la, lb) in enumerate(zip(a.splitlines(), b.splitlines()), 1):
        if la != lb:
            return f"line {n} differs:\n  printed: {la}\n  re-read: {lb}"
    return f"lengths differ: {len(a)} vs {len(b)}"


def test_constants_round_trip_bit_exactly():
    g = Graph()
    x = g.add_input("x", TensorType((2, 3), DType.F32))
    odd = np.array([[np.nan, -0.0, 1e-45], [np.inf, -np.inf, 3.4028235e38]], np.float32)
    k = g.add_constant("k", odd)
    g.outputs = [g.add_node("add", [x, k]).output]
    back = parse_graph(print_graph(g)).constants["k"].data
    assert back.tobytes() == odd.tobytes()


@pytest.mark.parametrize("text, message", [
    ("graph @g {\n  input %x : f99[1]\n  output %x\n}\n", "line 2: unknown element type 'f99'"),
    ("graph @g {\n  %y = relu(%x) : f32[1]\n  output %y\n}\n", "line 2: value %x used before it is defined"),
    ("graph @g {\n  input %x : f32[1]\n  output %x\n", "missing closing '}'"),
    ("graph @g {\n  const @k : f32[2]\n  output @k\n}\n", "constant @k has no data"),
    ("graph @g {\n  input %x : f32[1]  # meta: %y {}\n  output %x\n}\n", "line 2: meta: expected one of %x at"),
    ("graph @g {\n  input %x : f32[1]  # meta: %x {\"a\": 1\n  output %x\n}\n", "line 2: meta of %x: Expecting"),
    ("graph @g {\n  input %x : f32[1]  # meta: %x {\"a\": {}}\n  output %x\n}\n",
     "line 2: meta of %x: ['a'] is a dict"),
    ("graph @g {\n  input %x : f32[1]  # meta: %x {} %x {}\n  output %x\n}\n", "expected ',' between entries"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(ParseError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_graph(text)
