/*
 * tfc runtime: tfc_layernorm_s8, LayerNorm in integers only (see tfc_transformer_kernels.h).
 * Python twin: tfc.quant.transformer_ops.layernorm_rows.
 *
 * Per row the statistics (one pass), an integer square root and one division; per element
 * d_i = C q_i - sum, then two rounding high multiplies (SMMULR by the row's reciprocal square
 * root, SMMLAR by the channel's gamma with its beta) and one shift.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

#if defined(__ARM_FEATURE_DSP) && !defined(TFC_EMULATE_DSP) && defined(__GNUC__)
#define TFC_LN_ASM 1
#else
#define TFC_LN_ASM 0
#endif

/* floor((a b + 2^31) / 2^32): SMMULR. */
__STATIC_FORCEINLINE int32_t smmulr(int32_t a, int32_t b)
{
#if TFC_LN_ASM
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(uint32_t)(((uint64_t)((int64_t)a * b) + 0x80000000U) >> 32);
#endif
}

/* acc + floor((a b + 2^31) / 2^32) modulo 2^32: SMMLAR. */
__STATIC_FORCEINLINE int32_t smmlar(int32_t a, int32_t b, int32_t acc)
{
#if TFC_LN_ASM
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return tfc_add_wrap(acc, smmulr(a, b));
#endif
}

/* floor(sqrt(v)) for v < 2^62, two bits at a time. */
static uint32_t isqrt_u64(uint64_t v)
{
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > v)
    {
        bit >>= 2;
    }
    while (bit != 0)
    {
        if (v >= res + bit)
        {
            v -= res + bit;
            res = (res >> 1) + bit;
        }
        else
        {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

static int32_t clz_u64(uint64_t v)
{
    const uint32_t hi = (uint32_t)(v >> 32);
    if (hi != 0U)
    {
        return __builtin_clz(hi);
    }
    return (uint32_t)v != 0U ? 32 + __builtin_clz((uint32_t)v) : 64;
}

/* Sum and sum of squares of n int8 values. */
static void row_moments(const int8_t *in, int32_t n, int32_t *sum, uint32_t *sum_sq)
{
    int32_t s = 0;
    uint32_t s2 = 0;
    int32_t i = 0;
#if TFC_NN_DSP
    const uint32_t ones = 0x00010001U;
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t w = (uint32_t)tfc_read_s8x4(in + i);
        const uint32_t even = __SXTB16(w);
        const uint32_t odd = tfc_sxtb16_ror8(w);
        s = (int32_t)__SMLAD(even, ones, __SMLAD(odd, ones, (uint32_t)s));
        s2 = __SMLAD(even, even, __SMLAD(odd, odd, s2));
    }
#endif
    for (; i < n; i++)
    {
        s += in[i];
        s2 += (uint32_t)(in[i] * in[i]);
    }
    *sum = s;
    *sum_sq = s2;
}

/* The per-element pass; `clamp` is a constant at each call, so the two copies differ only in
 * whether they clamp to an activation range inside int8. */
__STATIC_FORCEINLINE void normalize_row(const int8_t *in, int8_t *out, int32_t width, uint32_t c_shifted,
                                        uint32_t sum_shifted, int32_t recip, const int32_t *mult,
                                        const int32_t *bias, int32_t extra_bits, int clamp, int32_t act_min,
                                        int32_t act_max)
{
    for (int32_t i = 0; i < width; i++)
    {
        /* d_i 2^a = (C q_i - sum) 2^a, exact modulo 2^32 and below 2^31 in magnitude. */
        const int32_t d = (int32_t)(c_shifted * (uint32_t)in[i] - sum_shifted);
        const int32_t t = smmlar(smmulr(d, recip), mult[i], bias[i]);
#if TFC_NN_DSP
        int32_t y = __SSAT(t >> extra_bits, 8);
#else
        int32_t y = tfc_clamp(t >> extra_bits, INT8_MIN, INT8_MAX);
#endif
        if (clamp)
        {
            y = tfc_clamp(y, act_min, act_max);
        }
        out[i] = (int8_t)y;
    }
}

void tfc_layernorm_s8(const int8_t *input,
                      int8_t *output,
                      int32_t rows,
                      int32_t width,
                      int32_t prescale,
                      uint64_t eps_term,
                      const int32_t *mult,
                      const int32_t *bias,
                      int32_t extra_bits,
                      int32_t act_min,
                      int32_t act_max)
{
    const int clamp = act_min > INT8_MIN || act_max < INT8_MAX;
    for (int32_t row = 0; row < rows; row++)
    {
        const int8_t *in = input + row * width;
        int8_t *out = output + row * width;
        int32_t sum;
        uint32_t sum_sq;
        row_moments(in, width, &sum, &sum_sq);
        /* sum_i d_i^2 = C (C sum q^2 - sum^2) */
        const uint64_t spread = (uint64_t)width * (uint64_t)((int64_t)width * sum_sq - (int64_t)sum * sum);
        const uint64_t v = (spread << (2 * prescale)) + eps_term;
        int32_t recip = 0;
        int32_t a = 0;
        if (v != 0)
        {
            const int32_t k = (clz_u64(v) - 2) / 2;
            const uint32_t r = isqrt_u64(v << (2 * k)); /* in [2^30, 2^31) */
            const uint64_t q = (((uint64_t)1 << 61) + r / 2) / r;
            recip = q > (uint64_t)NN_Q31_MAX ? NN_Q31_MAX : (int32_t)q;
            a = TFC_MIN(k + prescale, 31);
        }
        const uint32_t c_shifted = (uint32_t)width << a;
        const uint32_t sum_shifted = (uint32_t)sum << a;
        if (clamp)
        {
            normalize_row(in, out, width, c_shifted, sum_shifted, recip, mult, bias, extra_bits, 1, act_min, act_max);
        }
        else
        {
            normalize_row(in, out, width, c_shifted, sum_shifted, recip, mult, bias, extra_bits, 0, act_min, act_max);
        }
    }
}
