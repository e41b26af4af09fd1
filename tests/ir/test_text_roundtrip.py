"""The text form: parse(print(g)) prints identically, for hand-written and random graphs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

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
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(ParseError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_graph(text)
