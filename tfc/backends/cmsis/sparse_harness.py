"""Run sparse and dense int8 layers through benchmarks/sparse_driver.c: on the host (gcc, plain,
emulated-DSP or sanitized builds) or on the emulated Cortex-M7 with instruction counts.

Used by the tests (bit-exactness), the benchmark and the cost-model fit. A case is a header of 24
int32 plus its arrays; sparse_driver.c's header comment is the format.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tfc.errors import BuildError
from tfc.quant.kernel_params import (ActivationRange, ConvParams, DepthwiseConvParams, FullyConnectedParams,
                                     conv_output_size)
from tfc.backends.cmsis.emit import environment
from tfc.kernels import get_kernel
from tfc.sparse.codegen import LayerCode
from tfc.sparse.depthwise import SparseDepthwiseLayer
from tfc.sparse.layer import SparseLayer
from tfc.sparse.scratch import padded_width  # noqa: F401 - the tests and benchmarks take it from here

ROOT = Path(__file__).resolve().parents[3]   # the repository (the driver lives in benchmarks/)
DRIVER = ROOT / "benchmarks" / "sparse_driver.c"
RUNTIME = ROOT / "tfc" / "backends" / "cmsis" / "runtime"
# The kernels whose C the driver calls: their runtime sources (Kernel.sources) are all it compiles;
# against Arm's CMSIS-NN, the sparse kernels' only.
SPARSE_KERNELS = ("sparse_conv", "sparse_fc", "sparse_depthwise")
DENSE_KERNELS = ("conv", "fully_connected", "depthwise_conv")
MAX_CASES_PER_RUN = 32
HOST_VARIANTS = {
    "portable": ("-O2",),
    "dsp": ("-O2", "-DTFC_EMULATE_DSP"),
    "sanitize": ("-O1", "-g", "-DTFC_EMULATE_DSP", "-fsanitize=address,undefined",
                 "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"),
    "sanitize-portable": ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"),
}
OP_SPARSE_CONV, OP_SPARSE_FC, OP_DENSE_CONV, OP_DENSE_FC, OP_SPARSE_DW, OP_DENSE_DW = range(6)


def render_functions(code: LayerCode) -> str:
    """The C functions and the tfc_sparse_code struct of one layer (the table is emitted apart)."""
    return environment().get_template("kernels/sparse_rows.c.j2").module.functions(code)


def render_table(code: LayerCode) -> str:
    """The weight table as a standalone definition (the benchmarks; the backend uses weights.c)."""
    return environment().get_template("kernels/sparse_rows.c.j2").module.table(code)


def _pad8(b: bytes) -> bytes:
    return b + bytes(-len(b) % 8)


@dataclass(frozen=True)
class Case:
    """One layer call: its bytes for the driver and the size of its output."""

    data: bytes
    output_size: int
    output_shape: tuple[int, ...]


def _header(op, x_shape, out_hw, cout, kh, kw, stride, pad, in_off, out_off, act: ActivationRange,
            block=0, width=0, a=0, b=0, c=0, code=0) -> bytes:
    n, h, w, cin = x_shape
    return struct.pack("<24i", op, n, h, w, cin, out_hw[0], out_hw[1], cout, kh, kw, stride[0], stride[1],
                       pad[0], pad[1], in_off, out_off, act.min, act.max, block, width, a, b, c, code)


def generated_source(codes: Sequence[LayerCode]) -> str:
    """gen.c for the driver: the generated code of `codes`; case field `code` = k runs codes[k - 1]."""
    parts = ["#include <stddef.h>\n#include \"tfc_sparse.h\"\n#include \"tfc_sparse_gen.h\"\n"]
    for c in codes:
        parts += [render_table(c), render_functions(c)]
    refs = "".join(f"&{c.symbol}_code, " for c in codes)
    parts.append(f"const tfc_sparse_code *const tfc_bench_codes[] = {{ {refs}NULL }};\n")
    return "\n".join(parts)


def conv_out_hw(x_shape, kh, kw, p: ConvParams) -> tuple[int, int]:
    return (conv_output_size(x_shape[1], kh, p.stride[0], p.padding[0], p.padding[0]),
            conv_output_size(x_shape[2], kw, p.stride[1], p.padding[1], p.padding[1]))


def sparse_conv_case(x: np.ndarray, layer: SparseLayer, p: ConvParams, out_hw=None, code: int = 0) -> Case:
    """code: 0 walks the streams; k runs the k-th generated code of the build (generated_source)."""
    out_hw = out_hw or conv_out_hw(x.shape, layer.kh, layer.kw, p)
    rec, sk, val = layer.records_bytes(), layer.skips.tobytes(), layer.values.tobytes()
    head = _header(OP_SPARSE_CONV, x.shape, out_hw, layer.rows, layer.kh, layer.kw, p.stride, p.padding,
                   p.input_offset, p.output_offset, p.activation, layer.block, layer.width,
                   len(rec), len(sk), len(val), code)
    data = head + _pad8(rec) + _pad8(sk) + _pad8(val) + _pad8(x.tobytes())
    return Case(data, x.shape[0] * out_hw[0] * out_hw[1] * layer.rows, (x.shape[0], *out_hw, layer.rows))


def sparse_fc_case(x: np.ndarray, layer: SparseLayer, p: FullyConnectedParams, code: int = 0) -> Case:
    n, depth = x.shape
    rec, sk, val = layer.records_bytes(), layer.skips.tobytes(), layer.values.tobytes()
    head = _header(OP_SPARSE_FC, (n, 1, 1, depth), (1, 1), layer.rows, 1, 1, (1, 1), (0, 0),
                   p.input_offset, p.output_offset, p.activation, layer.block, layer.width,
                   len(rec), len(sk), len(val), code)
    data = head + _pad8(rec) + _pad8(sk) + _pad8(val) + _pad8(x.tobytes())
    return Case(data, n * layer.rows, (n, layer.rows))


def _dense_parts(w, bias, mults, shifts, cout) -> bytes:
    b = np.zeros(cout, "<i4") if bias is None else np.asarray(bias, "<i4")
    m = np.resize(np.asarray(mults, "<i4"), cout)
    s = np.resize(np.asarray(shifts, "<i4"), cout)
    return _pad8(b.tobytes()) + _pad8(m.tobytes()) + _pad8(s.tobytes()) + _pad8(np.asarray(w, np.int8).tobytes())


def _dense_image_case(op: int, x: np.ndarray, w: np.ndarray, bias, p, cout: int, kh: int, kw: int,
                      out_hw) -> Case:
    """A dense conv or depthwise case: header, bias/multipliers/shifts/weights, the NHWC input."""
    out_hw = out_hw or conv_out_hw(x.shape, kh, kw, p)
    head = _header(op, x.shape, out_hw, cout, kh, kw, p.stride, p.padding, p.input_offset,
                   p.output_offset, p.activation)
    data = head + _dense_parts(w, bias, p.multipliers, p.shifts, cout) + _pad8(x.tobytes())
    return Case(data, x.shape[0] * out_hw[0] * out_hw[1] * cout, (x.shape[0], *out_hw, cout))


def dense_conv_case(x: np.ndarray, w: np.ndarray, bias, p: ConvParams, out_hw=None) -> Case:
    cout, kh, kw, _ = w.shape
    return _dense_image_case(OP_DENSE_CONV, x, w, bias, p, cout, kh, kw, out_hw)


def dense_fc_case(x: np.ndarray, w: np.ndarray, bias, p: FullyConnectedParams) -> Case:
    """Per-tensor fully connected (arm_fully_connected_s8): multipliers[0] and shifts[0]."""
    n, depth = x.shape
    cout = w.shape[0]
    head = _header(OP_DENSE_FC, (n, 1, 1, depth), (1, 1), cout, 1, 1, (1, 1), (0, 0), p.input_offset,
                   p.output_offset, p.activation)
    data = head + _dense_parts(w, bias, p.multipliers, p.shifts, cout) + _pad8(x.tobytes())
    return Case(data, n * cout, (n, cout))


def sparse_depthwise_case(x: np.ndarray, layer: SparseDepthwiseLayer, p: DepthwiseConvParams,
                          out_hw=None) -> Case:
    """tfc_sparse_depthwise_conv_s8 (p's offsets and activation must be the layer's)."""
    out_hw = out_hw or conv_out_hw(x.shape, layer.kh, layer.kw, p)
    rec, taps, luts = layer.records_bytes(), layer.taps.tobytes(), layer.luts.tobytes()
    head = _header(OP_SPARSE_DW, x.shape, out_hw, layer.channels, layer.kh, layer.kw, p.stride, p.padding,
                   p.input_offset, p.output_offset, p.activation, a=len(rec), b=len(taps), c=len(luts))
    data = head + _pad8(rec) + _pad8(taps) + _pad8(luts) + _pad8(x.tobytes())
    return Case(data, x.shape[0] * out_hw[0] * out_hw[1] * layer.channels, (x.shape[0], *out_hw, layer.channels))


def dense_depthwise_case(x: np.ndarray, w: np.ndarray, bias, p: DepthwiseConvParams, out_hw=None) -> Case:
    """arm_depthwise_conv_s8_opt; w is CMSIS-NN's [1, kh, kw, C]."""
    _, kh, kw, c = w.shape
    return _dense_image_case(OP_DENSE_DW, x, w, bias, p, c, kh, kw, out_hw)


