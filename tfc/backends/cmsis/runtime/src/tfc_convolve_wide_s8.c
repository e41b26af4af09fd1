/*
 * tfc runtime: tfc_convolve_wide_s8, an ungrouped int8 convolution on weights the compiler stored
 * widened to int16 (arm_convolve_s8's integers: acc = bias + sum (x + input_offset) * w over the
 * window, padded taps contributing 0, per-channel requantization).
 *
 * Two output pixels at a time: each pixel's window (K = KH * KW * C_IN values, zero-padded to
 * Kp, a multiple of 4) is put in an int16 column (widened from the input, or, given a ring of
 * input rows widened once each, copied from it); then each pair of output channels runs 4
 * window values at a time as two LDRD of input, two LDRD of weights and eight SMLAD (12
 * instructions per 16 MACs, no unpacking), and requantizes with the rounding and the output
 * offset folded into one SMMLAR (the compiler checks each channel's bound and stores bias and
 * constants in one record). The weights and biases are doubled, so the accumulators hold the
 * 2 acc that SMMLAR takes. Weight layout (tfc.kernels.conv_wide.wide_conv_weights): channel
 * pairs (C_OUT is even), then blocks of 4 window values, then the pair's two channels, each
 * block's 4 values in the order 0, 2, 1, 3 (how SXTAB16 widens a word of input).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

#if TFC_NN_DSP
/* The columns of two pixels interleave block by block: block b of pixel s (0 or 1) is the 4
 * int16 at 8b + 4s, so one pointer walks both. */
#define CW_BLOCK_STEP 8

/* n values of int8 (a multiple of 4) + offset, 8 at a time, into blocks of 4 int16 `step` apart. */
__STATIC_FORCEINLINE void cw_widen_step(const int8_t *src, int32_t n, uint32_t lo2, int16_t *dst, int32_t step)
{
    int32_t i = 0;
    for (; i + 7 < n; i += 8, dst += 2 * step)
    {
        const uint32_t v = (uint32_t)tfc_read_s8x4(src + i), u = (uint32_t)tfc_read_s8x4(src + i + 4);
        tfc_write_s16x2(dst, (int32_t)__SXTAB16(lo2, v));
        tfc_write_s16x2(dst + 2, (int32_t)tfc_sxtab16_ror8(lo2, v));
        tfc_write_s16x2(dst + step, (int32_t)__SXTAB16(lo2, u));
        tfc_write_s16x2(dst + step + 2, (int32_t)tfc_sxtab16_ror8(lo2, u));
    }
    if (i < n)
    {
        const uint32_t v = (uint32_t)tfc_read_s8x4(src + i);
        tfc_write_s16x2(dst, (int32_t)__SXTAB16(lo2, v));
        tfc_write_s16x2(dst + 2, (int32_t)tfc_sxtab16_ror8(lo2, v));
    }
}

/* ... into one pixel's blocks of a two-pixel column */
static void cw_widen(const int8_t *src, int32_t n, uint32_t lo2, int16_t *dst)
{
    cw_widen_step(src, n, lo2, dst, CW_BLOCK_STEP);
}

/* ... into consecutive blocks (one row of the ring) */
static void cw_widen_plain(const int8_t *src, int32_t n, uint32_t lo2, int16_t *dst)
{
    cw_widen_step(src, n, lo2, dst, 4);
}

/* n bytes (a small count: one window row) from src to dst, a word at a time. */
static void cw_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 3 < n; i += 4)
    {
        const int32_t v = tfc_read_s8x4(src + i);
        memcpy(dst + i, &v, 4);
    }
    for (; i < n; i++)
    {
        dst[i] = src[i];
    }
}

static void cw_zero(int32_t n, int16_t *dst)
{
    for (int32_t i = 0; i < n; i += 4, dst += CW_BLOCK_STEP)
    {
        tfc_write_s16x2(dst, 0);
        tfc_write_s16x2(dst + 2, 0);
    }
}

#if TFC_ASM_LOOPS
/* One block of two pixels x two channels: 4 LDRD, 8 SMLAD (12 instructions, 16 MACs). */
#define CW_BLOCK_ASM                                                                                               \
    "ldrd %[xa0], %[xb0], [%[x]], #8\n\t"                                                                          \
    "ldrd %[xa1], %[xb1], [%[x]], #8\n\t"                                                                          \
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
#define CW_OPERANDS                                                                                                \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "+r"(x), [xa0] "=&r"(xa0),      \
      [xb0] "=&r"(xb0), [xa1] "=&r"(xa1), [xb1] "=&r"(xb1), [wa] "=&r"(wa), [wb] "=&r"(wb)                         \
    : [end] "r"(end)                                                                                               \
    : "cc", "memory"
