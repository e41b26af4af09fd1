"""The pass manager: runs a pipeline over a graph with instruments around each pass.

A pass that raises something other than a TfcError (a bug) or that leaves invalid IR behind
becomes a `PassError` naming a reproducer file: the IR the pass was given, the pipeline and the
error, which `tfc compile FILE --pipeline PASS` replays. The original exception is its __cause__.
A TfcError raised by a pass (bad calibration data, an unsupported model) is a message for the
user already and passes through unchanged. Reproducers, like dumps, are UTF-8.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tfc.errors import PassError, TfcError, VerificationError
from tfc.ir.text import print_graph
from tfc.ir.verify import verify
from tfc.passes.base import Pass, PassContext, PassResult
from tfc.passes.instruments import (DumpIR, Instrument, PassTiming, RunInfo, Timing, VerifyEach,
                                   format_stats)
from tfc.passes.pipeline import format_pipeline, parse_pipeline


@dataclass
class PipelineRun:
    """What running a pipeline produced besides the (rewritten in place) graph."""

    pipeline: str
    results: list[PassResult] = field(default_factory=list)
    timings: list[PassTiming] = field(default_factory=list)
    dumps: list[Path] = field(default_factory=list)
    seconds: float = 0.0


class PassManager:
    """Runs `passes` (a list, or pipeline text) in order.

    dump_ir: a directory for `NN-<pass>.tfcir` dumps, or None.
    verify_each: check the IR after every pass (on by default; cheap next to the passes).
    reproducer_dir: where a failing pass's input IR is written (default: the dump directory, else
    the system temp directory).
    """

    def __init__(self, passes: str | Sequence[str | Pass] | None = None, *, dump_ir=None,
                 verify_each: bool = True, instruments: Sequence[Instrument] = (),
                 reproducer_dir=None, source: str = "import"):
        self.passes = parse_pipeline(passes)
        self.pipeline = format_pipeline(self.passes)
        self.timing = Timing()
        self.dump = DumpIR(dump_ir) if dump_ir is not None else None
        self.instruments: list[Instrument] = [self.timing]
        if verify_each:
            self.instruments.append(VerifyEach())
        if self.dump is not None:
            self.instruments.append(self.dump)
        self.instruments += list(instruments)
        self.reproducer_dir = reproducer_dir if reproducer_dir is not None else dump_ir
        self.source = source

    def run(self, graph, ctx: PassContext | None = None) -> PipelineRun:
        ctx = ctx if ctx is not None else PassContext()
        info = RunInfo(self.pipeline, self.source)
        run = PipelineRun(self.pipeline)
        started = time.perf_counter()
        try:
            verify(graph)
        except VerificationError as e:
            raise VerificationError(f"the IR given to the pipeline is invalid: {e.message}",
                                    node=e.node, op=e.op, hint=e.hint) from None
        for instrument in self.instruments:
            instrument.run_start(graph, info)
        for index, pass_ in enumerate(self.passes):
            run.results.append(self._run_one(index, pass_, graph, ctx, info))
        run.timings = list(self.timing.records)
        run.dumps = list(self.dump.written) if self.dump else []
        run.seconds = time.perf_counter() - started
        return run

    def _run_one(self, index: int, pass_: Pass, graph, ctx: PassContext, info: RunInfo) -> PassResult:
        given = print_graph(graph)  # kept for the reproducer: the pass is about to rewrite `graph`
        for instrument in self.instruments:
            instrument.pass_start(index, pass_, graph, info)
        ctx.current_pass = pass_.name
        try:
            result = pass_.run(graph, ctx)
            if not isinstance(result, PassResult):
                raise TypeError(f"run() returned {type(result).__name__}, not a PassResult")
        except TfcError:
            raise
        except Exception as e:  # a bug in the pass: make it replayable
            raise self._failure(index, pass_, given, f"{type(e).__name__}: {e}") from e
        finally:
            ctx.current_pass = None
        try:
            for instrument in self.instruments:
                instrument.pass_end(index, pass_, graph, info, result)
        except VerificationError as e:
            raise self._failure(index, pass_, given, f"it left invalid IR behind: {e}") from e
        except TfcError:
            raise
        except Exception as e:  # e.g. a result or IR the dump cannot print
            raise self._failure(index, pass_, given,
                                f"what it returned or left behind could not be recorded: "
                                f"{type(e).__name__}: {e}") from e
        ctx.logger.info("pass %s: %s in %.3f s%s", pass_.spec,
                        "changed" if result.changed else "no change",
                        self.timing.records[-1].seconds if self.timing.records else 0.0,
                        f" ({format_stats(result.stats)})" if result.stats else "")
        if result.notes:
            ctx.logger.info("pass %s notes:\n%s", pass_.spec, result.notes)
        return result

    def _failure(self, index: int, pass_: Pass, given_ir: str, error: str) -> PassError:
        header = (f"tfc reproducer: pass {index + 1} ({pass_.spec}) failed on this IR\n"
                  f"pipeline: {self.pipeline}\n"
                  f"error: {error}\n"
                  f"replay: tfc compile THIS_FILE --pipeline '{pass_.spec}'")
        text = "".join(f"# {line}\n" for line in header.splitlines()) + given_ir
        path = None
        try:
            path = self._write_reproducer(index, pass_, text)
        except OSError as e:
            hint = f"(the reproducer could not be written: {e.strerror or e})"
        else:
            hint = f"the IR it was given is in {path}; replay with: tfc compile {path} --pipeline '{pass_.spec}'"
        return PassError(f"pass '{pass_.name}' failed: {error}\n  this is a bug in tfc: please report it "
                         "with the reproducer", reproducer=str(path) if path else None, hint=hint)

    def _write_reproducer(self, index: int, pass_: Pass, text: str) -> Path:
        name = f"{index + 1:02d}-{pass_.name}.reproducer.tfcir"
        if self.reproducer_dir is not None:
            directory = Path(self.reproducer_dir)
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            path.write_text(text, encoding="utf-8")
            return path
        fd, raw = tempfile.mkstemp(prefix="tfc-", suffix="-" + name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return Path(raw)


def run_pipeline(graph, passes=None, ctx: PassContext | None = None, **kw) -> PipelineRun:
    """Shorthand: PassManager(passes, **kw).run(graph, ctx)."""
    return PassManager(passes, **kw).run(graph, ctx)
