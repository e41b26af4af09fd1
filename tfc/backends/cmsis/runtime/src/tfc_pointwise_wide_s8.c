/*
 * tfc runtime: tfc_pointwise_wide_s8, a 1x1 unpadded int8 convolution (any stride) on weights the
 * compiler stored widened to int16 and doubled (arm_convolve_s8's integers; tfc.kernels.pointwise_wide).
 *
 * Two output pixels x four output channels at a time. A pixel's input channels are contiguous, so
 * there is no im2col: the two pixels are widened once into one int16 column (SXTB16, no offset:
 * the compiler folded input_offset * sum(w) into each bias) and every quad of output channels
 * reads it. Per word of the column (2 input channels of both pixels): one LDRD of input, two LDRD
 * of weights and eight SMLAD (11 instructions per 16 MACs); the first word adds onto the biases
 * (no accumulator moves). Requantization per output: SMMLAR of the doubled accumulator with the
 * rounding and the output offset folded in, then the shift (tfc.kernels.depthwise_wide.dw3_channels
 * checked each channel); the clamp and the packing of a pixel's four outputs run on halfword pairs
 * (SSAT16, or SSUB16/SEL for a narrower activation range), one STR per pixel.
 *
 * Layouts. Column: per block of 4 input channels, the words [px0 (c0, c2), px1 (c0, c2),
 * px0 (c1, c3), px1 (c1, c3)] (SXTB16's order). Weights: per quad of output channels, per block,
 * per word j (input channels 4b + j and 4b + j + 2), the quad's 4 channels' int16 pairs. Records:
 * per quad, the 4 biases, then (multiplier, rounding, shift) per channel.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* What one pixel pair's channel quads read; the assembly copies it to its stack, field for slot. */
typedef struct
{
    const int16_t *col;     /* the pair's column */
    const int16_t *colend;  /* its end */
    const int16_t *weights; /* the first quad's weights */
    const int16_t *wend;    /* the end of the weights */
    const int32_t *records; /* the first quad's record */
    int8_t *out0;           /* pixel 0's outputs */
    int32_t delta;          /* pixel 1's outputs minus pixel 0's, in bytes (the assembly) */
    uint32_t entry;         /* 0, or where the assembly's block loop starts (it sets it) */
    uint32_t lo2, hi2;      /* the activation range, in both halfwords */
    int32_t rest;           /* blocks after the first */
} pw_job;

