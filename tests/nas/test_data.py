"""Data loaders: digits, a tiny CIFAR-10 folder in the standard format, bad folders."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from nas.data import load, resized, write_cifar10_folder
from nas.errors import DataError


def test_digits_splits_are_disjoint_and_complete():
    ds = load("digits", seed=0)
    assert ds.in_channels == 1 and ds.num_classes == 10
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797
    assert ds.x_train.dtype == np.float32 and -1.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert resized(ds.x_val[:4], 16).shape == (4, 1, 16, 16)


def test_tiny_cifar_folder_loads(tmp_path):
    write_cifar10_folder(tmp_path / "c", per_batch=10)
    ds = load(f"cifar10:{tmp_path / 'c'}")
    assert ds.x_train.shape[1:] == (3, 32, 32)
    assert len(ds.y_train) + len(ds.y_val) == 50 and len(ds.y_test) == 10
    assert set(np.unique(ds.y_test)) <= set(range(10))


@pytest.mark.parametrize("damage,message", [
    ("missing_file", "lacks data_batch_3"),
    ("garbage", "not a CIFAR-10 batch"),
    ("bad_shape", "expected [N, 3072]"),
    ("bad_labels", "labels must be 0..9"),
])
def test_malformed_cifar_folder_is_a_clear_error(tmp_path, damage, message):
    folder = write_cifar10_folder(tmp_path / "c", per_batch=4)
    target = folder / "data_batch_3"
    if damage == "missing_file":
        target.unlink()
    elif damage == "garbage":
        target.write_bytes(b"not a pickle")
    else:
        d = {b"data": np.zeros((4, 100 if damage == "bad_shape" else 3072), np.uint8),
             b"labels": [0, 1, 2, 42 if damage == "bad_labels" else 3]}
        target.write_bytes(pickle.dumps(d))
    with pytest.raises(DataError) as e:
        load(f"cifar10:{folder}")
    assert message in str(e.value)


@pytest.mark.parametrize("spec,message", [("cifar10:/nonexistent/x", "no such file or folder"),
                                          ("cifar10", "needs a path"), ("mnist", "unknown data set"),
                                          ("folder", "needs a path"), ("npz:/nonexistent.npz", "no such file")])
def test_bad_data_spec(spec, message):
    with pytest.raises(DataError, match=message):
        load(spec)


# ------------------------------------------------------------------------- image folders, arrays, IDX
def test_image_folder_of_mixed_sizes_and_channels(tmp_path):
    from nas.data import write_image_folder
    write_image_folder(tmp_path / "f", classes=3, per_class=12, sizes=((20, 24), (18, 18), (20, 24)))
    ds = load(f"folder:{tmp_path / 'f'}")
    pre = ds.preprocessing
    assert ds.num_classes == 3 and ds.in_channels == 3 and ds.x_train.shape[2:] == (20, 24)
    assert pre.channels == "RGB" and pre.loaded_size == (20, 24)
    assert "12 of 36 images resized with Pillow bilinear to 20x24" in pre.load_resize
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 36
    # normalized with the training split's statistics: the training split has mean 0, std 1 per channel
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_grayscale_folder_with_train_and_test_subfolders(tmp_path):
    from PIL import Image
    for split, n in (("train", 8), ("test", 3)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((10, 12), 40 if c == "cat" else 200, np.uint8)).save(
                    tmp_path / split / c / f"{i}.png")
    ds = load(f"folder:{tmp_path}")
    assert ds.in_channels == 1 and ds.preprocessing.channels == "L"
    assert len(ds.y_test) == 6 and sorted(set(ds.y_test.tolist())) == [0, 1]     # cat = 0, dog = 1
    assert ds.x_test[ds.y_test == 0].mean() < ds.x_test[ds.y_test == 1].mean()


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npz_layouts_give_the_same_images(tmp_path, layout):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 9, 9, 1) if layout != "NHW" else (40, 9, 9), dtype=np.uint8)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    y = np.arange(40) % 4
    xt = x[:10]
    np.savez(tmp_path / "a.npz", x=x, y=y, x_test=xt, y_test=y[:10])
    ds = load(f"npz:{tmp_path / 'a.npz'}")
    assert ds.x_train.shape[1:] == (1, 9, 9) and ds.num_classes == 4 and len(ds.y_test) == 10
    raw = x.reshape(40, 1, 9, 9) if layout != "NHWC" else x.transpose(0, 3, 1, 2)
    # the recorded preprocessing reproduces the data set's arrays from the raw pixels
    np.testing.assert_array_equal(ds.preprocessing.normalize(raw[:10]), ds.x_test)
    assert ds.preprocessing.scale == pytest.approx(1 / 255)


def test_npz_float_rgb_without_test_split(tmp_path):
    x = np.random.default_rng(1).random((50, 3, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "b.npz", x=x, y=np.arange(50) % 5)
    ds = load(f"npz:{tmp_path / 'b.npz'}", seed=3)
    assert ds.in_channels == 3 and ds.preprocessing.scale == 1.0
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 50


@pytest.mark.parametrize("arrays,message", [
    ({"x": np.zeros((4, 8, 8))}, "lacks y"),
    ({"x": np.zeros((4, 8, 8, 8, 8)), "y": np.zeros(4, int)}, "expected [N, H, W]"),
    ({"x": np.zeros((4, 8, 8, 8)), "y": np.zeros(4, int)}, "no axis of 1-4 channels"),
    ({"x": np.zeros((4, 8, 8)), "y": np.zeros(3, int)}, "labels must be 4 integers"),
    ({"x": np.zeros((4, 8, 8)), "y": np.zeros(4, int), "x_test": np.zeros((2, 8, 8))}, "must come together"),
])
def test_bad_npz_is_a_clear_error(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load(f"npz:{tmp_path / 'bad.npz'}")
    assert message in str(e.value)


def test_bad_image_folder_is_a_clear_error(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="at least 2 class subfolders"):
        load(f"folder:{tmp_path}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="not an image Pillow can read") as e:
        load(f"folder:{tmp_path}")
    assert "x.png" in str(e.value)


def _write_idx(path, a: np.ndarray) -> None:
    import gzip
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def test_fashion_mnist_layout_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    ds = load(f"fashion-mnist:{tmp_path}")
    assert ds.x_train.shape[1:] == (1, 28, 28) and len(ds.y_test) == 20 and ds.num_classes == 10
    assert ds.flip and not load("digits").flip          # clothes survive a mirror, digits do not
    assert len(ds.y_train) + len(ds.y_val) == 60
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        load(f"fashion-mnist:{tmp_path}")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (scripts/install-datasets.sh)")
def test_real_fashion_mnist():
    ds = load("fashion-mnist", limit=1000)
    assert len(ds.y_test) == 10000 and len(ds.y_val) == 9000 and len(ds.y_train) == 1000
    assert ds.preprocessing.mean[0] == pytest.approx(0.286, abs=0.002)


def test_preprocessing_travels_in_the_onnx_metadata():
    import json

    import onnx
    from onnx import helper

    from nas.preprocessing import ONNX_METADATA_KEY, attach_to_onnx
    ds = load("digits")
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    data = attach_to_onnx(helper.make_model(g).SerializeToString(), ds.preprocessing.with_resolution(16))
    meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    rec = json.loads(meta[ONNX_METADATA_KEY])
    assert rec["mean"] == [0.5] and rec["resolution"] == 16 and "8x8 to 16x16" in rec["resize"]
