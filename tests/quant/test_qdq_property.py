"""tfc's int8 path against onnxruntime's own quantization, on random small models.

Each model is built in float with onnx.helper (NCHW, as PyTorch exports), quantized by
onnxruntime's `quantize_static` (QDQ, per-channel int8 weights, int8 activations), compiled by tfc
(canonicalize + quantize-int8) and run by tfc's int8 interpreter (bit-exact with the C kernels).
onnxruntime computes the QDQ graph in float and rounds once per Q node; the kernels use
fixed-point multipliers, so a one-op model may differ by 1 LSB, never more. tfc must also keep
the QDQ model's scales, zero points and weight integers exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, assume, example, given, seed, settings
from hypothesis import strategies as st

from tests.quant.qdq_models import (ModelSpec, activation_params, bias_add_rounding_lsb, build_float_model, compare, layer,
                                    ort_quantize, random_feeds, tfc_activation_params, tfc_int8,
                                    weight_mismatches)

CALIBRATION_SAMPLES = 6
TEST_INPUTS = 3
# Chains: each op's 1-LSB differences feed the next, and a layer whose output range is narrow
# next to its input's (weights that nearly cancel) magnifies them in output LSBs; a wrong scale,
# zero point or rounding mode shows as tens of LSB (and in the survey's median).
CHAIN_LSB_BOUND = 16


def _examples(n: int) -> int:
    """n per test (each example is ~20 ms); the `slow` Hypothesis profile (400) runs 4x more."""
    return max(n, settings.default.max_examples * n // 100)


# ---------------------------------------------------------------------------------- strategies
def _out(size, k, s, d, p0, p1):
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


@st.composite
def activation(draw):
    kind = draw(st.sampled_from(["none", "relu", "relu6", "clip"]))
    if kind == "none":
        return []
    if kind == "clip":
        lo = draw(st.sampled_from([-1.0, -0.5, 0.0]))
        return [layer("clip", min=lo, max=lo + draw(st.sampled_from([0.5, 1.0, 2.0])))]
    return [layer(kind)]


@st.composite
def conv_layer(draw, cin: int, h: int, w: int):
    kind = draw(st.sampled_from(["dense", "depthwise", "grouped"]))
    if kind == "depthwise":
        group, cout = cin, cin * draw(st.integers(1, 2))
    elif kind == "grouped":
        divisors = [g for g in range(2, cin + 1) if cin % g == 0]
        assume(divisors)
        group = draw(st.sampled_from(divisors))
        cout = group * draw(st.integers(1, 3))
    else:
        group, cout = 1, draw(st.integers(1, 8))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    assume(_out(h, kh, stride[0], dilation[0], pads[0], pads[2]) >= 1)
    assume(_out(w, kw, stride[1], dilation[1], pads[1], pads[3]) >= 1)
    return layer("conv", cout=cout, kh=kh, kw=kw, group=group, stride=stride, dilation=dilation, pads=pads,
                 bias=draw(st.booleans()))


@st.composite
def conv_models(draw):
    cin, h, w = draw(st.integers(1, 8)), draw(st.integers(1, 10)), draw(st.integers(1, 10))
    layers = [draw(conv_layer(cin, h, w))] + draw(activation())
    return ModelSpec((1, cin, h, w), tuple(layers), seed=draw(st.integers(0, 2**16)))


@st.composite
def linear_models(draw):
    k, out = draw(st.integers(1, 48)), draw(st.integers(1, 16))
    if draw(st.booleans()):       # nn.Linear on [N, K]: Gemm
        shape, lay = (1, k), layer("gemm", out=out)
    else:                         # nn.Linear on [N, T, K]: MatMul (+ Add)
        shape, lay = (1, draw(st.integers(1, 5)), k), layer("matmul", out=out, bias=draw(st.booleans()))
    return ModelSpec(shape, (lay, *draw(activation())), seed=draw(st.integers(0, 2**16)))


@st.composite
def pool_models(draw):
    """onnxruntime leaves a pool on a float graph input unquantized, so a 1x1 conv feeds it."""
    c, h, w = draw(st.integers(2, 6)), draw(st.integers(2, 10)), draw(st.integers(2, 10))
    op = draw(st.sampled_from(["avgpool", "maxpool"]))
    k = (draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w))))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)),
            draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
    stem = layer("conv", cout=c, kh=1, kw=1, group=1, stride=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0), bias=True)
    return ModelSpec((1, c, h, w), (stem, layer(op, kernel=k, stride=s, pads=pads)), seed=draw(st.integers(0, 2**16)))


@st.composite
def add_models(draw):
    shape = (1, draw(st.integers(2, 6)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    if draw(st.booleans()):
        return ModelSpec(shape, (), seed=draw(st.integers(0, 2**16)), two_inputs=True)
    return ModelSpec(shape, (layer("residual"),), seed=draw(st.integers(0, 2**16)))


@st.composite
def chain_models(draw):
    """stem conv -> 1..3 blocks (conv+act, residual, pool) -> optional classifier head."""
    cin, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 12)), draw(st.integers(4, 12))
    h0, w0 = h, w
    c = draw(st.integers(2, 8))
    same = dict(kh=3, kw=3, stride=(1, 1), dilation=(1, 1), pads=(1, 1, 1, 1), bias=True)
    layers = [layer("conv", cout=c, group=1, **same), *draw(activation())]
    for _ in range(draw(st.integers(1, 3))):
        block = draw(st.sampled_from(["conv", "depthwise", "residual", "maxpool", "avgpool"]))
        if block in ("conv", "depthwise"):
            layers += [layer("conv", cout=c, group=1 if block == "conv" else c, **same), *draw(activation())]
        elif block == "residual":
            layers += [layer("residual"), layer("relu")]
        elif min(h, w) >= 2:
            layers.append(layer(block, kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0)))
            h, w = h // 2, w // 2
    if draw(st.booleans()):
        layers += [layer("global_avgpool"), layer("flatten"), layer("gemm", out=draw(st.integers(2, 10)))]
    return ModelSpec((1, cin, h0, w0), tuple(layers), seed=draw(st.integers(0, 2**16)))


# ------------------------------------------------------------------------------------- checks
def _folds_bias_add(spec: ModelSpec) -> bool:
    return any(lay.op == "matmul" and lay.get("bias") for lay in spec.layers)


def _quantize_and_compare(spec: ModelSpec):
    model = build_float_model(spec)
    calibration = random_feeds(spec, CALIBRATION_SAMPLES, spec.seed + 1)
    qdq = ort_quantize(model, calibration)
    graph = tfc_int8(qdq)
    # tfc folds a MatMul's bias Add into the int32 bias: where the MatMul output leaves its
    # calibrated range, QDQ clamps it before adding the bias and tfc does not (closer to float),
    # so such models are compared inside the calibrated ranges, on the calibration samples.
    inputs = calibration if _folds_bias_add(spec) else random_feeds(spec, TEST_INPUTS, spec.seed + 2)
    return qdq, graph, compare(qdq, graph, inputs)


def _check_params(spec, qdq, graph):
    expected, foldable = activation_params(qdq)
    got = tfc_activation_params(graph)
    assert got - foldable == expected, (
        f"{spec}\nactivation (scale, zero point) differ: only in tfc {sorted(got - expected - foldable)}, "
        f"only in the QDQ model {sorted(expected - got)}")
    problems = weight_mismatches(qdq, graph)
    assert not problems, f"{spec}\n" + "\n".join(problems)


def test_one_channel_bias_imports():
    spec = ModelSpec((1, 4), (layer("gemm", out=1),), seed=3)
    _check_single_op(spec)


def _check_single_op(spec: ModelSpec):
    qdq, graph, diff = _quantize_and_compare(spec)
    _check_params(spec, qdq, graph)
    # MatMul + bias Add is two quantized ops in QDQ: the MatMul output and the int8 bias are each
    # rounded onto their own grids before the Add rounds again, while tfc rounds the exact sum
    # once; those grids can be coarser than the output's, so the bound grows with their ratio.
    bound = 1
    if _folds_bias_add(spec):
        bound = 1 + int(np.ceil(bias_add_rounding_lsb(qdq)))
    assert diff.max_lsb <= bound, f"{spec}\ntfc int8 vs onnxruntime QDQ: {diff}"


@settings(max_examples=_examples(60))
@given(conv_models())
def test_conv_matches_onnxruntime_qdq(spec):
    _check_single_op(spec)


@settings(max_examples=_examples(40))
@given(linear_models())
def test_linear_matches_onnxruntime_qdq(spec):
    _check_single_op(spec)


@settings(max_examples=_examples(40))
@given(pool_models())
def test_pool_matches_onnxruntime_qdq(spec):
    _check_single_op(spec)


@settings(max_examples=_examples(25))
@given(add_models())
def test_add_matches_onnxruntime_qdq(spec):
    _check_single_op(spec)


# A fresh-clone CI run once failed the chain test (21 LSB); this model, found by searching 4,000
# chains, failed it the same way (17 LSB): the global average pool rounded the mean onto its input's
# grid before requantizing onto onnxruntime's ~18x finer output grid. quantize-int8 now computes a
# global average pool between different grids as one-rounding reduce_mean (1 LSB).
GLOBAL_POOL_REGRESSION = ModelSpec((1, 3, 7, 9), (
    layer("conv", cout=2, group=1, kh=3, kw=3, stride=(1, 1), dilation=(1, 1), pads=(1, 1, 1, 1), bias=True),
    layer("conv", cout=2, group=1, kh=3, kw=3, stride=(1, 1), dilation=(1, 1), pads=(1, 1, 1, 1), bias=True),
    layer("global_avgpool"), layer("flatten"), layer("gemm", out=2)), seed=1)


def test_global_avgpool_onto_a_finer_grid_rounds_once():
    qdq, graph, diff = _quantize_and_compare(GLOBAL_POOL_REGRESSION)
    assert [n.op for n in graph.nodes if "GlobalAveragePool" in n.name] == ["reduce_mean"], str(graph)
    assert diff.max_lsb <= 1, f"tfc int8 vs onnxruntime QDQ: {diff}"


@settings(max_examples=_examples(30))
@example(GLOBAL_POOL_REGRESSION)
@given(chain_models())
def test_chain_stays_close_to_onnxruntime_qdq(spec):
    qdq, graph, diff = _quantize_and_compare(spec)
    _check_params(spec, qdq, graph)
    assert diff.max_lsb <= CHAIN_LSB_BOUND, f"{spec}\ntfc int8 vs onnxruntime QDQ: {diff}"


@settings(max_examples=_examples(30))
@given(st.one_of(conv_models(), linear_models(), add_models()))
def test_onnxruntime_numerics_match_onnxruntime_exactly(spec):
    """With numerics="onnxruntime" (tfc.compile's choice for a model onnxruntime.quantization
    wrote) conv, depthwise, grouped, dilated, Gemm, MatMul(+bias Add) and Add models give
    onnxruntime's integers: float32 requantization as QLinearConv/QLinearMatMul/QGemm round it."""
    model = build_float_model(spec)
    calibration = random_feeds(spec, CALIBRATION_SAMPLES, spec.seed + 1)
    qdq = ort_quantize(model, calibration)
    graph = tfc_int8(qdq, numerics="onnxruntime")
    inputs = calibration if _folds_bias_add(spec) else random_feeds(spec, TEST_INPUTS, spec.seed + 2)
    diff = compare(qdq, graph, inputs)
    assert diff.max_lsb == 0, f"{spec}\ntfc int8 (numerics=onnxruntime) vs onnxruntime QDQ: {diff}"


