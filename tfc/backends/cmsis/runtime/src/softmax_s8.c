/*
 * tfc runtime: arm_softmax_s8, TFLite Micro's reference int8 softmax in gemmlowp fixed point:
 * differences to the row maximum, rescaled to Q5.26, exp() in Q0.31, sum in Q12.19, one
 * reciprocal per row, output in 1/256 steps with zero point -128.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_support.h"

#define ACCUM_BITS 12 /* integer bits of the sum of exponentials */

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in and out):
 * Taylor series around -1/8. */
static int32_t exp_on_interval(int32_t a)
{
    const int32_t x = tfc_add_wrap(a, 1 << 28);
    const int32_t x2 = tfc_srdhm(x, x);
    const int32_t x3 = tfc_srdhm(x2, x);
    const int32_t x4 = tfc_srdhm(x2, x2);
    const int32_t x4_over_4 = tfc_rdbpot(x4, 2);
    const int32_t poly = tfc_rdbpot(tfc_add_wrap(tfc_srdhm(tfc_add_wrap(x4_over_4, x3), 715827883), x2), 1);
    return tfc_add_wrap(1895147668, tfc_srdhm(1895147668, tfc_add_wrap(x, poly)));
}

/* gemmlowp exp_on_negative_values for a Q5.26 input <= 0, result in Q0.31. */
static int32_t exp_on_negative_values(int32_t a)
{
    /* exp(a) = exp(a mod 1/4 - 1/4) * product of exp(-2^k) for the bits set in the rest. */
    static const int32_t k_exp_pow2[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = exp_on_interval(tfc_sat_shl(a_mod_quarter_minus_quarter, 5));
    const int32_t remainder = tfc_add_wrap(a_mod_quarter_minus_quarter, (int32_t)(0U - (uint32_t)a));
    for (int32_t i = 0; i < 7; i++)
    {
        if (remainder & (1 << (24 + i)))
        {
            result = tfc_srdhm(result, k_exp_pow2[i]);
        }
    }
    return a == 0 ? NN_Q31_MAX : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31): three Newton-Raphson steps. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t s = (int64_t)a + (int64_t)NN_Q31_MAX;
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = tfc_add_wrap(1515870810, tfc_srdhm(half_denominator, -1010580540));
    for (int32_t i = 0; i < 3; i++)
    {
        const int32_t one_minus = tfc_add_wrap(1 << 29, (int32_t)(0U - (uint32_t)tfc_srdhm(half_denominator, x)));
        x = tfc_add_wrap(x, tfc_sat_shl(tfc_srdhm(x, one_minus), 2));
    }
    return tfc_sat_shl(x, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0U)
    {
        return 32;
    }
    while ((x & 0x80000000U) == 0U)
    {
        x <<= 1;
        n++;
    }
    return n;
}

void arm_softmax_s8(const int8_t *input,
                    const int32_t num_rows,
                    const int32_t row_size,
                    const int32_t mult,
                    const int32_t shift,
                    const int32_t diff_min,
                    int8_t *output)
{
    for (int32_t r = 0; r < num_rows; r++, input += row_size, output += row_size)
    {
        int32_t max = INT8_MIN;
        for (int32_t i = 0; i < row_size; i++)
        {
            max = TFC_MAX(max, (int32_t)input[i]);
        }
        int32_t sum = 0;
        for (int32_t i = 0; i < row_size; i++)
        {
            const int32_t diff = input[i] - max;
            if (diff >= diff_min)
            {
                const int32_t e = exp_on_negative_values(tfc_srdhm(tfc_shl_wrap(diff, shift), mult));
                sum = tfc_add_wrap(sum, tfc_rdbpot(e, ACCUM_BITS));
            }
        }
        /* Reciprocal of the sum, normalised to [1, 2) as 1 + x with x in [0, 1). */
        const int32_t headroom = count_leading_zeros((uint32_t)sum);
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum << (headroom & 31)) - 0x80000000U);
        const int32_t scale = one_over_one_plus_x(shifted_sum_minus_one);
        const int32_t exponent = (ACCUM_BITS - headroom) + 31 - 8;
        for (int32_t i = 0; i < row_size; i++)
        {
            const int32_t diff = input[i] - max;
            if (diff >= diff_min)
            {
                const int32_t e = exp_on_negative_values(tfc_srdhm(tfc_shl_wrap(diff, shift), mult));
                const int32_t out = tfc_rdbpot(tfc_srdhm(scale, e), exponent) + INT8_MIN;
                output[i] = (int8_t)tfc_clamp(out, INT8_MIN, INT8_MAX);
            }
            else
            {
                output[i] = INT8_MIN;
            }
        }
    }
}
