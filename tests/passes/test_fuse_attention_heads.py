"""Golden tests for fuse-attention-heads (tfc/passes/fusion/attention_heads.py): int8
batch_matmul -> softmax -> batch_matmul in, one `attention` node out, the interpreter's integers
unchanged bit for bit, the text form parsed back; and the reasons the rule gives when it declines."""
from tests.passes.golden import assert_same_results, body, normalize, parse_with_data
from tfc.ir.text import parse_graph, print_graph
from tfc.passes import PassContext, run_pipeline

CHAIN = """
graph @m {{
  input %q : i8[1,{h},6,8] q(0.03,-3)
  input %k : i8[1,{h},6,8] q(0.025,5)
  input %vt : i8[1,{hv},8,6] q(0.02,1)
  %s = batch_matmul(%q, %k) {{alpha=0.35}} : i8[1,{h},6,6] q(0.04,2) loc("s")
  %p = softmax(%s) {{axis=3}} : i8[1,{h},6,6] q(0.00390625,-128) loc("p")
  %o = batch_matmul(%p, %vt) {{alpha=1.0}} : i8[1,{h},6,8] q(0.015,-7) loc("o")
  output %o
}}
"""

# scores_scale: the scores grid's scale as stored (a float32 value, printed exactly)
FUSED = """
graph @m {
  input %q : i8[1,4,6,8] q(0.03,-3)
  input %k : i8[1,4,6,8] q(0.025,5)
  input %vt : i8[1,4,8,6] q(0.02,1)
  %o = attention(%q, %k, %vt) {alpha=0.35, pv_alpha=1.0, scores_scale=0.03999999910593033, scores_zero_point=2} : i8[1,4,6,8] q(0.015,-7) loc("o")
  output %o
}
"""


def test_chain_fuses_into_one_attention_node_with_the_same_integers():
    before = parse_with_data(CHAIN.format(h=4, hv=4))
    graph = parse_with_data(CHAIN.format(h=4, hv=4))
    run_pipeline(graph, "fuse{attention_heads=always}", PassContext(target="cortex-m7"))
    assert body(graph) == normalize(FUSED)
    assert_same_results(before, graph, exact=True)
    assert print_graph(parse_graph(print_graph(graph))) == print_graph(graph)


def test_rule_says_why_it_declines():
    cases = {
        "broadcast heads": (CHAIN.format(h=4, hv=1), "the heads broadcast"),
        "auto, tiny block": (CHAIN.format(h=4, hv=4), "one head at a time"),
    }
    for what, (text, reason) in cases.items():
        graph = parse_with_data(text)
        ctx = PassContext(target="cortex-m7")
        run_pipeline(graph, "fuse", ctx)
        reasons = [d.reason for d in ctx.declined if d.rule == "fuse-attention-heads"]
        assert [n.op for n in graph.nodes] == ["batch_matmul", "softmax", "batch_matmul"], f"{what}: {graph}"
        assert len(reasons) == 1 and reasons[0].startswith(reason), f"{what}: {reasons}"


def test_float_graph_is_left_to_the_int8_run():
    graph = parse_with_data(CHAIN.replace("i8[", "f32[").format(h=2, hv=2))
    ctx = PassContext(target="cortex-m7")
    run_pipeline(graph, "fuse{attention_heads=always}", ctx)
    assert "attention(" not in body(graph)
    assert any("not int8 yet" in d.reason for d in ctx.declined if d.rule == "fuse-attention-heads")
