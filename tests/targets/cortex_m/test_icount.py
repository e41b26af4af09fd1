"""Instruction counts between TFC_REGION markers: exact for code whose instruction count is
known, and identical from run to run."""
from __future__ import annotations

import pytest

from tfc.errors import BuildError
from tfc.targets.cortex_m import run_elf
from tfc.targets.cortex_m.icount import RegionCount, parse_counts

# Region 1 runs a hand-written loop: one MOV, then SUBS + BNE per iteration = 1 + 2 * LOOPS.
# Region 2 is empty. Region 3 runs the loop REPEATS times (counts add up, entries counted).
# Region 4 wraps region 5 (nesting: the outer count includes the inner code and its markers).
LOOP_PROGRAM = """
    #include "tfc_target.h"
    #define SPIN(n) __asm__ volatile("mov r0, %0\\n1: subs r0, r0, #1\\n bne 1b" : : "i"(n) : "r0", "cc")
    int main(void) {
        TFC_REGION_BEGIN(1);
        SPIN(LOOPS);
        TFC_REGION_END(1);
        TFC_REGION_BEGIN(2);
        TFC_REGION_END(2);
        for (volatile int k = 0; k < REPEATS; k++) {
            TFC_REGION_BEGIN(3);
            SPIN(10);
            TFC_REGION_END(3);
        }
        TFC_REGION_BEGIN(4);
        SPIN(5);
        TFC_REGION_BEGIN(65535);
        SPIN(7);
        TFC_REGION_END(65535);
        TFC_REGION_END(4);
        return 0;
    }
"""


@pytest.mark.parametrize("loops", [1, 5000])
def test_counts_of_a_known_loop_are_exact(build_c, cortex_m_target, qemu_plugins, loops):
    info = build_c(LOOP_PROGRAM, defines={"LOOPS": loops, "REPEATS": 3}, target=cortex_m_target)
    counts = run_elf(info, count_instructions=True, timeout=30).instructions
    want = {
        1: RegionCount(1 + 2 * loops, 1),
        2: RegionCount(0, 1),
        3: RegionCount(3 * (1 + 2 * 10), 3),
        # inner loop + outer loop + the inner region's 4 marker instructions
        4: RegionCount((1 + 2 * 5) + (1 + 2 * 7) + 4, 1),
        65535: RegionCount(1 + 2 * 7, 1),
    }
    assert counts.regions == want, f"got {counts.regions}\nwant {want}"
    assert counts.total > sum(r.instructions for r in want.values())


def test_counts_are_identical_across_runs(build_c, qemu_plugins):
    src = """
        #include <stdio.h>
        #include "tfc_target.h"
        int main(void) {
            float acc = 0.0f;
            TFC_REGION_BEGIN(9);
            for (int i = 1; i < 500; i++) acc += 1.0f / (float)i;
            printf("%d\\n", (int)(acc * 1000.0f));
            TFC_REGION_END(9);
            return 0;
        }
    """
    info = build_c(src)
    first, second = (run_elf(info, count_instructions=True, timeout=30) for _ in range(2))
    assert first.stdout == second.stdout == b"6790\n"     # float32 harmonic sum H(499)
    assert first.instructions == second.instructions, f"{first.instructions} != {second.instructions}"
    assert first.instructions.regions[9].instructions > 500 * 3


def test_a_marker_just_before_a_page_boundary_is_seen(build_c, qemu_plugins):
    # QEMU 7.2 appends its look-ahead halfword to an instruction ending 2 bytes before a 1 KiB page
    # boundary (the plugin then sees 6 bytes for the MOVW). Here the begin marker's MOVW sits at
    # page + 0x3FA, one 16-bit NOP at 0x3FE, the end marker on the next page.
    src = """
        int main(void) {
            __asm__ volatile(".balign 1024\\n.rept 507\\nnop\\n.endr\\n"
                             "dbg #14\\nmovw r12, #7\\n"
                             "nop\\n"
                             "dbg #13\\nmovw r12, #7\\n" : : : "r12", "memory");
            return 0;
        }
    """
    counts = run_elf(build_c(src), count_instructions=True, timeout=30).instructions
    assert counts.regions == {7: RegionCount(1, 1)}, f"got {counts.regions}, want region 7: 1 instruction, entered once"


def test_counting_is_off_unless_asked(build_c, qemu):
    result = run_elf(build_c("int main(void) { return 0; }\n"), timeout=30)
    assert result.instructions is None


def test_unpaired_markers_are_an_error(build_c, qemu_plugins):
    src = """
        #include "tfc_target.h"
        int main(void) { TFC_REGION_END(3); TFC_REGION_BEGIN(4); return 0; }
    """
    with pytest.raises(BuildError) as err:
        run_elf(build_c(src), count_instructions=True, timeout=30)
    text = str(err.value)
    assert "ended without beginning: 3" in text and "never ended: 4" in text, text


def test_parse_counts():
    counts = parse_counts("total 1234\nregion 7 100 2\nregion 65535 0 1\n")
    assert counts.total == 1234
    assert counts.regions == {7: RegionCount(100, 2), 65535: RegionCount(0, 1)}
    with pytest.raises(BuildError, match="no total"):
        parse_counts("")
