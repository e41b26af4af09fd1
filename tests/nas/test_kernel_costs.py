"""nas.kernel_costs: the per-kernel fit recovers known coefficients; estimates follow the layer table;
sparse layers cost what the cost model says for their chosen encoding; transformer kernels are known."""
from types import SimpleNamespace as NS

import numpy as np
import pytest

import nas.kernel_costs as kc
from nas.kernel_costs import FITTED, estimate, features, fit
from tfc.ir.types import DType, SparseLayout, TensorType
from tfc.sparse import cost_model
from tfc.sparse.encoding import block_mask


def _conv(name, cout, cin, k, hw, *, data=None, sparse=None, group=1):
    w = NS(type=TensorType((cout, k, k, cin), DType.I8), sparse=sparse, data=data, quant=None)
    return NS(name=name, op="conv2d", inputs=[NS(type=TensorType((1, hw, hw, cin * group), DType.I8)), w],
              output=NS(type=TensorType((1, hw, hw, cout), DType.I8)),
              attrs={"stride": [1, 1], "pad": [k // 2] * 4, "group": group, "dilation": [1, 1]})


def test_fit_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    key = "arm_convolve_s8"
    true = np.array([1.5, 20.0, 30.0, 2.0, 0.0, 0.0, 500.0])     # slow_rq/clamped: no such layers here
    nodes = [_conv(f"c{i}", int(rng.integers(4, 64)), int(rng.integers(4, 64)), int(rng.choice([1, 3])),
                   int(rng.integers(2, 9))) for i in range(16)]
    layers = [NS(node=n.name, function=key, instructions=float(true @ features(n, key))) for n in nodes]
    got = np.array(fit([(NS(ir=NS(nodes=nodes)), NS(layers=layers))])[key])
    assert np.allclose(got, true, rtol=1e-3, atol=1e-3), f"fitted {got}, expected {true}"


def test_fit_keeps_coefficients_non_negative():
    rng = np.random.default_rng(1)
    key = "arm_convolve_s8"
    nodes = [_conv(f"c{i}", int(rng.integers(4, 64)), int(rng.integers(4, 64)), 3, int(rng.integers(2, 9)))
             for i in range(12)]
    # instructions that a negative per-pixel term would fit best
    layers = [NS(node=n.name, function=key, instructions=float(features(n, key) @ [2.0, 5.0, -40.0, 1.0, 0, 0, 900.0]))
              for n in nodes]
    got = np.array(fit([(NS(ir=NS(nodes=nodes)), NS(layers=layers))])[key])
    assert (got >= 0).all(), f"negative coefficient in {got}"


def test_estimate_sums_the_layer_table_and_skips_aliases():
    n = _conv("c", 16, 8, 1, 4)
    table = [NS(node="r", function=""), NS(node="c", function="arm_convolve_1x1_s8_fast")]
    est = estimate(NS(ir=NS(nodes=[n]), report=NS(memory=NS(layers=table))))
    expected = float(np.dot(FITTED["arm_convolve_1x1_s8_fast"], features(n, "arm_convolve_1x1_s8_fast")))
    assert est.as_compiled == pytest.approx(expected) and est.sparse_engine == pytest.approx(expected)
    assert est.sparse_layers == 0 and est.unknown == ()


def test_unknown_kernel_is_reported_not_guessed():
    n = _conv("c", 16, 8, 1, 4)
    est = estimate(NS(ir=NS(nodes=[n]), report=NS(memory=NS(layers=[NS(node="c", function="tfc_new_kernel_s8")]))))
    assert est.unknown == ("tfc_new_kernel_s8",) and est.as_compiled == 0


def _sparse_weights(rng, shape, density):
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    w[rng.random(shape) > density] = 0
    return w


@pytest.mark.parametrize("encoding", ["brle", "brle-unrolled"])
def test_sparse_layer_costs_its_encoding(monkeypatch, encoding):
    """Without a fitted correction a sparse conv costs exactly the cost model's entry for the
    encoding sparsify chose; the two encodings differ, so using the wrong one would show."""
    monkeypatch.setattr(kc, "FITTED", {})
    rng = np.random.default_rng(2)
    data = _sparse_weights(rng, (24, 1, 1, 32), 0.3)
    node = _conv("c", 24, 32, 1, 8, data=data, sparse=SparseLayout(4, 0.3, encoding))
    rows = data.reshape(24, -1)
    mask = block_mask(rows, 4)
    shape = cost_model.LayerShape(24, 32, 1, 1, 8, 8, stride=1, in_h=8, in_w=8)
    fn = cost_model.sparse_instructions if encoding == "brle" else cost_model.unrolled_instructions
    expected = fn(shape, 4, int(mask.sum()), int(mask.any(axis=1).sum()))
    other = (cost_model.unrolled_instructions if encoding == "brle" else cost_model.sparse_instructions)(
        shape, 4, int(mask.sum()), int(mask.any(axis=1).sum()))
    got = kc.layer_cost(node, "tfc_sparse_convolve_s8")
    assert got == pytest.approx(expected), f"{encoding}: {got} vs cost model {expected} (other encoding {other})"
    assert abs(expected - other) > 0.05 * expected
    est = estimate(NS(ir=NS(nodes=[node]), report=NS(memory=NS(layers=[NS(node="c", function="tfc_sparse_convolve_s8")]))))
    assert est.sparse_layers == 1 and est.sparse_kernels == 1 and est.as_compiled == pytest.approx(expected)


def test_sparse_depthwise_costs_dw_taps(monkeypatch):
    monkeypatch.setattr(kc, "FITTED", {})
    rng = np.random.default_rng(3)
    data = _sparse_weights(rng, (16, 3, 3, 1), 0.4)
    node = _conv("dw", 16, 1, 3, 8, data=data, sparse=SparseLayout(1, 0.4, "dw-taps"), group=16)
    shape = cost_model.LayerShape(16, 1, 3, 3, 8, 8, stride=1)
    expected = cost_model.sparse_depthwise_instructions(shape, np.count_nonzero(data.reshape(16, -1), axis=1))
    assert kc.layer_cost(node, "tfc_sparse_depthwise_conv_s8") == pytest.approx(expected)


def test_fitted_sparse_correction_applies_over_the_cost_model(monkeypatch):
    rng = np.random.default_rng(4)
    data = _sparse_weights(rng, (24, 1, 1, 32), 0.3)
    node = _conv("c", 24, 32, 1, 8, data=data, sparse=SparseLayout(4, 0.3, "brle"))
    base = kc.sparse_model_cost(node)
    monkeypatch.setattr(kc, "FITTED", {"tfc_sparse_convolve_s8/brle": (1.1, 0.0, 500.0)})
    assert kc.layer_cost(node, "tfc_sparse_convolve_s8") == pytest.approx(1.1 * base + 500.0)


def test_transformer_and_elementwise_kernels_are_fitted():
    for fn in ("tfc_softmax_s8", "tfc_layernorm_s8", "tfc_transpose_s8", "tfc_lut_s8", "arm_batch_matmul_s8",
               "arm_elementwise_add_s8", "arm_avgpool_s8", "arm_fully_connected_per_channel_s8"):
        assert fn in FITTED, f"{fn} has no fitted cost"
        assert len(FITTED[fn]) == len(kc.FEATURES[fn]) and min(FITTED[fn]) >= 0, f"{fn}: {FITTED[fn]}"


def _hybrid(dense: bool):
    import random

    import torch

    from nas.cost import compile_model, export_onnx
    from nas.evolution import random_genome
    from nas.prune import apply_masks, make_masks
    from nas.space import make_space
    from nas.supernet import SuperNet, extract, recalibrate_bn
    torch.manual_seed(0)
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)
    rng, net, x = random.Random(5), SuperNet(space), torch.randn(32, 1, 16, 16)
    g = random_genome(space, rng, dense=dense)
    while not (g.arch.transformer and g.arch.transformer.depth):
        g = random_genome(space, rng, dense=dense)
    recalibrate_bn(net, g.arch, [x])
    net.eval()
    static = extract(net, g.arch)
    apply_masks(make_masks(static, g.sparsity_dict()))
    return compile_model(export_onnx(static, x[:1], dynamo=False), x.numpy()[:16], "cortex-m7")


def test_compiled_hybrid_has_no_unknown_kernels():
    cm = _hybrid(dense=False)
    est = estimate(cm)
    functions = {layer.function for layer in cm.report.memory.layers}
    assert "arm_batch_matmul_s8" in functions
    assert functions & {"tfc_layernorm_s8", "tfc_layernorm_cells_s8"}   # cells: read by sparse layers
    assert functions & {"tfc_softmax_s8", "tfc_softmax_scaled_s8"}   # PTQ: onto its calibrated grid
    assert est.unknown == () and est.as_compiled > 0, f"unknown: {est.unknown}"


@pytest.mark.slow
@pytest.mark.parametrize("dense", [True, False])
def test_estimate_within_10_percent_of_bench(dense):
    from tfc.bench import bench
    cm = _hybrid(dense)
    measured = bench(cm).tfc.instructions
    got = estimate(cm).as_compiled
    assert abs(got / measured - 1) <= 0.10, f"estimate {got:,.0f} vs tfc bench {measured:,} ({100 * (got / measured - 1):+.1f} %)"


def test_attention_costs_its_per_head_kernels():
    """tfc_attention_s8 = per head two batch-1 batch matmuls and a softmax, from their fitted models."""
    def bmm(m, n, k):
        mm = NS(op="batch_matmul", inputs=[NS(type=TensorType((1, 1, m, k), DType.I8)),
                                           NS(type=TensorType((1, 1, n, k), DType.I8))],
                output=NS(type=TensorType((1, 1, m, n), DType.I8)))
        return kc.layer_cost(mm, "arm_batch_matmul_s8")
    sm = NS(op="softmax", inputs=[NS(type=TensorType((1, 1, 16, 16), DType.I8))],
            output=NS(type=TensorType((1, 1, 16, 16), DType.I8)))
    per_head = bmm(16, 16, 8) + kc.layer_cost(sm, "tfc_softmax_s8") + bmm(16, 8, 16)
    att = NS(op="attention", inputs=[NS(type=TensorType((1, 2, 16, 8), DType.I8)), NS(type=TensorType((1, 2, 16, 8), DType.I8)),
                                     NS(type=TensorType((1, 2, 8, 16), DType.I8))],
             output=NS(type=TensorType((1, 2, 16, 8), DType.I8)))
    assert kc.layer_cost(att, "tfc_attention_s8") == pytest.approx(2 * per_head)
