/*
 * tfc runtime: tfc_layernorm_s8, LayerNorm in integers only (see tfc_transformer_kernels.h).
 * Python twin: tfc.quant.transformer_ops.layernorm_rows.
 *
 * Per row the statistics (one pass) and a reciprocal square root by Newton steps; per element
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

/* Seeds of the reciprocal square root: 2^31 / sqrt((m + 1/2) / 16) rounded down, for the top
 * bits m = x >> 26 in 16..63 of a Q30 x in [1, 4). Python: transformer_params.LAYERNORM_RSQRT_SEED. */
static const uint32_t rsqrt_seed[48] = {
    2114695712U, 2053387115U, 1997119226U, 1945237132U, 1897199171U, 1852552937U,
    1810917217U, 1771968208U, 1735428857U, 1701060526U, 1668656405U, 1638036255U,
    1609042172U, 1581535150U, 1555392273U, 1530504391U, 1506774203U, 1484114654U,
    1462447584U, 1441702595U, 1421816090U, 1402730444U, 1384393310U, 1366757007U,
    1349777999U, 1333416449U, 1317635817U, 1302402521U, 1287685636U, 1273456629U,
    1259689126U, 1246358707U, 1233442724U, 1220920138U, 1208771377U, 1196978204U,
    1185523603U, 1174391680U, 1163567562U, 1153037323U, 1142787899U, 1132807027U,
    1123083182U, 1113605517U, 1104363818U, 1095348452U, 1086550330U, 1077960865U,
};

/* floor(a b / 2^31) for a b < 2^63. */
__STATIC_FORCEINLINE uint32_t mul_q31(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 31); }

/* R ~ 2^31 / sqrt(x / 2^30) for x in [2^30, 2^32): a seed from x's top bits, then three Newton
 * steps y <- y (3 - x y^2) / 2, each rounding down. Every step lands at or below the true root
 * (x y^2 <= 1.04 throughout), so no product passes 2^63; relative error < 2^-29. */
static uint32_t rsqrt_q31(uint32_t x)
{
    uint32_t y = rsqrt_seed[(x >> 26) - 16U];
    for (int32_t i = 0; i < 3; i++)
    {
        y = mul_q31(y, 3U * (1U << 30) - mul_q31(x, mul_q31(y, y)));
    }
    return y;
}

static int32_t clz_u64(uint64_t v)
{
    const uint32_t hi = (uint32_t)(v >> 32);
    return hi != 0U ? __builtin_clz(hi) : 32 + __builtin_clz((uint32_t)v); /* v != 0 */
}

/* Sum and sum of squares of n int8 values. */
__STATIC_FORCEINLINE void row_moments(const int8_t *in, int32_t n, int32_t *sum, uint32_t *sum_sq)
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

/* d 2^a normalized (SMMULR by the row's reciprocal square root), scaled by gamma with beta added
 * (SMMLAR), shifted and saturated to int8, clamped where `clamp`. */
__STATIC_FORCEINLINE int32_t scale_element(int32_t d, int32_t recip, int32_t m, int32_t b, int32_t extra_bits,
                                           int clamp, int32_t act_min, int32_t act_max)
{
    const int32_t t = smmlar(smmulr(d, recip), m, b);
#if TFC_NN_DSP
    int32_t y = __SSAT(t >> extra_bits, 8);
#else
    int32_t y = tfc_clamp(t >> extra_bits, INT8_MIN, INT8_MAX);
#endif
    if (clamp)
    {
        y = tfc_clamp(y, act_min, act_max);
    }
    return y;
}

/* The per-element pass; `clamp` is a constant at each call, so the two copies differ only in
 * whether they clamp to an activation range inside int8. */
__STATIC_FORCEINLINE void normalize_row(const int8_t *in, int8_t *out, int32_t width, uint32_t c_shifted,
                                        uint32_t minus_sum_shifted, int32_t recip, const int32_t *affine,
                                        int32_t extra_bits, int clamp, int32_t act_min,
                                        int32_t act_max)
{
    /* four elements per loop test */
    _Pragma("GCC unroll 4")
    for (int32_t i = 0; i < width; i++)
    {
        /* d_i 2^a = (C q_i - sum) 2^a, exact modulo 2^32 and below 2^31 in magnitude. */
        const int32_t d = (int32_t)((uint32_t)in[i] * c_shifted + minus_sum_shifted); /* one MLA */
        int32_t m, b;
#if TFC_LN_ASM
        /* GCC loads the pair with two LDRs; one post-incrementing LDRD saves an instruction. */
        __asm__("ldrd %0, %1, [%2], #8" : "=&r"(m), "=&r"(b), "+r"(affine) : "m"(*(const int32_t(*)[2])affine));
#else
        m = affine[0];
        b = affine[1];
        affine += 2;
#endif
        out[i] = (int8_t)scale_element(d, recip, m, b, extra_bits, clamp, act_min, act_max);
    }
}

/* The same values stored as a sparse layer's int16 cells (tfc/sparse/cells.py): the row's group
 * of channels g at cells + g * group_step, c0 c2 c1 c3 inside each four (width % B == 0; B is a
 * constant at each call, so every offset is an immediate). */
