"""Issue 7's end-to-end claim, measured: the CNN + transformer hybrid pruned to 85 % block
sparsity in its conv and linear layers runs with identical outputs in at most 1/4 of the
instructions of its dense build by default (4.03x after session 11: 1,367,510 vs 5,517,870, the sparse layers storing epilogues, cells and head-split layouts; 3.74x after issue 15's producers that write the sparse
layers' cells, docs/sparse-format.md: 1,473,401 vs 5,517,882; 3.67x after its third pass: 1,504,808 vs
5,517,869; 3.53x before it; 3.30x measured against the dense build with issue 16's dense
kernels: 1,737,566 vs 5,730,569; 3.05x before issue 15's second pass on the sparse layers;
issue 15's 1/4 goal is not reached yet, docs/sparse-format.md), and in less flash than dense
when the sparse layers are held to their dense forms' flash (sparsify{flash_scope=model}), then in at most
1/2.5 of the instructions (2.71x against 5,730,569, 2.58x before issue 15's second pass; 3.12x
measured against the dense build before issue 16's dense kernels, 2.88x before issue 15's sparse
kernel work: the bound was 1/3 before the wide dense kernels made the dense build faster)."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the hybrid is exported from PyTorch")
pytest.importorskip("onnxscript", reason="torch's dynamo ONNX exporter needs onnxscript")

from benchmarks.sparse_end_to_end import INPUT_SHAPES, calibration, hybrid_onnx  # noqa: E402
from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: E402,F401
from tfc.bench import bench  # noqa: E402
from tfc.passes.sparsify import dense_twin  # noqa: E402


def _sparse_and_dense(pipeline=None):
    import tfc
    shape = INPUT_SHAPES["hybrid"]
    with tempfile.TemporaryDirectory() as tmp:
        path = hybrid_onnx(Path(tmp) / "hybrid.onnx")
        sparse = tfc.compile(str(path), "cortex-m7", calibration=calibration(shape), pipeline=pipeline,
                             sparsity={"density": 0.15, "block": 4})
    dense = dataclasses.replace(sparse, ir=dense_twin(sparse.ir), _runners={})
    x = np.random.default_rng(1).integers(-128, 128, (2, *shape)).astype(np.int8)
    s, d = bench(sparse, inputs=x).tfc, bench(dense, inputs=x).tfc
    print(f"\nhybrid at 85 %: sparse {s.instructions:,} vs dense {d.instructions:,} instructions "
          f"({d.instructions / s.instructions:.2f}x); flash {s.flash.total:,} vs {d.flash.total:,} B")
    assert s.outputs == d.outputs, "the sparse build's outputs differ from the dense build of the same weights"
    return s, d


@pytest.mark.slow
def test_pruned_hybrid_runs_in_under_a_third_of_the_dense_instructions(qemu):
    s, d = _sparse_and_dense()
    # 4.0: issue 15's acceptance (measured 4.03x: sparse 1,367,510 vs dense 5,517,870).
    assert 4.0 * s.instructions <= d.instructions, f"only {d.instructions / s.instructions:.2f}x fewer instructions"


@pytest.mark.slow
def test_pruned_hybrid_held_to_dense_flash_is_smaller_and_faster(qemu):
    s, d = _sparse_and_dense("canonicalize,fuse{residual=false},sparsify{flash_scope=model},quantize-int8,fuse,"
                             "plan-memory")
    assert s.flash.total < d.flash.total, f"sparse flash {s.flash.total} B >= dense {d.flash.total} B"
    assert 2.5 * s.instructions <= d.instructions, f"only {d.instructions / s.instructions:.2f}x fewer instructions"
