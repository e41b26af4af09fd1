"""Gradual magnitude pruning in fine-tuning: the density ramp, the masks it ends with, and a
fine-tune continued from any epoch's snapshot (inside and after the ramp) ending as one that ran through."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.prune import make_masks, measured_density, ramp_density  # noqa: E402
from nas.train import finetune  # noqa: E402
from tests.nas.test_qat import _pruned_static  # noqa: E402


def test_ramp_density_falls_cubically_from_dense_to_the_target():
    assert ramp_density(0.25, 0.0) == 1.0 and ramp_density(0.25, 1.0) == 0.25 and ramp_density(0.25, 2.0) == 0.25
    steps = [ramp_density(0.25, t / 10) for t in range(11)]
    assert all(a > b for a, b in zip(steps, steps[1:]))
    assert steps[1] - steps[2] > steps[8] - steps[9]          # fast first, slow near the target


def _run(state=None, snapshots=None):
    static, _ = _pruned_static()
    sparsity = {name: (0.5, 4) for name in static.prunable() if name.endswith(("expand", "project", "fc1", "fc2"))}
    masks = make_masks(static, {})                 # gradual: dense at the start
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 1, 16, 16)).astype(np.float32), rng.integers(0, 10, 48)
    keep = (lambda e, snap: snapshots.append(snap())) if snapshots is not None else None
    finetune(static, masks, x, y, epochs=4, lr=1e-2, batch=16, rng=np.random.default_rng(7), qat_epochs=1,
             on_epoch=keep, state=state, sparsity=sparsity, ramp=0.5)
    return static, sparsity, masks


def test_gradual_pruning_ends_at_the_target_density_and_resumes_exactly():
    snapshots = []
    static, sparsity, masks = _run(snapshots=snapshots)
    density = measured_density(static)
    for name, (d, _) in sparsity.items():
        assert abs(density[name] - d) < 0.05, (name, density[name])
    assert set(masks) == set(make_masks(static, sparsity))
    full = static.state_dict()
    for snap in snapshots[:3]:          # epoch 0: inside the ramp (1.5 epochs); 1: after it; 2: QAT next
        resumed = _run(state=snap)[0].state_dict()
        for k in full:
            assert torch.equal(full[k], resumed[k]), f"{k} differs after resuming from epoch {snap['epoch']}"
