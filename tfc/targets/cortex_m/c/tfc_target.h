/* tfc bare-metal target support: what a program built by tfc.targets.cortex_m can call.
 *
 *   TFC_REGION_BEGIN(id) / TFC_REGION_END(id)   bracket code whose executed instructions the
 *       emulator's counting plugin should report under region `id` (0..65535). On silicon they
 *       are a DBG hint (a NOP) and one MOVW into r12, so they cost two instructions there.
 *   tfc_read_file / tfc_write_file               whole-file I/O on the host via semihosting.
 *   Standard C stdio (printf, fopen, fread, ...) also works: its system calls go to semihosting.
 *
 * main's return value (or exit()'s argument) becomes the emulator's exit code (SYS_EXIT_EXTENDED).
 */
#ifndef TFC_TARGET_H
#define TFC_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* The marker is `dbg #14` (begin) or `dbg #13` (end) followed at once by `movw r12, #id`: DBG
 * carries only 4 bits, so the MOVW carries the region id. One asm statement keeps the pair
 * together; r12 (ip) is a caller-saved scratch register, so clobbering it is free. */
#define TFC_MARKER_(kind, id)                                                   \
    __asm__ volatile("dbg #" #kind "\n\tmovw r12, %0" : : "i"(id) : "r12", "memory")
#define TFC_REGION_BEGIN(id) TFC_MARKER_(14, id)
#define TFC_REGION_END(id) TFC_MARKER_(13, id)

/* Reads up to `capacity` bytes of the host file `path` into `buf`; returns the number of bytes
 * read, or -1 if the file cannot be opened. Relative paths are relative to the run directory. */
long tfc_read_file(const char *path, void *buf, size_t capacity);

/* Writes `n` bytes to the host file `path` (created or truncated); returns 0, or -1 on failure. */
int tfc_write_file(const char *path, const void *buf, size_t n);

/* Bytes of stack used so far (high-water mark of the painted stack). */
size_t tfc_stack_peak(void);

#endif
