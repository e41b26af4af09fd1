"""Quantization-aware fine-tuning (nas.qat): weights end on tfc's per-channel int8 grid, pruned
blocks stay zero, and training still moves the weights (straight-through gradients)."""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.evolution import random_genome  # noqa: E402
from nas.prune import make_masks  # noqa: E402
from nas.space import make_space  # noqa: E402
from nas.supernet import SuperNet, extract  # noqa: E402
from nas.train import finetune  # noqa: E402
from tfc.quant.calibration import quantize_weights, symmetric_weight_params  # noqa: E402
from torch.nn.utils import parametrize  # noqa: E402


def _pruned_static():
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=2)
    rng = random.Random(5)
    g = next(g for g in (random_genome(space, rng) for _ in range(200))
             if g.arch.transformer and g.arch.transformer.depth and not g.is_dense)
    torch.manual_seed(0)
    static = extract(SuperNet(space).eval(), g.arch)
    return static, make_masks(static, g.sparsity_dict())


def _layers(net):
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_qat_leaves_weights_on_tfcs_int8_grid_with_the_masks_kept():
    static, masks = _pruned_static()
    before = {m: m.weight.detach().clone() for m in _layers(static)}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    finetune(static, masks, x, y, epochs=2, lr=1e-2, batch=32, rng=rng, qat_epochs=1)
    assert masks, "the genome prunes some layer"
    for m in _layers(static):
        w = m.weight.detach().numpy()
        assert not parametrize.is_parametrized(m), f"{m}: QAT's parametrization is still on"
        q = symmetric_weight_params(w, axis=0)
        back = quantize_weights(w, q).astype(np.float64) * q.scale_array().reshape([-1] + [1] * (w.ndim - 1))
        np.testing.assert_allclose(back, w, rtol=0, atol=1e-6 * np.abs(w).max(),
                                   err_msg=f"{m}: weights are not on tfc's int8 grid after QAT")
        assert not torch.equal(m.weight.detach(), before[m]), f"{m}: QAT did not train this layer"
        if m in masks:
            assert (m.weight.detach()[masks[m] == 0] == 0).all(), f"{m}: a pruned weight came back"


def test_without_qat_epochs_the_weights_are_not_snapped():
    static, masks = _pruned_static()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 1, 16, 16)).astype(np.float32)
    finetune(static, masks, x, rng.integers(0, 10, 32), epochs=1, lr=1e-2, batch=32, rng=rng, qat_epochs=0)
    w = static.head.weight.detach().numpy()
    q = symmetric_weight_params(w, axis=0)
    back = quantize_weights(w, q).astype(np.float64) * q.scale_array().reshape(-1, 1)
    assert np.abs(back - w).max() > 1e-6 * np.abs(w).max()
