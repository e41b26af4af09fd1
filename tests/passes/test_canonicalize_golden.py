"""Golden tests for canonicalize: for each rule, the input IR and the IR expected after the pass
(MLIR lit / TVM before-expected style), and the interpreter's results before and after must agree."""
import pytest

from tests.passes.golden import assert_same_results, body, normalize, parse_with_data
from tfc.passes import PassContext, run_pipeline

CASES = [
    ("fold_constants", """
graph @m {
  input %x : f32[1,4]
  const @a : f32[1,4]
  const @b : f32[1,4]
  %s = add(@a, @b) : f32[1,4] loc("s")
  %y = mul(%x, %s) : f32[1,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4]
  const @s : f32[1,4]
  %y = mul(%x, @s) {act_max=inf, act_min=-inf} : f32[1,4] loc("y")
  output %y
}
"""),
    ("dequantize_int8_weight_read_directly", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : i8[3,1,1,2] q(axis=0, scale=[0.5,0.25,0.125], zp=[0,0,0])
  %wf = dequantize(@w) : f32[3,1,1,2] loc("wf")
  %y = conv2d(%x, %wf) {dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,4,4,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : i8[3,1,1,2] q(axis=0, scale=[0.5,0.25,0.125], zp=[0,0,0])
  %y = conv2d(%x, @w) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,4,4,3] loc("y")
  output %y
}
"""),
    ("qdq_pair_becomes_quant_params", """
graph @m {
  input %x : f32[1,8]
  %a = relu(%x) : f32[1,8] loc("a")
  %q = quantize(%a) {dtype="i8"} : i8[1,8] q(0.05,-3) loc("q")
  %d1 = dequantize(%q) : f32[1,8] loc("d1")
  %d2 = dequantize(%q) : f32[1,8] loc("d2")
  %y = add(%d1, %d2) : f32[1,8] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,8]
  %a = relu(%x) : f32[1,8] q(0.05,-3) loc("a")
  %y = add(%a, %a) {act_max=inf, act_min=-inf} : f32[1,8] loc("y")
  output %y
}
"""),
    ("int8_interface_kept", """
graph @m {
  input %x : i8[1,8] q(0.1,5)
  %xf = dequantize(%x) : f32[1,8] loc("xf")
  %a = relu(%xf) : f32[1,8] loc("a")
  %y = quantize(%a) {dtype="i8"} : i8[1,8] q(0.05,-128) loc("y")
  output %y
}
""", """
graph @m {
  input %x : i8[1,8] q(0.1,5)
  %xf = dequantize(%x) : f32[1,8] loc("xf")
  %a = relu(%xf) : f32[1,8] loc("a")
  %y = quantize(%a) {dtype="i8"} : i8[1,8] q(0.05,-128) loc("y")
  output %y
}
"""),
    ("batchnorm_into_conv_with_bias", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,3,3,2]
  const @b : f32[3]
  const @g : f32[3]
  const @beta : f32[3]
  const @mean : f32[3]
  const @var : f32[3]
  %c = conv2d(%x, @w, @b) {dilation=[1,1], group=1, pad=[1,1,1,1], stride=[1,1]} : f32[1,4,4,3] loc("c")
  %y = batchnorm(%c, @g, @beta, @mean, @var) {axis=3, epsilon=0.001} : f32[1,4,4,3] loc("bn")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w_bn : f32[3,3,3,2]
  const @c.bias_bn : f32[3]
  %y = conv2d(%x, @w_bn, @c.bias_bn) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[1,1,1,1], stride=[1,1]} : f32[1,4,4,3] loc("c")
  output %y
}
"""),
    ("batchnorm_into_conv_without_bias", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,3,3,2]
  const @g : f32[3]
  const @beta : f32[3]
  const @mean : f32[3]
  const @var : f32[3]
  %c = conv2d(%x, @w) {dilation=[1,1], group=1, pad=[1,1,1,1], stride=[1,1]} : f32[1,4,4,3] loc("c")
  %y = batchnorm(%c, @g, @beta, @mean, @var) {axis=-1, epsilon=0.001} : f32[1,4,4,3] loc("bn")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w_bn : f32[3,3,3,2]
  const @c.bias_bn : f32[3]
  %y = conv2d(%x, @w_bn, @c.bias_bn) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[1,1,1,1], stride=[1,1]} : f32[1,4,4,3] loc("c")
  output %y
}
"""),
    ("batchnorm_into_linear", """
