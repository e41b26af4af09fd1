"""Readers of raw images from files: IDX (MNIST's format), an image folder (one subfolder per class,
Pillow), and numpy .npz arrays. Each returns raw NCHW pixels and integer labels plus what it did
to them (channel order, resize on loading); nas.data normalizes and splits."""
from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.errors import DataError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
              0x0E: np.dtype(">f8")}
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass
class RawImages:
    x: np.ndarray                  # [N, C, H, W], uint8 or float
    y: np.ndarray                  # int64 [N]
    channels: str                  # "L", "RGB", or a description
    load_resize: str = ""          # "" when no image was resized on loading
    classes: tuple[str, ...] = ()  # class names by label, when known


# ---------------------------------------------------------------------------------- IDX
def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as an array."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file: {e}", file=str(path)) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataError("not an IDX file (bad magic number)", file=str(path))
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    start = 4 + 4 * ndim
    if len(data) - start != int(np.prod(shape)) * dtype.itemsize:
        raise DataError(f"IDX file is truncated: header says {shape}, {len(data) - start} bytes follow", file=str(path))
    return np.frombuffer(data, dtype, offset=start).reshape(shape)


def find_idx(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"no {stem}[.gz] in the folder", file=str(folder),
                    hint="install Fashion-MNIST with scripts/install-datasets.sh (Debian's dataset-fashion-mnist), "
                         "or give the folder holding the four *-ubyte[.gz] files")


# ---------------------------------------------------------------------------------- folder
def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(root: Path, classes: tuple[str, ...] | None = None) -> RawImages:
    """Every image under root/<class>/ (any depth). Classes are the sorted subfolder names (or
    `classes`, for a test folder that must use the training folder's labels). Grayscale when every
    image is, else RGB; images of another size than the most common one are resized (Pillow
    bilinear) to it."""
    from PIL import Image, UnidentifiedImageError
    if not root.is_dir():
        raise DataError("no such folder" if not root.exists() else "not a folder", file=str(root),
                        hint="give a folder with one subfolder of images per class")
    names = tuple(p.name for p in _class_folders(root))
    if classes is None:
        classes = names
        if len(classes) < 2:
            raise DataError(f"an image folder needs at least 2 class subfolders, found {len(classes)}", file=str(root),
                            hint="lay it out as PATH/<class name>/<image files>")
    elif set(names) - set(classes):
        raise DataError(f"classes {sorted(set(names) - set(classes))} are not in the training folder", file=str(root))
    images, labels = [], []
    for label, name in enumerate(classes):
        if not (root / name).is_dir():
            continue
        files = _image_files(root / name)
        for f in files:
            try:
                with Image.open(f) as im:
                    im.load()
                    images.append((f, im.copy()))
            except (UnidentifiedImageError, OSError) as e:
                raise DataError(f"not an image Pillow can read ({e})", file=str(f),
                                hint="remove it from the class folder") from None
            labels.append(label)
    if not images:
        raise DataError("the class folders hold no images", file=str(root))
    gray = all(im.mode in GRAY_MODES for _, im in images)
    mode = "L" if gray else "RGB"
    sizes = Counter(im.size for _, im in images)                   # PIL sizes are (W, H)
    (w, h), _ = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))
    resized = 0
    arrays = []
    for _, im in images:
        im = im.convert(mode)
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
            resized += 1
        a = np.asarray(im, np.uint8)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    note = (f"{resized} of {len(images)} images resized with Pillow bilinear to {h}x{w}, the most common size"
            if resized else "")
    return RawImages(np.stack(arrays), np.asarray(labels, np.int64), mode, note, classes)


# ---------------------------------------------------------------------------------- npz
def read_npz(path: Path) -> tuple[RawImages, RawImages | None]:
    """x, y (and optionally x_test, y_test) from an .npz; x as [N, H, W], NCHW or NHWC."""
    if not path.is_file():
        raise DataError("no such file", file=str(path), hint="give an .npz with arrays x and y (np.savez)")
    try:
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"not a readable .npz ({e})", file=str(path)) from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"the .npz lacks {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'nothing'})",
                        file=str(path), hint="save it with np.savez(PATH, x=images, y=labels[, x_test=..., y_test=...])")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError("x_test and y_test must come together", file=str(path))
    train = _npz_pair(arrays["x"], arrays["y"], "x", path)
    test = _npz_pair(arrays["x_test"], arrays["y_test"], "x_test", path) if "x_test" in arrays else None
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise DataError(f"x_test images are {test.x.shape[1:]} (C, H, W), x's are {train.x.shape[1:]}", file=str(path))
    return train, test


def _npz_pair(x: np.ndarray, y: np.ndarray, name: str, path: Path) -> RawImages:
    if x.dtype.kind not in "uif":
        raise DataError(f"{name} must hold numbers, has dtype {x.dtype}", file=str(path))
    if x.ndim == 3:
        x, layout = x[:, None], "NHW"
    elif x.ndim == 4:
        if x.shape[1] > 4 and x.shape[-1] <= 4:
            x, layout = x.transpose(0, 3, 1, 2), "NHWC"
        elif x.shape[1] <= 4:
            layout = "NCHW"
        else:
            raise DataError(f"{name} has shape {x.shape}: no axis of 1-4 channels", file=str(path),
                            hint="store images as [N, H, W], [N, C, H, W] or [N, H, W, C] with C <= 4")
    else:
        raise DataError(f"{name} has shape {x.shape}; expected [N, H, W], [N, C, H, W] or [N, H, W, C]", file=str(path))
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind not in "iu" or len(y) != len(x) or len(y) == 0:
        raise DataError(f"{name}'s labels must be {len(x)} integers, got {len(y)} of dtype {y.dtype}", file=str(path))
    if y.min() < 0:
        raise DataError(f"labels must be 0..K-1, found {int(y.min())}", file=str(path))
    c = x.shape[1]
    channels = {1: "L", 3: f"3 channels as stored ({layout})"}.get(c, f"{c} channels as stored ({layout})")
    return RawImages(np.ascontiguousarray(x), y.astype(np.int64), channels, "")
