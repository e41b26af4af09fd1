/*
 * tfc runtime: tfc_convolve_first_s8, an ungrouped int8 convolution for first layers: few input
 * channels, so the whole window (K = KH * KW * C_IN <= TFC_CONV_FIRST_MAX_DEPTH values) is one
 * short vector (arm_convolve_s8's integers: acc = bias + sum (x + input_offset) * w over the
 * window, padded taps contributing 0, per-channel requantization).
 *
 * The KH input rows an output row reads are kept together in int16 with the input offset added
 * (the rows the previous output row read moved up, the new ones widened once; the padding
 * columns 0, which is what a padded tap contributes), so that a pixel's window is KH runs of
 * KW * C_IN int16 at the layer's row stride, which a function the compiler generates per layer
 * (immediate offsets) copies into a column; two pixels' columns lie
 * TFC_CONV_FIRST_COLUMN_STEP int16 apart, so one pointer and immediate offsets walk both. Each
 * pair of output channels then runs 4 window values at a time as two LDRD of input, two LDRD of
 * weights and eight SMLAD (12 instructions per 16 MACs) and requantizes with the rounding and
 * the output offset folded into one SMMLAR (3 instructions an output). The compiler
 * (tfc.kernels.conv_first) stores each channel pair as one stream the weight pointer walks:
 * both biases (doubled), the blocks of 4 window values of both channels (int16, doubled: the
 * accumulator is the 2 acc SMMLAR takes), both channels' (multiplier, rounding, shift).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* int16 of one channel pair's stream: 2 biases, the blocks, 2 x (multiplier, rounding, shift). */
static inline int32_t fc_pair_words16(int32_t blocks) { return 4 + 8 * blocks + 12; }

static inline int32_t fc_read_s32(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

int32_t tfc_convolve_first_s8_row_stride(const tfc_conv_wide_geometry *g)
{
    /* the padded row: pad_left columns, the input row, and as far right as a window reaches */
    const int32_t reach = (g->out_w - 1) * g->stride_x + g->k_w;
    const int32_t width = reach > g->pad_left + g->in_w ? reach : g->pad_left + g->in_w;
    return (width * g->in_c + 1) & ~1;
}

int32_t tfc_convolve_first_s8_get_buffer_size(const tfc_conv_wide_geometry *g)
{
    /* 8 bytes to align, two columns, the ring of widened rows, a spare output pixel */
    const int32_t ring = 2 * g->k_h * tfc_convolve_first_s8_row_stride(g);
    return 8 + 2 * 2 * TFC_CONV_FIRST_COLUMN_STEP + ring + 4 + g->out_c;
}

#if TFC_NN_DSP
/* (lo half of e, lo half of o) and (hi half of e, hi half of o): one PKHBT and one PKHTB. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
#define FC_PACK(e, o, lo, hi) \
    __asm__("pkhbt %0, %2, %3, lsl #16\n\tpkhtb %1, %3, %2, asr #16" : "=&r"(lo), "=r"(hi) : "r"(e), "r"(o))
#else
#define FC_PACK(e, o, lo, hi) \
    do \
    { \
        (lo) = ((e) & 0xFFFFU) | ((o) << 16); \
        (hi) = ((o) & 0xFFFF0000U) | ((e) >> 16); \
    } while (0)
#endif

/* n int8 + offset into n int16 at dst (any alignment), 4 at a time (7 instructions). */
static void fc_widen_row(const int8_t *src, int32_t n, int32_t offset, int16_t *dst)
{
    const uint32_t off2 = __PKHBT((uint32_t)offset, (uint32_t)offset, 16);
    int32_t i = 0;
    for (; i + 3 < n; i += 4)
    {
        const uint32_t v = (uint32_t)tfc_read_s8x4(src + i);
        const uint32_t even = __SXTAB16(off2, v), odd = tfc_sxtab16_ror8(off2, v);
        uint32_t lo, hi;
        FC_PACK(even, odd, lo, hi);
        tfc_write_s16x2(dst + i, (int32_t)lo);
        tfc_write_s16x2(dst + i + 2, (int32_t)hi);
    }
    for (; i < n; i++)
    {
        dst[i] = (int16_t)(src[i] + offset);
    }
}

/* The KH input rows output row oy reads into rows (KH x rs int16, in window order): the rows
 * the last output row left there moved up, the others widened (a row outside the input is all
 * padding: zeros). `have` is the output row the rows hold (-1: none). */
static void fc_rows(const tfc_conv_wide_geometry *g, const int8_t *input, int32_t oy, int32_t have, int16_t *rows,
                    int32_t rs)
{
    const int32_t iy0 = oy * g->stride_y - g->pad_top, n = g->in_w * g->in_c, kh = g->k_h;
    int32_t ky = 0;
    if (have >= 0 && oy == have + 1 && g->stride_y < kh)
    {
        ky = kh - g->stride_y;
        memmove(rows, rows + g->stride_y * rs, (size_t)(ky * rs) * sizeof(int16_t));
    }
    for (; ky < kh; ky++)
    {
        const int32_t iy = iy0 + ky;
        int16_t *row = rows + ky * rs + g->pad_left * g->in_c;
        if (iy >= 0 && iy < g->in_h)
        {
            fc_widen_row(input + (int64_t)iy * n, n, g->input_offset, row);
        }
        else
        {
            memset(row, 0, (size_t)n * sizeof(int16_t));
        }
    }
}

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* One block of two pixels x two channels: 4 LDRD, 8 SMLAD (12 instructions, 16 MACs); pixel 1's
 * column is TFC_CONV_FIRST_COLUMN_STEP int16 (128 B) after pixel 0's. */
#define FC_BLOCK_ASM                                                                                               \
    "ldrd %[xa1], %[xb1], [%[x], #128]\n\t"                                                                        \
    "ldrd %[xa0], %[xb0], [%[x]], #8\n\t"                                                                          \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a0], %[xa0], %[wa], %[a0]\n\t"                                                                        \
    "smlad %[a0], %[xb0], %[wb], %[a0]\n\t"                                                                        \
    "smlad %[a1], %[xa1], %[wa], %[a1]\n\t"                                                                        \
    "smlad %[a1], %[xb1], %[wb], %[a1]\n\t"                                                                        \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a2], %[xa0], %[wa], %[a2]\n\t"                                                                        \
    "smlad %[a2], %[xb0], %[wb], %[a2]\n\t"                                                                        \
    "smlad %[a3], %[xa1], %[wa], %[a3]\n\t"                                                                        \
    "smlad %[a3], %[xb1], %[wb], %[a3]\n\t"
