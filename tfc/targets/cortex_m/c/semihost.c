/* Arm semihosting calls: host file I/O, console output and exit. */
#include "semihost.h"

#include <string.h>

int32_t semihost_open(const char *path, int32_t mode)
{
    uint32_t block[3] = {(uint32_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return semihost_call(SH_OPEN, block);
}

int32_t semihost_close(int32_t handle)
{
    uint32_t block[1] = {(uint32_t)handle};
    return semihost_call(SH_CLOSE, block);
}

int32_t semihost_write(int32_t handle, const void *buf, uint32_t n)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)buf, n};
    return semihost_call(SH_WRITE, block);
}

int32_t semihost_read(int32_t handle, void *buf, uint32_t n)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)buf, n};
    return semihost_call(SH_READ, block);
}

void semihost_puts(const char *text)
{
    semihost_call(SH_WRITE0, text);
}

void semihost_exit(int32_t code)
{
    /* ADP_Stopped_ApplicationExit with a status word: SYS_EXIT alone cannot carry the code on
     * 32-bit Arm. */
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    for (;;) {
        semihost_call(SH_EXIT_EXTENDED, block);
    }
}
