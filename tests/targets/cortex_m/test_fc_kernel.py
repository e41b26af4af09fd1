"""tfc's arm_fully_connected_s8 built for the Cortex-M7 (real DSP instructions, and the portable
C path for comparison), run on the emulated core: output bytes equal the numpy reference
(tfc.quant.reference) and the instruction count per multiply-accumulate is measured."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tfc.kernels import get_kernel
from tfc.quant import reference as ref
from tfc.quant.kernel_params import ActivationRange, FullyConnectedParams
from tfc.targets.cortex_m import build_elf, run_elf

from .conftest import PROGRAMS

RUNTIME = PROGRAMS.parents[3] / "tfc" / "backends" / "cmsis" / "runtime"
PATHS = {"dsp": (), "portable": ("-U__ARM_FEATURE_DSP",)}


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def encode_cases(cases) -> bytes:
    """The case file fc_s8_cases.c reads (its header comment gives the layout)."""
    out = [struct.pack("<i", len(cases))]
    for x, w, bias, p in cases:
        (n, depth), out_c = x.shape, w.shape[0]
        out.append(struct.pack("<11i", n, depth, out_c, p.input_offset, p.filter_offset, p.output_offset,
                               p.multipliers[0], p.shifts[0], p.activation.min, p.activation.max,
                               bias is not None))
        out.append(np.zeros(out_c, "<i4").tobytes() if bias is None else bias.astype("<i4").tobytes())
        out.append(_pad4(x.tobytes()) + _pad4(w.tobytes()))
    return b"".join(out)


def random_case(rng, n, depth, out_c, *, with_bias=True):
    lo = int(rng.integers(-128, 0))
    p = FullyConnectedParams(
        input_offset=int(rng.integers(-127, 129)), filter_offset=int(rng.choice([0, 0, 5, -127, 128])),
        output_offset=int(rng.integers(-128, 128)),
        multipliers=(int(rng.integers(1 << 30, 1 << 31)),), shifts=(int(rng.integers(-12, 1)),),
        activation=ActivationRange() if rng.random() < 0.5 else ActivationRange(lo, int(rng.integers(lo, 128))))
    x = rng.integers(-128, 128, size=(n, depth)).astype(np.int8)
    w = rng.integers(-128, 128, size=(out_c, depth)).astype(np.int8)
    bias = rng.integers(-(1 << 16), 1 << 16, size=out_c).astype(np.int32) if with_bias else None
    return x, w, bias, p


@pytest.fixture(scope="module", params=list(PATHS))
def fc_elf(request, tmp_path_factory, qemu_plugins):
    """The FC harness with the fully connected kernel's runtime sources, DSP path or portable C."""
    sources = [PROGRAMS / "fc_s8_cases.c", *(RUNTIME / "src" / s for s in get_kernel("fully_connected").sources)]
    info = build_elf(sources, tmp_path_factory.mktemp(f"fc_{request.param}"),
                     include_dirs=[RUNTIME / "include"], extra_cflags=PATHS[request.param],
                     stack_size=4096)
    return request.param, info


def _run_cases(info, cases, **kw):
    result = run_elf(info, args=["cases.bin", "out.bin"], files={"cases.bin": encode_cases(cases)},
                     timeout=60, **kw)
    assert result.exit_code == 0, f"harness exit code {result.exit_code}: {result.stdout!r}"
    return result


def test_fc_matches_numpy_reference_bit_for_bit(fc_elf):
    path, info = fc_elf
    rng = np.random.default_rng(7)
    shapes = [(1, 1, 1), (1, 3, 2), (2, 7, 5), (3, 16, 4), (1, 33, 9), (5, 40, 8), (4, 64, 10),
              (1, 129, 3), (2, 250, 12)]
    cases = [random_case(rng, *s, with_bias=i % 3 != 2) for i, s in enumerate(shapes)]
    out = _run_cases(info, cases).files["out.bin"]
    offset = 0
    for i, (x, w, bias, p) in enumerate(cases):
        want = ref.fully_connected(x, w, bias, p)
        got = np.frombuffer(out, np.int8, count=want.size, offset=offset).reshape(want.shape)
        offset += want.size
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{path} case {i} (n, depth, out_c = {shapes[i]}, {p}): {len(bad)} outputs "
                               f"differ, first at {tuple(bad[0])}: got {got[tuple(bad[0])]}, "
                               f"want {want[tuple(bad[0])]}")
    assert offset == len(out)


def test_fc_instructions_per_mac(fc_elf, record_property):
    """A 512 -> 64 layer (32768 MACs), counted twice: identical counts, and the DSP path
    (SMLAD on pairs) costs fewer instructions per MAC than portable C."""
    path, info = fc_elf
    n, depth, out_c = 1, 512, 64
    case = random_case(np.random.default_rng(11), n, depth, out_c)
    runs = [_run_cases(info, [case], count_instructions=True) for _ in range(2)]
    assert runs[0].instructions == runs[1].instructions
    per_mac = runs[0].instructions.regions[1].instructions / (n * depth * out_c)
    record_property(f"fc_s8_{path}_instructions_per_mac", round(per_mac, 3))
    print(f"\narm_fully_connected_s8 [{path}] {n}x{depth}->{out_c}: "
          f"{runs[0].instructions.regions[1].instructions} instructions, {per_mac:.3f} per MAC, "
          f"run {runs[0].wall_s:.2f} s")
    want = ref.fully_connected(*case)
    assert runs[0].files["out.bin"] == want.tobytes()
    # Measured with GCC 12.2 -O2 (QEMU 7.2): 2.49 (dsp), 7.11 (portable). The bounds catch a
    # regression, and the DSP path silently falling back to portable C.
    limit = {"dsp": 3.0, "portable": 8.0}[path]
    assert per_mac < limit, f"{path}: {per_mac:.3f} instructions per MAC, expected < {limit}"
