/*
 * tfc runtime: tfc_softmax_s8, arm_softmax_s8's integers with exp() read from a per-layer table
 * (see tfc_transformer_kernels.h). Python twin: tfc.quant.reference.softmax; the table comes
 * from tfc.quant.reference.softmax_exp_table.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

#define ACCUM_BITS 12 /* integer bits of the sum of exponentials, as in arm_softmax_s8 */
#define TERM_ROUND (1U << (ACCUM_BITS - 1)) /* the table's bias: rdbpot(e, 12) = (e + 2^11) >> 12 */

/* gemmlowp SaturatingRoundingDoublingHighMul for (a, b) != (INT32_MIN, INT32_MIN): its nudged,
 * truncating division equals floor((a b + 2^30) / 2^31) for every sign. */
static int32_t srdhm(int32_t a, int32_t b)
{
    const uint64_t ab = (uint64_t)((int64_t)a * b) + ((uint64_t)1 << 30);
    return (int32_t)(uint32_t)(ab >> 31);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31): three Newton-Raphson steps. Every product
 * has a positive operand, so srdhm never meets (INT32_MIN, INT32_MIN). */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t s = (int64_t)a + (int64_t)NN_Q31_MAX;
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = tfc_add_wrap(1515870810, srdhm(half_denominator, -1010580540));
    for (int32_t i = 0; i < 3; i++)
    {
        const int32_t one_minus = tfc_add_wrap(1 << 29, (int32_t)(0U - (uint32_t)srdhm(half_denominator, x)));
        x = tfc_add_wrap(x, tfc_sat_shl(srdhm(x, one_minus), 2));
    }
    return tfc_sat_shl(x, 1);
}

/* min(y, 255) for y >= 0 (USAT on Arm). */
static inline uint32_t saturate_u8(uint32_t y)
{
#if TFC_NN_DSP && defined(__ARM_FEATURE_SAT) && !defined(TFC_EMULATE_DSP)
    return (uint32_t)__usat((int32_t)y, 8);
#else
    return TFC_MIN(y, 255U);
#endif
}

static int32_t row_max(const int8_t *in, int32_t n)
{
    int32_t max = INT8_MIN;
    int32_t i = 0;
#if TFC_NN_DSP && defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
    /* Four lanes at a time: SSUB8 sets a GE flag per byte where m >= x, SEL keeps those bytes. */
    if (n >= 8)
    {
        uint32_t m = (uint32_t)tfc_read_s8x4(in);
        for (i = 4; i + 4 <= n; i += 4)
        {
            const uint32_t x = (uint32_t)tfc_read_s8x4(in + i);
            (void)__ssub8((int8x4_t)m, (int8x4_t)x);
            m = __sel(m, x);
        }
        const int8_t *b = (const int8_t *)&m;
        max = TFC_MAX(TFC_MAX(b[0], b[1]), TFC_MAX(b[2], b[3]));
    }
#endif
    for (; i < n; i++)
    {
        max = TFC_MAX(max, (int32_t)in[i]);
    }
    return max;
}

/* Both entry points: out_mult 0 keeps arm_softmax_s8's integers (output scale 1/256); otherwise
 * the per-row reciprocal is multiplied by out_mult (Q0.31) and the exponent lowered by out_shift,
 * so the probabilities land on scale 1/(256 out_mult 2^(out_shift - 31)) with one rounding. */
__STATIC_FORCEINLINE void softmax_rows(const int8_t *input,
                                       int32_t num_rows,
                                       int32_t row_size,
                                       const uint32_t exp_table[256],
                                       int32_t out_mult,
                                       int32_t out_shift,
                                       int8_t *output)
{
    for (int32_t r = 0; r < num_rows; r++, input += row_size, output += row_size)
    {
        /* E[x] = exp_table[x - max + 255] = e + 2^11, e the Q0.31 exp() of the difference to the
         * row maximum (0 below diff_min). */
        const uint32_t *E = exp_table + 255 - row_max(input, row_size);
        uint32_t sum = 0; /* wraps like arm_softmax_s8's */
        for (int32_t i = 0; i < row_size; i++)
        {
            sum += E[input[i]] >> ACCUM_BITS;
        }
        const int32_t headroom = sum == 0U ? 32 : __builtin_clz(sum);
        int32_t scale = one_over_one_plus_x((int32_t)((sum << (headroom & 31)) - 0x80000000U));
        int32_t exponent = (ACCUM_BITS - headroom) + 31 - 8;
        if (out_mult != 0)
        {
            scale = srdhm(scale, out_mult); /* out_mult > 0: keeps the sign the test below reads */
            exponent -= out_shift;
        }
        if (exponent > 31 || scale < 0)
        {
            /* rdbpot(srdhm(scale, e), exponent) is 0 for a value in [0, 2^31) and exponent > 31, and
             * <= 0 for scale < 0 (a sum that wrapped to exactly 0): every output is -128. */
            for (int32_t i = 0; i < row_size; i++)
            {
                output[i] = INT8_MIN;
            }
            continue;
        }
        /* arm_softmax_s8 rounds twice: v = (scale e + 2^30) >> 31, then (v + 2^(exponent-1)) >>
         * exponent, both on values >= 0. Nested floors of positive divisions merge into one:
         * (scale e + 2^30 + 2^(30 + exponent)) >> (31 + exponent), and 31 + exponent >= 32
         * (exponent = 35 - headroom - out_shift >= 3: headroom <= 12, out_shift <= 20), so only the high word is shifted. The table's bias
         * 2^11 is taken back out of the per-row constant (modulo 2^64; the sum itself is >= 0). */
        uint32_t s = (uint32_t)scale;
#if defined(__GNUC__) && defined(__arm__)
        /* Hide that scale >= 0 here: GCC otherwise keeps it sign-extended and adds a needless
         * multiply of the (zero) high word to every element's product. */
        __asm__("" : "+r"(s));
#endif
        const uint64_t round = ((uint64_t)1 << 30) + ((uint64_t)1 << (30 + exponent)) - (uint64_t)s * TERM_ROUND;
        const int32_t down = exponent - 1;
        for (int32_t i = 0; i < row_size; i++)
        {
            const uint32_t y = (uint32_t)(((uint64_t)s * E[input[i]] + round) >> 32) >> down;
            output[i] = (int8_t)(int32_t)(saturate_u8(y) - 128U);
        }
    }
}

void tfc_softmax_s8(const int8_t *input,
                    int32_t num_rows,
                    int32_t row_size,
                    const uint32_t exp_table[256],
                    int8_t *output)
{
    softmax_rows(input, num_rows, row_size, exp_table, 0, 0, output);
}

void tfc_softmax_scaled_s8(const int8_t *input,
                           int32_t num_rows,
                           int32_t row_size,
                           const uint32_t exp_table[256],
                           int32_t out_mult,
                           int32_t out_shift,
                           int8_t *output)
{
    softmax_rows(input, num_rows, row_size, exp_table, out_mult, out_shift, output);
}
