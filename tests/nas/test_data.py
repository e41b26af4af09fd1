"""Data loaders: digits, a tiny CIFAR-10 folder in the standard format, bad folders."""
import pickle

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


@pytest.mark.parametrize("spec,message", [("cifar10:/nonexistent/x", "no such folder"), ("cifar10", "needs a folder"),
                                          ("mnist", "unknown data set")])
def test_bad_data_spec(spec, message):
    with pytest.raises(DataError, match=message):
        load(spec)