def case_file(cases: Sequence[Case]) -> bytes:
    return struct.pack("<ii", len(cases), 0) + b"".join(c.data for c in cases)


def split_outputs(cases: Sequence[Case], out: bytes) -> list[np.ndarray]:
    res, off = [], 0
    for c in cases:
        res.append(np.frombuffer(out, np.int8, count=c.output_size, offset=off).reshape(c.output_shape))
        off += c.output_size
    if off != len(out):
        raise BuildError(f"driver wrote {len(out)} output bytes, the cases make {off}")
    return res


# ---- host --------------------------------------------------------------------------------------

def _gen_file(out_dir: Path | str, codes: Sequence[LayerCode]) -> Path:
    path = Path(out_dir) / "gen.c"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generated_source(codes))
    return path


def runtime_sources(kernels=SPARSE_KERNELS + DENSE_KERNELS) -> list[Path]:
    """The runtime C files `kernels` need (by default tfc's kernels of every op the driver runs)."""
    names = {s for kernel in kernels for s in get_kernel(kernel).sources}
    return [RUNTIME / "src" / s for s in sorted(names)]


def build_host(variant: str, out_dir: Path | str, codes: Sequence[LayerCode] = ()) -> Path:
    """gcc build of the driver with tfc's runtime (dense and sparse kernels) and generated `codes`."""
    out = Path(out_dir) / f"sparse_driver_{variant}"
    sources = [DRIVER, _gen_file(Path(out_dir) / f"gen_{variant}", codes), *runtime_sources()]
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *HOST_VARIANTS[variant], "-DTFC_HOST",
           f"-I{RUNTIME / 'include'}", *map(str, sources), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise BuildError(f"host build ({variant}) failed:\n{done.stderr[-3000:]}")
    return out