/* n >= 1 blocks: a0, a1 (channel c, pixels 0 and 1), a2, a3 (channel c + 1); w advances past them. */
static inline const int16_t *cw_dot22(const int16_t *x, const int16_t *w, int32_t n, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int16_t *const end = x + CW_BLOCK_STEP * n;
    uint32_t xa0, xb0, xa1, xb1, wa, wb;
    if (n & 1)
    {
        __asm__ volatile(CW_BLOCK_ASM CW_OPERANDS);
    }
    if (n > 1)
    {
        __asm__ volatile("1:\n\t" CW_BLOCK_ASM CW_BLOCK_ASM "cmp %[x], %[end]\n\t"
                                                            "bne 1b" CW_OPERANDS);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}

/* One channel's two accumulators (pixels 0 and 1, each 2 acc: the weights and bias are doubled)
 * to int8 before the clamp: SMMLAR with the rounding and the output offset folded in, minus 1 for
 * a negative acc, then the shift; the record's multiplier in xa0, rounding in xb0, shift in xa1
 * (see cw_store2). */
#define CW_RQ_ASM(acc)                                                                                             \
    "add %[wa], %[xb0], %[" acc "], asr #31\n\t"                                                                   \
    "smmlar %[" acc "], %[" acc "], %[xa0], %[wa]\n\t"                                                             \
    "asr %[" acc "], %[" acc "], %[xa1]\n\t"
#define CW_CLAMP_ASM(acc)                                                                                          \
    "cmp %[" acc "], %[xb1]\n\t"                                                                                   \
    "it lt\n\t"                                                                                                    \
    "movlt %[" acc "], %[xb1]\n\t"                                                                                 \
    "cmp %[" acc "], %[wb]\n\t"                                                                                    \
    "it gt\n\t"                                                                                                    \
    "movgt %[" acc "], %[wb]\n\t"
/* Every channel pair of one pixel pair, written out (GCC kept the loop's constants on the stack
 * around each requantization, ~95 instructions per pair besides the dot products). Per pair:
 * both biases, the dot products (two blocks per iteration; an odd count, `enter` CW_ODD_ASM,
 * enters the loop at its second block), both records,
 * 4 x 4 requantization, the clamp (SSAT for the full int8 range, else the activation range),
 * 4 stores, the loop test. */
#define CW_PAIRS_ASM(clamp, enter)                                                                                      \
    "1:\n\t"                                                                                                       \
    "ldr %[x], %[rec]\n\t"                                                                                         \
    "ldr %[a0], [%[x]]\n\t"                                                                                        \
    "ldr %[a2], [%[x], #16]\n\t"                                                                                   \
    "mov %[a1], %[a0]\n\t"                                                                                         \
    "mov %[a3], %[a2]\n\t"                                                                                         \
    "ldr %[x], %[col]\n\t"                                                                                         \
    "ldr %[end], %[colend]\n\t" enter "2:\n\t" CW_BLOCK_ASM "3:\n\t" CW_BLOCK_ASM "cmp %[x], %[end]\n\t"                                             \
    "bne 2b\n\t"                                                                                                   \
    "ldr %[x], %[rec]\n\t"                                                                                         \
    "ldrd %[xa0], %[xb0], [%[x], #4]\n\t"                                                                          \
    "ldr %[xa1], [%[x], #12]\n\t" CW_RQ_ASM("a0") CW_RQ_ASM("a1") "ldrd %[xa0], %[xb0], [%[x], #20]\n\t"          \
    "ldr %[xa1], [%[x], #28]\n\t"                                                                                  \
    "add %[x], %[x], #32\n\t"                                                                                      \
    "str %[x], %[rec]\n\t" CW_RQ_ASM("a2") CW_RQ_ASM("a3") clamp "ldr %[x], %[o0]\n\t"                            \
    "ldr %[end], %[o1]\n\t"                                                                                        \
    "strb %[a0], [%[x]], #1\n\t"                                                                                   \
    "strb %[a2], [%[x]], #1\n\t"                                                                                   \
    "strb %[a1], [%[end]], #1\n\t"                                                                                 \
    "strb %[a3], [%[end]], #1\n\t"                                                                                 \
    "str %[x], %[o0]\n\t"                                                                                          \
    "str %[end], %[o1]\n\t"                                                                                        \
    "ldr %[xa0], %[wend]\n\t"                                                                                      \
    "cmp %[w], %[xa0]\n\t"                                                                                         \
    "bne 1b\n\t"
#define CW_ODD_ASM "b 3f\n\t"
#define CW_SSAT_ASM                                                                                                \
    "ssat %[a0], #8, %[a0]\n\t"                                                                                    \
    "ssat %[a1], #8, %[a1]\n\t"                                                                                    \
    "ssat %[a2], #8, %[a2]\n\t"                                                                                    \
    "ssat %[a3], #8, %[a3]\n\t"
#define CW_RANGE_ASM                                                                                               \
    "ldr %[xb1], %[lo]\n\t"                                                                                        \
    "ldr %[wb], %[hi]\n\t" CW_CLAMP_ASM("a0") CW_CLAMP_ASM("a1") CW_CLAMP_ASM("a2") CW_CLAMP_ASM("a3")

/* The channel pairs of one pixel pair: outputs to o0 (pixel 0) and o1 (pixel 1), n >= 1 blocks. */
static void cw_pairs(const int16_t *col, const int16_t *w, const tfc_conv_wide_channel *r, int32_t out_c, int32_t n,
                     int8_t *o0, int8_t *o1, int32_t lo, int32_t hi)
{
    const int16_t *const colend = col + CW_BLOCK_STEP * n;
    const int16_t *const wend = w + 8 * n * (out_c / 2);
    uint32_t a0, a1, a2, a3, x, end, xa0, xb0, xa1, xb1, wa, wb;
#define CW_PAIRS_OPERANDS                                                                                          \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w), [x] "=&r"(x), [end] "=&r"(end), \
      [xa0] "=&r"(xa0), [xb0] "=&r"(xb0), [xa1] "=&r"(xa1), [xb1] "=&r"(xb1), [wa] "=&r"(wa), [wb] "=&r"(wb),      \
      [rec] "+m"(r), [o0] "+m"(o0), [o1] "+m"(o1)                                                                  \
    : [col] "m"(col), [colend] "m"(colend), [wend] "m"(wend), [lo] "m"(lo),                                      \
      [hi] "m"(hi)                                                                                                 \
    : "cc", "memory"
    const int full = lo == -128 && hi == 127;
    if (full && (n & 1) == 0)
    {
        __asm__ volatile(CW_PAIRS_ASM(CW_SSAT_ASM, "") CW_PAIRS_OPERANDS);
    }
    else if (full)
    {
        __asm__ volatile(CW_PAIRS_ASM(CW_SSAT_ASM, CW_ODD_ASM) CW_PAIRS_OPERANDS);
    }
    else if ((n & 1) == 0)
    {
        __asm__ volatile(CW_PAIRS_ASM(CW_RANGE_ASM, "") CW_PAIRS_OPERANDS);
    }
    else
    {
        __asm__ volatile(CW_PAIRS_ASM(CW_RANGE_ASM, CW_ODD_ASM) CW_PAIRS_OPERANDS);
    }
#undef CW_PAIRS_OPERANDS
}
#else
static inline const int16_t *cw_dot22(const int16_t *x, const int16_t *w, int32_t n, uint32_t acc[4])
{
    for (int32_t b = 0; b < n; b++, x += CW_BLOCK_STEP, w += 8)
    {
        for (int32_t ch = 0; ch < 2; ch++)
        {
            const uint32_t wa = (uint32_t)tfc_read_s16x2(w + 4 * ch), wb = (uint32_t)tfc_read_s16x2(w + 4 * ch + 2);
            for (int32_t px = 0; px < 2; px++)
            {
                const uint32_t xa = (uint32_t)tfc_read_s16x2(x + 4 * px), xb = (uint32_t)tfc_read_s16x2(x + 4 * px + 2);
                acc[2 * ch + px] = __SMLAD(xb, wb, __SMLAD(xa, wa, acc[2 * ch + px]));
            }
        }
    }
    return w;
}
#endif

/* The window of output pixel p into one pixel's blocks at col (tails already zero). Window rows
 * that lie whole inside the input and span a multiple of 4 values are widened straight from the
 * input; any other window is gathered into col8 (Kp int8, padded taps and the tail the input zero
 * point) a row or a tap at a time, then widened whole. */
static void cw_window(const tfc_conv_wide_geometry *g, const int8_t *input, int32_t p, uint32_t lo2, int16_t *col,
                      int8_t *col8)
{
    const int32_t seg = g->k_w * g->in_c, cin = g->in_c, row = g->in_w * cin;
    const int32_t oy = p / g->out_w, ox = p - oy * g->out_w;
    const int32_t iy0 = oy * g->stride_y - g->pad_top, ix0 = ox * g->stride_x - g->pad_left;
    const int inside_x = ix0 >= 0 && ix0 + g->k_w <= g->in_w;
    const int8_t zp = (int8_t)-g->input_offset;
    const int8_t *src = input + ((int64_t)iy0 * g->in_w + ix0) * cin;
    if (inside_x && (seg & 3) == 0)
    {
        for (int32_t ky = 0; ky < g->k_h; ky++, src += row)
        {
            const int32_t iy = iy0 + ky;
            int16_t *dst = col + (ky * seg / 4) * CW_BLOCK_STEP;
            if (iy >= 0 && iy < g->in_h)
            {
                cw_widen(src, seg, lo2, dst);
            }
            else
            {
                cw_zero(seg, dst);
            }
        }
        return;
    }
    for (int32_t ky = 0; ky < g->k_h; ky++, src += row)
    {
        const int32_t iy = iy0 + ky;
        int8_t *dst = col8 + ky * seg;
        if (iy < 0 || iy >= g->in_h)
        {
            memset(dst, zp, (size_t)seg);
        }
        else if (inside_x)
        {
            cw_copy(dst, src, seg);
        }
        else
        {
            for (int32_t kx = 0; kx < g->k_w; kx++, dst += cin)
            {
                const int32_t ix = ix0 + kx;
                if (ix >= 0 && ix < g->in_w)
                {
                    cw_copy(dst, src + kx * cin, cin);
                }
                else
                {
                    memset(dst, zp, (size_t)cin);
                }
            }
        }
    }
    cw_widen(col8, (g->k_h * seg + 3) & ~3, lo2, col);
}

/* Two accumulators of one channel (each 2 acc) to int8: requantize(acc) + the output offset as
 * one SMMLAR with the rounding and the offset folded in, then the shift (tfc.sparse.reference
 * explains why this is exact; the compiler checked each channel's accumulator bound), then the
 * clamp. */
__STATIC_FORCEINLINE void cw_store2(const tfc_conv_wide_channel *r, uint32_t a0, uint32_t a1, int8_t *o0, int8_t *o1,
                                    int32_t lo, int32_t hi)
{
    const int32_t x0 = (int32_t)a0, x1 = (int32_t)a1;
    int32_t v0 = tfc_smmlar(x0, r->mult, r->rounding + (x0 >> 31)) >> r->shift;
    int32_t v1 = tfc_smmlar(x1, r->mult, r->rounding + (x1 >> 31)) >> r->shift;
    v0 = v0 < lo ? lo : v0;
    v1 = v1 < lo ? lo : v1;
    *o0 = (int8_t)(v0 > hi ? hi : v0);
    *o1 = (int8_t)(v1 > hi ? hi : v1);
}

/* Every channel pair of one pixel pair whose column is at col (blocks >= 1). */
static void cw_pairs_of(const tfc_conv_wide_geometry *g, const int16_t *col, const int16_t *weights,
                        const tfc_conv_wide_channel *channels, int32_t blocks, int8_t *o0, int8_t *o1)
{
#if TFC_ASM_LOOPS
    cw_pairs(col, weights, channels, g->out_c, blocks, o0, o1, g->act_min, g->act_max);
#else
    const int16_t *w = weights;
    const tfc_conv_wide_channel *r = channels;
    for (int32_t c = 0; c < g->out_c; c += 2, r += 2)
    {
        uint32_t acc[4] = {(uint32_t)r[0].bias, (uint32_t)r[0].bias, (uint32_t)r[1].bias, (uint32_t)r[1].bias};
        w = cw_dot22(col, w, blocks, acc);
        cw_store2(&r[0], acc[0], acc[1], o0 + c, o1 + c, g->act_min, g->act_max);
        cw_store2(&r[1], acc[2], acc[3], o0 + c + 1, o1 + c + 1, g->act_min, g->act_max);
    }
#endif
}
#endif /* TFC_NN_DSP */

int32_t tfc_convolve_wide_s8_get_buffer_size(const tfc_conv_wide_geometry *g)
{
    /* two pixels' int16 columns, the int8 column, a spare output row, 8 bytes to align for LDRD */
    const int32_t kp = (g->k_h * g->k_w * g->in_c + 3) & ~3;
    return 5 * kp + g->out_c + 8;
}

int32_t tfc_convolve_wide_s8_get_rows_buffer_size(const tfc_conv_wide_geometry *g)
{
    /* with a ring of rows: no int8 column (the spare row takes its place) */
    const int32_t kp = (g->k_h * g->k_w * g->in_c + 3) & ~3;
    return 4 * kp + g->out_c + 8;
}

int32_t tfc_convolve_wide_s8_rows_width(const tfc_conv_wide_geometry *g)
{
    /* columns from the left padding on up to the last window of the last pixel pair (an odd
     * row's last pixel pairs with one beyond the row, whose output is dropped) */
    return (g->out_w - 1 + (g->out_w & 1)) * g->stride_x + g->k_w;
}

int32_t tfc_convolve_wide_s8_get_rows_size(const tfc_conv_wide_geometry *g)
{
    return g->k_h * tfc_convolve_wide_s8_rows_width(g) * g->in_c * (int32_t)sizeof(int16_t) + 8;
}

#if TFC_NN_DSP
/* The pixel pairs of output pixels [p, p_end) (rows of the layer's output): per pair both
 * windows widened from the int8 input, then every channel pair. */
static void cw_pixel_pairs(const tfc_conv_wide_geometry *g, const int8_t *input, const int16_t *weights,
                           const tfc_conv_wide_channel *channels, int8_t *output, int16_t *col, int8_t *col8,
                           int8_t *spare, int32_t p, int32_t p_end)
{
    const int32_t out_c = g->out_c, blocks = ((g->k_h * g->k_w * g->in_c + 3) & ~3) / 4;
    const uint32_t lo2 = __PKHBT((uint32_t)g->input_offset, (uint32_t)g->input_offset, 16);
    for (; p < p_end; p += 2, output += 2 * out_c)
    {
        /* An odd last pixel is computed twice; its copy goes to the spare row. */
        const int two = p + 1 < p_end;
        int8_t *const out1 = two ? output + out_c : spare;
        cw_window(g, input, p, lo2, col, col8);
        cw_window(g, input, two ? p + 1 : p, lo2, col + 4, col8);
        cw_pairs_of(g, col, weights, channels, blocks, output, out1);
    }
}

/* n blocks of 4 int16 from s and from s + pair (both pixels' window row) interleaved into a
 * two-pixel column at d. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
static void cw_interleave(uint64_t *d, const uint64_t *s, int32_t pair, int32_t n)
{
    /* LDM/STM two blocks of each pixel at a time (3 instructions a block): the register lists
     * are in the column's memory order (pixel 0's block, pixel 1's block, ...). */
    register uint64_t *rd __asm__("r8") = d;
    register const uint64_t *r0p __asm__("r9") = s;
    register const uint64_t *r1p __asm__("r10") = s + pair;
    register const uint64_t *rend __asm__("r11") = s + n;
    if (n & 1)
    {
        __asm__ volatile("ldm %[s0]!, {r0, r1}\n\t"
                         "ldm %[s1]!, {r4, r5}\n\t"
                         "stm %[d]!, {r0, r1, r4, r5}\n\t"
                         : [d] "+r"(rd), [s0] "+r"(r0p), [s1] "+r"(r1p)
                         :
                         : "r0", "r1", "r4", "r5", "memory");
    }
    if (r0p != rend)
    {
        __asm__ volatile("1:\n\t"
                         "ldm %[s0]!, {r0, r1, r2, r3}\n\t"
                         "ldm %[s1]!, {r4, r5, r6, r12}\n\t"
                         "stm %[d]!, {r0, r1, r4, r5}\n\t"
                         "stm %[d]!, {r2, r3, r6, r12}\n\t"
                         "cmp %[s0], %[end]\n\t"
                         "bne 1b\n\t"
                         : [d] "+r"(rd), [s0] "+r"(r0p), [s1] "+r"(r1p)
                         : [end] "r"(rend)
                         : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r12", "cc", "memory");
    }
}
#else
static void cw_interleave(uint64_t *d, const uint64_t *s, int32_t pair, int32_t n)
{
    for (int32_t b = 0; b < n; b++, d += 2)
    {
        d[0] = s[b];
        d[1] = s[b + pair];
    }
}
#endif

/* Input row iy widened into one row of the ring (tfc_convolve_wide_s8_rows_width columns from
 * the left padding on, int16 in SLOT order per 4 channels; padding and rows outside the input 0,
 * which is what a padded tap adds). */
static void cw_widen_row(const tfc_conv_wide_geometry *g, const int8_t *input, int32_t iy, uint32_t lo2,
                         int32_t width, int16_t *dst)
{
    const int32_t cin = g->in_c;
    const int32_t left = g->pad_left < width ? g->pad_left : width;
    int32_t cols = width - left;
    cols = cols < g->in_w ? cols : g->in_w;
    if (iy < 0 || iy >= g->in_h || cols <= 0)
    {
        memset(dst, 0, (size_t)(width * cin) * sizeof(int16_t));
        return;
    }
    memset(dst, 0, (size_t)(left * cin) * sizeof(int16_t));
    cw_widen_plain(input + (int64_t)iy * g->in_w * cin, cols * cin, lo2, dst + left * cin);
    memset(dst + (left + cols) * cin, 0, (size_t)((width - left - cols) * cin) * sizeof(int16_t));
}

/* Output rows [r, r_end) from input rows widened once each into a ring of k_h int16 rows: a
 * pixel pair's column is copied from the ring (two 8-byte blocks per 4 window values) instead of
 * widened from the input per pair (in_c a multiple of 4, so the blocks of a window row are whole
 * pixels). */
static void cw_row_pairs(const tfc_conv_wide_geometry *g, const int8_t *input, const int16_t *weights,
                         const tfc_conv_wide_channel *channels, int8_t *output, int32_t out_row_step, int16_t *col,
                         int8_t *spare, int16_t *ring, int32_t r, int32_t r_end, tfc_conv_wide_row_fn row_done,
                         void *ctx)
{
    const int32_t cin = g->in_c, out_c = g->out_c, width = tfc_convolve_wide_s8_rows_width(g);
    const int32_t seg = g->k_w * cin / 4, pitch = width * cin / 4, pair = g->stride_x * cin / 4;
    const int32_t blocks = g->k_h * seg;
    const uint32_t lo2 = __PKHBT((uint32_t)g->input_offset, (uint32_t)g->input_offset, 16);
    const uint64_t *rows[TFC_CONV_WIDE_MAX_ROWS];
    int32_t next = INT32_MIN; /* rows [next - k_h, next) are in the ring */
    for (; r < r_end; r++, output += out_row_step)
    {
        const int32_t iy0 = r * g->stride_y - g->pad_top;
        for (int32_t iy = iy0 > next ? iy0 : next; iy < iy0 + g->k_h; iy++)
        {
            cw_widen_row(g, input, iy, lo2, width, ring + ((iy + g->pad_top) % g->k_h) * width * cin);
        }
        next = iy0 + g->k_h;
        for (int32_t ky = 0; ky < g->k_h; ky++)
        {
            rows[ky] = (const uint64_t *)(const void *)ring + ((iy0 + ky + g->pad_top) % g->k_h) * pitch;
        }
        for (int32_t ox = 0; ox < g->out_w; ox += 2)
        {
            uint64_t *d = (uint64_t *)(void *)col;
            for (int32_t ky = 0; ky < g->k_h; ky++, d += 2 * seg)
            {
                cw_interleave(d, rows[ky] + ox * pair, pair, seg);
            }
            int8_t *const o0 = output + ox * out_c;
            cw_pairs_of(g, col, weights, channels, blocks, o0, ox + 1 < g->out_w ? o0 + out_c : spare);
        }
        if (row_done != NULL)
        {
            row_done(ctx, output, r);
        }
    }
}
#endif /* TFC_NN_DSP */

void tfc_convolve_wide_s8(const tfc_conv_wide_geometry *g,
                          const int8_t *input,
                          const int16_t *weights,
                          const tfc_conv_wide_channel *channels,
                          int8_t *output,
                          void *scratch,
                          void *rows,
                          int32_t row_begin,
                          int32_t row_end,
                          int32_t input_row)
{
    tfc_convolve_wide_rows_s8(g, input, weights, channels, output, g->out_w * g->out_c, scratch, rows, row_begin,
                              row_end, input_row, NULL, NULL);
}

void tfc_convolve_wide_rows_s8(const tfc_conv_wide_geometry *g,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               int32_t out_row_step,
                               void *scratch,
                               void *rows,
                               int32_t row_begin,
                               int32_t row_end,
                               int32_t input_row,
                               tfc_conv_wide_row_fn row_done,
                               void *ctx)
{
    /* A band (fused tiles): `input` holds the input's rows from input_row on. Input rows counted
     * from there: the top padding grows by input_row and the input ends input_row rows earlier,
     * so padding is still decided against the whole input (the band holds every row read). */
    tfc_conv_wide_geometry band;
    if (input_row != 0)
    {
        band = *g;
        band.pad_top += input_row;
        band.in_h -= input_row;
        g = &band;
    }
    const int32_t kp = (g->k_h * g->k_w * g->in_c + 3) & ~3;
    const int32_t out_c = g->out_c, lo = g->act_min, hi = g->act_max;
#if TFC_NN_DSP
    int16_t *col = (int16_t *)(void *)(((uintptr_t)scratch + 7U) & ~(uintptr_t)7U);
    int8_t *col8 = (int8_t *)(col + 2 * kp);
    int8_t *spare = col8 + kp;
    (void)lo;
    (void)hi;
    (void)out_c;
    if (rows != NULL)
    {
        spare = col8; /* tfc_convolve_wide_s8_get_rows_buffer_size: no int8 column */
        int16_t *ring = (int16_t *)(void *)(((uintptr_t)rows + 7U) & ~(uintptr_t)7U);
        cw_row_pairs(g, input, weights, channels, output, out_row_step, col, spare, ring, row_begin, row_end,
                     row_done, ctx);
        return;
    }
    memset(col, 0, (size_t)kp * 2 * sizeof(int16_t));
    memset(col8, (int8_t)-g->input_offset, (size_t)kp);
    if (row_done == NULL)
    {
        cw_pixel_pairs(g, input, weights, channels, output, col, col8, spare, row_begin * g->out_w,
                       row_end * g->out_w);
        return;
    }
    for (int32_t r = row_begin; r < row_end; r++, output += out_row_step)
    {
        cw_pixel_pairs(g, input, weights, channels, output, col, col8, spare, r * g->out_w, (r + 1) * g->out_w);
        row_done(ctx, output, r);
    }
#else
    /* Portable build: the same weights and records, one product at a time; window value i sits
     * at cw_slot[i % 4] of its block. */
    static const int8_t cw_slot[4] = {0, 2, 1, 3};
    const int32_t blocks = kp / 4;
    (void)scratch;
    (void)rows;
    for (int32_t oy = row_begin; oy < row_end; oy++, output += out_row_step)
    {
        for (int32_t ox = 0; ox < g->out_w; ox++)
        {
            for (int32_t c = 0; c < out_c; c++)
            {
                const int16_t *w = weights + (c / 2) * blocks * 8 + (c % 2) * 4;
                const tfc_conv_wide_channel *r = &channels[c];
                uint32_t acc = (uint32_t)r->bias;
                for (int32_t ky = 0, i = 0; ky < g->k_h; ky++)
                {
                    const int32_t iy = oy * g->stride_y - g->pad_top + ky;
                    for (int32_t kx = 0; kx < g->k_w; kx++)
                    {
                        const int32_t ix = ox * g->stride_x - g->pad_left + kx;
                        const int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
                        for (int32_t ci = 0; ci < g->in_c; ci++, i++)
                        {
                            if (inside)
                            {
                                const int32_t x =
                                    input[((int64_t)iy * g->in_w + ix) * g->in_c + ci] + g->input_offset;
                                acc += (uint32_t)(x * w[(i / 4) * 8 + cw_slot[i & 3]]);
                            }
                        }
                    }
                }
                /* 2 acc (doubled weights and bias): halving it is exact */
                output[ox * out_c + c] =
                    (int8_t)tfc_requantize_to_s8((int32_t)acc >> 1, r->mult, -r->shift, g->output_offset, lo, hi);
            }
        }
        if (row_done != NULL)
        {
            row_done(ctx, output, oy);
        }
    }
#endif
}
