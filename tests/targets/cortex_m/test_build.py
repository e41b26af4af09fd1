"""build_elf: target flags, each target's budget enforced at link time, size reports."""
from __future__ import annotations

import pytest

from tfc.errors import BuildError, TargetError
from tfc.targets import Target
from tfc.targets.cortex_m.build import _mpu_rasr, _mpu_rbar_rlar
from tfc.targets.cortex_m.size import parse_size_output

KiB = 1024
TRIVIAL = "int main(void) { return 0; }\n"
BIG_CONST = """
    #include <stdint.h>
    const int8_t table[SIZE] = {1};
    int main(void) { volatile const int8_t *p = table; return p[SIZE - 1]; }
"""
BIG_ARENA = """
    #include <stdint.h>
    int8_t arena[SIZE];
    int main(void) { volatile int8_t *p = arena; p[SIZE - 1] = 1; return p[0]; }
"""


def test_size_report_splits_flash_and_sram(build_c, cortex_m_target):
    info = build_c(TRIVIAL, stack_size=4096, target=cortex_m_target)
    s = info.size
    assert info.path.is_file()
    assert s.flash_sections[".vectors"] == 64 and s.flash_sections[".text"] > 0
    assert s.sram_sections[".heap_and_stack"] == 4096, s.sram_sections
    # totals are extents: the sections plus the alignment gaps between them
    assert 0 <= s.flash_bytes - sum(s.flash_sections.values()) < 64, s
    assert 0 <= s.sram_bytes - sum(s.sram_sections.values()) < 64, s
    assert (s.flash_budget, s.sram_budget) == (cortex_m_target.flash_bytes, cortex_m_target.sram_bytes)
    assert s.flash_bytes < 16 * KiB, f"a trivial program should be small, got {s}"


def test_constants_count_in_flash_and_arrays_in_sram(build_c):
    small = build_c(BIG_CONST, defines={"SIZE": 64}).size
    large = build_c(BIG_CONST, defines={"SIZE": 64 + 100 * KiB}).size
    assert large.flash_bytes - small.flash_bytes == 100 * KiB
    assert large.sram_bytes == small.sram_bytes
    small = build_c(BIG_ARENA, defines={"SIZE": 64}).size
    large = build_c(BIG_ARENA, defines={"SIZE": 64 + 100 * KiB}).size
    assert large.sram_bytes - small.sram_bytes == 100 * KiB
    assert large.flash_bytes == small.flash_bytes


def test_flash_overflow_names_flash_and_the_bytes(build_c, cortex_m_target):
    base = build_c(BIG_CONST, defines={"SIZE": 1024}, target=cortex_m_target).size.flash_bytes
    size = cortex_m_target.flash_bytes         # the whole flash, plus the code: cannot fit
    with pytest.raises(TargetError) as err:
        build_c(BIG_CONST, defines={"SIZE": size}, target=cortex_m_target)
    text = str(err.value)
    assert f"does not fit {cortex_m_target}" in text, text
    want = base - 1024 + size - cortex_m_target.flash_bytes
    assert f"overflows flash by {want} bytes" in text, f"expected {want} bytes over:\n{text}"
    assert "SRAM by" not in text


def test_sram_overflow_names_sram_and_the_bytes(build_c, cortex_m_target):
    base = build_c(BIG_ARENA, defines={"SIZE": 1024}, target=cortex_m_target).size.sram_bytes
    size = cortex_m_target.sram_bytes - 4 * KiB  # fits alone, not with the 8 KiB stack
    with pytest.raises(TargetError) as err:
        build_c(BIG_ARENA, defines={"SIZE": size}, target=cortex_m_target)
    text = str(err.value)
    assert f"does not fit {cortex_m_target}" in text, text
    want = base - 1024 + size - cortex_m_target.sram_bytes
    assert f"overflows SRAM by {want} bytes" in text, f"expected {want} bytes over:\n{text}"
    assert "flash by" not in text


