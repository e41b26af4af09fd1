"""Golden tests for the fuse pass: input IR, expected IR, and identical interpreter results
(integer graphs bit for bit); plus the reasons a rule gives when it declines."""
import pytest

from tests.passes.golden import assert_same_results, body, normalize, parse_with_data
from tfc.passes import PassContext, run_pipeline

CONV = "{act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]}"

CASES = [
    ("relu_into_conv", f"""
graph @m {{
  input %x : f32[1,4,4,2]
  const @w : f32[3,1,1,2]
  %c = conv2d(%x, @w) {CONV} : f32[1,4,4,3] loc("c")
  %y = relu(%c) : f32[1,4,4,3] loc("y")
  output %y
}}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,1,1,2]
  %y = conv2d(%x, @w) {act_max=inf, act_min=0.0, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,4,4,3] loc("c")
  output %y
}
"""),
    ("relu6_into_linear_keeps_tighter_bound", """
graph @m {
  input %x : f32[2,8]
  const @w : f32[4,8]
  const @b : f32[4]
  %l = linear(%x, @w, @b) {act_max=4.0, act_min=-inf} : f32[2,4] loc("l")
  %y = clip(%l) {max=6.0, min=0.0} : f32[2,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[2,8]
  const @w : f32[4,8]
  const @b : f32[4]
  %y = linear(%x, @w, @b) {act_max=4.0, act_min=0.0} : f32[2,4] loc("l")
  output %y
}
"""),
    ("int8_add_relu_same_grid", """
graph @m {
  input %a : i8[1,2,2,4] q(0.1,3)
  input %b : i8[1,2,2,4] q(0.2,-5)
  %s = add(%a, %b) {act_max=inf, act_min=-inf} : i8[1,2,2,4] q(0.15,-20) loc("s")
  %y = relu(%s) : i8[1,2,2,4] q(0.15,-20) loc("y")
  output %y
}
""", """
graph @m {
  input %a : i8[1,2,2,4] q(0.1,3)
  input %b : i8[1,2,2,4] q(0.2,-5)
  %y = add(%a, %b) {act_max=inf, act_min=0.0} : i8[1,2,2,4] q(0.15,-20) loc("s")
  output %y
}
"""),
    ("relu_through_reshape", """
graph @m {
  input %x : f32[1,2,2,3]
  const @w : f32[3,1,1,3]
  %c = conv2d(%x, @w) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,2,2,3] loc("c")
  %r = reshape(%c) {shape=[1,12]} : f32[1,12] loc("r")
  %y = relu(%r) : f32[1,12] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,2,2,3]
  const @w : f32[3,1,1,3]
  %c = conv2d(%x, @w) {act_max=inf, act_min=0.0, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,2,2,3] loc("c")
  %y = reshape(%c) {shape=[1,12]} : f32[1,12] loc("r")
  output %y
}
"""),
    ("pad_into_conv", f"""
graph @m {{
  input %x : f32[1,4,4,2]
  const @w : f32[3,3,3,2]
  %p = pad(%x) {{mode="constant", pads=[0,1,2,0,0,1,0,0], value=0.0}} : f32[1,6,6,2] loc("p")
  %y = conv2d(%p, @w) {CONV} : f32[1,4,4,3] loc("y")
  output %y
}}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,3,3,2]
  %y = conv2d(%x, @w) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[1,2,1,0], stride=[1,1]} : f32[1,4,4,3] loc("y")
  output %y
}
"""),
    ("matmul_add_into_linear", """
graph @m {
  input %x : f32[1,8]
  const @w : f32[8,4]
  const @b : f32[4]
  %m = matmul(%x, @w) : f32[1,4] loc("m")
  %y = add(%m, @b) {act_max=inf, act_min=-inf} : f32[1,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,8]
  const @w_t : f32[4,8]
  const @b_bias : f32[4]
  %y = linear(%x, @w_t, @b_bias) {act_max=inf, act_min=-inf} : f32[1,4] loc("m")
  output %y
}
"""),
]


@pytest.mark.parametrize("name, before_text, expected_text", CASES, ids=[c[0] for c in CASES])
def test_fuse_golden(name, before_text, expected_text):
    graph = parse_with_data(before_text)
    before = graph.copy()
    run_pipeline(graph, "fuse", PassContext())
    got, want = body(graph), normalize(expected_text)
    assert got == want, f"{name}: IR after fuse differs\n--- got\n{got}\n--- expected\n{want}"
    assert_same_results(before, graph, exact=any(v.quant for v in before.values()))


@pytest.mark.parametrize("text, reason", [
    ("""
graph @m {
  input %a : i8[1,4] q(0.1,3)
  input %b : i8[1,4] q(0.2,-5)
  %s = add(%a, %b) {act_max=inf, act_min=-inf} : i8[1,4] q(0.15,-20) loc("s")
  %y = relu(%s) : i8[1,4] q(0.1,-128) loc("y")
  output %y
}""", "writes on another grid"),
    ("""
graph @m {
  input %x : f32[1,4]
  const @w : f32[4,4]
  %l = linear(%x, @w) {act_max=inf, act_min=-inf} : f32[1,4] loc("l")
  %y = relu(%l) : f32[1,4] loc("y")
  %z = add(%l, %y) {act_max=inf, act_min=-inf} : f32[1,4] loc("z")
  output %z
}""", "other readers"),
    ("""
graph @m {
  input %x : f32[1,4]
  %y = relu(%x) : f32[1,4] loc("y")
  output %y
}""", "graph input"),
])
def test_fuse_activation_declines_with_a_reason(text, reason):
    graph = parse_with_data(text)
    before = graph.copy()
    ctx = PassContext()
    run_pipeline(graph, "fuse", ctx)
    assert "relu" in [n.op for n in graph.nodes]
    assert any(reason in str(d) for d in ctx.declined), [str(d) for d in ctx.declined]
    assert_same_results(before, graph, exact=any(v.quant for v in before.values()))
