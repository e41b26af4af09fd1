"""Scratch-buffer sizes of the CMSIS-NN kernels, by the rules of CMSIS-NN's *_get_buffer_size.

The generated code sizes each kernel's cmsis_nn_context at compile time, for the build it will
run: "dsp" is a build for a core with the DSP extension (__ARM_FEATURE_DSP, no MVE: Cortex-M4/M7,
and the Cortex-M55 built with +nomve; also tfc's host build with TFC_EMULATE_DSP), "portable" a
plain-C build (the host). build_for_isa maps a target's ISA to one. tfc's own runtime returns the same
numbers from its C functions, so a project can link either library with one arena layout.
"""
from __future__ import annotations

from tfc.errors import TargetError

BUILDS = ("portable", "dsp")
COMPILERS = ("gcc", "armclang")


def _check(build: str, compiler: str = "gcc") -> None:
    if build not in BUILDS:
        raise TargetError(f"unknown kernel build {build!r}", hint=f"expected one of {BUILDS}")
    if compiler not in COMPILERS:
        raise TargetError(f"unknown compiler {compiler!r}", hint=f"expected one of {COMPILERS}")


# The scratch rules per instruction set (tfc.targets.ISAS): a DSP core runs CMSIS-NN's DSP
# paths; plain C (the host) its portable ones. MVE kernels and their rules do not exist yet.
_BUILD_FOR_ISA = {"dsp": "dsp", "scalar": "portable"}


def build_for_isa(isa: str) -> str:
    """The kernel build (the scratch-size rules) for a target's instruction set."""
    try:
        return _BUILD_FOR_ISA[isa]
    except KeyError:
        raise TargetError(f"no CMSIS-NN scratch rules for the {isa!r} instruction set",
                          hint=f"tfc has kernels for {', '.join(_BUILD_FOR_ISA)}; an MVE core builds "
                               "its DSP kernels until MVE kernels exist (a target with isa='dsp')") from None


def convolve_s8(input_c: int, kernel_h: int, kernel_w: int, build: str = "dsp") -> int:
    """arm_convolve_s8_get_buffer_size: two int16 im2col columns, each padded to 4 values
    (the same for every non-MVE build)."""
    _check(build)
    rhs_cols = kernel_h * kernel_w * input_c
    aligned = (rhs_cols + 3) // 4 * 4
    return 2 * aligned * 2


def convolve_1x1_s8_fast(input_c: int, build: str = "dsp", compiler: str = "gcc") -> int:
    """arm_convolve_1x1_s8_fast_get_buffer_size: CMSIS-NN asks for 2 * C_IN int16 only when
    Arm Compiler 6 builds for a DSP core; gcc builds and plain C need none."""
    _check(build, compiler)
    if build == "dsp" and compiler == "armclang":
        return 2 * input_c * 2
    return 0


def depthwise_conv_s8(build: str = "dsp") -> int:
    """arm_depthwise_conv_s8 needs no scratch buffer."""
    _check(build)
    return 0


def depthwise_conv_s8_opt(input_c: int, kernel_h: int, kernel_w: int, build: str = "dsp") -> int:
    """arm_depthwise_conv_s8_opt_get_buffer_size: one int16 patch of all channels on DSP."""
    _check(build)
    return input_c * kernel_h * kernel_w * 2 if build == "dsp" else 0


def depthwise_conv_wrapper_s8(input_n: int, input_c: int, output_c: int, kernel_h: int, kernel_w: int,
                              padding: tuple[int, int], dilation: tuple[int, int],
                              build: str = "dsp") -> int:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size: the wrapper picks the 3x3 kernel (no
    buffer) or the _opt kernel (its buffer) for ch_mult 1, batch 1, no dilation."""
    _check(build)
    if input_c != output_c or input_n != 1 or tuple(dilation) != (1, 1):
        return 0
    if kernel_h == 3 and kernel_w == 3 and padding[0] <= 1 and padding[1] <= 1:
        return 0
    return depthwise_conv_s8_opt(input_c, kernel_h, kernel_w, build)


def fully_connected_s8(output_c: int, build: str = "dsp") -> int:
    """arm_fully_connected_s8_get_buffer_size: kernel sums only on MVE, so 0 here."""
    _check(build)
    return 0


def batch_matmul_s8(build: str = "dsp") -> int:
    """arm_batch_matmul_s8 uses a buffer only on MVE."""
    _check(build)
    return 0


def avgpool_s8(output_w: int, input_c: int, build: str = "dsp") -> int:
    """arm_avgpool_s8_get_buffer_size: one int32 sum per channel on DSP builds."""
    _check(build)
    return input_c * 4 if build == "dsp" else 0


def max_pool_s8(build: str = "dsp") -> int:
    """arm_max_pool_s8 needs no scratch buffer."""
    _check(build)
    return 0
