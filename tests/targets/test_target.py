"""Targets as data: the named machines, their budgets, ISA, MPU form and emulator board."""
import dataclasses

import pytest

from tfc.errors import TargetError
from tfc.targets import QemuMachine, Target


def test_cortex_m7_is_the_stm32f746():
    t = Target.from_string("cortex-m7")
    assert (t.flash_bytes, t.sram_bytes) == (1024 * 1024, 320 * 1024)
    assert t.isa == "dsp" and t.fpu == "fpv5-sp-d16" and t.mpu == "armv7m"
    assert t.cflags == ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")
    assert t.qemu == QemuMachine("mps2-an500", "cortex-m7")
    assert "STM32F746" in t.description


def test_other_targets():
    m4 = Target.from_string("Cortex-M4")
    assert (m4.flash_bytes, m4.sram_bytes) == (1024 * 1024, 192 * 1024) and "-mfpu=fpv4-sp-d16" in m4.cflags
    assert m4.qemu.args == ("-M", "mps2-an386", "-cpu", "cortex-m4")
    host = Target.from_string("host")
    assert host.cc == "gcc" and host.sram_bytes > 100 * 1024 * 1024 and not host.is_embedded
    assert host.isa == "scalar" and not host.is_emulated and host.mpu is None
    assert Target.from_string(host) is host


def test_targets_are_frozen_and_validated():
    t = Target.from_string("cortex-m7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.sram_bytes = 1
    with pytest.raises(TargetError, match="sram_bytes must be a positive integer"):
        dataclasses.replace(t, sram_bytes=0)
    with pytest.raises(TargetError, match="isa 'neon' is not one of scalar, dsp, mve"):
        dataclasses.replace(t, isa="neon")
    with pytest.raises(TargetError, match="mpu 'pmsav6' is not one of armv7m, armv8m"):
        dataclasses.replace(t, mpu="pmsav6")
    with pytest.raises(TargetError, match="flash and SRAM regions overlap"):
        dataclasses.replace(t, sram_origin=0x80000)


def test_the_cortex_m55_is_a_dsp_build_on_the_an547():
    m55 = Target.from_string("cortex-m55")
    assert m55.isa == "dsp" and "-mcpu=cortex-m55+nomve" in m55.cflags   # no MVE until MVE kernels exist
    assert m55.mpu == "armv8m" and m55.qemu == QemuMachine("mps3-an547", "cortex-m55")
    # QEMU's mps3-an547: 512 KiB ITCM at 0x0 (flash), 512 KiB DTCM at 0x20000000 (SRAM)
    assert (m55.flash_origin, m55.flash_bytes, m55.sram_origin, m55.sram_bytes) == (
        0, 512 * 1024, 0x20000000, 512 * 1024)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError) as e:
        Target.from_string("cortex-m99")
    assert "unknown target 'cortex-m99'" in str(e.value) and "cortex-m7, cortex-m4" in str(e.value)
