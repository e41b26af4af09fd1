"""PTQ gives every activation int8 params, also where they can only come from a neighbour: a
pooling layer whose input is itself a data movement (transformer tokens back to an image, as
nas/ exports them) takes its input's params, and the linear after it gets an int32 bias."""
import numpy as np

import tfc
from tests.passes.golden import parse_with_data


def test_pool_after_transpose_then_linear_quantizes_and_compiles():
    graph = parse_with_data("""
    graph @m {
      input %t : f32[1,16,12]
      const @w : f32[10,12]
      const @b : f32[10]
      %tt = transpose(%t) {perm=[0,2,1]} : f32[1,12,16] loc("tt")
      %img = reshape(%tt) {shape=[1,12,4,4]} : f32[1,12,4,4] loc("img")
      %nhwc = transpose(%img) {perm=[0,2,3,1]} : f32[1,4,4,12] loc("nhwc")
      %p = avgpool2d(%nhwc) {kernel=[4,4], stride=[4,4]} : f32[1,1,1,12] loc("p")
      %f = reshape(%p) {shape=[1,12]} : f32[1,12] loc("f")
      %y = linear(%f, @w, @b) : f32[1,10] loc("y")
      output %y
    }""")
    samples = np.random.default_rng(0).standard_normal((8, 1, 16, 12)).astype(np.float32)
    cm = tfc.compile(graph, target="host", calibration=samples, pipeline="canonicalize,quantize-int8")
    assert all(v.quant is not None and v.dtype.value == "i8" for v in cm.ir.values() if not v.is_constant), cm.ir
    pool = cm.ir.nodes_of("avgpool2d")[0]
    assert pool.output.quant == pool.inputs[0].quant
    assert cm.ir.nodes_of("linear")[0].inputs[2].dtype.value == "i32"