/* One channel's two accumulators (2 acc: the weights are doubled) to int8 before the clamp:
 * SMMLAR with the rounding and output offset folded in, minus 1 for a negative acc, then the
 * shift; the record's multiplier in xa0, rounding in xb0, shift in xa1. */
#define FC_RQ_ASM(acc)                                                                                             \
    "add %[wa], %[xb0], %[" acc "], asr #31\n\t"                                                                   \
    "smmlar %[" acc "], %[" acc "], %[xa0], %[wa]\n\t"                                                             \
    "asr %[" acc "], %[" acc "], %[xa1]\n\t"
#define FC_CLAMP_ASM(acc)                                                                                          \
    "cmp %[" acc "], %[xb1]\n\t"                                                                                   \
    "it lt\n\t"                                                                                                    \
    "movlt %[" acc "], %[xb1]\n\t"                                                                                 \
    "cmp %[" acc "], %[wb]\n\t"                                                                                    \
    "it gt\n\t"                                                                                                    \
    "movgt %[" acc "], %[wb]\n\t"
/* Every channel pair of one pixel pair, written out. Per pair: both biases from the stream, the
 * dot products (entry: "b 3f" for an odd block count, which enters the two-block loop at its
 * second block), both records from the stream, 4 x 3 requantization, the clamp, 4 stores (pixel
 * 1's output d1 bytes after pixel 0's), the loop test. `end` (the column's end) lives through. */
#define FC_PAIRS_ASM(entry, clamp)                                                                                 \
    "1:\n\t"                                                                                                       \
    "ldrd %[a0], %[a2], [%[w]], #8\n\t"                                                                            \
    "mov %[a1], %[a0]\n\t"                                                                                         \
    "mov %[a3], %[a2]\n\t"                                                                                         \
    "ldr %[x], %[col]\n\t" entry "2:\n\t" FC_BLOCK_ASM "3:\n\t" FC_BLOCK_ASM "cmp %[x], %[end]\n\t"                \
    "bne 2b\n\t"                                                                                                   \
    "ldrd %[xa0], %[xb0], [%[w]], #8\n\t"                                                                          \
    "ldr %[xa1], [%[w]], #4\n\t" FC_RQ_ASM("a0") FC_RQ_ASM("a1") "ldrd %[xa0], %[xb0], [%[w]], #8\n\t"            \
    "ldr %[xa1], [%[w]], #4\n\t" FC_RQ_ASM("a2") FC_RQ_ASM("a3") clamp "ldr %[x], %[o0]\n\t"                      \
    "ldr %[xb1], %[d1]\n\t"                                                                                        \
    "strb %[a1], [%[x], %[xb1]]\n\t"                                                                               \
    "strb %[a0], [%[x]], #1\n\t"                                                                                   \
    "strb %[a3], [%[x], %[xb1]]\n\t"                                                                               \
    "strb %[a2], [%[x]], #1\n\t"                                                                                   \
    "str %[x], %[o0]\n\t"                                                                                          \
    "ldr %[xa0], %[wend]\n\t"                                                                                      \
    "cmp %[w], %[xa0]\n\t"                                                                                         \
    "bne 1b\n\t"
