"""tfc.compile: what it accepts, what it returns, and that it leaves the caller's graph alone."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import tfc
from tfc import interp
from tfc.data import DEMO_MODEL
from tfc.errors import ModelLoadError, TargetError, TfcError
from tfc.ir.text import parse_graph, print_graph

TINY = """
graph @tiny {
  input %x : f32[1,2,2,3]
  %a = transpose(%x) {perm=[0,3,1,2]} : f32[1,3,2,2] loc("a")
  %b = relu(%a) : f32[1,3,2,2] loc("b")
  %y = transpose(%b) {perm=[0,2,3,1]} : f32[1,2,2,3] loc("y")
  output %y
}
"""


def test_public_names():
    for name in ("compile", "Graph", "Target", "TfcError", "import_onnx", "CompiledModel"):
        assert hasattr(tfc, name), name


def test_compile_a_graph_leaves_it_unchanged():
    graph = parse_graph(TINY)
    text = print_graph(graph)
    cm = tfc.compile(graph, target="host", pipeline="canonicalize")
    assert print_graph(graph) == text
    assert [n.op for n in cm.ir.nodes] == ["relu"]
    assert print_graph(cm.graph_before) == text
    assert cm.pipeline == "canonicalize" and cm.target.name == "host"
    x = np.random.default_rng(0).standard_normal((1, 2, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(interp.run(graph, [x])[0], interp.run(cm.ir, [x])[0])


@pytest.mark.parametrize("kind", ["path", "str", "proto", "bytes"])
def test_compile_accepts_paths_protos_and_bytes(kind):
    model = {"path": DEMO_MODEL, "str": str(DEMO_MODEL), "proto": onnx.load(str(DEMO_MODEL)),
             "bytes": DEMO_MODEL.read_bytes()}[kind]
    cm = tfc.compile(model, pipeline="canonicalize")
    assert cm.target.name == "cortex-m7"
    assert not cm.ir.nodes_of("transpose")
    assert cm.report.op_counts["conv2d"] == 9


def test_default_pipeline_is_the_registered_passes_in_design_order():
    from tfc.passes import default_pipeline, format_pipeline
    cm = tfc.compile(DEMO_MODEL)
    assert cm.pipeline == format_pipeline(default_pipeline())
    assert cm.pipeline.startswith("canonicalize,fuse{residual=false},")


def test_report_counts_ops_parameters_and_activations():
    cm = tfc.compile(DEMO_MODEL, pipeline=["canonicalize"])
    r = cm.report
    assert sum(r.op_counts.values()) == len(cm.ir.nodes)
    assert r.parameter_bytes == sum(v.data.nbytes for v in cm.ir.constants.values())
    assert r.parameter_count == sum(v.data.size for v in cm.ir.constants.values())
    name, type_, nbytes = r.largest_activation
    assert nbytes == max(v.type.nbytes for n in cm.ir.nodes for v in n.outputs) == 1 * 32 * 32 * 16 * 4
    assert [t.spec for t in r.timings] == ["canonicalize"]
    text = str(r)
    assert "parameters" in text and "conv2d" in text and "canonicalize" in text


def test_compile_writes_dumps(tmp_path):
    cm = tfc.compile(parse_graph(TINY), dump_ir=tmp_path / "d", pipeline="canonicalize")
    assert [p.name for p in cm.dumps] == ["00-import.tfcir", "01-canonicalize.tfcir"]


def test_compile_errors():
    with pytest.raises(ModelLoadError, match="no such file"):
        tfc.compile("/no/such/model.onnx")
    with pytest.raises(TargetError, match="targets: cortex-m7, cortex-m4, cortex-m55, host"):
        tfc.compile(parse_graph(TINY), target="esp32")
    with pytest.raises(TfcError, match="input_shapes applies to ONNX models"):
        tfc.compile(parse_graph(TINY), input_shapes={"x": [1, 2, 2, 3]})
    with pytest.raises(TfcError, match="unknown pass"):
        tfc.compile(parse_graph(TINY), pipeline="canonicalize,fuse-everything")


def test_verbose_logs_declines(caplog):
    import logging
    with caplog.at_level(logging.INFO, logger="tfc"):
        cm = tfc.compile(DEMO_MODEL, verbose=True, pipeline="canonicalize")
    assert cm.declined and any("declined" in r.getMessage() for r in caplog.records)


def test_the_report_says_whether_the_model_fits():
    import dataclasses

    from tfc.data import DEMO_MODEL
    report = tfc.compile(DEMO_MODEL).report
    assert report.fits is True
    assert (f"fits: yes (flash {report.flash_bytes:,} of 1,048,576 B, SRAM {report.sram_bytes:,} of 327,680 B"
            in str(report))
    tiny = dataclasses.replace(report.target, sram_bytes=report.sram_bytes - 1)
    small = dataclasses.replace(report, target=tiny)
    assert small.fits is False and small.fits_line().startswith("fits: no (")


def test_the_report_says_what_sram_the_sparse_scratch_traded():
    """1x1 conv 16x16x64 at 90 % block sparsity: the sparse kernel widens one input row at a time
    (16 x 64 int16: 2 KiB) beside the dense plan's 32 KiB; the report says so, with the bytes."""
    from benchmarks.sparse_models import qdq_model
    cm = tfc.compile(qdq_model("B", 0.9), "cortex-m7")
    r = cm.report
    assert r.dense_arena_bytes == 32_768 and r.memory.arena_bytes == 34_816, (r.dense_arena_bytes, r.memory.arena_bytes)
    assert "SRAM traded for speed" in str(r) and "+2,048 B" in r.sram_traded, str(r)
    assert [d.chosen for d in cm.findings["sparsify"]] == ["b4 brle-unrolled"]
