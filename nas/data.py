"""Data sets as float32 NCHW arrays: scikit-learn's digits (offline, bundled) and CIFAR-10 from a
local folder in its standard python format (data_batch_1..5, test_batch: pickled dicts with
b'data' uint8 [N, 3072] and b'labels').

A spec is "digits" or "cifar10:PATH". Images are resized (bilinear) to the space's resolution by
`resized`; splits are train / val (held-out, for the search's fitness) / test (final accuracy).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.errors import DataError

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray    # float32 [N, C, H, W], normalized
    y_train: np.ndarray    # int64 [N]
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def resolution(self) -> int:
        return self.x_train.shape[2]

    def summary(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"{self.in_channels}x{self.resolution}x{self.resolution}, {self.num_classes} classes")


def load(spec: str, *, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2,
         limit: int | None = None) -> Dataset:
    """Load the data set that `spec` names; `limit` caps the training samples (smoke runs)."""
    kind, _, path = spec.partition(":")
    if kind == "digits":
        if path:
            raise DataError(f"'digits' takes no path, got {spec!r}", hint="use --data digits")
        ds = _digits(seed, val_fraction, test_fraction)
    elif kind == "cifar10":
        if not path:
            raise DataError("cifar10 needs a folder: --data cifar10:PATH",
                            hint="PATH holds data_batch_1..5 and test_batch (the 'python version' of CIFAR-10)")
        ds = _cifar10(Path(path), seed, val_fraction)
    else:
        raise DataError(f"unknown data set {kind!r}", hint="use 'digits' or 'cifar10:PATH'")
    if limit is not None:
        ds.x_train, ds.y_train = ds.x_train[:limit], ds.y_train[:limit]
    return ds


def _split(n: int, rng: np.random.Generator, fractions) -> list[np.ndarray]:
    order = rng.permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions])
    return np.split(order, cuts)


def _digits(seed: int, val_fraction: float, test_fraction: float) -> Dataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0 - 0.5) / 0.5          # [-1, 1]
    x = x[:, None]
    y = d.target.astype(np.int64)
    test, val, train = _split(len(y), np.random.default_rng(seed), (test_fraction, val_fraction))
    return Dataset("digits", x[train], y[train], x[val], y[val], x[test], y[test], 10)


def _cifar10(folder: Path, seed: int, val_fraction: float) -> Dataset:
    if not folder.is_dir():
        raise DataError("no such folder" if not folder.exists() else "not a folder", file=str(folder),
                        hint="give the folder of CIFAR-10's python version (cifar-10-batches-py)")
    missing = [n for n in CIFAR_TRAIN + (CIFAR_TEST,) if not (folder / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 folder lacks {', '.join(missing)}", file=str(folder),
                        hint="expected data_batch_1..data_batch_5 and test_batch")
    xs, ys = zip(*(_cifar_batch(folder / n) for n in CIFAR_TRAIN))
    x, y = np.concatenate(xs), np.concatenate(ys)
    x_test, y_test = _cifar_batch(folder / CIFAR_TEST)
    val, train = _split(len(y), np.random.default_rng(seed), (val_fraction,))
    return Dataset("cifar10", x[train], y[train], x[val], y[val], x_test, y_test, 10)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as e:  # unpickling can raise nearly anything on a damaged file
        raise DataError(f"not a CIFAR-10 batch ({type(e).__name__}: {e})", file=str(path),
                        hint="the file must be a pickled dict with b'data' and b'labels'") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data) or len(data) == 0:
        raise DataError(f"CIFAR-10 batch has data {data.shape} and {len(labels)} labels; expected [N, 3072] "
                        "and N labels", file=str(path))
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"CIFAR-10 labels must be 0..9, found {labels.min()}..{labels.max()}", file=str(path))
    x = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return (x - CIFAR_MEAN) / CIFAR_STD, labels


def write_cifar10_folder(folder: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """A tiny CIFAR-10 folder in the standard format (tests, demos without the real data)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in CIFAR_TRAIN + (CIFAR_TEST,):
        labels = [int(i) for i in rng.integers(0, 10, per_batch)]
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
    return folder


def resized(x: np.ndarray, resolution: int) -> np.ndarray:
    """Bilinear resize to resolution x resolution (the same function prepares the deployed inputs)."""
    if x.shape[2] == resolution and x.shape[3] == resolution:
        return x
    import torch
    import torch.nn.functional as F
    with torch.no_grad():
        return F.interpolate(torch.from_numpy(x), size=(resolution, resolution), mode="bilinear",
                             align_corners=False).numpy()
