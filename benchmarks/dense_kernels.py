"""Dense int8 kernels on the emulated Cortex-M7: tfc's runtime against the real CMSIS-NN.

    python benchmarks/dense_kernels.py [--cmsis-nn /path/to/CMSIS-NN] [--json out.json]

Four layers with random int8 data and per-channel multipliers/shifts like a calibrated model's:
a 3x3 convolution 16x16x32 -> 32 (pad 1), a 1x1 convolution 16x16x64 -> 64, a 3x3 depthwise
convolution 16x16x64 (pad 1) and a 256 -> 256 fully connected layer. Each runs through the same
C driver (dense_kernels.c) linked against tfc's runtime and, given --cmsis-nn, against CMSIS-NN
built from its sources; both are compiled with the cortex-m7 target's flags
(-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16) and -O2 (tfc.targets.cortex_m).
The executed instructions of each kernel call are counted exactly on QEMU's mps2-an500, the
outputs are checked against the numpy reference (tfc.quant.reference) and, byte for byte,
between the two libraries.

Functions called: arm_convolve_s8, arm_convolve_1x1_s8_fast, arm_fully_connected_s8 in both;
depthwise: tfc's arm_depthwise_conv_s8_opt (what tfc's lowering emits) against CMSIS-NN's
arm_depthwise_conv_3x3_s8 (arm_depthwise_conv_wrapper_s8's choice for this layer on a DSP
core); the extra row "depthwise 3x3 (_opt)" runs arm_depthwise_conv_s8_opt in both.

Then (unless --no-models) the shapes real models use where per-call overheads dominate: the
MLPerf Tiny models' fully connected layers at batch 1 (AD01's 640->128 ... 128->640, KWS's
64->12, ResNet's 64->10, VWW's 256->2, str_ww's 32->3) and str_ww's depthwise layers with k x 1
kernels, for which CMSIS-NN's wrapper picks arm_depthwise_conv_s8_opt (so both run _opt);
then issue 16's frontier layers at the MLPerf Tiny shapes (TFLite SAME padding): the first layers
with 1 and 3 input channels, depthwise 3x3 at stride 1 and 2 (on arm_depthwise_conv_s8_opt, then
as "wide" rows on tfc_depthwise_3x3_wide_s8 against CMSIS-NN's arm_depthwise_conv_3x3_s8) and
ResNet-8's 16-channel 3x3, each with a target column: the instructions/MAC its model must average to reach the best published
Cortex-M7 results (the model's goal over its MACs).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):          # run as a script: make `tfc` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfc.kernels.depthwise_wide import dw3_channels, dw3_weights
from tfc.quant import reference as ref
from tfc.quant.kernel_params import ConvParams, DepthwiseConvParams, FullyConnectedParams
from tfc.targets.cortex_m import ElfInfo, build_elf, run_elf

from benchmarks.crosscheck import cross_check_rows, first_difference, format_rows  # noqa: F401 (tests use it)

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "dense_kernels.c"
RUNTIME = HERE.parent / "tfc" / "backends" / "cmsis" / "runtime"
TARGET = "cortex-m7"
KINDS = {"conv": 0, "conv_1x1": 1, "depthwise": 2, "fully_connected": 3, "depthwise_opt": 4, "depthwise_wide": 5}
# The CMSIS-NN sources the driver's calls need (the linker drops what they do not use).
CMSIS_NN_SOURCES = (
    "ConvolutionFunctions/arm_convolve_s8.c", "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
    "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c", "ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8_opt.c", "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
    "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c", "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
    "NNSupportFunctions/arm_q7_to_q15_with_offset.c", "NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c",
    "NNSupportFunctions/arm_nn_mat_mul_core_1x_s8.c", "NNSupportFunctions/arm_nn_mat_mul_core_4x_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
)


@dataclass(frozen=True)
class Layer:
    """One benchmark layer: NHWC input in_hw x in_c, a k x k kernel (1 for FC), out_c outputs."""

    name: str
    kind: str
    in_hw: tuple[int, int]
    in_c: int
    out_c: int
    k: int = 1
    pad: int = 0
    k_w: int | None = None  # a k x k_w kernel (str_ww's depthwise 15 x 1); None: square
    stride: int = 1
    pad_w: int | None = None  # left padding when it differs from the top (`pad`)
    out: tuple[int, int] | None = None  # the output size where TFLite's SAME pads the far side
    target: float | None = None  # instructions/MAC the model holding the layer must average (issue 16)

    @property
    def kernel(self) -> tuple[int, int]:
        return self.k, self.k if self.k_w is None else self.k_w

    @property
    def padding(self) -> tuple[int, int]:
        return self.pad, self.pad if self.pad_w is None else self.pad_w

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.out is not None:
            return self.out
        return tuple((h + 2 * p - k) // self.stride + 1 for h, p, k in zip(self.in_hw, self.padding, self.kernel))

    @property
    def macs(self) -> int:
        oh, ow = self.out_hw
        kh, kw = self.kernel
        per_output = kh * kw * (1 if self.kind.startswith("depthwise") else self.in_c)
        return oh * ow * self.out_c * per_output


def layers(size: str = "full") -> list[Layer]:
    """The benchmark's layers; "small" keeps their shapes' character at a fraction of the work."""
    hw, c = ((16, 16), 1) if size == "full" else ((5, 6), 4)
    return [Layer("conv 3x3", "conv", hw, 32 // c, 32 // c, 3, 1),
            Layer("conv 1x1", "conv_1x1", hw, 64 // c, 64 // c),
            Layer("depthwise 3x3", "depthwise", hw, 64 // c, 64 // c, 3, 1),
            Layer("fully connected", "fully_connected", (1, 1), 256 // c, 256 // c),
            Layer("depthwise 3x3 (_opt)", "depthwise_opt", hw, 64 // c, 64 // c, 3, 1)]


def model_layers() -> list[Layer]:
    """The shapes of the MLPerf Tiny models' fully connected layers (batch 1) and str_ww's small
    depthwise layers (k x 1 kernels, where CMSIS-NN's wrapper picks arm_depthwise_conv_s8_opt)."""
    fc = [("AD01", 640, 128), ("AD01", 128, 128), ("AD01", 128, 8), ("AD01", 8, 128), ("AD01", 128, 640),
          ("KWS", 64, 12), ("ResNet", 64, 10), ("VWW", 256, 2), ("str_ww", 32, 3)]
    return [*(Layer(f"FC {m} {i}->{o}", "fully_connected", (1, 1), i, o) for m, i, o in fc),
            Layer("dw str_ww 3x1 30x40", "depthwise_opt", (30, 1), 40, 40, 3, k_w=1),
            Layer("dw str_ww 15x1 15x128", "depthwise_opt", (15, 1), 128, 128, 15, k_w=1)]


# Each MLPerf Tiny model's goal (issue 16) over its MACs: the instructions/MAC its layers must
# average for the whole model to reach the best published Cortex-M7 results.
MODEL_TARGETS = {"ResNet": 12_500_000 / 12_501_632, "KWS": 3_200_000 / 2_656_768, "VWW": 7_000_000 / 7_489_664}


def frontier_layers() -> list[Layer]:
    """The MLPerf Tiny layers issue 16 names, at the models' shapes (TFLite SAME padding): the
    first layers with 1 and 3 input channels, depthwise 3x3 at stride 1 and 2, and ResNet-8's
    16-channel 3x3 convolutions; each with its model's instructions/MAC target."""
    r, k, v = (MODEL_TARGETS[m] for m in ("ResNet", "KWS", "VWW"))
    return [
        Layer("first KWS 10x4/2 Cin1", "conv", (49, 10), 1, 64, 10, 4, k_w=4, stride=2, pad_w=1, out=(25, 5), target=k),
        Layer("first ResNet 3x3 Cin3", "conv", (32, 32), 3, 16, 3, 1, target=r),
        Layer("first VWW 3x3/2 Cin3", "conv", (96, 96), 3, 8, 3, 0, stride=2, out=(48, 48), target=v),
        Layer("ResNet 3x3 16->16", "conv", (32, 32), 16, 16, 3, 1, target=r),
        Layer("ResNet 3x3/2 16->32", "conv", (32, 32), 16, 32, 3, 0, stride=2, out=(16, 16), target=r),
        Layer("dw KWS 25x5x64", "depthwise", (25, 5), 64, 64, 3, 1, target=k),
        Layer("dw VWW 48x48x8", "depthwise", (48, 48), 8, 8, 3, 1, target=v),
        Layer("dw VWW 48x48x16 /2", "depthwise", (48, 48), 16, 16, 3, 0, stride=2, out=(24, 24), target=v),
        Layer("dw VWW 24x24x32", "depthwise", (24, 24), 32, 32, 3, 1, target=v),
        Layer("dw VWW 6x6x128", "depthwise", (6, 6), 128, 128, 3, 1, target=v),
        # the same layers on tfc_depthwise_3x3_wide_s8 (what the lowering picks for all but 6x6)
        Layer("dw KWS 25x5x64 wide", "depthwise_wide", (25, 5), 64, 64, 3, 1, target=k),
        Layer("dw VWW 48x48x8 wide", "depthwise_wide", (48, 48), 8, 8, 3, 1, target=v),
        Layer("dw VWW 48x48x16 /2 wide", "depthwise_wide", (48, 48), 16, 16, 3, 0, stride=2, out=(24, 24), target=v),
        Layer("dw VWW 24x24x32 wide", "depthwise_wide", (24, 24), 32, 32, 3, 1, target=v),
        Layer("dw VWW 6x6x128 wide", "depthwise_wide", (6, 6), 128, 128, 3, 1, target=v),
    ]


@dataclass(frozen=True)
class Case:
    layer: Layer
    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray
    params: object          # ConvParams | DepthwiseConvParams | FullyConnectedParams

    def reference(self) -> np.ndarray:
        """The numpy reference output (TFLite Micro's arithmetic), as int8 bytes in NHWC order."""
        p, lay = self.params, self.layer
        if lay.kind in ("conv", "conv_1x1"):
            return ref.conv2d(self.x, self.w, self.bias, p, output_hw=lay.out_hw)
        if lay.kind.startswith("depthwise"):
            return ref.depthwise_conv2d(self.x, self.w, self.bias, p, output_hw=lay.out_hw)
        return ref.fully_connected(self.x, self.w, self.bias, p)


def make_case(layer: Layer, rng: np.random.Generator) -> Case:
    """Random int8 data; multipliers in [2^30, 2^31) and shifts that bring a typical
    accumulator into int8 range (about 2^-9..2^-12, per channel), input zero point -128
    (after a ReLU), output zero point drawn, the full int8 activation range."""
    h, w = layer.in_hw
    x = rng.integers(-128, 128, size=(1, h, w, layer.in_c)).astype(np.int8)
    if layer.kind.startswith("depthwise"):
        wt = rng.integers(-127, 128, size=(1, *layer.kernel, layer.out_c)).astype(np.int8)
        shifts = rng.integers(-9, -6, size=layer.out_c)
    elif layer.kind == "fully_connected":
        x = x.reshape(1, layer.in_c)
        wt = rng.integers(-127, 128, size=(layer.out_c, layer.in_c)).astype(np.int8)
        shifts = np.full(1, -11)
    else:
        wt = rng.integers(-127, 128, size=(layer.out_c, *layer.kernel, layer.in_c)).astype(np.int8)
        shifts = rng.integers(-12, -9, size=layer.out_c)
    mults = rng.integers(1 << 30, 1 << 31, size=len(shifts))
    bias = rng.integers(-(1 << 12), 1 << 12, size=layer.out_c).astype(np.int32)
    common = dict(input_offset=128, output_offset=int(rng.integers(-20, 21)),
                  multipliers=tuple(int(m) for m in mults), shifts=tuple(int(s) for s in shifts))
    if layer.kind == "fully_connected":
        p = FullyConnectedParams(filter_offset=0, **common)
    elif layer.kind.startswith("depthwise"):
        p = DepthwiseConvParams(ch_mult=1, padding=layer.padding, stride=(layer.stride,) * 2, **common)
    else:
        p = ConvParams(padding=layer.padding, stride=(layer.stride,) * 2, **common)
    return Case(layer, x, wt, bias, p)


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def encode_cases(cases: list[Case]) -> bytes:
    """The case file dense_kernels.c reads (its header comment gives the layout)."""
    out = [struct.pack("<i", len(cases))]
    for c in cases:
        lay, p = c.layer, c.params
        (oh, ow), (h, w) = lay.out_hw, lay.in_hw
        out.append(struct.pack("<16i", KINDS[lay.kind], h, w, lay.in_c, oh, ow, lay.out_c, *lay.kernel, lay.stride,
                               *lay.padding, p.input_offset, p.output_offset, p.activation.min, p.activation.max))
        mults = np.resize(np.asarray(p.multipliers, "<i4"), lay.out_c)
        shifts = np.resize(np.asarray(p.shifts, "<i4"), lay.out_c)
        out += [mults.tobytes(), shifts.tobytes(), c.bias.astype("<i4").tobytes()]
        out += [_pad4(c.x.tobytes()), _pad4(c.w.tobytes())]
        if lay.kind == "depthwise_wide":
            w_ir = c.w.transpose(3, 1, 2, 0)           # [1, 3, 3, C] -> the IR's [C, 3, 3, 1]
            records = dw3_channels(w_ir, c.bias, p)
            if isinstance(records, str):
                raise ValueError(f"{lay.name}: tfc_depthwise_3x3_wide_s8 declines it: {records}")
            out += [dw3_weights(w_ir, oh > ow).astype("<i2").tobytes(), records.astype("<i4").tobytes()]
    return b"".join(out)


def build(library: str, out_dir: Path, cmsis_nn: Path | None = None) -> ElfInfo:
    """The driver linked against tfc's runtime ("tfc") or CMSIS-NN built from `cmsis_nn`."""
    if library == "tfc":
        sources = [DRIVER, *sorted((RUNTIME / "src").glob("*.c"))]
        return build_elf(sources, out_dir, include_dirs=[RUNTIME / "include"], target=TARGET,
                         name="dense_tfc")
    if cmsis_nn is None:
        raise ValueError("CMSIS-NN needs its source directory")
    root = Path(cmsis_nn)
    missing = [s for s in CMSIS_NN_SOURCES if not (root / "Source" / s).is_file()]
    if missing:
        raise FileNotFoundError(f"{root} is not a CMSIS-NN checkout: missing Source/{missing[0]}")
    sources = [DRIVER, *(root / "Source" / s for s in CMSIS_NN_SOURCES)]
    # CMSIS-NN is not ours to keep warning-free under -Wextra -Werror.
    return build_elf(sources, out_dir, include_dirs=[root / "Include"], defines={"TFC_BENCH_CMSIS_NN": 1},
                     target=TARGET, extra_cflags=("-Wno-error",), name="dense_cmsis_nn")


@dataclass(frozen=True)
class Measurement:
    outputs: list[bytes]            # per case
    instructions: list[int]         # per case: executed inside the kernel call


def measure(elf: ElfInfo, cases: list[Case]) -> Measurement:
    """Runs every case once on the emulated core: one run per group of cases of distinct kinds
    (the kind is the driver's instruction region)."""
    runs: list[list[int]] = []
    for i, c in enumerate(cases):
        run = next((r for r in runs if all(cases[j].layer.kind != c.layer.kind for j in r)), None)
        if run is None:
            runs.append(run := [])
        run.append(i)
    outputs: list[bytes] = [b""] * len(cases)
    instructions = [0] * len(cases)
    for run in runs:
        m = _measure_run(elf, [cases[i] for i in run])
        for i, out, n in zip(run, m.outputs, m.instructions):
            outputs[i], instructions[i] = out, n
    return Measurement(outputs, instructions)


def _measure_run(elf: ElfInfo, cases: list[Case]) -> Measurement:
    res = run_elf(elf, args=["cases.bin", "out.bin"], files={"cases.bin": encode_cases(cases)},
                  count_instructions=True, timeout=300)
    if res.exit_code != 0:
        raise RuntimeError(f"{elf.path.name}: driver exit code {res.exit_code}: {res.stdout!r}")
    data, outputs, offset = res.files["out.bin"], [], 0
    for c in cases:
        n = int(np.prod(c.layer.out_hw)) * c.layer.out_c
        outputs.append(data[offset:offset + n])
        offset += n
    counts = res.instructions.regions
    return Measurement(outputs, [counts[KINDS[c.layer.kind] + 1].instructions for c in cases])


def run_benchmark(cmsis_nn: Path | None, work: Path, size: str = "full", seed: int = 2024,
                  models: bool = True) -> list[dict]:
    """Builds, runs and cross-checks; returns one row per layer (the four benchmark layers, then,
    with `models`, the real models' small layers and issue 16's frontier layers). Raises on any
    output mismatch."""
    rng = np.random.default_rng(seed)
    cases = [make_case(lay, rng) for lay in layers(size) + (model_layers() + frontier_layers() if models else [])]
    libs = {"tfc": build("tfc", work / "tfc")}
    if cmsis_nn is not None:
        libs["cmsis_nn"] = build("cmsis-nn", work / "cmsis_nn", cmsis_nn)
    results = {name: measure(elf, cases) for name, elf in libs.items()}
    return cross_check_rows(cases, results, label=lambda c: c.layer.name,
                            describe=lambda c: {"layer": c.layer.name, "macs": c.layer.macs,
                                                "target": c.layer.target},
                            units=lambda c: c.layer.macs, per="mac")


def format_table(rows: list[dict]) -> str:
    return format_rows(rows, name=("layer", 24), units=("macs", "MACs"), per=("mac", "MAC", 4))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmsis-nn", type=Path, help="CMSIS-NN source tree (Include/, Source/) to compare with")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--size", choices=["full", "small"], default="full")
    ap.add_argument("--no-models", action="store_true", help="leave out the real models' small layers")
    ap.add_argument("--work-dir", type=Path, help="keep the builds here (default: a temporary directory)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tfc-bench-") as tmp:
        rows = run_benchmark(args.cmsis_nn, args.work_dir or Path(tmp), args.size, models=not args.no_models)
    print(f"target {TARGET}: -O2 -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16; "
          "executed instructions inside each kernel call (QEMU mps2-an500)")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r.get("outputs_identical", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
