/* Start-up for tfc programs on a Cortex-M (an emulated QEMU board, or a real one).
 *
 * Reset: enable the FPU, copy .data from flash, zero .bss, paint the stack, restrict memory to
 * the target's flash/SRAM budget with the MPU, then exit(main(argc, argv)). The exit path writes
 * the stack high-water mark to a host file (TFC_STATS_FILE) and ends the emulator with main's
 * return code (SYS_EXIT_EXTENDED). Any fault (or an exception nothing here expects) prints its
 * registers and ends with TFC_FAULT_EXIT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semihost.h"
#include "tfc_target.h"

#ifndef TFC_STATS_FILE
#error "build with -DTFC_STATS_FILE=\"<name>\" (tfc.targets.cortex_m.build does)"
#endif
#ifndef TFC_FAULT_EXIT
#define TFC_FAULT_EXIT 0xFA
#endif

#define STACK_PAINT 0xC5A5A5C5u
#define REG32(addr) (*(volatile uint32_t *)(addr))
#define SCB_CPACR 0xE000ED88u
#define SCB_CFSR 0xE000ED28u
#define SCB_HFSR 0xE000ED2Cu
#define SCB_MMFAR 0xE000ED34u
#define SCB_BFAR 0xE000ED38u
#define MPU_CTRL 0xE000ED94u
#define MPU_RNR 0xE000ED98u
#define MPU_RBAR 0xE000ED9Cu
#define MPU_RASR 0xE000EDA0u /* Armv7-M; MPU_RLAR on Armv8-M */
#define MPU_MAIR0 0xE000EDC0u

/* From the linker script. */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __StackLimit[], __StackTop[];

int main(int argc, char **argv);
void tfc_reset_handler(void);
void tfc_fault_handler(void);
void tfc_fault_report(const uint32_t *frame, uint32_t exc_return);
void _exit(int code);

__attribute__((section(".vectors"), used)) const void *const tfc_vectors[16] = {
    __StackTop,            /* initial SP */
    tfc_reset_handler,
    tfc_fault_handler,     /* NMI */
    tfc_fault_handler,     /* HardFault */
    tfc_fault_handler,     /* MemManage */
    tfc_fault_handler,     /* BusFault */
    tfc_fault_handler,     /* UsageFault */
#if __ARM_ARCH >= 8
    tfc_fault_handler,     /* SecureFault (Armv8-M Security Extension) */
#else
    0,
#endif
    0, 0, 0,
    tfc_fault_handler,     /* SVCall: nothing here uses it */
    tfc_fault_handler,     /* DebugMonitor */
    0,
    tfc_fault_handler,     /* PendSV */
    tfc_fault_handler,     /* SysTick */
};

/* One MPU region: its number, base register and the register after it (MPU_RASR on Armv7-M,
 * MPU_RLAR on Armv8-M: the same address). */
static inline void mpu_region(uint32_t number, uint32_t rbar, uint32_t rasr_or_rlar)
{
    REG32(MPU_RNR) = number;
    REG32(MPU_RBAR) = rbar;
    REG32(MPU_RASR) = rasr_or_rlar;
}

static void enable_mpu(void)
{
    /* Only the budget is mapped (PRIVDEFENA = 0): a load or store past the target's flash or
     * SRAM faults, although the emulated board has more memory there. Flash is read-only and
     * SRAM never executable, as a stray write to constants or a jump into data should fault.
     * tfc.targets.cortex_m.build computes the register values in the target's MPU form. */
#if defined(TFC_MPU_FLASH_RLAR) && defined(TFC_MPU_SRAM_RLAR)
    /* Armv8-M: each region is a base (RBAR, with its access bits) and an inclusive limit
     * (RLAR), both 32-byte granular; region attributes come from MAIR0 index 0. */
    REG32(MPU_MAIR0) = 0xFFu; /* Normal memory, write-back, read/write-allocate */
    mpu_region(0, TFC_MPU_FLASH_RBAR, TFC_MPU_FLASH_RLAR);
    mpu_region(1, TFC_MPU_SRAM_RBAR, TFC_MPU_SRAM_RLAR);
#elif defined(TFC_MPU_FLASH_RASR) && defined(TFC_MPU_SRAM_RASR)
    /* Armv7-M: a power-of-two region at the base (RBAR); size, subregions and access in RASR. */
    mpu_region(0, TFC_MPU_FLASH_RBAR, TFC_MPU_FLASH_RASR);
    mpu_region(1, TFC_MPU_SRAM_RBAR, TFC_MPU_SRAM_RASR);
#else
    return;
#endif
    REG32(MPU_CTRL) = 1u;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

static int parse_cmdline(char *line, char **argv, int max_args)
{
    int argc = 0;
    char *p = line;
    while (*p && argc < max_args - 1) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        argv[argc++] = p;
        while (*p && *p != ' ') {
            p++;
        }
    }
    argv[argc] = NULL;
    return argc;
}

