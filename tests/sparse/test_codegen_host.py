"""The per-layer generated sparse code (encoding brle-unrolled) equals the dense reference kernels
bit for bit on the host: plain C, emulated DSP and ASan/UBSan builds, over Hypothesis-drawn batches
of layers (block sizes 1..16, densities 0..1 with empty and fully dense rows, 1x1/3x3/5x3 kernels,
strides 1 and 2, paddings, output widths that are and are not multiples of 4, activation clamps,
fully connected layers over 1..6 vectors)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfc.quant.kernel_params import ActivationRange, ConvParams, FullyConnectedParams
from tfc.backends.cmsis import sparse_harness as H
from tfc.sparse.codegen import layer_code, pixel_counts_for
from tfc.sparse.encoding import BLOCK_SIZES
from tfc.sparse.layer import sparse_conv_layer, sparse_linear_layer

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _weights(rng, rows, cols, block, density):
    nb = -(-cols // block)
    keep = np.repeat(rng.random((rows, nb)) < density, block, axis=1)[:, :cols]
    w = (rng.integers(-128, 128, (rows, cols)) * keep).astype(np.int8)
    if rows > 2:
        w[0] = 0                              # an empty row
        w[1] = rng.integers(1, 128, cols)     # a fully dense row
    return w


def _quant(rng, rows):
    mult = [int(m) for m in rng.integers(1 << 30, 1 << 31, rows)]
    shift = [int(s) for s in rng.integers(-12, 2, rows)]
    return mult, shift


layer_spec = st.fixed_dictionaries({
    "kind": st.sampled_from(["conv", "conv", "fc"]), "block": st.sampled_from(BLOCK_SIZES),
    "density": st.sampled_from([0.0, 0.15, 0.5, 1.0]), "cin": st.integers(1, 20), "cout": st.integers(1, 12),
    "k": st.sampled_from([(1, 1), (3, 3), (5, 3)]), "hw": st.integers(5, 10), "stride": st.sampled_from([1, 2]),
    "pad": st.booleans(), "clamp": st.booleans(), "vectors": st.integers(1, 6), "seed": st.integers(0, 2**31),
})


def _cases(specs):
    """(generated case, dense case) per spec, and the generated codes (case k uses code k)."""
    pairs, codes = [], []
    for s in specs:
        rng = np.random.default_rng(s["seed"])
        act = ActivationRange(-100, 90) if s["clamp"] else ActivationRange()
        mult, shift = _quant(rng, s["cout"])
        bias = rng.integers(-3000, 3000, s["cout"]).astype(np.int32)
        if s["kind"] == "fc":
            w = _weights(rng, s["cout"], s["cin"], s["block"], s["density"])
            x = rng.integers(-128, 128, (s["vectors"], s["cin"])).astype(np.int8)
            p = FullyConnectedParams(input_offset=9, filter_offset=0, output_offset=-5, multipliers=(mult[0],),
                                     shifts=(shift[0],), activation=act)
            layer = sparse_linear_layer(w, bias, [mult[0]], [shift[0]], block=s["block"], vectors=s["vectors"],
                                        output_offset=-5, activation=act)
            codes.append(layer_code(layer, f"g{len(codes)}", pixel_counts=pixel_counts_for(s["vectors"], 1)))
            pairs.append((H.sparse_fc_case(x, layer, p, code=len(codes)), H.dense_fc_case(x, w, bias, p), s))
            continue
        kh, kw = s["k"]
        w = _weights(rng, s["cout"], kh * kw * s["cin"], s["block"], s["density"]).reshape(s["cout"], kh, kw, s["cin"])
        pad = (kh // 2, kw // 2) if s["pad"] else (0, 0)
        x = rng.integers(-128, 128, (1, s["hw"], s["hw"], s["cin"])).astype(np.int8)
        p = ConvParams(input_offset=9, output_offset=-5, multipliers=tuple(mult), shifts=tuple(shift), padding=pad,
                       stride=(s["stride"], s["stride"]), activation=act)
        out_hw = H.conv_out_hw(x.shape, kh, kw, p)
        width = H.padded_width(s["hw"], kw, s["stride"], pad[1], out_hw[1])
        layer = sparse_conv_layer(w, bias, mult, shift, block=s["block"], width=width, output_offset=-5,
                                  activation=act)
        counts = pixel_counts_for(out_hw[1], s["stride"], s["block"])
        codes.append(layer_code(layer, f"g{len(codes)}", pixel_counts=counts, input_stride=s["stride"]))
        pairs.append((H.sparse_conv_case(x, layer, p, code=len(codes)), H.dense_conv_case(x, w, bias, p), s))
    return pairs, codes


def _check_variants(tmp_path, specs, variants):
    pairs, codes = _cases(specs)
    cases = [c for pair in pairs for c in pair[:2]]
    for variant in variants:
        exe = H.build_host(variant, tmp_path / variant, codes)
        outs = H.run_host(exe, cases)
        for k, (_, _, spec) in enumerate(pairs):
            got, want = outs[2 * k], outs[2 * k + 1]
            if not np.array_equal(got, want):
                bad = np.argwhere(got != want)
                first = tuple(int(i) for i in bad[0])
                raise AssertionError(
                    f"{variant}: generated code differs from the dense kernel for {spec}: {len(bad)} of "
                    f"{got.size} outputs, first at {first}: {int(got[first])} != {int(want[first])}")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(layer_spec, min_size=6, max_size=10))
def test_generated_code_equals_dense_plain_and_dsp(tmp_path_factory, specs):
    _check_variants(tmp_path_factory.mktemp("gen"), specs, ("portable", "dsp"))


@pytest.mark.slow
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(layer_spec, min_size=6, max_size=8))
def test_generated_code_clean_under_asan_ubsan(tmp_path_factory, specs):
    _check_variants(tmp_path_factory.mktemp("gen_asan"), specs, ("sanitize",))


def test_every_block_size_and_edge_density(tmp_path):
    """Deterministic coverage: each block size at density 0 and 1, conv 3x3 with padding and stride 1
    (4-pixel and 1-pixel functions), conv stride 2, fc over 5 vectors."""
    specs = []
    for i, block in enumerate(BLOCK_SIZES):
        for density in (0.0, 1.0, 0.3):
            for kind, stride, vectors in (("conv", 1, 1), ("conv", 2, 1), ("fc", 1, 5)):
                specs.append({"kind": kind, "block": block, "density": density, "cin": 13, "cout": 6,
                              "k": (3, 3), "hw": 7, "stride": stride, "pad": True, "clamp": i % 2 == 0,
                              "vectors": vectors, "seed": 100 * i + int(density * 10)})
    _check_variants(tmp_path, specs, ("dsp",))