__STATIC_FORCEINLINE void normalize_row_cells(const int8_t *in, int16_t *cells, int32_t width, uint32_t c_shifted,
                                              uint32_t minus_sum_shifted, int32_t recip, const int32_t *affine,
                                              int32_t extra_bits, int clamp, int32_t act_min, int32_t act_max,
                                              const int32_t B, int32_t group_step)
{
    for (const int8_t *const end = in + width; in != end; in += B, affine += 2 * B, cells += group_step)
    {
        _Pragma("GCC unroll 16")
        for (int32_t k = 0; k < B; k++)
        {
            const int32_t d = (int32_t)((uint32_t)in[k] * c_shifted + minus_sum_shifted);
            const int32_t at = (k & ~3) | ((k & 1) << 1) | ((k & 2) >> 1);
            cells[at] = (int16_t)scale_element(d, recip, affine[2 * k], affine[2 * k + 1], extra_bits, clamp, act_min,
                                               act_max);
        }
    }
}

/* The usual P (tfc.quant.transformer_params.LAYERNORM_MAX_EXTRA_BITS: gamma and beta leave room
 * for all of it in most layers). */
#define LN_USUAL_EXTRA_BITS 16

/* One row's statistics: C q_i - sum scaled by 2^a (c_shifted, minus_sum_shifted) and the
 * reciprocal square root of its spread (recip). tfc_layernorm_s8 keeps its own copy of these
 * lines: calling this changes GCC's scheduling of its loop (+65 instructions on the hybrid's dense
 * build), which the dense build must not pay. */
__STATIC_FORCEINLINE void row_scale(const int8_t *in, int32_t width, int32_t prescale, uint64_t eps_term,
                                    uint32_t *c_shifted, uint32_t *minus_sum_shifted, int32_t *recip_out)
{
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
        const int32_t k = (clz_u64(v) - 2) / 2;           /* v << 2k in [2^60, 2^62) */
        const uint32_t r = rsqrt_q31((uint32_t)((v << (2 * k)) >> 30));
        recip = (int32_t)TFC_MIN(r, (uint32_t)NN_Q31_MAX);
        a = TFC_MIN(k + prescale, 31);
    }
    *c_shifted = (uint32_t)width << a;
    *minus_sum_shifted = (0U - (uint32_t)sum) << a;
    *recip_out = recip;
}

void tfc_layernorm_s8(const int8_t *input,
                      int8_t *output,
                      int32_t rows,
                      int32_t width,
                      int32_t prescale,
                      uint64_t eps_term,
                      const int32_t *affine,
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
            const int32_t k = (clz_u64(v) - 2) / 2;           /* v << 2k in [2^60, 2^62) */
            const uint32_t r = rsqrt_q31((uint32_t)((v << (2 * k)) >> 30));
            recip = (int32_t)TFC_MIN(r, (uint32_t)NN_Q31_MAX);
            a = TFC_MIN(k + prescale, 31);
        }
        const uint32_t c_shifted = (uint32_t)width << a;
        const uint32_t minus_sum_shifted = (0U - (uint32_t)sum) << a;
        if (clamp)
        {
            normalize_row(in, out, width, c_shifted, minus_sum_shifted, recip, affine, extra_bits, 1, act_min, act_max);
        }
        else if (extra_bits == LN_USUAL_EXTRA_BITS)
        {
            /* an immediate shift: SSAT shifts, one instruction fewer per element */
            normalize_row(in, out, width, c_shifted, minus_sum_shifted, recip, affine, LN_USUAL_EXTRA_BITS, 0, act_min,
                          act_max);
        }
        else
        {
            normalize_row(in, out, width, c_shifted, minus_sum_shifted, recip, affine, extra_bits, 0, act_min, act_max);
        }
    }
}

/* Rows of cells of B int16 (B = 4, 8, 16): row r's channel c in cell (c / B) * rows + r. */
#define LN_CELLS_ROWS(B)                                                                                              \
    for (int32_t row = 0; row < rows; row++)                                                                          \
    {                                                                                                                 \
        const int8_t *in = input + row * width;                                                                       \
        uint32_t c_shifted, minus_sum_shifted;                                                                        \
        int32_t recip;                                                                                                \
        row_scale(in, width, prescale, eps_term, &c_shifted, &minus_sum_shifted, &recip);                            \
        if (clamp)                                                                                                    \
        {                                                                                                             \
            normalize_row_cells(in, cells + row * (B), width, c_shifted, minus_sum_shifted, recip, affine,            \
                                extra_bits, 1, act_min, act_max, B, rows * (B));                                      \
        }                                                                                                             \
        else if (extra_bits == LN_USUAL_EXTRA_BITS)                                                                   \
        {                                                                                                             \
            normalize_row_cells(in, cells + row * (B), width, c_shifted, minus_sum_shifted, recip, affine,            \
                                LN_USUAL_EXTRA_BITS, 0, act_min, act_max, B, rows * (B));                             \
        }                                                                                                             \
        else                                                                                                          \
        {                                                                                                             \
            normalize_row_cells(in, cells + row * (B), width, c_shifted, minus_sum_shifted, recip, affine,            \
                                extra_bits, 0, act_min, act_max, B, rows * (B));                                      \
        }                                                                                                             \
    }

void tfc_layernorm_cells_s8(const int8_t *input,
                            int16_t *cells,
                            int32_t rows,
                            int32_t width,
                            int32_t prescale,
                            uint64_t eps_term,
                            const int32_t *affine,
                            int32_t extra_bits,
                            int32_t act_min,
                            int32_t act_max,
                            int32_t block)
{
    const int clamp = act_min > INT8_MIN || act_max < INT8_MAX;
    switch (block)
    {
    case 4: LN_CELLS_ROWS(4) break;
    case 8: LN_CELLS_ROWS(8) break;
    case 16: LN_CELLS_ROWS(16) break;
    default: break; /* tfc writes cells of these blocks only (tfc/sparse/cells.py BLOCKS) */
    }
}
