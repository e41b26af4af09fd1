"""canonicalize keeps semantics on random graphs: transposes, reshapes, Q/DQ, int8 conv weights,
split/concat, softmax, elementwise ops with constants (the text round-trip's graph generator)."""
from __future__ import annotations

from hypothesis import given, settings

from tests.ir.strategies import graphs
from tests.passes.golden import assert_same_results
from tfc.ir.verify import verify
from tfc.passes import PassContext, run_pipeline


@settings(max_examples=60)
@given(graphs())
def test_canonicalize_keeps_results(graph):
    before = graph.copy()
    run_pipeline(graph, "canonicalize", PassContext())
    verify(graph)
    assert_same_results(before, graph, seeds=(1,))
    # nothing left for a second run to do
    again = graph.copy()
    result = run_pipeline(again, "canonicalize", PassContext()).results[0]
    assert not result.changed, f"a second canonicalize still rewrote: {result.stats}"


def test_a_rounding_moved_onto_the_graph_input_still_rounds():
    """Found by the property above: reshape -> reshape -> quantize/dequantize right after the input
    becomes the input carrying the grid; the interpreter rounds a float input on its grid on entry,
    so the rewritten graph computes what the original did."""
    from tfc.ir.graph import Graph
    from tfc.ir.types import DType, QuantParams, TensorType
    g = Graph("model")
    x = g.add_input("x", TensorType((1, 1, 1, 1), DType.F32))
    r = g.add_node("reshape", [x], {"shape": [1, 1, 1]}).output
    r = g.add_node("reshape", [r], {"shape": [1, 1, 1, 1]}).output
    q = g.add_node("quantize", [r], {"dtype": "i8"})
    q.output.quant = QuantParams((1.0,), (0,))
    g.outputs = [g.add_node("dequantize", [q.output]).output]
    before = g.copy()
    run_pipeline(g, "canonicalize", PassContext())
    assert g.inputs[0].quant is not None and not g.nodes, g
    assert_same_results(before, g, seeds=(1, 2, 3))
