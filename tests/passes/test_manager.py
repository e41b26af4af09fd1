"""The pass manager: pipelines from text, typed options, dumps, verification, timing, reproducers."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

from tests.passes.golden import parse_with_data
from tfc.errors import PassError, QuantizationError, TfcError, VerificationError
from tfc.ir.text import parse_graph, print_graph
from tfc.passes import (Pass, PassContext, PassManager, PassResult, base, default_pipeline,
                        format_pipeline, get_pass, parse_pipeline, register_pass, registered_passes)

SMALL = """
graph @m {
  input %x : f32[1,4]
  const @k : f32[1,4]
  %a = transpose(%x) {perm=[0,1]} : f32[1,4] loc("a")
  %y = mul(%a, @k) : f32[1,4] loc("y")
  output %y
}
"""


@pytest.fixture
def graph():
    return parse_with_data(SMALL)


@pytest.fixture
def scratch_registry(monkeypatch):
    """Passes registered inside a test vanish after it."""
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))


# ------------------------------------------------------------------ test passes (registered per test)
class Count(Pass):
    name = "count-ops"
    description = "counts ops (test pass)"

    @dataclass(frozen=True)
    class Options:
        op: str = "mul"
        times: int = 1
        scale: float = 1.0
        strict: bool = False
        sizes: list[int] = None

    def run(self, graph, ctx):
        ctx.options.setdefault("counted", []).append(len(graph.nodes_of(self.options.op)) * self.options.times)
        return PassResult(changed=False)


class BreakUses(Pass):
    name = "break-uses"

    def run(self, graph, ctx):
        graph.nodes[0].inputs[0].uses.clear()  # producer/user links now lie
        return PassResult(changed=True)


class Crash(Pass):
    name = "crash"

    def run(self, graph, ctx):
        graph.remove_node(graph.nodes[-1])  # raises: its output is a graph output
        return PassResult(changed=True)


class Annotate(Pass):
    """Leaves stats, notes (not ASCII) and meta behind; with bad_meta, meta that cannot print."""
    name = "annotate"

    @dataclass(frozen=True)
    class Options:
        bad_meta: bool = False

    def run(self, graph, ctx):
        for node in graph.nodes:
            node.meta["seen-by"] = "annotate"
        graph.nodes[0].output.meta["scale"] = np.float32(0.5) if self.options.bad_meta else 0.5
        return PassResult(changed=True, stats={"annotated": len(graph.nodes), "skipped": 0},
                          notes="µ-arch note: ≤ 2 cycles")


class UserError(Pass):
    name = "needs-calibration"

    def run(self, graph, ctx):
        raise QuantizationError("no calibration data", hint="pass calibration=...")


# --------------------------------------------------------------------------------- pipelines
def test_pipeline_text_gives_typed_options(scratch_registry):
    register_pass(Count)
    passes = parse_pipeline('canonicalize, count-ops{op=relu, times=3, scale=2, strict=true, sizes=[1,2]}')
    assert [p.name for p in passes] == ["canonicalize", "count-ops"]
    o = passes[1].options
    assert (o.op, o.times, o.scale, o.strict, o.sizes) == ("relu", 3, 2.0, True, [1, 2])
    assert isinstance(o.scale, float)
    assert format_pipeline(passes) == "canonicalize,count-ops{op=relu,times=3,scale=2.0,strict=true,sizes=[1,2]}"
    assert format_pipeline(parse_pipeline(format_pipeline(passes))) == format_pipeline(passes)


@pytest.mark.parametrize("text, message", [
    ("canonicalize,no-such-pass", "unknown pass 'no-such-pass'"),
    ("count-ops{colour=red}", "has no option(s) colour"),
    ("count-ops{times=two}", "option times of pass count-ops: expected an integer"),
    ("count-ops{strict=1}", "expected true or false"),
    ("count-ops{times=1", "missing '}' after the options of count-ops"),
    ("count-ops{times=1,", "missing '}' after the options of count-ops"),
    ("canonicalize;count-ops", "unexpected character ';'"),
])
def test_bad_pipelines_say_what_is_wrong(scratch_registry, text, message):
    register_pass(Count)
    with pytest.raises(TfcError) as e:
        parse_pipeline(text)
    assert message in str(e.value)
    if "unknown pass" in message:
        assert "registered passes: canonicalize" in str(e.value) and "count-ops" in str(e.value)


def test_registration_checks_names(scratch_registry):
    class Bad(Pass):
        name = "Bad_Name"
    with pytest.raises(TfcError, match="kebab-case"):
        register_pass(Bad)

    class Clash(Pass):
        name = "canonicalize"
    with pytest.raises(TfcError, match="already registered"):
        register_pass(Clash)
    assert get_pass("canonicalize").__name__ == "Canonicalize"


def test_default_pipeline_is_design_order_of_registered_passes(scratch_registry):
    assert [p.name for p in default_pipeline()] == [n for n in
                                                   ("canonicalize", "fuse", "sparsify", "quantize-int8", "fuse",
                                                    "tile", "plan-memory")
                                                   if n in registered_passes()]

    class PlanMemory(Pass):
        name = "plan-memory"
        def run(self, graph, ctx):
            return PassResult(False)

    class Sparsify(Pass):
        name = "sparsify"
        def run(self, graph, ctx):
            return PassResult(False)
    base._REGISTRY["plan-memory"] = PlanMemory   # registered out of order on purpose
    base._REGISTRY["sparsify"] = Sparsify
    names = [p.name for p in default_pipeline()]
    assert names.index("canonicalize") < names.index("sparsify") < names.index("plan-memory")


# ------------------------------------------------------------------------------ instruments
def test_dumps_are_named_by_pass_and_replay(scratch_registry, graph, tmp_path):
    register_pass(Count)
    dump = tmp_path / "dumps"
    (dump.mkdir())
    (dump / "07-stale.tfcir").write_text("from an earlier run")
    run = PassManager("canonicalize,count-ops", dump_ir=dump).run(graph)
    names = sorted(p.name for p in dump.iterdir())
    assert names == ["00-import.tfcir", "01-canonicalize.tfcir", "02-count-ops.tfcir"]
    assert [p.name for p in run.dumps] == names
    text = (dump / "01-canonicalize.tfcir").read_text()
    assert text.startswith("# tfc IR after pass 1: canonicalize\n# pipeline: canonicalize,count-ops\n")
    assert (dump / "00-import.tfcir").read_text().startswith("# tfc IR after import\n")
    replayed = parse_graph(text)   # the data section is there: constants come back
    assert print_graph(replayed) == print_graph(graph)


def test_dumps_are_utf8_with_stats_notes_and_meta(scratch_registry, graph, tmp_path):
    register_pass(Annotate)
    PassManager("annotate", dump_ir=tmp_path).run(graph)
    text = (tmp_path / "01-annotate.tfcir").read_text(encoding="utf-8")
    assert text.startswith("# tfc IR after pass 1: annotate\n# pipeline: annotate\n"
                           "# stats: annotated=2, skipped=0\n#\n# µ-arch note: ≤ 2 cycles\n")
    assert '%a = transpose(%x) {perm=[0,1]} : f32[1,4] loc("a")  # meta: node {"seen-by": "annotate"}, ' \
           '%a {"scale": 0.5}' in text
    replayed = parse_graph(text)
    assert replayed.nodes[0].meta == {"seen-by": "annotate"} and replayed.find_value("a").meta == {"scale": 0.5}


def test_verbose_log_has_each_pass_stats_and_notes(scratch_registry, graph, caplog):
    register_pass(Annotate)
    with caplog.at_level("INFO", logger="tfc.passes"):
        PassManager("annotate").run(graph)
    lines = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(r"pass annotate: changed in \d+\.\d{3} s \(annotated=2, skipped=0\)", lines[0]), lines
    assert lines[1] == "pass annotate notes:\nµ-arch note: ≤ 2 cycles"


def test_meta_a_dump_cannot_print_is_the_pass_s_error(scratch_registry, graph, tmp_path):
    register_pass(Annotate)
    given = print_graph(graph)
    for verify_each, cause in ((True, VerificationError), (False, ValueError)):
        with pytest.raises(PassError) as e:
            PassManager("annotate{bad_meta=true}", dump_ir=tmp_path, verify_each=verify_each).run(graph.copy())
        assert "pass 'annotate' failed:" in e.value.message and "['scale'] is a float32" in e.value.message
        assert isinstance(e.value.__cause__, cause)
        assert print_graph(parse_graph((tmp_path / "01-annotate.reproducer.tfcir").read_text())) == given


def test_a_non_ascii_error_still_leaves_its_reproducer(scratch_registry, graph, tmp_path):
    @register_pass
    class Unicode(Pass):
        name = "unicode-crash"

        def run(self, graph, ctx):
            raise RuntimeError("Größe ≠ 4")

    with pytest.raises(PassError, match="RuntimeError: Größe ≠ 4") as e:
        PassManager("unicode-crash", dump_ir=tmp_path).run(graph)
    assert "# error: RuntimeError: Größe ≠ 4" in open(e.value.reproducer, encoding="utf-8").read()


def test_a_dump_that_cannot_be_written_is_an_error(graph, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TfcError, match="cannot write IR dumps"):
        PassManager("canonicalize", dump_ir=blocker).run(graph)


def test_timing_records_each_pass(scratch_registry, graph):
    register_pass(Count)
    run = PassManager("canonicalize,count-ops{times=2}").run(graph)
    assert [t.spec for t in run.timings] == ["canonicalize", "count-ops{times=2}"]
    assert all(t.seconds >= 0 for t in run.timings)
    assert [t.changed for t in run.timings] == [True, False]


def test_verify_each_catches_a_pass_that_breaks_the_ir(scratch_registry, graph, tmp_path):
    register_pass(BreakUses)
    given = print_graph(graph)
    with pytest.raises(PassError) as e:
        PassManager("break-uses", reproducer_dir=tmp_path).run(graph)
    assert "pass 'break-uses' failed: it left invalid IR behind" in e.value.message
    assert isinstance(e.value.__cause__, VerificationError)
    reproducer = tmp_path / "01-break-uses.reproducer.tfcir"
    assert e.value.reproducer == str(reproducer) and str(reproducer) in str(e.value)
    text = reproducer.read_text()
    assert "# pipeline: break-uses" in text and "# error: it left invalid IR behind" in text
    assert print_graph(parse_graph(text)) == given   # the IR the pass was given, replayable


def test_a_crashing_pass_leaves_a_reproducer_and_no_traceback(scratch_registry, graph, tmp_path):
    register_pass(Crash)
    with pytest.raises(PassError) as e:
        PassManager("canonicalize,crash", dump_ir=tmp_path).run(graph)
    assert isinstance(e.value.__cause__, ValueError)
    assert "Traceback" not in str(e.value)
    assert "pass 'crash' failed: ValueError: cannot remove" in str(e.value)
    text = (tmp_path / "02-crash.reproducer.tfcir").read_text()
    assert "# pipeline: canonicalize,crash" in text and "# replay: tfc compile THIS_FILE --pipeline 'crash'" in text


def test_reproducer_goes_to_the_temp_dir_without_a_dump_dir(scratch_registry, graph, tmp_path, monkeypatch):
    register_pass(Crash)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(PassError) as e:
        PassManager("crash").run(graph)
    assert e.value.reproducer.startswith(str(tmp_path)) and e.value.reproducer.endswith(".tfcir")


def test_user_errors_from_a_pass_pass_through(scratch_registry, graph):
    register_pass(UserError)
    with pytest.raises(QuantizationError, match="no calibration data"):
        PassManager("needs-calibration").run(graph)


def test_invalid_input_ir_is_reported_before_any_pass(graph):
    graph.nodes[0].inputs[0].uses.clear()
    with pytest.raises(VerificationError, match="the IR given to the pipeline is invalid"):
        PassManager("canonicalize").run(graph)


def test_declines_are_logged_once_with_pass_and_reason(graph):
    ctx = PassContext()
    ctx.current_pass = "fuse"
    for _ in range(3):
        ctx.decline("conv+relu", graph.nodes[0], "the conv result has two readers")
    assert [str(d) for d in ctx.declined] == ["fuse: conv+relu at 'a' declined: the conv result has two readers"]


def test_user_options_reach_the_passes(scratch_registry, graph):
    register_pass(Count)
    ctx = PassContext(options={"calibration": np.zeros(3)})
    PassManager(["count-ops", Count(op="transpose", times=5)]).run(graph, ctx)
    assert ctx.options["counted"] == [1, 5]