graph @m {
  input %x : f32[2,5]
  const @w : f32[3,5]
  const @b : f32[3]
  const @g : f32[3]
  const @beta : f32[3]
  const @mean : f32[3]
  const @var : f32[3]
  %l = linear(%x, @w, @b) : f32[2,3] loc("l")
  %y = batchnorm(%l, @g, @beta, @mean, @var) {axis=1, epsilon=1e-05} : f32[2,3] loc("bn")
  output %y
}
""", """
graph @m {
  input %x : f32[2,5]
  const @w_bn : f32[3,5]
  const @l.bias_bn : f32[3]
  %y = linear(%x, @w_bn, @l.bias_bn) {act_max=inf, act_min=-inf} : f32[2,3] loc("l")
  output %y
}
"""),
    ("batchnorm_conv_output_shared_becomes_affine", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,1,1,2]
  const @g : f32[3]
  const @beta : f32[3]
  const @mean : f32[3]
  const @var : f32[3]
  %c = conv2d(%x, @w) {dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,4,4,3] loc("c")
  %n = batchnorm(%c, @g, @beta, @mean, @var) {axis=3, epsilon=0.001} : f32[1,4,4,3] loc("bn")
  %y = add(%n, %c) : f32[1,4,4,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,2]
  const @w : f32[3,1,1,2]
  const @bn.scale : f32[3]
  const @bn.shift : f32[3]
  %c = conv2d(%x, @w) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,4,4,3] loc("c")
  %bn.mul = mul(%c, @bn.scale) {act_max=inf, act_min=-inf} : f32[1,4,4,3] loc("bn.mul")
  %bn.add = add(%bn.mul, @bn.shift) {act_max=inf, act_min=-inf} : f32[1,4,4,3] loc("bn.add")
  %y = add(%bn.add, %c) {act_max=inf, act_min=-inf} : f32[1,4,4,3] loc("y")
  output %y
}
"""),
    ("identities_removed", """
graph @m {
  input %x : f32[1,2,3,4]
  %a = reshape(%x) {shape=[1,2,3,4]} : f32[1,2,3,4] loc("a")
  %b = transpose(%a) {perm=[0,1,2,3]} : f32[1,2,3,4] loc("b")
  %c = cast(%b) {to="f32"} : f32[1,2,3,4] loc("c")
  %d = pad(%c) {mode="constant", pads=[0,0,0,0,0,0,0,0], value=0.0} : f32[1,2,3,4] loc("d")
  %e = expand(%d) {shape=[1,2,3,4]} : f32[1,2,3,4] loc("e")
  %y = relu(%e) : f32[1,2,3,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,2,3,4]
  %y = relu(%x) : f32[1,2,3,4] loc("y")
  output %y
}
"""),
    ("dead_code_removed", """
graph @m {
  input %x : f32[1,4]
  const @unused : f32[4]
  const @k : f32[4]
  %dead = mul(%x, @k) : f32[1,4] loc("dead")
  %dead2 = relu(%dead) : f32[1,4] loc("dead2")
  %y = relu(%x) : f32[1,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4]
  %y = relu(%x) : f32[1,4] loc("y")
  output %y
}
"""),
    ("inverse_transposes_cancel", """
graph @m {
  input %x : f32[1,8,8,3]
  %a = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,8,8] loc("a")
  %b = transpose(%a) {perm=[0,2,3,1]} : f32[1,8,8,3] loc("b")
  %y = relu(%b) : f32[1,8,8,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,8,8,3]
  %y = relu(%x) : f32[1,8,8,3] loc("y")
  output %y
}
"""),
    ("sink_through_unary_and_binary_with_constant", """
graph @m {
  input %x : f32[1,4,4,3]
  const @k : f32[3,1,1]
  %a = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("a")
  %r = relu(%a) : f32[1,3,4,4] loc("r")
  %m = mul(%r, @k) : f32[1,3,4,4] loc("m")
  %c = clip(%m) {max=6.0, min=0.0} : f32[1,3,4,4] loc("c")
  %b = transpose(%c) {perm=[0,2,3,1]} : f32[1,4,4,3] loc("b")
  %y = maxpool2d(%b) {dilation=[1,1], kernel=[2,2], pad=[0,0,0,0], stride=[2,2]} : f32[1,2,2,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,3]
  const @k.t : f32[1,1,1,3]
  %r = relu(%x) : f32[1,4,4,3] loc("r")
  %m = mul(%r, @k.t) {act_max=inf, act_min=-inf} : f32[1,4,4,3] loc("m")
  %c = clip(%m) {max=6.0, min=0.0} : f32[1,4,4,3] loc("c")
  %y = maxpool2d(%c) {act_max=inf, act_min=-inf, dilation=[1,1], kernel=[2,2], pad=[0,0,0,0], stride=[2,2]} : f32[1,2,2,3] loc("y")
  output %y
}
"""),
    ("sink_through_add_of_two_transposed", """
graph @m {
  input %x : f32[1,4,4,3]
  input %z : f32[1,4,4,3]
  %a = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("a")
  %b = transpose(%z) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("b")
  %s = add(%a, %b) : f32[1,3,4,4] loc("s")
  %t = transpose(%s) {perm=[0,2,3,1]} : f32[1,4,4,3] loc("t")
  %y = avgpool2d(%t) {count_include_pad=false, kernel=[4,4], pad=[0,0,0,0], stride=[1,1]} : f32[1,1,1,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,3]
  input %z : f32[1,4,4,3]
  %s = add(%x, %z) {act_max=inf, act_min=-inf} : f32[1,4,4,3] loc("s")
  %y = avgpool2d(%s) {act_max=inf, act_min=-inf, count_include_pad=false, kernel=[4,4], pad=[0,0,0,0], stride=[1,1]} : f32[1,1,1,3] loc("y")
  output %y
}
"""),
    ("sink_through_concat_softmax_reduce_mean", """
graph @m {
  input %x : f32[1,4,4,3]
  input %z : f32[1,4,4,2]
  %a = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("a")
  %b = transpose(%z) {perm=[0,3,1,2]} : f32[1,2,4,4] loc("b")
  %c = concat(%a, %b) {axis=1} : f32[1,5,4,4] loc("c")
  %s = softmax(%c) {axis=1} : f32[1,5,4,4] loc("s")
  %y = reduce_mean(%s) {axes=[2,3], keepdims=false} : f32[1,5] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,3]
  input %z : f32[1,4,4,2]
  %c = concat(%x, %z) {axis=3} : f32[1,4,4,5] loc("c")
  %s = softmax(%c) {axis=3} : f32[1,4,4,5] loc("s")
  %y = reduce_mean(%s) {axes=[1,2], keepdims=false} : f32[1,5] loc("y")
  output %y
}
"""),
    ("nhwc_flatten_is_a_reshape", """
graph @m {
  input %x : f32[1,4,4,8]
  const @w : f32[10,8]
  %p = avgpool2d(%x) {count_include_pad=false, kernel=[4,4], pad=[0,0,0,0], stride=[1,1]} : f32[1,1,1,8] loc("p")
  %t = transpose(%p) {perm=[0,3,1,2]} : f32[1,8,1,1] loc("t")
  %f = reshape(%t) {shape=[1,8]} : f32[1,8] loc("f")
  %y = linear(%f, @w) : f32[1,10] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,8]
  const @w : f32[10,8]
  %p = avgpool2d(%x) {act_max=inf, act_min=-inf, count_include_pad=false, kernel=[4,4], pad=[0,0,0,0], stride=[1,1]} : f32[1,1,1,8] loc("p")
  %f = reshape(%p) {shape=[1,8]} : f32[1,8] loc("f")
  %y = linear(%f, @w) {act_max=inf, act_min=-inf} : f32[1,10] loc("y")
  output %y
}
"""),
    ("float_weight_quantized_by_folding", """
graph @m {
  input %x : f32[1,2,2,2]
  const @wf : f32[3,1,1,2]
  %wq = quantize(@wf) {dtype="i8"} : i8[3,1,1,2] q(axis=0, scale=[0.01,0.02,0.03], zp=[0,0,0]) loc("wq")
  %w = dequantize(%wq) : f32[3,1,1,2] loc("w")
  %y = conv2d(%x, %w) {dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,2,2,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,2,2,2]
  const @wq : i8[3,1,1,2] q(axis=0, scale=[0.01,0.02,0.03], zp=[0,0,0])
  %y = conv2d(%x, @wq) {act_max=inf, act_min=-inf, dilation=[1,1], group=1, pad=[0,0,0,0], stride=[1,1]} : f32[1,2,2,3] loc("y")
  output %y
}
"""),
    ("sink_through_dequantize_and_pad", """
graph @m {
  input %x : i8[1,4,4,3] q(0.5,-1)
  %t = transpose(%x) {perm=[0,3,1,2]} : i8[1,3,4,4] q(0.5,-1) loc("t")
  %d = dequantize(%t) : f32[1,3,4,4] loc("d")
  %p = pad(%d) {mode="constant", pads=[0,0,1,2,0,0,3,4], value=0.0} : f32[1,3,8,10] loc("p")
  %b = transpose(%p) {perm=[0,2,3,1]} : f32[1,8,10,3] loc("b")
  %y = maxpool2d(%b) {dilation=[1,1], kernel=[2,2], pad=[0,0,0,0], stride=[2,2]} : f32[1,4,5,3] loc("y")
  output %y
}
""", """
graph @m {
  input %x : i8[1,4,4,3] q(0.5,-1)
  %d_1 = dequantize(%x) : f32[1,4,4,3] loc("d_1")
  %p = pad(%d_1) {mode="constant", pads=[0,1,2,0,0,3,4,0], value=0.0} : f32[1,8,10,3] loc("p")
  %y = maxpool2d(%p) {act_max=inf, act_min=-inf, dilation=[1,1], kernel=[2,2], pad=[0,0,0,0], stride=[2,2]} : f32[1,4,5,3] loc("y")
  output %y
}
"""),
    ("split_axis_remapped", """
graph @m {
  input %x : f32[1,4,4,6]
  %t = transpose(%x) {perm=[0,3,1,2]} : f32[1,6,4,4] loc("t")
  %s0, %s1 = split(%t) {axis=1, sizes=[2,4]} : f32[1,2,4,4], f32[1,4,4,4] loc("s")
  %a = transpose(%s0) {perm=[0,2,3,1]} : f32[1,4,4,2] loc("a")
  %b = transpose(%s1) {perm=[0,2,3,1]} : f32[1,4,4,4] loc("b")
  %y = concat(%b, %a) {axis=3} : f32[1,4,4,6] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,6]
  %s0, %s1 = split(%x) {axis=3, sizes=[2,4]} : f32[1,4,4,2], f32[1,4,4,4] loc("s")
  %y = concat(%s1, %s0) {axis=3} : f32[1,4,4,6] loc("y")
  output %y
}
"""),
    ("sliced_projection_split_per_slice", """
graph @m {
  input %x : f32[1,4,8]
  const @w : f32[8,6]
  const @b : f32[6]
  %h = matmul(%x, @w) : f32[1,4,6] loc("h")
  %hb = add(%h, @b) : f32[1,4,6] loc("hb")
  %q = slice(%hb) {axes=[2], ends=[2], starts=[0], steps=[1]} : f32[1,4,2] loc("q")
  %k = slice(%hb) {axes=[-1], ends=[4], starts=[2], steps=[1]} : f32[1,4,2] loc("k")
  %v = slice(%hb) {axes=[2], ends=[9223372036854775807], starts=[4], steps=[1]} : f32[1,4,2] loc("v")
  %y = mul(%q, %k) : f32[1,4,2] loc("y")
  %z = add(%y, %v) : f32[1,4,2] loc("z")
  output %z
}
""", """
graph @m {
  input %x : f32[1,4,8]
  const @w_0_2 : f32[8,2]
  const @b_0_2 : f32[2]
  const @w_2_4 : f32[8,2]
  const @b_2_4 : f32[2]
  const @w_4_6 : f32[8,2]
  const @b_4_6 : f32[2]
  %h_0_2 = matmul(%x, @w_0_2) : f32[1,4,2] loc("h_0_2")
  %q = add(%h_0_2, @b_0_2) {act_max=inf, act_min=-inf} : f32[1,4,2] loc("hb_0_2")
  %h_2_4 = matmul(%x, @w_2_4) : f32[1,4,2] loc("h_2_4")
  %k = add(%h_2_4, @b_2_4) {act_max=inf, act_min=-inf} : f32[1,4,2] loc("hb_2_4")
  %h_4_6 = matmul(%x, @w_4_6) : f32[1,4,2] loc("h_4_6")
  %v = add(%h_4_6, @b_4_6) {act_max=inf, act_min=-inf} : f32[1,4,2] loc("hb_4_6")
  %y = mul(%q, %k) {act_max=inf, act_min=-inf} : f32[1,4,2] loc("y")
  %z = add(%y, %v) {act_max=inf, act_min=-inf} : f32[1,4,2] loc("z")
  output %z
}
"""),
    ("sliced_projection_without_bias_part_unread", """
graph @m {
  input %x : f32[1,4,8]
  const @w : f32[8,6]
  %h = matmul(%x, @w) : f32[1,4,6] loc("h")
  %k = slice(%h) {axes=[2], ends=[4], starts=[2], steps=[1]} : f32[1,4,2] loc("k")
  output %k
}
""", """
graph @m {
  input %x : f32[1,4,8]
  const @w_2_4 : f32[8,2]
  %k = matmul(%x, @w_2_4) : f32[1,4,2] loc("h_2_4")
  output %k
}
"""),
    ("projection_with_other_readers_kept", """
graph @m {
  input %x : f32[1,4,8]
  const @w : f32[8,6]
  %h = matmul(%x, @w) : f32[1,4,6] loc("h")
  %q = slice(%h) {axes=[2], ends=[2], starts=[0], steps=[1]} : f32[1,4,2] loc("q")
  %r = relu(%h) : f32[1,4,6] loc("r")
  output %q, %r
}
""", """
graph @m {
  input %x : f32[1,4,8]
  const @w : f32[8,6]
  %h = matmul(%x, @w) : f32[1,4,6] loc("h")
  %q = slice(%h) {axes=[2], ends=[2], starts=[0], steps=[1]} : f32[1,4,2] loc("q")
  %r = relu(%h) : f32[1,4,6] loc("r")
  output %q, %r
}
"""),
    ("transpose_output_keeps_its_name", """
graph @m {
  input %x : f32[1,4,4,3]
  %t = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("t")
  %y = relu(%t) : f32[1,3,4,4] loc("y")
  output %y
}
""", """
graph @m {
  input %x : f32[1,4,4,3]
  %y_pre = relu(%x) : f32[1,4,4,3] loc("y")
  %y = transpose(%y_pre) {perm=[0,3,1,2]} : f32[1,3,4,4] loc("y.t")
  output %y
}
"""),
]


