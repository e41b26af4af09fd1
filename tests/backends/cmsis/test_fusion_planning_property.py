"""Random small residual CNNs (quantized by onnxruntime, so quantization is fixed): the generated
C gives identical bytes with and without fusion, and with every arena placement strategy; the
fused, planned build also runs clean under AddressSanitizer/UBSan."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfc
from tests.quant.qdq_models import ModelSpec, build_float_model, layer, ort_quantize, random_feeds
from tfc.backends.cmsis import HostRunner, write_project
from tfc.memory import STRATEGIES


@st.composite
def residual_cnn(draw):
    c = draw(st.integers(2, 6))
    h, w = draw(st.integers(4, 8)), draw(st.integers(4, 8))
    layers = [layer("conv", cout=c, kh=3, kw=3, group=1, stride=(1, 1), dilation=(1, 1), pads=(1, 1, 1, 1),
                    bias=True), layer("relu")]
    for _ in range(draw(st.integers(1, 2))):
        # residual2 (skip around two convs) fuses into conv2d_add; residual (skip = the conv's own
        # input) must not, and must still give the same bytes
        kind = draw(st.sampled_from(["residual2", "residual2", "residual"]))
        layers += [layer(kind)] + ([layer("relu")] if draw(st.booleans()) else [])
    if draw(st.booleans()):
        layers.append(layer("maxpool", kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0)))
    layers += [layer("flatten"), layer("gemm", out=draw(st.integers(2, 5)))]
    return ModelSpec((1, c, h, w), tuple(layers), seed=draw(st.integers(0, 10_000)))


def _run(graph, tmp, label, inputs, strategies=None, sanitize=False):
    info = write_project(graph, tmp / label, target="cortex-m7", name="m", strategies=strategies)
    return HostRunner(info, cache_dir=tmp / "cache", sanitize=sanitize).run(inputs, raw=True), info


# Each example builds 2-5 C projects (one with ASan): 1 in the ci profile, more in dev/slow.
@settings(max_examples=max(1, settings.default.max_examples // 15), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=residual_cnn())
def test_fusion_and_every_strategy_give_identical_outputs(spec, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fp")
    qdq = ort_quantize(build_float_model(spec), random_feeds(spec, 4, spec.seed))
    # The fixed-point kernels, which the residual fusion serves (a model onnxruntime wrote gets
    # numerics=onnxruntime by default, and conv2d_add declines those convs).
    fixed = "canonicalize,fuse{residual=false},sparsify,quantize-int8{numerics=cmsis},fuse,plan-memory"
    fused = tfc.compile(qdq, target="cortex-m7", pipeline=fixed).ir
    unfused = tfc.compile(qdq, target="cortex-m7", pipeline="canonicalize,quantize-int8{numerics=cmsis},plan-memory").ir
    fusable = sum(lay.op == "residual2" for lay in spec.layers)
    assert sum(n.op == "conv2d_add" for n in fused.nodes) == fusable, f"{spec}: {fused}"
    rng = np.random.default_rng(spec.seed)
    x = rng.integers(-128, 128, size=(3,) + tuple(fused.inputs[0].shape), dtype=np.int8)
    want, info = _run(fused, tmp, "fused", x, sanitize=True)
    got, _ = _run(unfused, tmp, "unfused", x)
    assert np.array_equal(np.asarray(want), np.asarray(got)), f"{spec}: fusion changed the outputs"
    from tfc.backends.cmsis.project import lower_for
    arenas, built = {}, set()
    for name in STRATEGIES:
        model, _ = lower_for(fused, target="cortex-m7", name="m", strategies=[name])
        arenas[name] = model.arena_bytes
        layout = tuple(sorted(model.plan.offsets.items()))
        if layout in built:  # the same offsets give the same C: build each distinct plan once
            continue
        built.add(layout)
        out, _ = _run(fused, tmp, name, x, strategies=[name])
        assert np.array_equal(np.asarray(out), np.asarray(want)), f"{spec}: strategy {name} changed the outputs"
    assert info.arena_bytes == min(arenas.values()), arenas