def test_chain_lsb_survey(capsys):
    """40 chains from a fixed seed: the LSB statistics the report quotes."""
    maxima, means = [], []

    @seed(2024)
    @settings(max_examples=40, database=None, phases=[Phase.generate])
    @given(chain_models())
    def survey(spec):
        _, _, diff = _quantize_and_compare(spec)
        maxima.append(diff.max_lsb)
        means.append(diff.mean_lsb)

    survey()
    hist = {k: maxima.count(k) for k in sorted(set(maxima))}
    with capsys.disabled():
        print(f"\nchain survey ({len(maxima)} models): models per max-LSB {hist}, "
              f"median max {np.median(maxima):.0f} LSB, mean |diff| {np.mean(means):.3f} LSB")
    assert max(maxima) <= CHAIN_LSB_BOUND, f"max LSB per model: {maxima}"
    assert np.median(maxima) <= 2, f"max LSB per model: {maxima}"


# ------------------------------------------------------------------------------ the generated C
@pytest.fixture(scope="module")
def c_cache(tmp_path_factory):
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the generated C cannot be built here")
    return tmp_path_factory.mktemp("qdq-c")


@settings(max_examples=_examples(10))
@given(st.one_of(conv_models(), linear_models(), pool_models(), add_models(), chain_models()),
       st.sampled_from(["cmsis", "onnxruntime"]))
