"""Golden tests for the composite-op rules of the fuse pass (tfc/passes/fusion/gelu.py,
layernorm.py, attention.py): exported decompositions in, single ops out, and the interpreter's
results unchanged (to float rounding); plus the reasons the rules give when they decline."""
import math

import pytest

from tests.passes.golden import assert_same_results, body, normalize, parse_with_data
from tfc.passes import PassContext, run_pipeline

ACT = "{act_max=inf, act_min=-inf}"
SCALARS = {"sqrt2": math.sqrt(2), "one": 1.0, "half": 0.5, "eps": 1e-5, "two": 2.0, "c": 0.5, "d": 4.0}

CASES = [
    ("gelu_dynamo_order", f"""
graph @m {{
  input %x : f32[2,8]
  const @sqrt2 : f32[]
  const @one : f32[]
  const @half : f32[]
  %t = div(%x, @sqrt2) : f32[2,8] loc("t")
  %e = erf(%t) : f32[2,8] loc("e")
  %a = add(%e, @one) {ACT} : f32[2,8] loc("a")
  %h = mul(@half, %a) {ACT} : f32[2,8] loc("h")
  %y = mul(%x, %h) {ACT} : f32[2,8] loc("y")
  output %y
}}
""", """
graph @m {
  input %x : f32[2,8]
  %y = gelu(%x) {approximate="none"} : f32[2,8] loc("y")
  output %y
}
"""),
    ("gelu_torchscript_order_keeps_other_readers_of_x", f"""
graph @m {{
  input %x : f32[2,8]
  const @sqrt2 : f32[]
  const @one : f32[]
  const @half : f32[]
  %t = div(%x, @sqrt2) : f32[2,8] loc("t")
  %e = erf(%t) : f32[2,8] loc("e")
  %a = add(%e, @one) {ACT} : f32[2,8] loc("a")
  %m = mul(%x, %a) {ACT} : f32[2,8] loc("m")
  %g = mul(%m, @half) {ACT} : f32[2,8] loc("g")
  %y = add(%g, %x) {ACT} : f32[2,8] loc("y")
  output %y
}}
""", f"""
graph @m {{
  input %x : f32[2,8]
  %g = gelu(%x) {{approximate="none"}} : f32[2,8] loc("g")
  %y = add(%g, %x) {ACT} : f32[2,8] loc("y")
  output %y
}}
"""),
    ("layernorm_from_reducemean_sub_pow_sqrt_div", f"""
graph @m {{
  input %x : f32[1,4,8]
  const @two : f32[]
  const @eps : f32[]
  const @gamma : f32[8]
  const @beta : f32[8]
  %mu = reduce_mean(%x) {{axes=[-1], keepdims=true}} : f32[1,4,1] loc("mu")
  %d = sub(%x, %mu) {ACT} : f32[1,4,8] loc("d")
  %sq = pow(%d, @two) : f32[1,4,8] loc("sq")
  %var = reduce_mean(%sq) {{axes=[-1], keepdims=true}} : f32[1,4,1] loc("var")
  %ve = add(%var, @eps) {ACT} : f32[1,4,1] loc("ve")
  %sd = sqrt(%ve) : f32[1,4,1] loc("sd")
  %n = div(%d, %sd) : f32[1,4,8] loc("n")
  %s = mul(%n, @gamma) {ACT} : f32[1,4,8] loc("s")
  %y = add(%s, @beta) {ACT} : f32[1,4,8] loc("y")
  output %y
}}
""", """
graph @m {
  input %x : f32[1,4,8]
  const @gamma : f32[8]
  const @beta : f32[8]
  %y = layernorm(%x, @gamma, @beta) {axis=-1, epsilon=9.999999747378752e-06} : f32[1,4,8] loc("y")
  output %y
}
"""),
    ("qk_transpose_absorbed_and_div_folded_into_alpha", f"""
graph @m {{
  input %q : f32[1,2,5,8]
  input %k : f32[1,2,5,8]
  const @d : f32[]
  %kt = transpose(%k) {{perm=[0,1,3,2]}} : f32[1,2,8,5] loc("kt")
  %s = matmul(%q, %kt) : f32[1,2,5,5] loc("s")
  %y = div(%s, @d) : f32[1,2,5,5] loc("y")
  output %y
}}
""", """
graph @m {
  input %q : f32[1,2,5,8]
  input %k : f32[1,2,5,8]
  %y = batch_matmul(%q, %k) {alpha=0.25} : f32[1,2,5,5] loc("s")
  output %y
}
"""),
    ("dynamo_scales_on_both_operands_multiply_into_alpha", f"""
graph @m {{
  input %q : f32[1,2,5,8]
  input %k : f32[1,2,8,5]
  const @c : f32[1]
  %qs = mul(%q, @c) {ACT} : f32[1,2,5,8] loc("qs")
  %ks = mul(%k, @c) {ACT} : f32[1,2,8,5] loc("ks")
  %y = matmul(%qs, %ks) : f32[1,2,5,5] loc("y")
  output %y
}}
""", """
graph @m {
  input %q : f32[1,2,5,8]
  input %k : f32[1,2,8,5]
  %y_rhs_t = transpose(%k) {perm=[0,1,3,2]} : f32[1,2,5,8] loc("y_rhs_t")
  %y = batch_matmul(%q, %y_rhs_t) {alpha=0.25} : f32[1,2,5,5] loc("y")
  output %y
}
"""),
    ("pv_transpose_of_v_composes_with_the_head_split", """
graph @m {
  input %p : f32[1,2,5,5]
  input %v : f32[1,5,2,8]
  %vh = transpose(%v) {perm=[0,2,1,3]} : f32[1,2,5,8] loc("vh")
  %y = matmul(%p, %vh) : f32[1,2,5,8] loc("y")
  output %y
}
""", """
graph @m {
  input %p : f32[1,2,5,5]
  input %v : f32[1,5,2,8]
  %y_rhs_t = transpose(%v) {perm=[0,2,3,1]} : f32[1,2,8,5] loc("y_rhs_t")
  %y = batch_matmul(%p, %y_rhs_t) {alpha=1.0} : f32[1,2,5,8] loc("y")
  output %y
}
"""),
]


