"""The fuzzer: mutate seed models, compile each case in a worker process, and sort the outcome.

Every outcome must be `ok` (compiled; and when its C is checked, the C built with -Werror and ran
clean under ASan/UBSan) or `tfc_error` (a TfcError: the user's message). Anything else is a
failure: `crash` (another exception), `hang` (over the time limit: the worker is killed and
replaced), `c_build` (tfc said yes but its C does not build), `c_run` (the C failed or a
sanitizer fired on random int8 inputs). A case is (seed, index): the model, the mutation and all
its choices come from numpy's generator seeded with both, so any case replays alone.

    python -m tests.fuzz.harness --cases 10000 --seed 1 --out fuzz-report   # the long run
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tests.fuzz.mutate import BYTE_MUTATIONS, MUTATIONS, STRUCTURAL_MUTATIONS

REPO = Path(__file__).resolve().parents[2]
MLPERF = (REPO / ".." / "shared" / "data" / "mlperf_tiny" / "onnx").resolve()
# int8 models compile as they are; float ones get random calibration samples.
INT8_SEEDS = ("ad01_int8.onnx", "kws_ref_model.onnx", "str_ww_ref_model.onnx", "vww_96_int8.onnx")
FLOAT_SEEDS = ("ad01_fp32.onnx", "kws_ref_model_fp32_from_savedmodel.onnx")
FAILURES = ("crash", "hang", "c_build", "c_run")
# vww's generated model.c (~150 KB) takes minutes to build under ASan/UBSan on a shared machine:
# the fuzzer builds the smaller projects only and counts the ones it skipped.
C_CHECK_MAX_MODEL_C = 64 * 1024
STRICT_CFLAGS = ("-O1", "-g", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                 "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    calibrate: bool


def seeds(include_mlperf: bool = True) -> list[Seed]:
    """The bundled demo model, and the MLPerf Tiny models where ../shared/data has them."""
    from tfc.data import DEMO_MODEL
    out = [Seed("demo:" + DEMO_MODEL.name, DEMO_MODEL.read_bytes(), False)]
    if include_mlperf and MLPERF.is_dir():
        out += [Seed(n, (MLPERF / n).read_bytes(), False) for n in INT8_SEEDS if (MLPERF / n).is_file()]
        out += [Seed(n, (MLPERF / n).read_bytes(), True) for n in FLOAT_SEEDS if (MLPERF / n).is_file()]
    return out


@dataclass
class Case:
    index: int
    seed_model: str
    mutation: str
    detail: str
    outcome: str = ""
    message: str = ""
    seconds: float = 0.0
    c_checked: bool = False


def make_case(all_seeds: list[Seed], seed: int, index: int) -> tuple[Case, bytes, bool]:
    """Case `index` of run `seed`: (record, mutated model bytes, calibrate?)."""
    rng = np.random.default_rng([seed, index])
    base = all_seeds[int(rng.integers(len(all_seeds)))]
    # Half byte-level, half structural; one to three mutations stacked.
    names = []
    data = base.data
    details = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        pool = BYTE_MUTATIONS if rng.random() < 0.5 else STRUCTURAL_MUTATIONS
        name = sorted(pool)[int(rng.integers(len(pool)))]
        try:
            data, detail = MUTATIONS[name](data, rng)
        except Exception as e:  # noqa: BLE001 - the mutation did not apply (e.g. bytes no longer parse)
            detail = f"not applied ({type(e).__name__})"
        names.append(name)
        details.append(detail)
    return Case(index, base.name, "+".join(names), "; ".join(details)), data, base.calibrate


# ------------------------------------------------------------------------------------ worker
def _calibration(data: bytes):
    """Two random samples of the (first) input's declared shape, or None if it has none usable."""
    import onnx
    try:
        model = onnx.load_from_string(data)
        inits = {t.name for t in model.graph.initializer}
        inp = next(i for i in model.graph.input if i.name not in inits)
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    except Exception:  # noqa: BLE001 - tfc will say what is wrong with the model
        return None
    if not shape or any(d <= 0 for d in shape) or int(np.prod(shape)) > 1 << 20:
        return None
    return np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)