def test_generated_c_equals_interpreter(c_cache, spec, numerics):
    """The C project for the same int8 graph (built with gcc on the host) gives the interpreter's
    bytes exactly, so everything above about onnxruntime holds for the C too."""
    from tfc.backends.cmsis import HostRunner, write_project
    from tfc.interp import run
    from tests.quant.qdq_models import quantize
    qdq = ort_quantize(build_float_model(spec), random_feeds(spec, CALIBRATION_SAMPLES, spec.seed + 1))
    graph = tfc_int8(qdq, numerics=numerics)
    project = c_cache / f"m{abs(hash((spec, numerics))) % 10**8}"
    info = write_project(graph, project / "src", target="cortex-m7", name="qdq")
    runner = HostRunner(info, cache_dir=project / "cache")
    feeds = random_feeds(spec, TEST_INPUTS, spec.seed + 2)
    ints = [np.stack([quantize(f[v.name], v.quant.scale[0], v.quant.zero_point[0]) for f in feeds])
            for v in graph.inputs]
    got = runner.run_raw(ints)[0]
    want = np.stack([run(graph, [x[i] for x in ints])[0] for i in range(len(feeds))])
    got = got.reshape(want.shape)
    if not np.array_equal(got, want):
        d = np.abs(got.astype(np.int32) - want)
        at = np.unravel_index(int(np.argmax(d)), d.shape)
        pytest.fail(f"{spec} numerics={numerics}\ngenerated C vs int8 interpreter: {int((d > 0).sum())} of {d.size} outputs differ, "
                    f"worst {int(d[at])} LSB at {list(at)} (C {int(got[at])}, interpreter {int(want[at])})")