__attribute__((noreturn, used)) void tfc_reset_handler(void)
{
    /* Full access to CP10/CP11 before any floating-point instruction can run. */
    REG32(SCB_CPACR) |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
    /* Paint the stack below this frame so the exit path can find the deepest use. */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __StackLimit; p < sp - 16;) {
        *p++ = STACK_PAINT;
    }
    enable_mpu();

    static char cmdline[256];
    static char *argv[16];
    uint32_t block[2] = {(uint32_t)cmdline, sizeof cmdline};
    int argc = 0;
    if (semihost_call(SH_GET_CMDLINE, block) == 0) {
        argc = parse_cmdline(cmdline, argv, 16);
    }
    exit(main(argc, argv));
}

size_t tfc_stack_peak(void)
{
    const uint32_t *p = __StackLimit;
    while (p < __StackTop && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((const char *)__StackTop - (const char *)p);
}

/* ---- the exit path: stats for the host, then the exit code ---- */

static char *append_text(char *out, const char *text)
{
    while (*text) {
        *out++ = *text++;
    }
    return out;
}

static char *append_uint(char *out, uint32_t value, int base)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % (uint32_t)base];
        value /= (uint32_t)base;
    } while (value);
    while (n) {
        *out++ = digits[--n];
    }
    return out;
}

static void write_stats(const char *text, size_t n)
{
    int32_t h = semihost_open(TFC_STATS_FILE, SH_MODE_AB);
    if (h >= 0) {
        semihost_write(h, text, (uint32_t)n);
        semihost_close(h);
    }
}

void _exit(int code)
{
    char text[96];
    char *p = append_text(text, "stack_peak ");
    p = append_uint(p, (uint32_t)tfc_stack_peak(), 10);
    p = append_text(p, "\nstack_size ");
    p = append_uint(p, (uint32_t)((char *)__StackTop - (char *)__StackLimit), 10);
    p = append_text(p, "\nexit ");
    p = append_uint(p, (uint32_t)code, 10);
    p = append_text(p, "\n");
    write_stats(text, (size_t)(p - text));
    semihost_exit(code);
}

/* ---- faults ---- */

__attribute__((naked)) void tfc_fault_handler(void)
{
    /* The exception frame is on whichever stack was active: EXC_RETURN bit 2 says which. */
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mov r1, lr\n\t"
        "b tfc_fault_report\n\t");
}

void tfc_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    static const char *const names[] = {"r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr"};
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    char text[512];
    char *p = append_text(text, "fault exception ");
    p = append_uint(p, ipsr & 0x1FFu, 10);
    for (int i = 0; i < 8; i++) {
        p = append_text(p, "\nfault ");
        p = append_text(p, names[i]);
        p = append_text(p, " 0x");
        p = append_uint(p, frame[i], 16);
    }
    const uint32_t regs[] = {REG32(SCB_CFSR), REG32(SCB_HFSR), REG32(SCB_MMFAR), REG32(SCB_BFAR),
                             exc_return, (uint32_t)frame};
    static const char *const reg_names[] = {"cfsr", "hfsr", "mmfar", "bfar", "exc_return", "sp"};
    for (int i = 0; i < 6; i++) {
        p = append_text(p, "\nfault ");
        p = append_text(p, reg_names[i]);
        p = append_text(p, " 0x");
        p = append_uint(p, regs[i], 16);
    }
    p = append_text(p, "\n");
    *p = '\0';
    semihost_puts("\n*** tfc: the program faulted\n");
    semihost_puts(text);
    write_stats(text, (size_t)(p - text));
    semihost_exit(TFC_FAULT_EXIT);
}

/* ---- whole-file host I/O ---- */

long tfc_read_file(const char *path, void *buf, size_t capacity)
{
    int32_t h = semihost_open(path, SH_MODE_RB);
    if (h < 0) {
        return -1;
    }
    long n = (long)capacity - semihost_read(h, buf, (uint32_t)capacity);
    semihost_close(h);
    return n;
}

int tfc_write_file(const char *path, const void *buf, size_t n)
{
    int32_t h = semihost_open(path, SH_MODE_WB);
    if (h < 0) {
        return -1;
    }
    int32_t left = semihost_write(h, buf, (uint32_t)n);
    semihost_close(h);
    return left == 0 ? 0 : -1;
}
