/* Arm semihosting calls (the `bkpt 0xab` interface QEMU implements), used by startup.c and
 * syscalls.c. Internal to tfc's target support; programs use tfc_target.h or stdio. */
#ifndef TFC_SEMIHOST_H
#define TFC_SEMIHOST_H

#include <stdint.h>

enum {
    SH_OPEN = 0x01, SH_CLOSE = 0x02, SH_WRITE0 = 0x04, SH_WRITE = 0x05, SH_READ = 0x06,
    SH_ISTTY = 0x09, SH_SEEK = 0x0A, SH_FLEN = 0x0C, SH_ERRNO = 0x13, SH_GET_CMDLINE = 0x15,
    SH_EXIT_EXTENDED = 0x20,
};

/* SYS_OPEN modes (ISO C fopen modes in the order the semihosting spec numbers them). */
enum { SH_MODE_R = 0, SH_MODE_RB = 1, SH_MODE_RPB = 3, SH_MODE_W = 4, SH_MODE_WB = 5,
       SH_MODE_WPB = 7, SH_MODE_AB = 9, SH_MODE_APB = 11 };

static inline int32_t semihost_call(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Opens a host file (or ":tt", the console); returns a handle or -1. */
int32_t semihost_open(const char *path, int32_t mode);
int32_t semihost_close(int32_t handle);
/* Both return the number of bytes NOT transferred, as the semihosting spec does. */
int32_t semihost_write(int32_t handle, const void *buf, uint32_t n);
int32_t semihost_read(int32_t handle, void *buf, uint32_t n);
void semihost_puts(const char *text);
void semihost_exit(int32_t code) __attribute__((noreturn));

#endif
