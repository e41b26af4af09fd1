"""Targets: the named machines and their budgets."""
import dataclasses

import pytest

from tfc.errors import TargetError
from tfc.targets import Target


def test_cortex_m7_is_the_stm32f746():
    t = Target.from_string("cortex-m7")
    assert (t.flash_bytes, t.sram_bytes) == (1024 * 1024, 320 * 1024)
    assert t.has_dsp and t.fpu == "fpv5-sp-d16"
    assert t.cflags == ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")
    assert "STM32F746" in t.description


def test_other_targets():
    m4 = Target.from_string("Cortex-M4")
    assert (m4.flash_bytes, m4.sram_bytes) == (1024 * 1024, 192 * 1024) and "-mfpu=fpv4-sp-d16" in m4.cflags
    host = Target.from_string("host")
    assert host.cc == "gcc" and host.sram_bytes > 100 * 1024 * 1024 and not host.is_embedded
    assert Target.from_string(host) is host


def test_targets_are_frozen_and_validated():
    t = Target.from_string("cortex-m7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.sram_bytes = 1
    with pytest.raises(TargetError, match="sram_bytes must be a positive integer"):
        dataclasses.replace(t, sram_bytes=0)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError) as e:
        Target.from_string("cortex-m99")
    assert "unknown target 'cortex-m99'" in str(e.value) and "cortex-m7, cortex-m4, host" in str(e.value)
