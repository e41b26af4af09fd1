/*
 * tfc runtime: tfc_depthwise_3x3_wide_s8, a 3x3 depthwise convolution (one output channel per
 * input channel, stride 1 or 2, batch 1) with arm_depthwise_conv_s8's integers, on weights the
 * compiler stored as int16 tap pairs (tfc.kernels.depthwise_wide).
 *
 * Why planes: SMLAD multiplies two int16 pairs, so two taps of one channel must share a word.
 * Four channels at a time, the input is copied into four int16 planes (one per channel, the
 * padding holding the input zero point, so that bias + sum x * w with input_offset * sum(w)
 * folded into the bias equals tflite-micro's sum (x + offset) * w with padded taps left out).
 * A word of a plane row is two neighbouring taps (x[i], x[i + 1]): per output and window row one
 * SMLAD against (w0, w1) and one SMLAxy against w2. Building the planes costs 12 instructions
 * per 8 input values (two LDR, PKHBT, PKHTB, four SXTB16, four STR).
 *
 * Runs: the compiler may swap rows and columns (d->g is then the transposed geometry and the
 * steps walk the columns) so that runs are long; four outputs of a run per step of the loop.
 * Weights and biases are doubled, so that the accumulator is the 2 acc the folded SMMLAR
 * requantization takes (tfc.sparse.reference.fast_requantize; the compiler checked that 2 acc and
 * the requantized values before the offset fit, the latter in int16).
 *
 * Weights: per channel 6 words of int16 pairs, by window row k: (wk0, wk1), (wk2, 0).
 * Planes: a ring of DW3_RING rows, one per channel group: plane row r (input run r - pad_top) of
 * channel j at planes + (4 (r % DW3_RING) + j) * pw, column q holding input pixel q - pad_left of
 * the run; each output run builds the rows it needs beyond the last (a row of padding is all zero
 * point), so every input value is widened once per layer and the planes take 3 rows of stack.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

#define DW3_BLOCK 4 /* outputs of a run per loop step */
#define DW3_RING 3  /* plane rows kept: one window's */

/* The planes' width (int16 values): the columns every block of a run reads (the last block may run
 * past the run's end) and every input column. */
static int32_t dw3_plane_width(const tfc_conv_wide_geometry *g)
{
    const int32_t blocks = (g->out_w + DW3_BLOCK - 1) / DW3_BLOCK;
    int32_t pw = g->stride_x * DW3_BLOCK * blocks + 2;
    if (pw < g->pad_left + g->in_w)
    {
        pw = g->pad_left + g->in_w;
    }
    return pw + (pw & 1);
}

int32_t tfc_depthwise_3x3_wide_s8_get_buffer_size(const tfc_dw3_geometry *d)
{
    /* a ring of four int16 plane rows x DW3_RING, 4 bytes to align it */
    return DW3_RING * 4 * dw3_plane_width(&d->g) * (int32_t)sizeof(int16_t) + 4;
}