def run_host(exe: Path, cases: Sequence[Case]) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "cases.bin", Path(tmp) / "out.bin"
        src.write_bytes(case_file(cases))
        done = subprocess.run([str(exe), str(src), str(dst)], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise BuildError(f"{exe.name} exited with {done.returncode}: {done.stdout[-500:]}{done.stderr[-3000:]}")
        return split_outputs(cases, dst.read_bytes())


# ---- emulated Cortex-M7 ------------------------------------------------------------------------

def cmsis_nn_sources(root: Path | str) -> tuple[list[Path], list[Path]]:
    """The real CMSIS-NN's .c files and include dirs (the dense kernels the driver calls)."""
    root = Path(root)
    if not (root / "Include" / "arm_nnfunctions.h").is_file():
        raise BuildError(f"{root} is not a CMSIS-NN checkout (no Include/arm_nnfunctions.h)")
    wanted = ("ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions")
    sources = [p for d in wanted for p in sorted((root / "Source" / d).glob("*.c"))
               if not p.stem.endswith(("_f16", "_f32"))]
    return sources, [root / "Include"]


def build_m7(out_dir: Path | str, *, cmsis_nn: Path | str | None = None, dsp: bool = True,
             codes: Sequence[LayerCode] = ()):
    """The driver for the emulated Cortex-M7: with tfc's runtime, or the real CMSIS-NN for the dense
    ops (the sparse kernels are tfc's either way), and the generated `codes`. Same flags for both."""
    from tfc.targets.cortex_m import build_elf
    flags = () if dsp else ("-U__ARM_FEATURE_DSP",)
    gen = _gen_file(Path(out_dir) / "gen", codes)
    if cmsis_nn is None:
        sources = [DRIVER, gen, *runtime_sources()]
        includes = [RUNTIME / "include"]
    else:
        cm_sources, cm_includes = cmsis_nn_sources(cmsis_nn)
        sources = [DRIVER, gen, *runtime_sources(SPARSE_KERNELS), *cm_sources]
        # tfc's sparse headers come from tfc's include dir, everything else from CMSIS-NN's.
        sparse_inc = Path(out_dir) / "sparse_include"
        sparse_inc.mkdir(parents=True, exist_ok=True)
        for header in ("tfc_sparse.h", "tfc_sparse_gen.h", "tfc_sparse_depthwise.h"):
            (sparse_inc / header).write_bytes((RUNTIME / "include" / header).read_bytes())
        includes = [*cm_includes, sparse_inc]
        flags = (*flags, "-Wno-error", "-w")
    return build_elf(sources, out_dir, include_dirs=includes, extra_cflags=flags, stack_size=8192,
                     name="sparse_driver")


def run_m7(info, cases: Sequence[Case], *, count: bool = True):
    """(outputs, instructions per case) on the emulated Cortex-M7."""
    from tfc.targets.cortex_m import run_elf
    if len(cases) > MAX_CASES_PER_RUN:
        raise ValueError(f"at most {MAX_CASES_PER_RUN} cases per run")
    result = run_elf(info, args=["cases.bin", "out.bin"], files={"cases.bin": case_file(cases)},
                     timeout=600, count_instructions=count)
    if result.exit_code != 0:
        raise BuildError(f"sparse driver exit code {result.exit_code}: {result.stdout!r}")
    outs = split_outputs(cases, result.files["out.bin"])
    counts = [result.instructions.regions[i + 1].instructions for i in range(len(cases))] if count else []
    return outs, counts
