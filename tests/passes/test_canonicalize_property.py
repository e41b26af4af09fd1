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
