"""Instruments: what the pass manager does around every pass (dump, verify, time).

An instrument sees the run start, each pass start and end, and never changes the graph.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from tfc.errors import TfcError
from tfc.ir.text import print_graph
from tfc.ir.verify import verify


@dataclass(frozen=True)
class RunInfo:
    """What every instrument may want to know about the pipeline being run."""

    pipeline: str           # the pipeline as text (appears in every dump header)
    source: str = "import"  # what produced the starting IR (the name of dump 00)


class Instrument:
    def run_start(self, graph, info: RunInfo) -> None:
        pass

    def pass_start(self, index: int, pass_, graph, info: RunInfo) -> None:
        pass

    def pass_end(self, index: int, pass_, graph, info: RunInfo, result) -> None:
        pass


def dump_header(info: RunInfo, step: str) -> str:
    return f"tfc IR {step}\npipeline: {info.pipeline}"


def format_stats(stats: dict) -> str:
    """A pass's counters as one line: `fused=3, folded=1` (in the order the pass gave them)."""
    return ", ".join(f"{k}={v}" for k, v in stats.items())


class DumpIR(Instrument):
    """Write the IR with its data section before the first pass and after each pass:
    `00-import.tfcir`, `01-canonicalize.tfcir`, ... Each file replays (`tfc compile FILE`).
    The header holds the pipeline, the pass's stats and notes; files are UTF-8 (a pass's notes
    may say anything)."""

    _OURS = re.compile(r"\d\d-[a-z0-9\-]+(\.reproducer)?\.tfcir")

    def __init__(self, directory):
        self.directory = Path(directory)
        self.written: list[Path] = []

    def run_start(self, graph, info):
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Dumps of an earlier, longer pipeline would read as if this run wrote them.
            for old in self.directory.iterdir():
                if self._OURS.fullmatch(old.name):
                    old.unlink()
        except OSError as e:
            raise TfcError(f"cannot write IR dumps to {self.directory}: {e.strerror or e}",
                           hint="pass a writable directory to dump_ir / --dump-ir") from e
        self._write(f"00-{info.source}.tfcir", graph, dump_header(info, f"after {info.source}"))

    def pass_end(self, index, pass_, graph, info, result):
        header = dump_header(info, f"after pass {index + 1}: {pass_.spec}")
        if result.stats:
            header += "\nstats: " + format_stats(result.stats)
        if result.notes:
            header += "\n\n" + result.notes
        self._write(f"{index + 1:02d}-{pass_.name}.tfcir", graph, header)

    def _write(self, filename: str, graph, header: str) -> None:
        path = self.directory / filename
        try:
            path.write_text(print_graph(graph, header=header), encoding="utf-8")
        except OSError as e:
            raise TfcError(f"cannot write IR dump {path}: {e.strerror or e}",
                           hint="pass a writable directory to dump_ir / --dump-ir") from e
        self.written.append(path)


class VerifyEach(Instrument):
    """Check the IR's invariants after every pass (raises VerificationError)."""

    def pass_end(self, index, pass_, graph, info, result):
        verify(graph)


@dataclass(frozen=True)
class PassTiming:
    index: int
    spec: str
    seconds: float
    changed: bool


class Timing(Instrument):
    """Wall time of each pass."""

    def __init__(self):
        self.records: list[PassTiming] = []
        self._start = 0.0

    def pass_start(self, index, pass_, graph, info):
        self._start = time.perf_counter()

    def pass_end(self, index, pass_, graph, info, result):
        self.records.append(PassTiming(index, pass_.spec, time.perf_counter() - self._start,
                                       bool(result.changed)))
