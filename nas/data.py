"""Data sets as float32 NCHW arrays, each with the `Preprocessing` that made them.

Specs (`--data`):
  digits                  scikit-learn's bundled 8x8 digits (offline; the quick demo and tests)
  fashion-mnist[:PATH]    Fashion-MNIST's IDX files (default /usr/share/datasets/fashion-mnist,
                          Debian's dataset-fashion-mnist: scripts/install-datasets.sh)
  folder:PATH             one subfolder of images per class (any size, any channels; Pillow), or
                          PATH/train and PATH/test laid out that way
  npz:PATH                arrays x, y and optionally x_test, y_test
  cifar10:PATH            CIFAR-10's python version (data_batch_1..5, test_batch)

Normalization is per channel with the training split's mean and std (fixed constants for digits
and CIFAR-10). Splits are train / val (held out from train, for the search's fitness) / test (the
given test set, else a seeded share). Images are resized (bilinear) to the space's resolution by
`resized`.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.errors import DataError
from nas.image_files import RawImages, find_idx, read_folder, read_idx, read_npz
from nas.preprocessing import Preprocessing, channel_stats

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
FLIP_INVARIANT = ("fashion-mnist", "cifar10")    # data sets whose labels survive a left-right mirror
KINDS = "digits, fashion-mnist[:PATH], folder:PATH, npz:PATH or cifar10:PATH"


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
    preprocessing: Preprocessing
    flip: bool = False     # whether a left-right mirror keeps the label (training augmentation)

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def resolution(self) -> int:
        return self.x_train.shape[2]

    def summary(self) -> str:
        h, w = self.x_train.shape[2:]
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / {len(self.y_test)} test, "
                f"{self.in_channels}x{h}x{w}, {self.num_classes} classes")


def check_spec(spec: str) -> None:
    """Fail fast on a spec whose kind or path is wrong (before a run directory is created)."""
    kind, _, path = spec.partition(":")
    if kind not in LOADERS:
        raise DataError(f"unknown data set {kind!r}", hint=f"use {KINDS}")
    if kind == "digits" and path:
        raise DataError(f"'digits' takes no path, got {spec!r}", hint="use --data digits")
    if kind in ("folder", "npz", "cifar10") and not path:
        raise DataError(f"{kind} needs a path: --data {kind}:PATH", hint=f"use {KINDS}")
    p = Path(path) if path else (FASHION_MNIST_DIR if kind == "fashion-mnist" else None)
    if p is not None and not p.exists():
        hint = ("install it with scripts/install-datasets.sh (Debian's dataset-fashion-mnist)"
                if kind == "fashion-mnist" and not path else None)
        raise DataError("no such file or folder", file=str(p), hint=hint)


def load(spec: str, *, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2,
         limit: int | None = None) -> Dataset:
    """Load the data set that `spec` names; `limit` caps the training samples (smoke runs)."""
    check_spec(spec)
    kind, _, path = spec.partition(":")
    ds = LOADERS[kind](path, seed, val_fraction, test_fraction)
    ds.flip = kind in FLIP_INVARIANT
    if limit is not None:
        ds.x_train, ds.y_train = ds.x_train[:limit], ds.y_train[:limit]
    return ds


def _split(n: int, rng: np.random.Generator, fractions) -> list[np.ndarray]:
    order = rng.permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions])
    return np.split(order, cuts)


def from_raw(name: str, train: RawImages, test: RawImages | None, *, source: str, scale: float, seed: int,
             val_fraction: float, test_fraction: float, stats: tuple | None = None) -> Dataset:
    """Split, then normalize every split with the training split's per-channel statistics (or `stats`)."""
    rng = np.random.default_rng(seed)
    if test is None:
        te, va, tr = _split(len(train.y), rng, (test_fraction, val_fraction))
        x_test, y_test = train.x[te], train.y[te]
    else:
        va, tr = _split(len(train.y), rng, (val_fraction,))
        x_test, y_test = test.x, test.y
    x_train, x_val = train.x[tr], train.x[va]
    if len(tr) == 0 or len(va) == 0 or len(y_test) == 0:
        raise DataError(f"{name}: {len(train.y)} images are too few to split into train / val / test",
                        hint="give more images (at least a few per class)")
    mean, std = stats or channel_stats(x_train.astype(np.float32) * np.float32(scale))
    num_classes = int(max(train.y.max(), y_test.max())) + 1
    pre = Preprocessing(source=source, channels=train.channels, scale=scale, mean=tuple(mean), std=tuple(std),
                        loaded_size=tuple(int(s) for s in train.x.shape[2:]),
                        load_resize="; ".join(n for n in (train.load_resize, test.load_resize if test else "") if n))
    n = pre.normalize
    return Dataset(name, n(x_train), train.y[tr], n(x_val), train.y[va], n(x_test), y_test, num_classes, pre)


