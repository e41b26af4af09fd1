"""Mutated and truncated bytes of real model files: the importer either imports them or raises a
TfcError subclass; never a raw protobuf/onnx/numpy exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfc.errors import TfcError
from tfc.frontend.onnx import import_onnx

DATA = Path("/work/shared/data/mlperf_tiny/onnx")
SEEDS = [p for p in (DATA / "kws_ref_model.onnx", DATA / "ad01_fp32.onnx") if p.exists()]
pytestmark = pytest.mark.skipif(not SEEDS, reason=f"no seed models under {DATA}")
SEED_BYTES = [p.read_bytes() for p in SEEDS]

# A mutation is plain data, so a falsifying example prints short: (kind, seed, position, extra).
mutations = st.tuples(
    st.sampled_from(["truncate", "flip", "overwrite", "splice"]),
    st.integers(0, len(SEED_BYTES) - 1),
    # most of the graph structure (nodes, attributes, names) sits in the first few KiB
    st.one_of(st.integers(0, 4095), st.integers(0, 1 << 30)),
    st.one_of(st.integers(0, 255), st.binary(min_size=1, max_size=16)),
)


def mutate(kind: str, seed: int, position: int, extra) -> bytes:
    data = bytearray(SEED_BYTES[seed])
    i = position % len(data)
    if kind == "truncate":
        return bytes(data[:i])
    if kind == "flip":
        data[i] ^= 1 << ((extra if isinstance(extra, int) else extra[0]) % 8)
        return bytes(data)
    if kind == "overwrite":
        patch = extra if isinstance(extra, bytes) else bytes([extra])
        data[i:i + len(patch)] = patch
        return bytes(data)
    length = extra if isinstance(extra, int) else len(extra) * 16
    return bytes(data[:i] + data[i + length:])


def _import_or_tfc_error(mutation) -> None:
    try:
        import_onnx(mutate(*mutation))
    except TfcError as e:
        assert e.message and e.file == "<bytes>", f"error without message or file: {e!r}"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_bytes_raise_only_tfc_errors(mutation):
    _import_or_tfc_error(mutation)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_bytes_raise_only_tfc_errors_deep(mutation):
    _import_or_tfc_error(mutation)


@pytest.mark.parametrize("cut", [0, 1, 16, 100, 1000])
def test_truncated_prefix_is_a_load_error(cut):
    with pytest.raises(TfcError):
        import_onnx(SEED_BYTES[0][:cut])
