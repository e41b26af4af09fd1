"""Attention one head at a time (fuse-attention-heads, tfc_attention_s8): the generated C, built
with ASan/UBSan, equals tfc's int8 interpreter exactly over tokens 4..64, heads 1..8, head width
8..32, and the interpreter's fused `attention` node equals the unfused batch_matmul -> softmax ->
batch_matmul bit for bit (same kernels, same parameters, only the loop order changes). In `auto`
mode the rule fires only where it lowers the planned arena: 64 tokens x 8 heads (scores dominate)
does, 16 tokens x 2 heads (q, k, v dominate) keeps the all-heads kernels."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tfc
from compare import assert_exact
from test_attention_blocks import CALIBRATION_SAMPLES, attention_model
from tfc import interp
from tfc.backends.cmsis import HostRunner, write_project
from tfc.ir.ops.quant import quantize_array

UNFUSED = ["batch_matmul", "softmax", "transpose", "batch_matmul"]
FUSED = ["transpose", "attention"]


def pipeline(mode: str) -> str:
    return f"canonicalize,fuse{{residual=false}},sparsify,quantize-int8,fuse{{attention_heads={mode}}},plan-memory"


def compile_block(heads: int, tokens: int, width: int, seed: int, mode: str, target: str = "host"):
    rng = np.random.default_rng(seed)
    shape = (CALIBRATION_SAMPLES, 1, heads, tokens, width)
    samples = {n: rng.normal(0, s, shape).astype(np.float32) for n, s in (("q", 1.0), ("k", 1.0), ("v", 0.7))}
    cm = tfc.compile(attention_model(heads, tokens, width), target=target, calibration=samples,
                     pipeline=pipeline(mode))
    ints = [np.stack([quantize_array(x, v.quant, v.quant.storage) for x in samples[v.name]]) for v in cm.ir.inputs]
    return cm, ints


@settings(max_examples=max(2, settings.default.max_examples // 10), deadline=None)
@given(heads=st.integers(1, 8), tokens=st.integers(4, 64), width=st.integers(8, 32), seed=st.integers(0, 1000))
def test_per_head_c_equals_interpreter_and_unfused(heads, tokens, width, seed, tmp_path_factory):
    where = f"H={heads} T={tokens} d={width} seed={seed}"
    cm, ints = compile_block(heads, tokens, width, seed, "always")
    unfused, _ = compile_block(heads, tokens, width, seed, "never")
    assert [n.op for n in cm.ir.nodes] == FUSED, f"{where}: {cm.ir}"
    assert [n.op for n in unfused.ir.nodes] == UNFUSED, f"{where}: {unfused.ir}"
    tmp = tmp_path_factory.mktemp("heads")
    info = write_project(cm.ir, tmp / "c", target="host", name="att")
    assert any(layer.function == "tfc_attention_s8" and layer.scratch_bytes == tokens * tokens
               for layer in info.layers), f"{where}: {[(l.function, l.scratch_bytes) for l in info.layers]}"
    got = HostRunner(info, cache_dir=tmp / "cache", sanitize=True).run(list(ints), raw=True)
    got = np.asarray(got).reshape(len(ints[0]), *cm.ir.outputs[0].shape)
    for i in range(len(ints[0])):
        sample = [x[i] for x in ints]
        fused_ref = interp.run(cm.ir, sample)[0]
        assert_exact(fused_ref, interp.run(unfused.ir, sample)[0],
                     f"{where} sample {i}: interpreter, attention node vs unfused nodes")
        assert_exact(got[i], fused_ref, f"{where} sample {i}: generated C (one head at a time) vs int8 interpreter")


def test_per_head_lowers_the_arena_where_scores_dominate():
    cm, _ = compile_block(8, 64, 32, 0, "auto", target="cortex-m7")
    before, _ = compile_block(8, 64, 32, 0, "never", target="cortex-m7")
    after_b, before_b = cm.report.sram_bytes, before.report.sram_bytes
    print(f"\n[attention 64 tokens x 8 heads x 32] arena {before_b:,} B all heads -> {after_b:,} B one head at a time")
    assert [n.op for n in cm.ir.nodes] == FUSED, cm.ir
    # q, k, vt, output (16 KiB each) and one head's scores (4 KiB) instead of q, k, v and 32 KiB of scores
    assert (before_b, after_b) == (81_920, 69_632), (before_b, after_b)


def test_all_heads_kept_where_per_head_does_not_lower_the_arena():
    cm, _ = compile_block(2, 16, 24, 0, "auto")
    assert [n.op for n in cm.ir.nodes] == UNFUSED, cm.ir
    reasons = [d.reason for d in cm.declined if d.rule == "fuse-attention-heads"]
    assert any("does not lower the arena" in r for r in reasons), reasons
