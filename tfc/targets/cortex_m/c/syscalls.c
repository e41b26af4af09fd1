/* newlib's system calls on semihosting, so stdio (printf, fopen, fread, ...) works on the target.
 * stdin/stdout/stderr are the emulator's console; other descriptors are host files. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "semihost.h"

#define MAX_FILES 16

/* Descriptor -> semihosting handle + 1 (0: closed). 0/1/2 are opened on first use. */
static int32_t handles[MAX_FILES];
/* SYS_SEEK only sets an absolute position, so the current one is tracked here (for ftell). */
static int32_t positions[MAX_FILES];

int _open(const char *path, int flags, ...);
int _close(int fd);
int _read(int fd, char *buf, int n);
int _write(int fd, const char *buf, int n);
int _lseek(int fd, int offset, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _kill(int pid, int sig);
int _getpid(void);
void *_sbrk(ptrdiff_t increment);

static int32_t handle_of(int fd)
{
    if (fd < 0 || fd >= MAX_FILES) {
        return -1;
    }
    if (handles[fd] == 0 && fd <= 2) {
        handles[fd] = semihost_open(":tt", fd == 0 ? SH_MODE_R : SH_MODE_W) + 1;
    }
    return handles[fd] - 1;
}

static int32_t semihost_mode(int flags)
{
    int access = flags & O_ACCMODE;
    if (flags & O_APPEND) {
        return access == O_RDWR ? SH_MODE_APB : SH_MODE_AB;
    }
    if (flags & (O_CREAT | O_TRUNC)) {
        return access == O_RDWR ? SH_MODE_WPB : SH_MODE_WB;
    }
    return access == O_RDWR ? SH_MODE_RPB : SH_MODE_RB;
}

int _open(const char *path, int flags, ...)
{
    for (int fd = 3; fd < MAX_FILES; fd++) {
        if (handles[fd] == 0) {
            int32_t h = semihost_open(path, semihost_mode(flags));
            if (h < 0) {
                errno = ENOENT;
                return -1;
            }
            handles[fd] = h + 1;
            positions[fd] = 0;
            return fd;
        }
    }
    errno = EMFILE;
    return -1;
}

int _close(int fd)
{
    int32_t h = handle_of(fd);
    if (h < 0) {
        errno = EBADF;
        return -1;
    }
    handles[fd] = 0;
    return fd <= 2 ? 0 : semihost_close(h);
}

int _read(int fd, char *buf, int n)
{
    int32_t h = handle_of(fd);
    if (h < 0) {
        errno = EBADF;
        return -1;
    }
    int done = n - semihost_read(h, buf, (uint32_t)n);
    positions[fd] += done;
    return done;
}

int _write(int fd, const char *buf, int n)
{
    int32_t h = handle_of(fd);
    if (h < 0) {
        errno = EBADF;
        return -1;
    }
    int done = n - semihost_write(h, buf, (uint32_t)n);
    positions[fd] += done;
    return done;
}

int _lseek(int fd, int offset, int whence)
{
    int32_t h = handle_of(fd);
    if (h < 0 || fd <= 2) {
        errno = ESPIPE;
        return -1;
    }
    if (whence == SEEK_END) {
        uint32_t block[1] = {(uint32_t)h};
        offset += semihost_call(SH_FLEN, block);
    } else if (whence == SEEK_CUR) {
        offset += positions[fd];
    }
    uint32_t block[2] = {(uint32_t)h, (uint32_t)offset};
    if (semihost_call(SH_SEEK, block) != 0) {
        errno = EINVAL;
        return -1;
    }
    positions[fd] = offset;
    return offset;
}

int _fstat(int fd, struct stat *st)
{
    st->st_mode = fd <= 2 ? S_IFCHR : S_IFREG;
    return 0;
}

int _isatty(int fd)
{
    return fd <= 2;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

int _getpid(void)
{
    return 1;
}

/* The heap runs from the end of .bss up to the stack's reserved space (from the linker script). */
extern char __heap_start[], __StackLimit[];

void *_sbrk(ptrdiff_t increment)
{
    static char *brk = __heap_start;
    if (increment > __StackLimit - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = brk;
    brk += increment;
    return old;
}
