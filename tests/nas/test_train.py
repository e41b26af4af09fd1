"""Fine-tuning checkpoints: a fine-tune continued from any epoch's snapshot ends with the same
weights as one that ran through (before and inside the quantization-aware epochs)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.train import finetune  # noqa: E402
from tests.nas.test_qat import _pruned_static  # noqa: E402


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 1, 16, 16)).astype(np.float32), rng.integers(0, 10, 48)


def _run(state=None, snapshots=None):
    static, masks = _pruned_static()
    x, y = _data()
    keep = (lambda e, snap: snapshots.append(snap())) if snapshots is not None else None
    finetune(static, masks, x, y, epochs=4, lr=1e-2, batch=16, rng=np.random.default_rng(7), qat_epochs=2,
             on_epoch=keep, state=state)
    return static.state_dict()


def test_finetune_continues_exactly_from_every_epoch():
    snapshots = []
    full = _run(snapshots=snapshots)
    assert [s["epoch"] for s in snapshots] == [0, 1, 2, 3]
    for snap in snapshots[:3]:                 # epoch 0: dense phase; 1: last before QAT; 2: inside QAT
        resumed = _run(state=snap)
        for k in full:
            assert torch.equal(full[k], resumed[k]), f"{k} differs after resuming from epoch {snap['epoch']}"


def test_crop_flip_shifts_each_sample_within_the_padding_and_mirrors_some():
    import torch.nn.functional as F
    from nas.train import _crop_flip
    x = torch.randn(64, 2, 28, 28)
    out = _crop_flip(x, np.random.default_rng(0), flip=True)
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    kinds = set()
    for i in range(len(x)):
        match = [(dy, dx, m) for dy in range(5) for dx in range(5) for m in (False, True)
                 if torch.equal(out[i], (lambda c: c.flip(2) if m else c)(padded[i, :, dy:dy + 28, dx:dx + 28]))]
        assert match, f"sample {i} is not a crop of its padded image"
        kinds.add(match[0][2])
    assert kinds == {False, True}
    assert torch.equal(out, _crop_flip(x, np.random.default_rng(0), flip=True))
