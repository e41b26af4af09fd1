"""End to end through the importer: the hybrid model's real PyTorch exports (dynamo opset 18/20,
legacy opset 17; nn.MultiheadAttention and hand-written attention) import into tfc IR, and the
reference interpreter matches onnxruntime, before and after canonicalize."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytestmark = pytest.mark.torch
pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e .[export])")
ort = pytest.importorskip("onnxruntime")

from tests.models.compare import assert_close  # noqa: E402
from tests.models.export import CONFIGS, cached_export, export_cache_dir  # noqa: E402
from tests.models.hybrid import INPUT_SHAPE  # noqa: E402
from tfc import interp  # noqa: E402

RTOL = 1e-4
INPUT_SEEDS = (0, 1, 2)


@pytest.fixture(scope="session")
def hybrid_export_dir(tmp_path_factory):
    return export_cache_dir(tmp_path_factory)


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: c.id)
def export(request, hybrid_export_dir):
    config = request.param
    if config.exporter == "dynamo":
        pytest.importorskip("onnxscript", reason="torch's dynamo ONNX exporter needs onnxscript>=0.6")
    return config, cached_export(hybrid_export_dir, config)


@pytest.fixture(scope="session")
def import_onnx():
    """The importer; skipped while it does not exist, an error (not a skip) when it exists but breaks."""
    try:
        from tfc.frontend.onnx import import_onnx
    except ModuleNotFoundError as err:
        if err.name in ("tfc.frontend", "tfc.frontend.onnx"):
            pytest.skip(f"the ONNX importer is not there yet ({err})")
        raise
    return import_onnx


@pytest.fixture(scope="module")
def imported(import_onnx, export):
    config, path = export
    return config, import_onnx(str(path))


@pytest.fixture(scope="module")
def onnxruntime_outputs(export):
    config, path = export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    inputs = [np.random.default_rng(seed).standard_normal(INPUT_SHAPE).astype(np.float32)
              for seed in INPUT_SEEDS]
    return [(x, session.run(None, {name: x})[0]) for x in inputs]


def canonicalize_or_skip(graph):
    try:
        from tfc.passes import registered_passes, run_pipeline
    except ImportError as err:
        pytest.skip(f"tfc.passes does not import yet ({err})")
    if "canonicalize" not in registered_passes():
        pytest.skip("no 'canonicalize' pass registered yet")
    run_pipeline(graph, "canonicalize")
    return graph


def assert_matches_onnxruntime(graph, expected, what: str) -> None:
    for seed, (x, want) in zip(INPUT_SEEDS, expected):
        outputs = interp.run(graph, [x])
        assert len(outputs) == 1, f"{what}: {len(outputs)} outputs, expected 1"
        assert_close(outputs[0], want, RTOL, f"{what}, input seed {seed}")


def test_import_matches_onnxruntime(imported, onnxruntime_outputs):
    config, graph = imported
    assert_matches_onnxruntime(graph, onnxruntime_outputs, f"{config.id}: tfc.interp vs onnxruntime")


def test_canonicalized_matches_onnxruntime(imported, onnxruntime_outputs):
    config, graph = imported
    graph = canonicalize_or_skip(graph.copy())
    ops = Counter(node.op for node in graph.nodes)
    print(f"\n[{config.id}] after canonicalize ({len(graph.nodes)} nodes): "
          + ", ".join(f"{op}:{n}" for op, n in sorted(ops.items())))
    assert ops["batchnorm"] == 0, f"{config.id}: batchnorm left after canonicalize"
    assert_matches_onnxruntime(graph, onnxruntime_outputs,
                               f"{config.id}: tfc.interp after canonicalize vs onnxruntime")