@pytest.mark.parametrize("name,before,expected", CASES, ids=[c[0] for c in CASES])
def test_fuse_transformer_golden(name, before, expected):
    graph = parse_with_data(before, overrides={k: v for k, v in SCALARS.items() if f"@{k} " in before})
    original = graph.copy()
    run_pipeline(graph, "fuse", PassContext())
    assert body(graph) == normalize(expected), f"{name}: got\n{body(graph)}"
    assert_same_results(original, graph, atol=1e-5)


def test_gelu_rule_says_why_it_declines():
    graph = parse_with_data(f"""
graph @m {{
  input %x : f32[2,8]
  const @half : f32[]
  %t = mul(%x, @half) {ACT} : f32[2,8] loc("t")
  %e = erf(%t) : f32[2,8] loc("e")
  output %e
}}
""", overrides={"half": 0.5})
    ctx = PassContext()
    run_pipeline(graph, "fuse", ctx)
    reasons = [d.reason for d in ctx.declined if d.rule == "fuse-gelu"]
    assert reasons == ["its input is not x / sqrt(2) of one activation"], ctx.declined
    assert [n.op for n in graph.nodes] == ["mul", "erf"]


def test_batch_matmul_rule_keeps_shared_operands():
    """A scaled K that another node also reads stays: peeling it would change that reader."""
    graph = parse_with_data(f"""
graph @m {{
  input %q : f32[1,5,8]
  input %k : f32[1,8,5]
  const @c : f32[]
  %ks = mul(%k, @c) {ACT} : f32[1,8,5] loc("ks")
  %s = matmul(%q, %ks) : f32[1,5,5] loc("s")
  %z = relu(%ks) : f32[1,8,5] loc("z")
  output %s
  output %z
}}
""", overrides={"c": 0.5})
    original = graph.copy()
    run_pipeline(graph, "fuse", PassContext())
    ops = [n.op for n in graph.nodes]
    assert ops.count("mul") == 1 and "batch_matmul" in ops, ops
    bmm = graph.find_node("s")
    assert bmm.attrs["alpha"] == 1.0 and bmm.inputs[1].producer.inputs[0].name == "ks"
    assert_same_results(original, graph, atol=1e-5)
