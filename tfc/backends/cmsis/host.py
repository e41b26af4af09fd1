"""Build a generated project with gcc on this machine and run it on many inputs at once.

The build is cached by the hash of everything it reads (tfc.backends.cmsis.make.build_key), so a second runner over the
same project (or an identical one) does not compile again. All samples go through one process:
the driver (main_host.c) reads them from one file and writes all outputs to another.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from tfc.backends.cmsis.make import build_key, make_variables, run_make
from tfc.backends.cmsis.project import IoSpec, ProjectInfo
from tfc.errors import BuildError, ShapeError, TfcError
from tfc.ir.ops.quant import dequantize_array, quantize_array
from tfc.ir.types import DType, QuantParams

DEFAULT_CFLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra")
SANITIZE_CFLAGS = ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                   "-fno-omit-frame-pointer")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tfc" / "host-builds"


class Runner:
    """Runs a written project on many samples at once: float or raw int8 in, batches. Subclasses
    (HostRunner here, TargetRunner on the emulated Cortex-M) implement `_execute`: the packed
    input samples' bytes in, the packed outputs' bytes out."""

    info: ProjectInfo

    def _execute(self, data: bytes, n: int) -> bytes:
        raise NotImplementedError

    def run_raw(self, samples: Sequence[np.ndarray]) -> list[np.ndarray]:
        """int8 in, int8 out: samples[i] is input i with a leading sample axis [N, *shape];
        returns the outputs, each [N, *shape]."""
        specs = self.info.inputs
        if len(samples) != len(specs):
            raise TfcError(f"the model takes {len(specs)} input(s), got {len(samples)}")
        n = None
        for spec, x in zip(specs, samples):
            if x.dtype != np.int8:
                raise TfcError(f"input {spec.name}: raw inputs must be int8, got {x.dtype}")
            if tuple(x.shape[1:]) != spec.shape or (n is not None and x.shape[0] != n):
                raise ShapeError(f"input {spec.name}: expected [N, {', '.join(map(str, spec.shape))}], "
                                 f"got {list(x.shape)}")
            n = x.shape[0]
        data = np.concatenate([x.reshape(n, -1) for x in samples], axis=1) if samples else np.zeros((0, 0), np.int8)
        out = np.frombuffer(self._execute(np.ascontiguousarray(data).tobytes(), n), dtype=np.int8)
        total = sum(s.size for s in self.info.outputs)
        if out.size != n * total:
            raise BuildError(f"the generated program wrote {out.size} bytes for {n} samples, expected {n * total}")
        out = out.reshape(n, total)
        results, start = [], 0
        for spec in self.info.outputs:
            results.append(out[:, start:start + spec.size].reshape(n, *spec.shape).copy())
            start += spec.size
        return results

    def run(self, inputs, *, raw: bool = False):
        """One sample (arrays of the inputs' shapes) or a batch (a leading sample axis).
        Float inputs are quantized with the model's input parameters and outputs dequantized,
        unless raw=True (int8 in, int8 out). A one-output model returns an array, else a list."""
        arrays = [inputs] if isinstance(inputs, np.ndarray) else [np.asarray(x) for x in inputs]
        if len(arrays) != len(self.info.inputs):
            raise TfcError(f"the model takes {len(self.info.inputs)} input(s), got {len(arrays)}")
        mode = _batch_mode(arrays[0], self.info.inputs[0])
        samples = []
        for spec, x in zip(self.info.inputs, arrays):
            x = x[None] if mode == "single" else x.reshape(-1, *spec.shape) if mode == "stacked" else x
            if tuple(x.shape[1:]) != spec.shape or _batch_mode(arrays[0], self.info.inputs[0]) is None:
                raise ShapeError(f"input {spec.name}: expected shape {list(spec.shape)}, [N, "
                                 f"{', '.join(map(str, spec.shape))}] or, for a batch of one, [N, "
                                 f"{', '.join(map(str, spec.shape[1:]))}]; got {list(x.shape)}")
            samples.append(_to_int8(x, spec) if not raw else _as_raw(x, spec))
        outs = self.run_raw(samples)
        if not raw:
            outs = [dequantize_array(y, _qparams(spec)) for y, spec in zip(outs, self.info.outputs)]
        if mode == "single":
            outs = [y[0] for y in outs]
        elif mode == "stacked":  # the samples were stacked along the model's batch axis of 1
            outs = [y.reshape(-1, *spec.shape[1:]) if spec.shape[:1] == (1,) else y
                    for y, spec in zip(outs, self.info.outputs)]
        return outs[0] if len(outs) == 1 else outs


class HostRunner(Runner):
    """Runs the project `info` describes (written by write_project) as a host executable."""

    def __init__(self, info: ProjectInfo, *, cache_dir: Path | str | None = None,
                 cflags: Sequence[str] = DEFAULT_CFLAGS, sanitize: bool = False, cc: str = "gcc"):
        if info.path is None:
            raise TfcError("this project was only planned, not written", hint="use write_project(...)")
        self.info = info
        self.cflags = tuple(cflags) + (SANITIZE_CFLAGS if sanitize else ())
        self.cc = cc
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.executable = self._build()

    # ---- build ---------------------------------------------------------------------------------
    def _build(self) -> Path:
        project = Path(self.info.path)
        variables = make_variables({"CC": self.cc, "CFLAGS": " ".join(self.cflags)}, None)
        key = build_key(project, variables, [self.cc])
        exe = self.cache_dir / key / f"{self.info.name}_host"
        if exe.is_file():
            return exe
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.cache_dir))
        res = run_make(project, tmp, variables)
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"building the generated project failed:\n{res.stdout}{res.stderr}",
                             file=str(project), hint="this is a bug in tfc's C backend; please report it")
        try:
            os.replace(tmp, exe.parent)
        except OSError:  # built meanwhile by another runner
            shutil.rmtree(tmp, ignore_errors=True)
        return exe

    # ---- run ----------------------------------------------------------------------------------
    def _execute(self, data: bytes, n: int) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tfc-run-") as tmp:
            fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            fin.write_bytes(data)
            res = subprocess.run([str(self.executable), str(fin), str(fout)], capture_output=True, text=True)
            if res.returncode != 0:
                raise BuildError(f"the generated program failed (exit {res.returncode}):\n{res.stderr}",
                                 file=str(self.info.path))
            return fout.read_bytes()


def _batch_mode(x: np.ndarray, spec: IoSpec) -> str | None:
    """"single" (x is one sample), "batch" (a leading sample axis) or "stacked" (samples along
    the model's own batch axis of size 1, as TFLite test data comes)."""
    if tuple(x.shape) == spec.shape:
        return "single"
    if tuple(x.shape[1:]) == spec.shape:
        return "batch"
    if spec.shape[:1] == (1,) and x.ndim == len(spec.shape) and tuple(x.shape[1:]) == spec.shape[1:]:
        return "stacked"
    return None


def _qparams(spec: IoSpec) -> QuantParams:
    return QuantParams((spec.scale,), (spec.zero_point,))


def _to_int8(x: np.ndarray, spec: IoSpec) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        raise TfcError(f"input {spec.name}: expected float values (or raw=True for int8), got {x.dtype}")
    return quantize_array(x.astype(np.float32), _qparams(spec), DType.I8)


def _as_raw(x: np.ndarray, spec: IoSpec) -> np.ndarray:
    if x.dtype == np.int8:
        return x
    if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < -128 or x.max() > 127):
        raise TfcError(f"input {spec.name}: raw inputs must be int8 values, got {x.dtype}")
    return x.astype(np.int8)
