"""run_elf on the targets' QEMU boards: exit codes, console and file I/O, and the failures a
program can have (hang, fault, stack overflow) reported as errors. Tests that depend on the
core, its board or its MPU take `cortex_m_target` and run once per emulated target."""
from __future__ import annotations

import dataclasses

import pytest

from tfc.errors import BuildError, TargetError
from tfc.targets import TARGETS, Target
from tfc.targets.cortex_m import run_elf

HELLO = """
    #include <stdio.h>
    int main(int argc, char **argv) {
        printf("hello from " TARGET ", argc=%d", argc);
        for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
        printf("\\n");
        return 42;
    }
"""


def _hello(build_c, target="cortex-m7"):
    return build_c(HELLO, defines={"TARGET": f'"{target}"'}, target=target)


def test_hello_prints_and_returns_its_exit_code(build_c, cortex_m_target, qemu):
    result = run_elf(_hello(build_c, cortex_m_target.name), args=["alpha", "beta"], timeout=30)
    assert result.exit_code == 42
    assert result.stdout == f"hello from {cortex_m_target}, argc=3 alpha beta\n".encode(), result.stdout
    assert result.files == {}
    assert 0 < result.stack_peak < result.stack_size


def test_exit_from_a_nested_call_and_negative_codes(build_c, qemu):
    src = """
        #include <stdlib.h>
        static void give_up(int code) { exit(code); }
        int main(int argc, char **argv) { (void)argv; if (argc > 1) give_up(-7); return 0; }
    """
    info = build_c(src)
    assert run_elf(info, args=["x"], timeout=30).exit_code == -7
    assert run_elf(info, timeout=30).exit_code == 0


def test_file_round_trip_many_inputs_in_one_run(build_c, qemu):
    """The program inverts every input file's bytes into out<i>.bin (whole-file helpers) and
    logs the sizes through stdio's fopen/fprintf."""
    src = """
        #include <stdio.h>
        #include "tfc_target.h"
        static unsigned char buf[4096];
        int main(int argc, char **argv) {
            FILE *log = fopen("log.txt", "w");
            if (!log) return 2;
            for (int i = 1; i < argc; i++) {
                long n = tfc_read_file(argv[i], buf, sizeof buf);
                if (n < 0) return 3;
                for (long k = 0; k < n; k++) buf[k] = (unsigned char)~buf[k];
                char name[32];
                snprintf(name, sizeof name, "out%d.bin", i);
                if (tfc_write_file(name, buf, (size_t)n) != 0) return 4;
                fprintf(log, "%s %ld\\n", argv[i], n);
            }
            fclose(log);
            return tfc_read_file("does-not-exist.bin", buf, 1) == -1 ? 0 : 5;
        }
    """
    inputs = {f"in{i}.bin": bytes((i * 37 + k) % 256 for k in range(100 * i + 1)) for i in range(1, 4)}
    result = run_elf(build_c(src), args=list(inputs), files=inputs, timeout=30)
    assert result.exit_code == 0, result.stdout
    for i, data in enumerate(inputs.values(), start=1):
        got, want = result.files[f"out{i}.bin"], bytes(255 - b for b in data)
        assert got == want, f"out{i}.bin: {len(got)} bytes, first difference at " \
                            f"{next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), None)}"
    assert result.files["log.txt"] == b"in1.bin 101\nin2.bin 201\nin3.bin 301\n"
    assert set(result.files) == {"out1.bin", "out2.bin", "out3.bin", "log.txt"}


def test_files_can_come_from_host_paths_and_run_dir_is_kept(build_c, qemu, tmp_path):
    src = """
        #include "tfc_target.h"
        int main(void) {
            static char buf[64];
            long n = tfc_read_file("data/in.txt", buf, sizeof buf);
            return n < 0 ? 1 : tfc_write_file("copy.txt", buf, (size_t)n);
        }
    """
    host_file = tmp_path / "source.txt"
    host_file.write_bytes(b"from a host path\n")
    run_dir = tmp_path / "run"
    result = run_elf(build_c(src), files={"data/in.txt": host_file}, run_dir=run_dir, timeout=30)
    assert result.exit_code == 0
    assert result.files == {"copy.txt": b"from a host path\n"}
    assert (run_dir / "copy.txt").read_bytes() == b"from a host path\n"


def test_floating_point_runs_on_the_fpu(build_c, cortex_m_target, qemu):
    src = """
        int main(void) {
            volatile float x = 1.5f;
            float acc = 0.0f;
            for (int i = 0; i < 10; i++) acc = acc * x + 0.25f;
            return (int)(acc * 100.0f) % 256;
        }
    """
    acc = 0.0
    for _ in range(10):
        acc = acc * 1.5 + 0.25
    assert run_elf(build_c(src, target=cortex_m_target), timeout=30).exit_code == int(acc * 100) % 256


def test_a_hang_is_a_timeout_error(build_c, qemu):
    src = "int main(void) { for (;;) { __asm__ volatile(\"nop\"); } }\n"
    with pytest.raises(BuildError, match=r"did not finish within 1 s"):
        run_elf(build_c(src), timeout=1)


def test_access_past_the_sram_budget_faults(build_c, cortex_m_target, qemu):
    """The last word of the SRAM budget is writable, the next one faults (the MPU, in the
    target's form: QEMU's boards have RAM there, or nothing), and the report names the address."""
    end = cortex_m_target.sram_origin + cortex_m_target.sram_bytes
    src = f"""
        #include <stdio.h>
        #include <stdint.h>
        int main(int argc, char **argv) {{
            (void)argv;
            printf("before\\n");
            volatile uint32_t *last = (uint32_t *)0x{end - 4:08X}u;
            *last = 3;
            if (argc > 1) last[1] = 1;      /* one word past the budget */
            return (int)*last;
        }}
    """
    info = build_c(src, target=cortex_m_target)
    assert run_elf(info, timeout=30).exit_code == 3
    with pytest.raises(BuildError) as err:
        run_elf(info, args=["past"], timeout=30)
    text = str(err.value)
    assert "faulted" in text and "DACCVIOL" in text and f"0x{end:x}" in text, text
    assert "before" in text