def _scale_of(x: np.ndarray) -> float:
    return {np.dtype(np.uint8): 1 / 255, np.dtype(np.uint16): 1 / 65535}.get(x.dtype, 1.0)


def _digits(path, seed, val_fraction, test_fraction) -> Dataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    raw = RawImages(d.images.astype(np.float32)[:, None], d.target.astype(np.int64), "L")
    return from_raw("digits", raw, None, source="scikit-learn digits, 0..16 gray levels 8x8", scale=1 / 16,
                    seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, stats=((0.5,), (0.5,)))


def _fashion_mnist(path, seed, val_fraction, test_fraction) -> Dataset:
    folder = Path(path) if path else FASHION_MNIST_DIR
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(find_idx(folder, f"{prefix}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"Fashion-MNIST {split} images {x.shape} and labels {y.shape} do not match",
                            file=str(folder))
        parts[split] = RawImages(x[:, None], y.astype(np.int64), "L")
    return from_raw("fashion-mnist", parts["train"], parts["test"], source=f"Fashion-MNIST IDX uint8 ({folder})",
                    scale=1 / 255, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)


def _folder(path, seed, val_fraction, test_fraction) -> Dataset:
    root = Path(path)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = read_folder(root / "train")
        test = read_folder(root / "test", classes=train.classes)
        if test.x.shape[1:] != train.x.shape[1:]:
            from PIL import Image
            test = RawImages(_resize_like(test, train, Image), test.y, train.channels,
                             f"test images brought to {train.x.shape[2]}x{train.x.shape[3]} {train.channels}",
                             test.classes)
    else:
        train, test = read_folder(root), None
    return from_raw(f"folder:{root.name}", train, test,
                    source=f"image folder {root} (classes {', '.join(train.classes)})", scale=1 / 255, seed=seed,
                    val_fraction=val_fraction, test_fraction=test_fraction)


def _resize_like(test: RawImages, train: RawImages, Image) -> np.ndarray:
    h, w = train.x.shape[2:]
    out = []
    for a in test.x:
        im = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        im = im.convert(train.channels).resize((w, h), Image.BILINEAR)
        b = np.asarray(im, np.uint8)
        out.append(b[None] if b.ndim == 2 else b.transpose(2, 0, 1))
    return np.stack(out)


def _npz(path, seed, val_fraction, test_fraction) -> Dataset:
    train, test = read_npz(Path(path))
    return from_raw(f"npz:{Path(path).name}", train, test, source=f"arrays x{' and x_test' if test else ''} of {path} "
                    f"({train.x.dtype})", scale=_scale_of(train.x), seed=seed, val_fraction=val_fraction,
                    test_fraction=test_fraction)


def _cifar10(path, seed, val_fraction, test_fraction) -> Dataset:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("not a folder", file=str(folder),
                        hint="give the folder of CIFAR-10's python version (cifar-10-batches-py)")
    missing = [n for n in CIFAR_TRAIN + (CIFAR_TEST,) if not (folder / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 folder lacks {', '.join(missing)}", file=str(folder),
                        hint="expected data_batch_1..data_batch_5 and test_batch")
    xs, ys = zip(*(_cifar_batch(folder / n) for n in CIFAR_TRAIN))
    train = RawImages(np.concatenate(xs), np.concatenate(ys), "RGB")
    test = RawImages(*_cifar_batch(folder / CIFAR_TEST), "RGB")
    return from_raw("cifar10", train, test, source=f"CIFAR-10 python batches uint8 ({folder})", scale=1 / 255,
                    seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, stats=(CIFAR_MEAN, CIFAR_STD))


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
    return data.reshape(-1, 3, 32, 32), labels


LOADERS = {"digits": _digits, "fashion-mnist": _fashion_mnist, "folder": _folder, "npz": _npz, "cifar10": _cifar10}


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


def write_image_folder(folder: Path, *, classes: int = 3, per_class: int = 12, sizes=((20, 24), (18, 18)),
                       seed: int = 0) -> Path:
    """A small image folder: `classes` subfolders of PNGs, RGB and grayscale, of several sizes, each
    class a distinct brightness pattern (learnable). For tests and demos."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (folder / f"class_{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            base = np.zeros((h, w), np.float32)
            base[:, (c * w) // classes:((c + 1) * w) // classes] = 200
            a = np.clip(base + rng.normal(0, 20, (h, w)), 0, 255).astype(np.uint8)
            im = Image.fromarray(a) if i % 3 else Image.fromarray(np.stack([a] * 3, -1))
            im.save(folder / f"class_{c}" / f"{i:03d}.png")
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
