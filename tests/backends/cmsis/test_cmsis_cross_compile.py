"""The runtime compiles warning-free for the Cortex-M7 (real ACLE DSP intrinsics, not the
emulation) and the DSP kernels really use the SIMD instructions."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from cmsis_ctypes import RUNTIME, WARNINGS

CC = shutil.which("arm-none-eabi-gcc")
M7 = ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]


@pytest.mark.skipif(CC is None, reason="arm-none-eabi-gcc is not installed")
def test_cortex_m7_build_uses_dsp_instructions(tmp_path):
    objects = []
    for src in sorted((RUNTIME / "src").glob("*.c")):
        obj = tmp_path / (src.stem + ".o")
        res = subprocess.run([CC, *WARNINGS, "-O2", *M7, f"-I{RUNTIME / 'include'}", "-c", str(src), "-o", str(obj)],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name} failed for Cortex-M7:\n{res.stderr}"
        objects.append(obj)
    objdump = shutil.which("arm-none-eabi-objdump")
    if objdump is None:
        return
    disasm = {o.stem: subprocess.run([objdump, "-d", str(o)], capture_output=True, text=True).stdout for o in objects}
    assert "smlad" in disasm["mat_mult_s8"] and "sxtab16" in disasm["mat_mult_s8"]
    assert "smlad" in disasm["convolve_s8"] and "sxtb16" in disasm["convolve_s8"]
    assert "smlabb" in disasm["depthwise_conv_s8"] and "smlatt" in disasm["depthwise_conv_s8"]


@pytest.mark.skipif(CC is None, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("opt", ["-O0", "-Og"])
def test_cortex_m7_debug_build_compiles(opt, tmp_path):
    """A debug build (make ARM_CFLAGS=-O0 ...) compiles: at -O0 GCC keeps r7 as the frame pointer,
    so the hand-scheduled asm loops (13 registers) give way to their C loops (TFC_ASM_LOOPS)."""
    for src in sorted((RUNTIME / "src").glob("*.c")):
        res = subprocess.run([CC, *WARNINGS, opt, *M7, f"-I{RUNTIME / 'include'}", "-c", str(src),
                              "-o", str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name} failed for Cortex-M7 at {opt}:\n{res.stderr}"