def test_flash_is_read_only_and_sram_never_executes(build_c, cortex_m_target, qemu):
    """The MPU's other two rules, in either form: a store to the flash region faults (on QEMU it is
    RAM), and so does a jump into SRAM."""
    src = """
        #include <stdint.h>
        const uint32_t table[4] = {1, 2, 3, 4};           /* .rodata, in flash */
        uint16_t code[2] = {0x2007, 0x4770};              /* movs r0, #7; bx lr, in SRAM */
        int main(int argc, char **argv) {
            (void)argv;
            volatile uint32_t *entry = (volatile uint32_t *)&table[1];
            if (argc == 2) *entry = 5;
            if (argc == 3) return ((int (*)(void))((uintptr_t)code | 1))();
            return (int)*entry;
        }
    """
    info = build_c(src, target=cortex_m_target)
    assert run_elf(info, timeout=30).exit_code == 2
    with pytest.raises(BuildError, match="DACCVIOL"):
        run_elf(info, args=["store"], timeout=30)
    with pytest.raises(BuildError, match="IACCVIOL"):
        run_elf(info, args=["jump", "x"], timeout=30)
    # it is the MPU: without it the emulated board's flash is plain RAM
    assert run_elf(build_c(src, target=cortex_m_target, mpu=False), args=["store"], timeout=30).exit_code == 5


def test_undefined_instruction_faults(build_c, cortex_m_target, qemu):
    with pytest.raises(BuildError, match="UNDEFINSTR"):
        run_elf(build_c('int main(void) { __asm__ volatile("udf #7"); return 0; }\n', target=cortex_m_target),
                timeout=30)


def test_without_mpu_the_board_memory_is_reachable(build_c, qemu):
    src = """
        #include <stdint.h>
        int main(void) {
            volatile uint32_t *past_sram = (uint32_t *)(0x20000000u + 320u * 1024u);
            *past_sram = 5;
            return (int)*past_sram;
        }
    """
    assert run_elf(build_c(src, mpu=False), timeout=30).exit_code == 5


def test_stack_peak_is_measured(build_c, qemu):
    src = """
        __attribute__((noinline)) static int deep(void) {
            volatile char frame[3000];
            for (int i = 0; i < 3000; i++) frame[i] = 1;
            return frame[17];
        }
        int main(void) { return deep() - 1; }
    """
    result = run_elf(build_c(src), timeout=30)
    assert result.exit_code == 0
    assert 3000 <= result.stack_peak < 3300, result.stack_peak


def test_stack_overflow_is_a_target_error(build_c, qemu):
    src = """
        __attribute__((noinline)) static int deep(void) {
            volatile char frame[3000];
            for (int i = 0; i < 3000; i++) frame[i] = 1;
            return frame[17];
        }
        int main(void) { return deep() - 1; }
    """
    with pytest.raises(TargetError, match="overflowed its 2048-byte stack"):
        run_elf(build_c(src, stack_size=2048), timeout=30)


def test_arguments_startup_cannot_take_are_rejected(build_c, qemu):
    info = _hello(build_c)
    with pytest.raises(BuildError, match="whitespace"):
        run_elf(info, args=["two words"])
    with pytest.raises(BuildError, match="command line is too long"):
        run_elf(info, args=["x" * 300])
    with pytest.raises(BuildError, match="command line is too long"):
        run_elf(info, args=["a"] * 16)
    # the longest command line it takes arrives whole
    arg = "y" * (255 - len(info.path.stem) - 1)
    assert run_elf(info, args=[arg], timeout=30).stdout.endswith(arg.encode() + b"\n")


def test_a_new_target_is_one_entry(build_c, qemu, monkeypatch):
    """A board tfc does not know (an STM32F722: Cortex-M7, 512 KiB flash, 256 KiB SRAM) is one
    entry in TARGETS: it builds with its budget, runs on its QEMU board under its MPU rules."""
    m7 = Target.from_string("cortex-m7")
    board = dataclasses.replace(m7, name="stm32f722", description="STM32F722: 512 KiB flash, 256 KiB SRAM",
                                flash_bytes=512 * 1024, sram_bytes=256 * 1024)
    monkeypatch.setitem(TARGETS, board.name, board)
    src = """
        #include <stdint.h>
        int main(int argc, char **argv) {
            (void)argv;
            volatile uint32_t *last = (uint32_t *)(0x20000000u + 256u * 1024u - 4u);
            *last = 3;
            if (argc > 1) last[1] = 1;
            return (int)*last;
        }
    """
    info = build_c(src, target="stm32f722")
    assert (info.size.flash_budget, info.size.sram_budget) == (512 * 1024, 256 * 1024)
    assert run_elf(info, timeout=30).exit_code == 3
    with pytest.raises(BuildError, match="0x20040000"):
        run_elf(info, args=["past"], timeout=30)


def test_missing_tools_name_their_debian_package(monkeypatch):
    from tfc.targets.cortex_m import tools
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    assert tools.missing_tools("qemu-system-arm") == ["qemu-system-arm (Debian package qemu-system-arm)"]
    with pytest.raises(BuildError, match="gcc-arm-none-eabi"):
        tools.find_tool("arm-none-eabi-gcc")