static inline uint32_t dw3_read(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void dw3_write(int16_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Plane row r of input channels c .. c + 3 into dst (the four channels' rows, pw apart): the
 * input run r - pad_top between zero-point borders, or all zero point outside the input. */
static void dw3_plane_row(const tfc_dw3_geometry *d, const int8_t *input, int32_t c, int32_t r, int16_t *dst,
                          int32_t pw, uint32_t zp2)
{
    const tfc_conv_wide_geometry *g = &d->g;
    const int32_t step = d->in_step, pairs = g->in_w / 2, iy = r - g->pad_top;
    if (iy < 0 || iy >= g->in_h)
    {
        for (int32_t i = 0; i < 4 * pw; i += 2)
        {
            dw3_write(dst + i, zp2);
        }
        return;
    }
    const int8_t *src = input + (int64_t)iy * d->in_row_step + c;
    dst += g->pad_left;
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
    if (pairs > 0)
    {
        /* 16 instructions per pixel pair (GCC's PKHTB and SXTB16-with-rotate spelling took 20) */
        const int16_t *const end = dst + 2 * pairs;
        const int32_t pwb = 2 * pw, pwb2 = 4 * pw, pwb3 = 6 * pw;
        uint32_t a, b, t0, t1;
        __asm__ volatile("1:\n\t"
                         "ldr %[a], [%[src]]\n\t"
                         "ldr %[b], [%[src], %[step]]\n\t"
                         "add %[src], %[src], %[step], lsl #1\n\t"
                         "pkhbt %[t0], %[a], %[b], lsl #16\n\t"
                         "pkhtb %[t1], %[b], %[a], asr #16\n\t"
                         "sxtb16 %[a], %[t0]\n\t"
                         "sxtb16 %[b], %[t0], ror #8\n\t"
                         "str %[a], [%[dst]]\n\t"
                         "str %[b], [%[dst], %[pwb]]\n\t"
                         "sxtb16 %[a], %[t1]\n\t"
                         "sxtb16 %[b], %[t1], ror #8\n\t"
                         "str %[a], [%[dst], %[pwb2]]\n\t"
                         "str %[b], [%[dst], %[pwb3]]\n\t"
                         "add %[dst], %[dst], #4\n\t"
                         "cmp %[dst], %[end]\n\t"
                         "bne 1b\n\t"
                         : [a] "=&r"(a), [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [src] "+r"(src), [dst] "+r"(dst)
                         : [step] "r"(step), [pwb] "r"(pwb), [pwb2] "r"(pwb2), [pwb3] "r"(pwb3), [end] "r"(end)
                         : "cc", "memory");
    }
#else
    for (int32_t k = 0; k < pairs; k++, src += 2 * step, dst += 2)
    {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + step, 4);
        /* bytes (a0, a1, b0, b1) and (a2, a3, b2, b3): SXTB16 pairs channel j's two pixels */
        const uint32_t t0 = (a & 0xFFFFU) | (b << 16), t1 = (b & 0xFFFF0000U) | (a >> 16);
#if TFC_NN_DSP
        dw3_write(dst, __SXTB16(t0));
        dw3_write(dst + pw, __SXTB16(__ROR(t0, 8)));
        dw3_write(dst + 2 * pw, __SXTB16(t1));
        dw3_write(dst + 3 * pw, __SXTB16(__ROR(t1, 8)));
#else
        const uint32_t w[4] = {t0, t0 >> 8, t1, t1 >> 8};
        for (int32_t j = 0; j < 4; j++)
        {
            dst[j * pw] = (int16_t)(int8_t)(uint8_t)(w[j] & 0xFFU);
            dst[j * pw + 1] = (int16_t)(int8_t)(uint8_t)((w[j] >> 16) & 0xFFU);
        }
#endif
    }
#endif
    if (g->in_w & 1)
    {
        for (int32_t j = 0; j < 4; j++)
        {
            dst[j * pw] = src[j];
        }
    }
}

/* What a run's blocks need beside the planes: the channel's weights, bias and requantization. */
typedef struct
{
    uint32_t w[6];            /* window row k: (wk0, wk1), (wk2, 0), doubled */
    int32_t mult, rounding;   /* LDRD pair */
    int32_t shift, bias;
    uint32_t lo2, hi2;        /* act_min, act_max in both halves */
    int32_t off, lo, hi;
} dw3_channel_consts;

static inline int32_t dw3_lo(uint32_t v) { return (int32_t)(int16_t)(uint16_t)(v & 0xFFFFU); }
static inline int32_t dw3_hi(uint32_t v) { return (int32_t)(int16_t)(uint16_t)(v >> 16); }

/* 2 acc (modulo 2^32) to the int8 output. */
static inline int8_t dw3_requantize(uint32_t acc, const dw3_channel_consts *k)
{
    const int32_t acc2 = (int32_t)acc;
#if TFC_NN_DSP
    int32_t v = tfc_smmlar(acc2, k->mult, k->rounding + (acc2 >> 31)) >> k->shift;
    v = v < k->lo ? k->lo : v;
    return (int8_t)(v > k->hi ? k->hi : v);
#else
    return (int8_t)tfc_requantize_to_s8(acc2 >> 1, k->mult, -k->shift, k->off, k->lo, k->hi);
#endif
}

/* Output i of a run, alone: the run's last one or two outputs (a block of four would waste more). */
static int8_t dw3_one(const int16_t *const p[3], int32_t s, int32_t i, const dw3_channel_consts *k)
{
    uint32_t acc = (uint32_t)k->bias;
#if TFC_NN_DSP
    const int16_t *t0 = p[0] + s * i, *t1 = p[1] + s * i, *t2 = p[2] + s * i;
    acc = __SMLAD(dw3_read(t0), k->w[0], acc);
    acc = (uint32_t)__SMLABB(t0[2], (int32_t)k->w[1], (int32_t)acc);
    acc = __SMLAD(dw3_read(t1), k->w[2], acc);
    acc = (uint32_t)__SMLABB(t1[2], (int32_t)k->w[3], (int32_t)acc);
    acc = __SMLAD(dw3_read(t2), k->w[4], acc);
    acc = (uint32_t)__SMLABB(t2[2], (int32_t)k->w[5], (int32_t)acc);
#else
    for (int32_t r = 0; r < 3; r++)
    {
        const int16_t *t = p[r] + s * i;
        const uint32_t wa = k->w[2 * r], wb = k->w[2 * r + 1];
        acc += (uint32_t)(t[0] * dw3_lo(wa)) + (uint32_t)(t[1] * dw3_hi(wa)) + (uint32_t)(t[2] * dw3_lo(wb));
    }
#endif
    return dw3_requantize(acc, k);
}

/* Byte offsets in dw3_channel_consts, for the assembly. */
#define DW3_K_W0 "#0"
#define DW3_K_W1 "#8"
#define DW3_K_W2 "#16"
#define DW3_K_MR "#24"
#define DW3_K_SHIFT "#32"
#define DW3_K_BIAS "#36"
#define DW3_K_LOHI "#40"
#define DW3_K_SIZE "#60"
/* C99 has no _Static_assert: a negative array size stops the build if the layout moves. */
typedef char dw3_consts_layout_is_the_assembly_s[(offsetof(dw3_channel_consts, mult) == 24 &&
                                                  offsetof(dw3_channel_consts, shift) == 32 &&
                                                  offsetof(dw3_channel_consts, bias) == 36 &&
                                                  offsetof(dw3_channel_consts, lo2) == 40 &&
                                                  sizeof(dw3_channel_consts) == 60)
                                                     ? 1
                                                     : -1];

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* One window row of a block at stride 1: taps x0 .. x5 (x01, x23 aligned; x12, x34 not). Each
 * accumulator's first product adds to s0 .. s3 (in row 0 the bias, which a3 holds, a3 last). */
#define DW3_ROW_S1_ASM(p, w, s0, s1, s2, s3)                                                                       \
    "ldrd %[wa], %[wb], [%[k], " w "]\n\t"                                                                         \
    "ldrd %[x], %[y], [%[" p "]], #8\n\t"                                                                          \
    "smlad %[a2], %[y], %[wa], %[" s2 "]\n\t"                                                                      \
    "smlatb %[a1], %[y], %[wb], %[" s1 "]\n\t"                                                                     \
    "smlad %[a0], %[x], %[wa], %[" s0 "]\n\t"                                                                      \
    "smlabb %[a0], %[y], %[wb], %[a0]\n\t"                                                                         \
    "ldr %[x], [%[" p "], #-6]\n\t"                                                                                \
    "smlad %[a1], %[x], %[wa], %[a1]\n\t"                                                                          \
    "ldr %[x], [%[" p "], #-2]\n\t"                                                                                \
    "smlad %[a3], %[x], %[wa], %[" s3 "]\n\t"                                                                      \
    "ldr %[x], [%[" p "]]\n\t"                                                                                     \
    "smlabb %[a2], %[x], %[wb], %[a2]\n\t"                                                                         \
    "smlatb %[a3], %[x], %[wb], %[a3]\n\t"
/* One window row of a block at stride 2: taps x0 .. x9, all pairs aligned. */
#define DW3_ROW_S2_ASM(p, w, s0, s1, s2, s3)                                                                       \
    "ldrd %[wa], %[wb], [%[k], " w "]\n\t"                                                                         \
    "ldrd %[x], %[y], [%[" p "]], #8\n\t"                                                                          \
    "smlad %[a0], %[x], %[wa], %[" s0 "]\n\t"                                                                      \
    "smlabb %[a0], %[y], %[wb], %[a0]\n\t"                                                                         \
    "smlad %[a1], %[y], %[wa], %[" s1 "]\n\t"                                                                      \
    "ldrd %[x], %[y], [%[" p "]], #8\n\t"                                                                          \
    "smlabb %[a1], %[x], %[wb], %[a1]\n\t"                                                                         \
    "smlad %[a2], %[x], %[wa], %[" s2 "]\n\t"                                                                      \
    "smlabb %[a2], %[y], %[wb], %[a2]\n\t"                                                                         \
    "smlad %[a3], %[y], %[wa], %[" s3 "]\n\t"                                                                      \
    "ldr %[x], [%[" p "]]\n\t"                                                                                     \
    "smlabb %[a3], %[x], %[wb], %[a3]\n\t"
/* 2 acc to the requantized value, output offset included (the rounding field holds
 * 2^(shift - 1) + offset * 2^shift; minus 1 when negative). */
#define DW3_RQ_ASM(acc)                                                                                            \
    "add %[y], %[wb], %[" acc "], asr #31\n\t"                                                                     \
    "smmlar %[" acc "], %[" acc "], %[wa], %[y]\n\t"                                                               \
    "asr %[" acc "], %[" acc "], %[x]\n\t"
/* Clamp both halves of r: to int8 (SSAT16), or to [lo, hi] (SSUB16 sets GE, SEL picks). */
#define DW3_SSAT_ASM(r) "ssat16 %[" r "], #8, %[" r "]\n\t"
#define DW3_RANGE_ASM(r)                                                                                           \
    "ssub16 %[x], %[" r "], %[wa]\n\t"                                                                             \
    "sel %[" r "], %[" r "], %[wa]\n\t"                                                                            \
    "ssub16 %[x], %[wb], %[" r "]\n\t"                                                                             \
    "sel %[" r "], %[" r "], %[wb]\n\t"
#define DW3_RANGE_LOAD "ldrd %[wa], %[wb], [%[k], " DW3_K_LOHI "]\n\t"
/* Per block: the rows, the requantization, the clamp, 4 stores (o moves on 4 steps). Per channel
 * (label 0): the next channel's plane rows (adv), output (oadv), constants and run end. */
#define DW3_RUNS_ASM(ROW, clamp_load, clamp)                                                                       \
    "0:\n\t"                                                                                                       \
    "1:\n\t"                                                                                                       \
    "ldr %[a3], [%[k], " DW3_K_BIAS "]\n\t" ROW("p0", DW3_K_W0, "a3", "a3", "a3", "a3")                            \
        ROW("p1", DW3_K_W1, "a0", "a1", "a2", "a3") ROW("p2", DW3_K_W2, "a0", "a1", "a2", "a3")                   \
    "ldrd %[wa], %[wb], [%[k], " DW3_K_MR "]\n\t"                                                                  \
    "ldr %[x], [%[k], " DW3_K_SHIFT "]\n\t" DW3_RQ_ASM("a0") DW3_RQ_ASM("a1") DW3_RQ_ASM("a2") DW3_RQ_ASM("a3")    \
    "pkhbt %[a0], %[a0], %[a1], lsl #16\n\t"                                                                       \
    "pkhbt %[a2], %[a2], %[a3], lsl #16\n\t" clamp_load clamp("a0") clamp("a2") "ldr %[x], %[step]\n\t"         \
    "strb %[a0], [%[o]]\n\t"                                                                                       \
    "lsr %[a0], %[a0], #16\n\t"                                                                                    \
    "strb %[a0], [%[o], %[x]]\n\t"                                                                                 \
    "add %[o], %[o], %[x], lsl #1\n\t"                                                                             \
    "strb %[a2], [%[o]]\n\t"                                                                                       \
    "lsr %[a2], %[a2], #16\n\t"                                                                                    \
    "strb %[a2], [%[o], %[x]]\n\t"                                                                                 \
    "add %[o], %[o], %[x], lsl #1\n\t"                                                                             \
    "ldr %[x], %[end]\n\t"                                                                                         \
    "cmp %[p0], %[x]\n\t"                                                                                          \
    "bne 1b\n\t"                                                                                                   \
    "ldr %[y], %[pwb]\n\t"                                                                                         \
    "add %[x], %[x], %[y]\n\t"                                                                                     \
    "str %[x], %[end]\n\t"                                                                                         \
    "ldr %[x], %[adv]\n\t"                                                                                         \
    "add %[p0], %[p0], %[x]\n\t"                                                                                   \
    "add %[p1], %[p1], %[x]\n\t"                                                                                   \
    "add %[p2], %[p2], %[x]\n\t"                                                                                   \
    "ldr %[x], %[oadv]\n\t"                                                                                        \
    "add %[o], %[o], %[x]\n\t"                                                                                     \
    "add %[k], %[k], " DW3_K_SIZE "\n\t"                                                                           \
    "ldr %[x], %[kend]\n\t"                                                                                        \
    "cmp %[k], %[x]\n\t"                                                                                           \
    "bne 0b\n\t"

/* The n >= 1 whole blocks of one output run for each of the group's four channels: channel j's
 * window rows from p0, p1, p2 + j pw, its outputs from o + j, `step` bytes apart; k[4]. */
static void dw3_runs4(const int16_t *p0, const int16_t *p1, const int16_t *p2, int32_t pw, int32_t s, int32_t n,
                      const dw3_channel_consts *k, int8_t *o, int32_t step, int full_range)
{
    const int32_t run = s * DW3_BLOCK * n; /* int16 columns a run's blocks move on */
    const int16_t *end = p0 + run;
    const int32_t pwb = 2 * pw, adv = 2 * (pw - run), oadv = 1 - DW3_BLOCK * n * step;
    const dw3_channel_consts *const kend = k + 4;
    uint32_t a0, a1, a2, a3, x, y, wa, wb;
#define DW3_OPERANDS                                                                                               \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "=&r"(x), [y] "=&r"(y), [wa] "=&r"(wa), \
      [wb] "=&r"(wb), [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [o] "+r"(o), [k] "+r"(k), [end] "+m"(end)      \
    : [step] "m"(step), [pwb] "m"(pwb), [adv] "m"(adv), [oadv] "m"(oadv), [kend] "m"(kend)                         \
    : "cc", "memory"
    if (s == 1 && full_range)
    {
        __asm__ volatile(DW3_RUNS_ASM(DW3_ROW_S1_ASM, "", DW3_SSAT_ASM) DW3_OPERANDS);
    }
    else if (s == 1)
    {
        __asm__ volatile(DW3_RUNS_ASM(DW3_ROW_S1_ASM, DW3_RANGE_LOAD, DW3_RANGE_ASM) DW3_OPERANDS);
    }
    else if (full_range)
    {
        __asm__ volatile(DW3_RUNS_ASM(DW3_ROW_S2_ASM, "", DW3_SSAT_ASM) DW3_OPERANDS);
    }
    else
    {
        __asm__ volatile(DW3_RUNS_ASM(DW3_ROW_S2_ASM, DW3_RANGE_LOAD, DW3_RANGE_ASM) DW3_OPERANDS);
    }
#undef DW3_OPERANDS
}
#else
/* The same blocks one output at a time (host builds). */
static void dw3_runs4(const int16_t *p0, const int16_t *p1, const int16_t *p2, int32_t pw, int32_t s, int32_t n,
                      const dw3_channel_consts *k, int8_t *o, int32_t step, int full_range)
{
    (void)full_range;
    for (int32_t j = 0; j < 4; j++)
    {
        const int16_t *const p[3] = {p0 + j * pw, p1 + j * pw, p2 + j * pw};
        for (int32_t i = 0; i < DW3_BLOCK * n; i++)
        {
            o[j + (int64_t)i * step] = dw3_one(p, s, i, &k[j]);
        }
    }
}
#endif

/* One output run of the group's four channels from plane rows p0, p1, p2 (channel j's pw further
 * on): whole blocks in the assembly, the last one to three outputs alone. */
static void dw3_run(const tfc_dw3_geometry *d, const int16_t *p0, const int16_t *p1, const int16_t *p2, int32_t pw,
                    const dw3_channel_consts *k, int8_t *o)
{
    const tfc_conv_wide_geometry *g = &d->g;
    const int32_t s = g->stride_x, whole = g->out_w / DW3_BLOCK;
    if (whole > 0)
    {
        dw3_runs4(p0, p1, p2, pw, s, whole, k, o, d->out_step, g->act_min == -128 && g->act_max == 127);
    }
    for (int32_t j = 0; j < 4; j++)
    {
        const int16_t *const p[3] = {p0 + j * pw, p1 + j * pw, p2 + j * pw};
        for (int32_t i = DW3_BLOCK * whole; i < g->out_w; i++)
        {
            o[j + (int64_t)i * d->out_step] = dw3_one(p, s, i, &k[j]);
        }
    }
}

static uint32_t dw3_both(int32_t v) { return (uint32_t)(uint16_t)(int16_t)v * 0x10001U; }

/* n int16 (even) of the zero point: padding that row builds never overwrite. */
static void dw3_fill(int16_t *dst, int32_t n, uint32_t zp2)
{
    for (int32_t i = 0; i < n; i += 2)
    {
        dw3_write(dst + i, zp2);
    }
}

/* The constants every channel shares (clamp and output offset). */
static void dw3_consts_init(dw3_channel_consts k[4], const tfc_conv_wide_geometry *g)
{
    for (int32_t j = 0; j < 4; j++)
    {
        k[j].lo2 = dw3_both(g->act_min);
        k[j].hi2 = dw3_both(g->act_max);
        k[j].off = g->output_offset;
        k[j].lo = g->act_min;
        k[j].hi = g->act_max;
    }
}

/* Channels c .. c + 3's weights and records. */
static void dw3_consts_load(dw3_channel_consts k[4], const int16_t *weights, const tfc_conv_wide_channel *channels,
                            int32_t c)
{
    for (int32_t j = 0; j < 4; j++)
    {
        const tfc_conv_wide_channel *r = &channels[c + j];
        memcpy(k[j].w, weights + 12 * (c + j), sizeof k[j].w);
        k[j].mult = r->mult;
        k[j].rounding = r->rounding;
        k[j].shift = r->shift;
        k[j].bias = r->bias;
    }
}

void tfc_depthwise_3x3_wide_s8(const tfc_dw3_geometry *d,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               void *scratch)
{
    const tfc_conv_wide_geometry *g = &d->g;
    const int32_t pw = dw3_plane_width(g), sy = g->stride_y;
    int16_t *ring = (int16_t *)(void *)(((uintptr_t)scratch + 3U) & ~(uintptr_t)3U);
    const uint32_t zp2 = dw3_both(-g->input_offset);
    dw3_channel_consts k[4];
    dw3_consts_init(k, g);
    /* the borders of every ring row hold the zero point for good: row builds write only the inside,
     * padding rows all zero point */
    dw3_fill(ring, DW3_RING * 4 * pw, zp2);
    for (int32_t c = 0; c < g->in_c; c += 4)
    {
        dw3_consts_load(k, weights, channels, c);
        int32_t built = 0; /* plane rows [0, built) have been built */
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            const int32_t r0 = oy * sy;
            for (; built < r0 + 3; built++)
            {
                dw3_plane_row(d, input, c, built, ring + (built % DW3_RING) * 4 * pw, pw, zp2);
            }
            const int16_t *p0 = ring + (r0 % DW3_RING) * 4 * pw, *p1 = ring + ((r0 + 1) % DW3_RING) * 4 * pw;
            const int16_t *p2 = ring + ((r0 + 2) % DW3_RING) * 4 * pw;
            dw3_run(d, p0, p1, p2, pw, k, output + (int64_t)oy * d->out_row_step + c);
        }
    }
}

/* tfc_depthwise_3x3_plane_s8's layout: each channel's whole padded input plane (rows pw apart, pw
 * even so rows stay word-aligned), its outputs as one run over the plane's columns: output (oy, ox)
 * is run position oy * pw + ox (at stride s, window column s * (oy * pw + ox) of plane row 0 is
 * column s * ox of row s * oy), the positions past out_w in each row are computed and dropped. */
static int32_t dwp_pitch(const tfc_conv_wide_geometry *g)
{
    int32_t pw = g->stride_x * (g->out_w - 1) + 3;
    if (pw < g->pad_left + g->in_w)
    {
        pw = g->pad_left + g->in_w;
    }
    return pw + (pw & 1);
}

static int32_t dwp_blocks(const tfc_conv_wide_geometry *g)
{
    return ((g->out_h - 1) * dwp_pitch(g) + g->out_w + DW3_BLOCK - 1) / DW3_BLOCK;
}

/* int16 values of one channel's plane: its rows, and what the run's last block reads of row 2 on */
static int32_t dwp_plane(const tfc_conv_wide_geometry *g)
{
    const int32_t pw = dwp_pitch(g);
    int32_t ph = g->stride_y * (g->out_h - 1) + 3;
    if (ph < g->pad_top + g->in_h)
    {
        ph = g->pad_top + g->in_h;
    }
    int32_t n = ph * pw;
    const int32_t reach = 2 * pw + g->stride_x * DW3_BLOCK * dwp_blocks(g) + 2;
    n = n > reach ? n : reach;
    return n + (n & 1);
}

int32_t tfc_depthwise_3x3_plane_s8_get_buffer_size(const tfc_dw3_geometry *d)
{
    /* four int16 planes, the run's int8 outputs of four channels, 4 bytes to align */
    return 4 * dwp_plane(&d->g) * (int32_t)sizeof(int16_t) + DW3_BLOCK * dwp_blocks(&d->g) * 4 + 4;
}

void tfc_depthwise_3x3_plane_s8(const tfc_dw3_geometry *d,
                                const int8_t *input,
                                const int16_t *weights,
                                const tfc_conv_wide_channel *channels,
                                int8_t *output,
                                void *scratch)
{
    const tfc_conv_wide_geometry *g = &d->g;
    const int32_t pw = dwp_pitch(g), plane = dwp_plane(g), n = dwp_blocks(g);
    int16_t *planes = (int16_t *)(void *)(((uintptr_t)scratch + 3U) & ~(uintptr_t)3U);
    int8_t *run = (int8_t *)(planes + 4 * plane); /* output i of channel j at 4 i + j */
    const uint32_t zp2 = dw3_both(-g->input_offset);
    const int full = g->act_min == -128 && g->act_max == 127;
    dw3_channel_consts k[4];
    dw3_consts_init(k, g);
    /* padding rows and columns hold the zero point for good: the rows built write only the inside */
    dw3_fill(planes, 4 * plane, zp2);
    for (int32_t c = 0; c < g->in_c; c += 4)
    {
        dw3_consts_load(k, weights, channels, c);
        for (int32_t r = g->pad_top; r < g->pad_top + g->in_h; r++)
        {
            dw3_plane_row(d, input, c, r, planes + r * pw, plane, zp2);
        }
        dw3_runs4(planes, planes + pw, planes + 2 * pw, plane, g->stride_x, n, k, run, 4, full);
        int8_t *o = output + c;
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            const int8_t *src = run + 4 * oy * pw;
            for (int32_t ox = 0; ox < g->out_w; ox++, src += 4, o += d->out_step)
            {
                memcpy(o, src, 4);
            }
        }
    }
}
