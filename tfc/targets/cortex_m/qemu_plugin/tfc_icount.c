/* tfc_icount: a QEMU TCG plugin (plugin API v1, QEMU 7.2) that counts executed guest
 * instructions, in total and inside regions the program marks with tfc_target.h's
 * TFC_REGION_BEGIN(id) / TFC_REGION_END(id):
 *
 *     dbg #14 ; movw r12, #id      begin region id
 *     dbg #13 ; movw r12, #id      end region id
 *
 * Every executed instruction adds 1 to a counter (an inline add, no helper call). The marker
 * instructions get an execution callback that snapshots the counter. Both snapshots of a region
 * are taken at a MOVW, so whether QEMU runs the MOVW's own inline add before or after its
 * callback cancels out: instructions strictly between the two markers = end - begin - 2 (the
 * begin MOVW and the end DBG). Usage: -plugin tfc_icount.so,out=<file>; writes, at exit,
 *
 *     total <instructions>
 *     region <id> <instructions> <times entered>
 *     error <text>                 (a region ended without beginning, or begun twice)
 *
 * Debian's QEMU ships no qemu-plugin.h, so the few API declarations used are repeated here.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API v1 (include/qemu/qemu-plugin.h of QEMU 7.2) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- counting ---- */
enum { MARK_NONE = 0, MARK_END = 13, MARK_BEGIN = 14, N_REGIONS = 65536, MAX_ERRORS = 8 };

typedef struct {
    uint64_t begun_at;
    uint64_t instructions;
    uint64_t entered;
    bool open;
} Region;

static uint64_t total;              /* executed instructions so far */
static int pending = MARK_NONE;     /* the DBG just executed, waiting for its MOVW */
static Region *regions;
static char out_path[4096];
static char errors[MAX_ERRORS][96];
static int n_errors;

static void note_error(const char *what, unsigned id)
{
    if (n_errors < MAX_ERRORS) {
        snprintf(errors[n_errors++], sizeof errors[0], "%s %u", what, id);
    }
}

static void on_marker_dbg(unsigned int vcpu, void *kind)
{
    (void)vcpu;
    pending = (int)(uintptr_t)kind;
}

static void on_movw_r12(unsigned int vcpu, void *imm)
{
    (void)vcpu;
    unsigned id = (unsigned)(uintptr_t)imm;
    Region *r = &regions[id];
    if (pending == MARK_BEGIN) {
        if (r->open) {
            note_error("region begun twice without ending:", id);
        }
        r->open = true;
        r->begun_at = total;
    } else if (pending == MARK_END) {
        if (!r->open) {
            note_error("region ended without beginning:", id);
        } else {
            r->open = false;
            r->instructions += total - r->begun_at - 2;
            r->entered++;
        }
    }
    pending = MARK_NONE;
}

/* QEMU 7.2 hands a plugin more than an instruction's own bytes when the instruction ends 2 bytes
 * before a page boundary: its look-ahead halfword (read to see whether the next Thumb instruction
 * crosses the page) is appended, so a 32-bit instruction can arrive with n == 6. Decoding looks
 * at the first 4 bytes only; a 16-bit instruction never starts with these prefixes. */

/* Thumb-2 DBG #option: F3AF 80F<option>. Returns the option, or -1. */
static int dbg_option(const uint8_t *d, size_t n)
{
    if (n < 4) {
        return -1;
    }
    unsigned hw1 = d[0] | (unsigned)d[1] << 8, hw2 = d[2] | (unsigned)d[3] << 8;
    return hw1 == 0xF3AF && (hw2 & 0xFFF0) == 0x80F0 ? (int)(hw2 & 0xF) : -1;
}

/* Thumb-2 MOVW r12, #imm16 (encoding T3). Returns imm16, or -1. */
static long movw_r12_imm(const uint8_t *d, size_t n)
{
    if (n < 4) {
        return -1;
    }
    unsigned hw1 = d[0] | (unsigned)d[1] << 8, hw2 = d[2] | (unsigned)d[3] << 8;
    if ((hw1 & 0xFBF0) != 0xF240 || (hw2 & 0x8000) || ((hw2 >> 8) & 0xF) != 12) {
        return -1;
    }
    return (long)((hw1 & 0xF) << 12 | ((hw1 >> 10) & 1) << 11 | ((hw2 >> 12) & 7) << 8 | (hw2 & 0xFF));
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        const uint8_t *data = qemu_plugin_insn_data(insn);
        size_t size = qemu_plugin_insn_size(insn);
        int option = dbg_option(data, size);
        long imm = movw_r12_imm(data, size);
        if (option == MARK_BEGIN || option == MARK_END) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker_dbg, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)option);
        } else if (imm >= 0) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_movw_r12, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)imm);
        }
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("tfc_icount: cannot write the output file\n");
        return;
    }
    fprintf(f, "total %" PRIu64 "\n", total);
    for (unsigned i = 0; i < N_REGIONS; i++) {
        if (regions[i].entered) {
            fprintf(f, "region %u %" PRIu64 " %" PRIu64 "\n", i, regions[i].instructions, regions[i].entered);
        }
        if (regions[i].open) {
            note_error("region never ended:", i);
        }
    }
    for (int i = 0; i < n_errors; i++) {
        fprintf(f, "error %s\n", errors[i]);
    }
    fclose(f);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        }
    }
    if (!out_path[0]) {
        qemu_plugin_outs("tfc_icount: give out=<file>\n");
        return -1;
    }
    regions = calloc(N_REGIONS, sizeof *regions);
    if (!regions) {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