#define FC_SSAT_ASM                                                                                                \
    "ssat %[a0], #8, %[a0]\n\t"                                                                                    \
    "ssat %[a1], #8, %[a1]\n\t"                                                                                    \
    "ssat %[a2], #8, %[a2]\n\t"                                                                                    \
    "ssat %[a3], #8, %[a3]\n\t"
#define FC_RANGE_ASM                                                                                               \
    "ldr %[xb1], %[lo]\n\t"                                                                                        \
    "ldr %[wb], %[hi]\n\t" FC_CLAMP_ASM("a0") FC_CLAMP_ASM("a1") FC_CLAMP_ASM("a2") FC_CLAMP_ASM("a3")
#define FC_ODD "b 3f\n\t"

/* The channel pairs of one pixel pair: outputs to o0 (pixel 0) and o1 (pixel 1), n >= 1 blocks,
 * the stream from w on. */
static void fc_pairs(const int16_t *col, const int16_t *w, int32_t out_c, int32_t n, int8_t *o0, int8_t *o1,
                     int32_t lo, int32_t hi)
{
    const int32_t d1 = (int32_t)((uintptr_t)o1 - (uintptr_t)o0);
    const int16_t *const wend = w + fc_pair_words16(n) * (out_c / 2);
    uint32_t a0, a1, a2, a3, x, xa0, xb0, xa1, xb1, wa, wb;
    const int16_t *end = col + 4 * n;
#define FC_PAIRS_OPERANDS                                                                                          \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w), [x] "=&r"(x), [end] "+r"(end),  \
      [xa0] "=&r"(xa0), [xb0] "=&r"(xb0), [xa1] "=&r"(xa1), [xb1] "=&r"(xb1), [wa] "=&r"(wa), [wb] "=&r"(wb),      \
      [o0] "+m"(o0)                                                                                                \
    : [col] "m"(col), [wend] "m"(wend), [d1] "m"(d1), [lo] "m"(lo), [hi] "m"(hi)                                   \
    : "cc", "memory"
    const int full = lo == -128 && hi == 127;
    if (n & 1)
    {
        if (full)
        {
            __asm__ volatile(FC_PAIRS_ASM(FC_ODD, FC_SSAT_ASM) FC_PAIRS_OPERANDS);
        }
        else
        {
            __asm__ volatile(FC_PAIRS_ASM(FC_ODD, FC_RANGE_ASM) FC_PAIRS_OPERANDS);
        }
    }
    else if (full)
    {
        __asm__ volatile(FC_PAIRS_ASM("", FC_SSAT_ASM) FC_PAIRS_OPERANDS);
    }
    else
    {
        __asm__ volatile(FC_PAIRS_ASM("", FC_RANGE_ASM) FC_PAIRS_OPERANDS);
    }
#undef FC_PAIRS_OPERANDS
}
#else
/* The same in C (the DSP path emulated on a host). */
static int8_t fc_requantize(uint32_t acc2, const int16_t *record, int32_t lo, int32_t hi)
{
    const int32_t a = (int32_t)acc2, mult = fc_read_s32(record), rounding = fc_read_s32(record + 2);
    const int32_t v = tfc_smmlar(a, mult, rounding + (a >> 31)) >> fc_read_s32(record + 4);
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

static void fc_pairs(const int16_t *col, const int16_t *w, int32_t out_c, int32_t n, int8_t *o0, int8_t *o1,
                     int32_t lo, int32_t hi)
{
    for (int32_t c = 0; c < out_c; c += 2, o0 += 2, o1 += 2)
    {
        uint32_t acc[4];
        acc[0] = acc[1] = (uint32_t)fc_read_s32(w);
        acc[2] = acc[3] = (uint32_t)fc_read_s32(w + 2);
        w += 4;
        for (int32_t b = 0; b < n; b++, w += 8)
        {
            for (int32_t ch = 0; ch < 2; ch++)
            {
                const uint32_t wa = (uint32_t)tfc_read_s16x2(w + 4 * ch), wb = (uint32_t)tfc_read_s16x2(w + 4 * ch + 2);
                for (int32_t px = 0; px < 2; px++)
                {
                    const int16_t *x = col + px * TFC_CONV_FIRST_COLUMN_STEP + 4 * b;
                    const uint32_t xa = (uint32_t)tfc_read_s16x2(x), xb = (uint32_t)tfc_read_s16x2(x + 2);
                    acc[2 * ch + px] = __SMLAD(xb, wb, __SMLAD(xa, wa, acc[2 * ch + px]));
                }
            }
        }
        o0[0] = fc_requantize(acc[0], w, lo, hi);
        o1[0] = fc_requantize(acc[1], w, lo, hi);
        o0[1] = fc_requantize(acc[2], w + 6, lo, hi);
        o1[1] = fc_requantize(acc[3], w + 6, lo, hi);
        w += 12;
    }
}
#endif
#endif /* TFC_NN_DSP */

void tfc_convolve_first_s8(const tfc_conv_wide_geometry *g,
                           const int8_t *input,
                           const int16_t *stream,
                           tfc_conv_first_window window,
                           int8_t *output,
                           void *scratch,
                           int32_t row_begin,
                           int32_t row_end,
                           int32_t input_row)
{
    /* A band (fused tiles): `input` holds the input's rows from input_row on (as in
     * tfc_convolve_wide_s8: padding is still decided against the whole input). */
    tfc_conv_wide_geometry band;
    if (input_row != 0)
    {
        band = *g;
        band.pad_top += input_row;
        band.in_h -= input_row;
        g = &band;
    }
    const int32_t cin = g->in_c, seg = g->k_w * cin, k = g->k_h * seg, blocks = ((k + 3) & ~3) / 4;
    const int32_t out_c = g->out_c, out_w = g->out_w, lo = g->act_min, hi = g->act_max;
#if TFC_NN_DSP
    const int32_t rs = tfc_convolve_first_s8_row_stride(g), step = g->stride_x * cin;
    int16_t *col = (int16_t *)(void *)(((uintptr_t)scratch + 7U) & ~(uintptr_t)7U);
    int16_t *rows = col + 2 * TFC_CONV_FIRST_COLUMN_STEP;
    int8_t *spare = (int8_t *)(rows + g->k_h * rs + 2); /* 2 int16 an odd run reads past the rows */
    (void)seg;
    /* Column tails past K meet zero weights but must hold numbers; the padding columns stay 0. */
    memset(col, 0, 2 * TFC_CONV_FIRST_COLUMN_STEP * sizeof(int16_t));
    memset(rows, 0, (size_t)(g->k_h * rs + 2) * sizeof(int16_t));
    int32_t oy = row_begin, ox = 0;
    const int32_t p_end = (row_end - row_begin) * out_w;
    if (p_end > 0)
    {
        fc_rows(g, input, oy, -1, rows, rs);
    }
    /* Pixels in pairs along the rows (a pair may span two rows: each column is copied before the
     * rows move on); an odd last pixel's twin is computed into the spare. */
    for (int32_t p = 0; p < p_end; p += 2, output += 2 * out_c)
    {
        window(rows + ox * step, col);
        if (++ox == out_w)
        {
            ox = 0;
            if (++oy < row_end)
            {
                fc_rows(g, input, oy, oy - 1, rows, rs);
            }
        }
        int8_t *out1 = spare;
        if (p + 1 < p_end)
        {
            out1 = output + out_c;
            window(rows + ox * step, col + TFC_CONV_FIRST_COLUMN_STEP);
            if (++ox == out_w)
            {
                ox = 0;
                if (++oy < row_end)
                {
                    fc_rows(g, input, oy, oy - 1, rows, rs);
                }
            }
        }
        fc_pairs(col, stream, out_c, blocks, output, out1, lo, hi);
    }
#else
    /* Portable build: the same stream, one product at a time. */
    (void)scratch;
    (void)window;
    const int32_t pair_words = fc_pair_words16(blocks);
    for (int32_t p = row_begin * out_w; p < row_end * out_w; p++, output += out_c)
    {
        const int32_t oy = p / out_w, ox = p - oy * out_w;
        for (int32_t c = 0; c < out_c; c++)
        {
            const int16_t *pair = stream + (c / 2) * pair_words, *w = pair + 4 + 4 * (c % 2);
            const int16_t *record = pair + 4 + 8 * blocks + 6 * (c % 2);
            int32_t acc = fc_read_s32(pair + 2 * (c % 2)) / 2;
            for (int32_t ky = 0, i = 0; ky < g->k_h; ky++)
            {
                const int32_t iy = oy * g->stride_y - g->pad_top + ky;
                for (int32_t kx = 0; kx < g->k_w; kx++)
                {
                    const int32_t ix = ox * g->stride_x - g->pad_left + kx;
                    const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
                    for (int32_t ci = 0; ci < cin; ci++, i++)
                    {
                        if (inside)
                        {
                            const int32_t x = input[((int64_t)iy * g->in_w + ix) * cin + ci] + g->input_offset;
                            acc += x * (w[(i / 4) * 8 + i % 4] / 2);
                        }
                    }
                }
            }
            output[c] = tfc_requantize_to_s8(acc, fc_read_s32(record), -fc_read_s32(record + 4), g->output_offset, lo,
                                             hi);
        }
    }
#endif
}