def test_the_stack_counts_against_sram(build_c):
    build_c(BIG_ARENA, defines={"SIZE": 300 * KiB}, stack_size=8 * KiB)
    with pytest.raises(TargetError, match="overflows SRAM"):
        build_c(BIG_ARENA, defines={"SIZE": 300 * KiB}, stack_size=24 * KiB)


def test_warnings_are_errors_and_name_the_file(build_c):
    with pytest.raises(BuildError) as err:
        build_c("int main(void) { int unused; return 0; }\n")
    assert "prog0.c" in str(err.value) and "unused" in str(err.value)


def test_missing_source_and_host_target_are_clear_errors(toolchain, tmp_path):
    from tfc.targets.cortex_m import build_elf
    with pytest.raises(BuildError, match="does not exist"):
        build_elf([tmp_path / "nope.c"], tmp_path / "out")
    (tmp_path / "a.c").write_text(TRIVIAL)
    with pytest.raises(TargetError, match="not 'host'"):
        build_elf([tmp_path / "a.c"], tmp_path / "out", target="host")


def test_include_dirs_and_define_forms(build_c, tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "answer.h").write_text("#define ANSWER (BASE + 2)\n")
    src = '#include "answer.h"\nint main(void) { return ANSWER == 42 && FLAG ? 0 : 1; }\n'
    build_c(src, include_dirs=[inc], defines={"BASE": 40, "FLAG": None})
    build_c(src, include_dirs=[inc], defines=["BASE=40", "FLAG"])


def test_parse_size_output_classifies_by_address():
    text = """program.elf  :
section              size        addr
.vectors               64           0
.text                1884          64
.rodata               288        1948
.data                 100   536870912
.bss                  420   536871012
.heap_and_stack      8192   536871440
.ARM.attributes        46           0
.comment               31           0
.debug_info          5000           0
Total               16025
"""
    s = parse_size_output(text, Target.from_string("cortex-m7"))
    assert s.flash_sections == {".vectors": 64, ".text": 1884, ".rodata": 288, ".data (init)": 100}
    assert s.sram_sections == {".data": 100, ".bss": 420, ".heap_and_stack": 8192}
    assert (s.flash_bytes, s.sram_bytes) == (2336, 8720)     # SRAM: 8 bytes of alignment gap


@pytest.mark.parametrize("size, want", [
    # 320 KiB: a 512 KiB region (SIZE=18) with subregions 5..7 disabled; read-write, never executed
    (320 * KiB, (1 << 28) | (0b011 << 24) | (0b11100000 << 8) | (18 << 1) | 1),
    # 1 MiB flash: one whole 1 MiB region (SIZE=19), read-only
    (1024 * KiB, (0b110 << 24) | (19 << 1) | 1),
])
def test_mpu_region_covers_exactly_the_budget(size, want):
    base = 0x20000000 if size != 1024 * KiB else 0
    assert _mpu_rasr(base, size, writable=size != 1024 * KiB) == want


def test_mpu_region_rejects_sizes_it_cannot_cover():
    with pytest.raises(TargetError, match="MPU cannot cover exactly"):
        _mpu_rasr(0x20000000, 300 * KiB, writable=True)
    with pytest.raises(TargetError, match="base must be a multiple of its size"):
        _mpu_rasr(0x20010000, 320 * KiB, writable=True)


def test_armv8m_mpu_region_is_base_and_inclusive_limit():
    # 512 KiB of SRAM at 0x20000000: RBAR = base | AP=01 (read/write, any privilege) | XN;
    # RLAR = last 32-byte granule 0x2007FFE0 | AttrIndx 0 | EN
    assert _mpu_rbar_rlar(0x20000000, 512 * KiB, writable=True) == (0x20000000 | 0b01 << 1 | 1, 0x2007FFE1)
    # read-only flash, executable: AP=11
    assert _mpu_rbar_rlar(0, 320 * KiB, writable=False) == (0b11 << 1, 0x0004FFE1)
    with pytest.raises(TargetError, match="multiples of 32 bytes"):
        _mpu_rbar_rlar(0x20000010, 1024, writable=True)
