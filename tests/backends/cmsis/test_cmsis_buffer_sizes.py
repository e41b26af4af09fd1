"""The runtime's *_get_buffer_size functions equal tfc.kernels.buffer_sizes for their build, and
both follow CMSIS-NN's published rules (checked on hand-computed values)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfc.errors import TargetError
from tfc.kernels import buffer_sizes as bs

CI = settings.get_profile("ci")


@given(c=st.integers(1, 512), kh=st.integers(1, 7), kw=st.integers(1, 7), out_w=st.integers(1, 64))
@settings(CI)
def test_c_and_python_agree(runtime, c, kh, kw, out_w):
    build = "dsp" if runtime.dsp else "portable"
    assert runtime.convolve_s8_buffer(c, kh, kw) == bs.convolve_s8(c, kh, kw, build)
    assert runtime.convolve_1x1_buffer(c) == bs.convolve_1x1_s8_fast(c, build)
    assert runtime.depthwise_opt_buffer(c, kh, kw) == bs.depthwise_conv_s8_opt(c, kh, kw, build)
    assert runtime.fully_connected_buffer(c) == bs.fully_connected_s8(c, build)
    assert runtime.avgpool_buffer(out_w, c) == bs.avgpool_s8(out_w, c, build)


def test_known_values():
    # 3x3 conv over 3 channels: 27 columns, padded to 28, two int16 columns = 112 bytes.
    assert bs.convolve_s8(3, 3, 3, "dsp") == 112
    assert bs.convolve_s8(3, 3, 3, "portable") == 112
    assert bs.convolve_s8(4, 1, 1, "dsp") == 16
    assert bs.depthwise_conv_s8_opt(32, 3, 3, "dsp") == 576
    assert bs.depthwise_conv_s8_opt(32, 3, 3, "portable") == 0
    assert bs.avgpool_s8(10, 16, "dsp") == 64
    assert bs.avgpool_s8(10, 16, "portable") == 0
    assert bs.convolve_1x1_s8_fast(16, "dsp", compiler="armclang") == 64
    assert bs.convolve_1x1_s8_fast(16, "dsp", compiler="gcc") == 0
    # The wrapper picks the buffer-free 3x3 kernel for small pads, _opt otherwise.
    assert bs.depthwise_conv_wrapper_s8(1, 8, 8, 3, 3, (1, 1), (1, 1), "dsp") == 0
    assert bs.depthwise_conv_wrapper_s8(1, 8, 8, 5, 5, (2, 2), (1, 1), "dsp") == 400
    assert bs.depthwise_conv_wrapper_s8(1, 8, 16, 5, 5, (2, 2), (1, 1), "dsp") == 0


def test_scratch_rules_follow_the_targets_isa_and_errors():
    from tfc.targets import TARGETS
    assert {name: bs.build_for_isa(t.isa) for name, t in TARGETS.items()} == {
        name: "portable" if name == "host" else "dsp" for name in TARGETS}
    with pytest.raises(TargetError, match="no CMSIS-NN scratch rules for the 'mve' instruction set"):
        bs.build_for_isa("mve")
    with pytest.raises(TargetError):
        bs.convolve_s8(1, 1, 1, "mve")