def _compile_one(data: bytes, calibrate: bool, out_dir: Path) -> tuple[str, str]:
    import tfc
    from tfc.errors import TfcError
    try:
        cm = tfc.compile(data, target="cortex-m7", calibration=_calibration(data) if calibrate else None)
        cm.save(out_dir, force=True)
        return "ok", ""
    except TfcError as e:
        return "tfc_error", f"{type(e).__name__}: {str(e).splitlines()[0]}"
    except MemoryError:
        return "crash", "MemoryError"
    except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "crash", f"{type(e).__name__}: {str(e)[:200]} (at {Path(tb.filename).name}:{tb.lineno})"


def _worker(conn, work_dir: str) -> None:
    import warnings
    warnings.simplefilter("ignore")
    while True:
        job = conn.recv()
        if job is None:
            return
        index, data, calibrate = job
        out = Path(work_dir) / f"case-{index}"
        outcome, message = _compile_one(data, calibrate, out)
        conn.send((outcome, message, str(out) if outcome == "ok" else ""))


class Pool:
    """One worker process (forked, so tfc is imported once); killed and replaced on a hang."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.ctx = mp.get_context("fork")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, str(self.work_dir)), daemon=True)
        self.proc.start()

    def run(self, index: int, data: bytes, calibrate: bool, timeout: float) -> tuple[str, str, str]:
        self.conn.send((index, data, calibrate))
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:
                pass
            self.proc.join(1)
            code = self.proc.exitcode
            self._start()
            return "crash", f"the worker died (exit {code}: killed by the OS for memory?)", ""
        self.proc.kill()
        self.proc.join()
        self._start()
        return "hang", f"no answer in {timeout:.0f} s", ""

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# ------------------------------------------------------------------------------- the C check
class CBuilder:
    """Builds a saved project on the host with -Werror and ASan/UBSan and runs it on random int8
    inputs. The runtime kernels are compiled once (same tfc, same files) and linked to each
    case's model.c, weights.c and main_host.c."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.runtime_objs: dict[str, list[Path]] = {}

    def _flags(self, project: Path) -> list[str]:
        makefile = (project / "Makefile").read_text()
        dsp = ["-DTFC_EMULATE_DSP"] if "EMULATE_DSP ?= 1" in makefile else []
        return [*STRICT_CFLAGS, f"-I{project}", f"-I{project / 'runtime' / 'include'}", *dsp]

    def _runtime(self, project: Path, flags: list[str]) -> list[Path]:
        sources = sorted((project / "runtime" / "src").glob("*.c"))
        h = hashlib.sha256(" ".join(flags[:-3] + flags[-1:]).encode())
        for p in sorted((project / "runtime").rglob("*")):
            if p.is_file():
                h.update(p.name.encode() + p.read_bytes())
        key = h.hexdigest()[:16]
        if key not in self.runtime_objs:
            out = self.work_dir / f"runtime-{key}"
            out.mkdir(parents=True, exist_ok=True)
            objs = []
            for src in sources:
                obj = out / (src.stem + ".o")
                subprocess.run(["gcc", *flags, "-c", str(src), "-o", str(obj)], check=True,
                               capture_output=True, text=True, timeout=300)
                objs.append(obj)
            self.runtime_objs[key] = objs
        return self.runtime_objs[key]

    def check(self, project: Path, inputs_bytes: int) -> tuple[str, str]:
        """("ok", "") or ("c_build" | "c_run", what went wrong)."""
        flags = self._flags(project)
        try:
            objs = self._runtime(project, flags)
        except subprocess.CalledProcessError as e:
            return "c_build", f"runtime kernels: {e.stderr[-600:]}"
        exe = project / "fuzz_host"
        res = subprocess.run(["gcc", *flags, *(str(project / f) for f in ("main_host.c", "model.c", "weights.c")),
                              *map(str, objs), "-lm", "-o", str(exe)], capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            return "c_build", res.stderr[-800:]
        rng = np.random.default_rng(0)
        fin, fout = project / "in.bin", project / "out.bin"
        fin.write_bytes(rng.integers(-128, 128, size=3 * inputs_bytes, dtype=np.int8).tobytes())
        res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            return "c_run", f"exit {res.returncode}: {res.stderr[-800:]}"
        return "ok", ""


def _input_bytes(project: Path) -> int:
    """Bytes of one sample of all inputs, from model.h's TFC_<NAME>_INPUT_BYTES define."""
    import re
    return int(re.search(r"#define \w+_INPUT_BYTES (\d+)", (project / "model.h").read_text()).group(1))


def _c_signature(project: Path) -> str:
    """What decides whether the C builds and runs cleanly: model.c (the layers and their
    parameters) and weights.h; weights.c only differs in values, read by the same kernels."""
    h = hashlib.sha256()
    for f in ("model.c", "model.h", "weights.h"):
        h.update((project / f).read_bytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------ driver
@dataclass
class Summary:
    cases: int
    outcomes: dict
    failures: list
    c_checked: int
    c_signatures: int
    c_skipped_large: int
    hang_limit_s: float
    slowest_s: float
    seconds: float
    by_mutation: dict

    def text(self) -> str:
        lines = [f"{self.cases} cases in {self.seconds:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
                 f"C built with -Werror and run under ASan/UBSan for {self.c_checked} accepted cases "
                 f"({self.c_signatures} distinct model.c; {self.c_skipped_large} with a model.c over "
                 f"{C_CHECK_MAX_MODEL_C // 1024} KiB not built); slowest case {self.slowest_s:.1f} s "
                 f"(hang limit {self.hang_limit_s:.0f} s)"]
        for f in self.failures[:20]:
            lines.append(f"  FAIL case {f['index']} [{f['outcome']}] {f['seed_model']} {f['mutation']} "
                         f"({f['detail']}): {f['message'][:300]}")
        return "\n".join(lines)


def run(*, cases: int, seed: int, timeout: float = 30.0, check_c: str = "new", max_c_checks: int | None = None,
        include_mlperf: bool = True, out_dir: Path | None = None, log=None, start: int = 0) -> Summary:
    """Run cases start..start+cases-1 of run `seed`. check_c: "new" builds the C of every
    accepted case whose model.c is new, "none" builds none. Failing models are written to
    out_dir/failures/ (when given) for replay."""
    all_seeds = seeds(include_mlperf)
    work = Path(tempfile.mkdtemp(prefix="tfc-fuzz-"))
    pool, builder = Pool(work), CBuilder(work)
    counts, failures, by_mutation = Counter(), [], {}
    signatures: set[str] = set()
    c_checked, large, slowest, t0 = 0, 0, 0.0, time.time()
    try:
        for index in range(start, start + cases):
            case, data, calibrate = make_case(all_seeds, seed, index)
            t = time.time()
            case.outcome, case.message, project = pool.run(index, data, calibrate, timeout)
            case.seconds = time.time() - t
            if case.outcome == "ok" and project and check_c != "none" and (
                    max_c_checks is None or c_checked < max_c_checks):
                sig = _c_signature(Path(project))
                if (Path(project) / "model.c").stat().st_size > C_CHECK_MAX_MODEL_C:
                    large += 1
                elif sig not in signatures:
                    signatures.add(sig)
                    c_checked += 1
                    case.c_checked = True
                    case.outcome, case.message = builder.check(Path(project), _input_bytes(Path(project)))
            if project:
                shutil.rmtree(project, ignore_errors=True)
            slowest = max(slowest, case.seconds)
            counts[case.outcome] += 1
            by_mutation.setdefault(case.mutation.split("+")[0], Counter())[case.outcome] += 1
            if case.outcome in FAILURES:
                failures.append(asdict(case))
                if out_dir is not None:
                    (out_dir / "failures").mkdir(parents=True, exist_ok=True)
                    (out_dir / "failures" / f"case-{seed}-{index}.onnx").write_bytes(data)
            if log is not None:
                log(case)
    finally:
        pool.close()
        shutil.rmtree(work, ignore_errors=True)
    return Summary(cases, dict(counts), failures, c_checked, len(signatures), large, timeout, slowest,
                   time.time() - t0, {k: dict(v) for k, v in sorted(by_mutation.items())})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--start", type=int, default=0, help="first case index (to split a run)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    p.add_argument("--check-c", choices=("new", "none"), default="new")
    p.add_argument("--max-c-checks", type=int, default=None, help="build at most this many projects' C")
    p.add_argument("--out", type=Path, default=Path("fuzz-report"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "cases.jsonl", "a", encoding="utf-8")

    def log(case):
        log_file.write(json.dumps(asdict(case)) + "\n")
        log_file.flush()
        if case.outcome in FAILURES:
            print(f"FAIL case {case.index} [{case.outcome}] {case.mutation}: {case.message[:200]}", flush=True)

    summary = run(cases=args.cases, seed=args.seed, timeout=args.timeout, check_c=args.check_c,
                  max_c_checks=args.max_c_checks, out_dir=args.out, log=log, start=args.start)
    log_file.close()
    (args.out / "summary.json").write_text(json.dumps(asdict(summary), indent=1) + "\n")
    print(summary.text())
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