@pytest.mark.parametrize("name, before_text, expected_text", CASES, ids=[c[0] for c in CASES])
def test_canonicalize_golden(name, before_text, expected_text):
    graph = parse_with_data(before_text)
    before = graph.copy()
    run_pipeline(graph, "canonicalize", PassContext())
    got, want = body(graph), normalize(expected_text)
    assert got == want, f"{name}: IR after canonicalize differs\n--- got\n{got}\n--- expected\n{want}"
    assert_same_results(before, graph, exact=any(v.quant for v in before.values()))


def test_batchnorm_not_folded_into_a_conv_with_a_fused_clamp():
    graph = parse_with_data("""
    graph @m {
      input %x : f32[1,4,4,2]
      const @w : f32[3,1,1,2]
      const @g : f32[3]
      const @beta : f32[3]
      const @mean : f32[3]
      const @var : f32[3]
      %c = conv2d(%x, @w) {act_max=6.0, act_min=0.0} : f32[1,4,4,3] loc("c")
      %y = batchnorm(%c, @g, @beta, @mean, @var) {axis=3, epsilon=0.001} : f32[1,4,4,3] loc("bn")
      output %y
    }""")
    before = graph.copy()
    ctx = PassContext()
    run_pipeline(graph, "canonicalize", ctx)
    assert [n.op for n in graph.nodes] == ["conv2d", "mul", "add"]
    assert any("clamps its result" in str(d) for d in ctx.declined), [str(d) for d in ctx.declined]
    assert_same_results(before, graph)


def test_projection_read_through_overlapping_slices_is_kept():
    graph = parse_with_data("""
    graph @m {
      input %x : f32[1,4,8]
      const @w : f32[8,6]
      %h = matmul(%x, @w) : f32[1,4,6] loc("h")
      %a = slice(%h) {axes=[2], ends=[4], starts=[0], steps=[1]} : f32[1,4,4] loc("a")
      %b = slice(%h) {axes=[2], ends=[6], starts=[2], steps=[1]} : f32[1,4,4] loc("b")
      %y = add(%a, %b) : f32[1,4,4] loc("y")
      output %y
    }""")
    ctx = PassContext()
    run_pipeline(graph, "canonicalize", ctx)
    assert [n.op for n in graph.nodes] == ["matmul", "slice", "slice", "add"]
    assert any(d.rule == "split-sliced-projection" and "overlap" in d.reason for d in ctx.declined), ctx.declined