#if TFC_NN_DSP
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* Registers: accumulators r0-r3 (pixel 0, channels 0-3) and r4-r7 (pixel 1); r8, r9 a column word
 * of each pixel; r10, r11 two channels' weight words; r12 the column; lr the weights. The job is
 * copied to the stack: [sp] col, #4 colend, #12 wend, #16 records, #20 out0, #24 delta, #28 the
 * loop entry (4 blocks a turn; the first turn enters by the count's remainder; computed on the
 * layer's first call), #32 lo2, #36 hi2. */
#define PW_WORD                                                                                                    \
    "ldrd r8, r9, [r12], #8\n\t"                                                                                   \
    "ldrd r10, r11, [lr], #8\n\t"                                                                                  \
    "smlad r0, r8, r10, r0\n\t"                                                                                    \
    "smlad r4, r9, r10, r4\n\t"                                                                                    \
    "smlad r1, r8, r11, r1\n\t"                                                                                    \
    "smlad r5, r9, r11, r5\n\t"                                                                                    \
    "ldrd r10, r11, [lr], #8\n\t"                                                                                  \
    "smlad r2, r8, r10, r2\n\t"                                                                                    \
    "smlad r6, r9, r10, r6\n\t"                                                                                    \
    "smlad r3, r8, r11, r3\n\t"                                                                                    \
    "smlad r7, r9, r11, r7\n\t"
/* One channel's two accumulators (a: pixel 0, b: pixel 1) requantized before the clamp. */
#define PW_RQ(a, b)                                                                                                \
    "ldmia r12!, {r8, r9, r10}\n\t"                                                                                \
    "add r11, r9, " a ", asr #31\n\t"                                                                              \
    "smmlar " a ", " a ", r8, r11\n\t"                                                                             \
    "asr " a ", " a ", r10\n\t"                                                                                    \
    "add r11, r9, " b ", asr #31\n\t"                                                                              \
    "smmlar " b ", " b ", r8, r11\n\t"                                                                             \
    "asr " b ", " b ", r10\n\t"
#define PW_SSAT(x) "ssat16 " x ", #8, " x "\n\t"
/* x's halfwords into [lo, hi] (r0, r1; r2 takes the difference). */
#define PW_RANGE(x)                                                                                                \
    "ssub16 r2, " x ", r0\n\t"                                                                                     \
    "sel " x ", " x ", r0\n\t"                                                                                     \
    "ssub16 r2, r1, " x "\n\t"                                                                                     \
    "sel " x ", " x ", r1\n\t"
/* Four requantized outputs of one pixel (a..d, channels 0-3) clamped and packed into dst (t a
 * temporary); `between` runs after the pairs are formed (a..d free). */
#define PW_PACK(clamp, between, a, b, c, d, dst, t)                                                                \
    "pkhbt " dst ", " a ", " c ", lsl #16\n\t"                                                                     \
    "pkhbt " t ", " b ", " d ", lsl #16\n\t" between clamp(dst) clamp(t) "uxtb16 " dst ", " dst "\n\t"           \
    "uxtb16 " t ", " t "\n\t"                                                                                      \
    "orr " dst ", " dst ", " t ", lsl #8\n\t"
#define PW_QUADS(clamp, load_range)                                                                                \
    "push {r4-r11, lr}\n\t"                                                                                     \
    "sub sp, sp, #44\n\t"                                                                                       \
    "ldr r1, [r0, #28]\n\t"                                                                                     \
    "cbnz r1, 7f\n\t"                                                                                           \
    "ldr r6, [r0, #40]\n\t"                                                                                     \
    "adr r1, 2f\n\t"                                                                                            \
    "adr r2, 3f\n\t"                                                                                            \
    "adr r3, 6f\n\t"                                                                                            \
    "adr r4, 5f\n\t"                                                                                            \
    "and r5, r6, #3\n\t"                                                                                        \
    "cmp r5, #1\n\t"                                                                                            \
    "it eq\n\t"                                                                                                 \
    "moveq r1, r2\n\t"                                                                                          \
    "cmp r5, #2\n\t"                                                                                            \
    "it eq\n\t"                                                                                                 \
    "moveq r1, r3\n\t"                                                                                          \
    "cmp r5, #3\n\t"                                                                                            \
    "it eq\n\t"                                                                                                 \
    "moveq r1, r4\n\t"                                                                                          \
    "adr r2, 4f\n\t"                                                                                            \
    "cmp r6, #0\n\t"                                                                                            \
    "it eq\n\t"                                                                                                 \
    "moveq r1, r2\n\t"                                                                                          \
    "orr r1, r1, #1\n\t"                                                                                        \
    "str r1, [r0, #28]\n\t"                                                                                     \
    "7:\n\t"                                                                                                    \
    "ldm r0, {r1-r11}\n\t"                                                                                      \
    "stm sp, {r1-r11}\n\t"                                                                                      \
    "mov lr, r3\n\t"                                                                                            \
    "1:\n\t"                                                                                                       \
    "ldr r12, [sp, #16]\n\t"                                                                                       \
    "ldmia r12!, {r0-r3}\n\t"                                                                                      \
    "str r12, [sp, #16]\n\t"                                                                                       \
    "ldr r12, [sp]\n\t"                                                                                            \
    "ldrd r8, r9, [r12], #8\n\t"                                                                                   \
    "ldrd r10, r11, [lr], #8\n\t"                                                                                  \
    "smlad r4, r9, r10, r0\n\t"                                                                                    \
    "smlad r0, r8, r10, r0\n\t"                                                                                    \
    "smlad r5, r9, r11, r1\n\t"                                                                                    \
    "smlad r1, r8, r11, r1\n\t"                                                                                    \
    "ldrd r10, r11, [lr], #8\n\t"                                                                                  \
    "smlad r6, r9, r10, r2\n\t"                                                                                    \
    "smlad r2, r8, r10, r2\n\t"                                                                                    \
    "smlad r7, r9, r11, r3\n\t"                                                                                    \
    "smlad r3, r8, r11, r3\n\t" PW_WORD "ldr pc, [sp, #28]\n\t"                                                    \
    "2:\n\t" PW_WORD PW_WORD "5:\n\t" PW_WORD PW_WORD "6:\n\t" PW_WORD PW_WORD "3:\n\t" PW_WORD PW_WORD            \
    "ldr r8, [sp, #4]\n\t"                                                                                         \
    "cmp r12, r8\n\t"                                                                                              \
    "bne 2b\n\t"                                                                                                   \
    "4:\n\t"                                                                                                       \
    "ldr r12, [sp, #16]\n\t" PW_RQ("r0", "r4") PW_RQ("r1", "r5") PW_RQ("r2", "r6") PW_RQ("r3", "r7")             \
    "str r12, [sp, #16]\n\t" PW_PACK(clamp, load_range, "r0", "r1", "r2", "r3", "r8", "r9")                    \
        PW_PACK(clamp, "", "r4", "r5", "r6", "r7", "r10", "r9") "ldr r12, [sp, #20]\n\t"                           \
    "ldr r9, [sp, #24]\n\t"                                                                                        \
    "str r10, [r12, r9]\n\t"                                                                                       \
    "str r8, [r12], #4\n\t"                                                                                        \
    "str r12, [sp, #20]\n\t"                                                                                       \
    "ldr r8, [sp, #12]\n\t"                                                                                         \
    "cmp lr, r8\n\t"                                                                                               \
    "bne 1b\n\t"                                                                                                   \
    "add sp, sp, #44\n\t"                                                                                          \
    "pop {r4-r11, pc}\n\t"

/* The channel quads of one pixel pair, outputs in [-128, 127] (r0: the job). */
__attribute__((naked, noinline)) static void pw_quads_full(const pw_job *job __attribute__((unused)))
{
    __asm__ volatile(PW_QUADS(PW_SSAT, ""));
}

/* The same, outputs clamped to [lo, hi] (r0, r1 take the range once pixel 0's pairs are formed). */
__attribute__((naked, noinline)) static void pw_quads_range(const pw_job *job __attribute__((unused)))
{
    __asm__ volatile(PW_QUADS(PW_RANGE, "ldrd r0, r1, [sp, #32]\n\t"));
}
#else
/* The same arithmetic in C (the emulated-DSP host build). */
static void pw_quads(const pw_job *job, int8_t *o1, int32_t lo, int32_t hi)
{
    const int16_t *w = job->weights;
    const int32_t *r = job->records;
    int8_t *o = job->out0;
    while (w != job->wend)
    {
        uint32_t acc[8];
        for (int32_t k = 0; k < 4; k++)
        {
            acc[k] = acc[4 + k] = (uint32_t)r[k];
        }
        for (const int16_t *x = job->col; x != job->colend; x += 4, w += 8)
        {
            const uint32_t x0 = (uint32_t)tfc_read_s16x2(x), x1 = (uint32_t)tfc_read_s16x2(x + 2);
            for (int32_t k = 0; k < 4; k++)
            {
                const uint32_t wk = (uint32_t)tfc_read_s16x2(w + 2 * k);
                acc[k] = __SMLAD(x0, wk, acc[k]);
                acc[4 + k] = __SMLAD(x1, wk, acc[4 + k]);
            }
        }
        for (int32_t k = 0; k < 8; k++)
        {
            const int32_t *q = r + 4 + 3 * (k & 3);
            const int32_t a = (int32_t)acc[k];
            int32_t v = tfc_smmlar(a, q[0], q[1] + (a >> 31)) >> q[2];
            v = v < lo ? lo : (v > hi ? hi : v);
            (k < 4 ? o : o1)[k & 3] = (int8_t)v;
        }
        r += 16;
        o += 4;
        o1 += 4;
    }
}
#endif

/* Input channels [0, n) (a multiple of 4) of two pixels into the column. */
static void pw_widen(const int8_t *s0, const int8_t *s1, int32_t n, int16_t *col)
{
    for (int32_t i = 0; i < n; i += 4, col += 8)
    {
        const uint32_t v = (uint32_t)tfc_read_s8x4(s0 + i), u = (uint32_t)tfc_read_s8x4(s1 + i);
        tfc_write_s16x2(col, (int32_t)__SXTB16(v));
        tfc_write_s16x2(col + 2, (int32_t)__SXTB16(u));
        tfc_write_s16x2(col + 4, (int32_t)tfc_sxtb16_ror8(v));
        tfc_write_s16x2(col + 6, (int32_t)tfc_sxtb16_ror8(u));
    }
}
#endif /* TFC_NN_DSP */

int32_t tfc_pointwise_wide_s8_get_buffer_size(const tfc_pw_geometry *g)
{
    /* the pair's int16 column and a spare pixel of outputs */
    return 4 * g->in_c + g->out_c;
}

void tfc_pointwise_wide_s8(const tfc_pw_geometry *g,
                           const int8_t *input,
                           const int16_t *weights,
                           const int32_t *records,
                           int8_t *output,
                           void *scratch,
                           int32_t row_begin,
                           int32_t row_end,
                           int32_t input_row)
{
    const int32_t in_c = g->in_c, out_c = g->out_c, out_w = g->out_w;
    const int32_t p_end = row_end * out_w;
    const int32_t lo = g->act_min, hi = g->act_max;
#if TFC_NN_DSP
    int16_t *col = (int16_t *)scratch;
    int8_t *spare = (int8_t *)(col + 2 * in_c);
    pw_job job;
    job.col = col;
    job.colend = col + 2 * in_c;
    job.wend = weights + (int32_t)out_c * in_c;
    job.rest = in_c / 4 - 1;
    job.entry = 0;
    const int unit = g->stride_y == 1 && g->stride_x == 1;
    job.lo2 = __PKHBT((uint32_t)lo, (uint32_t)lo, 16);
    job.hi2 = __PKHBT((uint32_t)hi, (uint32_t)hi, 16);
    for (int32_t p = row_begin * out_w; p < p_end; p += 2, output += 2 * out_c)
    {
        /* An odd last pixel is computed twice; its copy goes to the spare outputs. */
        const int two = p + 1 < p_end;
        const int32_t q = two ? p + 1 : p;
        const int8_t *s0, *s1;
        if (unit) /* the input pixels run in step with the output's (in_w == out_w) */
        {
            s0 = input + (p - input_row * out_w) * in_c;
            s1 = input + (q - input_row * out_w) * in_c;
        }
        else
        {
            const int32_t y0 = p / out_w, y1 = q / out_w;
            s0 = input + ((y0 * g->stride_y - input_row) * g->in_w + (p - y0 * out_w) * g->stride_x) * in_c;
            s1 = input + ((y1 * g->stride_y - input_row) * g->in_w + (q - y1 * out_w) * g->stride_x) * in_c;
        }
        pw_widen(s0, s1, in_c, col);
        job.weights = weights;
        job.records = records;
        job.out0 = output;
        int8_t *const out1 = two ? output + out_c : spare;
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
        job.delta = (int32_t)((uintptr_t)out1 - (uintptr_t)output); /* 32-bit addresses */
        if (lo == -128 && hi == 127)
        {
            pw_quads_full(&job);
        }
        else
        {
            pw_quads_range(&job);
        }
#else
        pw_quads(&job, out1, lo, hi);
#endif
    }
#else
    /* Portable build: the same weights and records, one product at a time. */
    (void)scratch;
    for (int32_t p = row_begin * out_w; p < p_end; p++, output += out_c)
    {
        const int32_t y = p / out_w;
        const int8_t *s = input + ((y * g->stride_y - input_row) * g->in_w + (p - y * out_w) * g->stride_x) * in_c;
        for (int32_t c = 0; c < out_c; c++)
        {
            const int16_t *w = weights + (c / 4) * 4 * in_c + (c % 4) * 2;
            const int32_t *r = records + (c / 4) * 16;
            int32_t acc = r[c % 4];
            for (int32_t i = 0; i < in_c; i++)
            {
                /* input channel i: block i / 4, word (i / 4) % 2 ... see the layout above */
                const int32_t b = i / 4, j = i % 2, half = (i % 4) / 2;
                acc += s[i] * w[b * 16 + j * 8 + half];
            }
            const int32_t *q = r + 4 + 3 * (c % 4);
            /* SMMLAR: the top word of (rounding - [acc < 0]) * 2^32 + acc * mult + 2^31 */
            const uint64_t top = ((uint64_t)(uint32_t)(q[1] + (acc >> 31)) << 32) + (uint64_t)((int64_t)acc * q[0]) +
                                 0x80000000U;
            const int32_t v = (int32_t)(uint32_t)(top >> 32) >> q[2];
            output[c] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
    }
#endif
}
