/*
 * tfc runtime: arm_elementwise_add_s8 / arm_elementwise_mul_s8 (TFLite Micro's reference int8
 * Add: both inputs shifted left by left_shift (20), rescaled to a common scale, summed and
 * rescaled to the output; Mul: the product of the offset inputs rescaled to the output).
 *
 * Fast path (a DSP core, or TFC_EMULATE_DSP on a host): four elements per iteration and one
 * 32-bit store (a mul also loads 32-bit words and splits them with SXTAB16; an add loads bytes
 * with LDRSB, which costs what a word load and its extractions would and frees two registers for
 * its nine constants), SSAT to int8 and, for a narrower activation range, SSUB8/SEL on the
 * packed word. The values here are small (an add's shifted input is a 9-bit value times 2^20, a
 * mul's product fits 18 bits), which allows a simpler identity than tfc_nn_requant.h's (no
 * wrapped 2m - 2^32 multiplier, no QADD). For a multiplier m >= 0 and an x whose double fits:
 *     SaturatingRoundingDoublingHighMul(x, m) = y = floor((x m + 2^30) / 2^31)
 *                                                 = floor((2x m + 2^31) / 2^32),
 * so SMMLAR(2x, m, K) = y + K exactly while y + K fits int32 (|y| <= |x| since m < 2^31).
 * RoundingDivideByPOT(y, e) for e >= 1 is floor((y + 2^(e-1) - [y < 0]) / 2^e); [y < 0] may be
 * read as [x < 0] (m >= 0: y < 0 implies x < 0, and x < 0 with y = 0 gives 0 either way), and
 * adding an integer c commutes with the floor as c 2^e. Hence, with K = 2^(e-1) + c 2^e,
 *     requantize(x, m, -e) + c = (SMMLAR(2x, m, K) + (2x >> 31)) >> e       (e >= 1)
 *     requantize(x, m, s) + c  = SMMLAR(2^(s+1) x, m, c)                    (s >= 0)
 * c is the output offset for the output, and for an add's second input the first input's
 * offset times 2^19 when the first input is "half": multiplier 2^30 and shift 0, which TFLite
 * gives the input with the larger scale, rescaled exactly to (offset + a) 2^19, no multiply.
 * At entry the kernel checks, from the offsets, the shifts and the requantized ranges (monotone
 * in the int8 input, so two end points bound them), that no value it forms can leave int32 and
 * that the left shift is TFLite's 20; otherwise, and on cores without DSP, it runs the exact
 * reference loop.
 * In place: every iteration loads its inputs before it stores the output word, so the output
 * may be either input.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* The reference arithmetic, one element at a time: the portable build and the fallback. */
static void add_exact(const int8_t *in1, const int8_t *in2, int32_t off1, int32_t mult1, int32_t shift1,
                      int32_t off2, int32_t mult2, int32_t shift2, int32_t left_shift, int8_t *out,
                      int32_t out_offset, int32_t out_mult, int32_t out_shift, int32_t act_min, int32_t act_max,
                      int32_t n)
{
    for (int32_t i = 0; i < n; i++)
    {
        const int32_t a = tfc_requantize(tfc_shl_wrap(in1[i] + off1, left_shift), mult1, shift1);
        const int32_t b = tfc_requantize(tfc_shl_wrap(in2[i] + off2, left_shift), mult2, shift2);
        out[i] = tfc_requantize_to_s8(tfc_add_wrap(a, b), out_mult, out_shift, out_offset, act_min, act_max);
    }
}

static void mul_exact(const int8_t *in1, const int8_t *in2, int32_t off1, int32_t off2, int8_t *out,
                      int32_t out_offset, int32_t out_mult, int32_t out_shift, int32_t act_min, int32_t act_max,
                      int32_t n)
{
    for (int32_t i = 0; i < n; i++)
    {
        const int32_t prod = (in1[i] + off1) * (in2[i] + off2);
        out[i] = tfc_requantize_to_s8(prod, out_mult, out_shift, out_offset, act_min, act_max);
    }
}

#if TFC_NN_DSP

/* The add's fast path is built for TFLite's left shift (a constant shift folds into an add). */
#define EW_ADD_LEFT_SHIFT 20

/* Offsets up to this size keep every offset input within 9 bits and the int16 lanes exact. */
#define EW_MAX_OFFSET 256

/* A requantization by the identity above: 2x -> (SMMLAR(2x, mult, k) + sign) >> shift, or
 * SMMLAR(2^(s+1) x, mult, k) for a left shift s (shift 0). */
typedef struct
{
    int32_t mult;
    int32_t k;     /* 2^(e-1) (+ o 2^e for an output); o alone for a left shift; 0 when e = 0 */
    int32_t shift; /* e: the right shift, 0 for none */
} ew_rq;

/* How an add rescales its inputs: an input whose multiplier is exactly 2^30 with shift 0 (TFLite
 * gives the input with the larger scale these) is "half": its rescaled value is the offset input
 * times 2^19, no requantization; any other input is "right" (shift <= -1). */
typedef enum
{
    EW_ADD_HALF_RIGHT = 0, /* input 1 half, input 2 right */
    EW_ADD_HALF_HALF = 1,
    EW_ADD_RIGHT_RIGHT = 2
} ew_add_kind;

typedef struct
{
    int32_t off1, off2; /* mul: the offsets; add: shifted left by 21 (HALF_HALF: off1 holds
                         * (o1 + o2) << 20; HALF_RIGHT: input 1's offset is in in2.k) */
    ew_rq in1, in2;     /* add only */
    ew_rq out;
    int32_t lsl;        /* mul: 1 + the output's left shift */
    int32_t kind;       /* add: ew_add_kind */
    int32_t act_min, act_max;
} ew_params;

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
#include <arm_acle.h>

__STATIC_FORCEINLINE uint32_t ew_sadd16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b);
}

/* max(min(byte, hi), lo) for the four bytes of w: SSUB8 sets the GE flags SEL reads, so each
 * pair stays in one asm statement. */
__STATIC_FORCEINLINE uint32_t ew_clamp_s8x4(uint32_t w, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("ssub8 %[t], %[w], %[lo]\n\t"
            "sel %[w], %[w], %[lo]\n\t"
            "ssub8 %[t], %[w], %[hi]\n\t"
            "sel %[w], %[hi], %[w]"
            : [w] "+&r"(w), [t] "=&r"(t)
            : [lo] "r"(lo4), [hi] "r"(hi4)
            : "cc");
    return w;
}
#else
__STATIC_FORCEINLINE uint32_t ew_sadd16(uint32_t a, uint32_t b)
{
    const uint32_t lo = (a + b) & 0xFFFFU;
    const uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFU;
    return lo | (hi << 16);
}

__STATIC_FORCEINLINE uint32_t ew_clamp_s8x4(uint32_t w, uint32_t lo4, uint32_t hi4)
{
    uint32_t r = 0;
    for (uint32_t i = 0; i < 32; i += 8)
    {
        const int32_t v = (int8_t)(uint8_t)(w >> i), lo = (int8_t)(uint8_t)(lo4 >> i), hi = (int8_t)(uint8_t)(hi4 >> i);
        r |= (uint32_t)(uint8_t)(v < lo ? lo : (v > hi ? hi : v)) << i;
    }
    return r;
}
#endif

/* Signed products of the low and of the high halfwords: one SMULBB / SMULTT each. */
__STATIC_FORCEINLINE int32_t ew_mul_lo(uint32_t a, uint32_t b)
{
    return (int32_t)(int16_t)(uint16_t)(a & 0xFFFFU) * (int32_t)(int16_t)(uint16_t)(b & 0xFFFFU);
}

__STATIC_FORCEINLINE int32_t ew_mul_hi(uint32_t a, uint32_t b)
{
    return (int32_t)(int16_t)(uint16_t)(a >> 16) * (int32_t)(int16_t)(uint16_t)(b >> 16);
}

/* Bytes q0..q3 (each already in int8 range) into one word: three BFI. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
__STATIC_FORCEINLINE uint32_t ew_pack(int32_t q0, int32_t q1, int32_t q2, int32_t q3)
{
    uint32_t w = (uint32_t)q0;
    __asm__("bfi %0, %1, #8, #8\n\t"
            "bfi %0, %2, #16, #8\n\t"
            "bfi %0, %3, #24, #8"
            : "+&r"(w)
            : "r"(q1), "r"(q2), "r"(q3));
    return w;
}
#else
__STATIC_FORCEINLINE uint32_t ew_pack(int32_t q0, int32_t q1, int32_t q2, int32_t q3)
{
    return ((uint32_t)q0 & 0xFFU) | (((uint32_t)q1 & 0xFFU) << 8) | (((uint32_t)q2 & 0xFFU) << 16) |
           ((uint32_t)q3 << 24);
}
#endif

/* x2 = 2x (already doubled and shifted): the identity's requantization. */
__STATIC_FORCEINLINE int32_t ew_rq_right(const ew_rq *q, int32_t x2)
{
    return (tfc_smmlar(x2, q->mult, q->k) + (x2 >> 31)) >> q->shift;
}

/* One add element from the two int8 inputs, twice the sum of the rescaled inputs
 * requantized; kind is a constant, so each loop keeps only its own constants. HALF_RIGHT:
 * input 1's offset times 2^19 is folded into input 2's rounding constant (it commutes with the
 * floor as o 2^(19 + e)), leaving a1 * 2^20 to add. */
__STATIC_FORCEINLINE int32_t ew_add1(int32_t a1, int32_t a2, const ew_params *p, const int kind)
{
    uint32_t sum2;
    if (kind == EW_ADD_HALF_HALF)
    {
        sum2 = (uint32_t)p->off1 + ((uint32_t)(a1 + a2) << EW_ADD_LEFT_SHIFT);
    }
    else
    {
        const int32_t x2 = (int32_t)((uint32_t)p->off2 + ((uint32_t)a2 << (EW_ADD_LEFT_SHIFT + 1)));
        const int32_t r2 = ew_rq_right(&p->in2, x2);
        if (kind == EW_ADD_HALF_RIGHT)
        {
            sum2 = ((uint32_t)r2 << 1) + ((uint32_t)a1 << EW_ADD_LEFT_SHIFT);
        }
        else
        {
            const int32_t x1 = (int32_t)((uint32_t)p->off1 + ((uint32_t)a1 << (EW_ADD_LEFT_SHIFT + 1)));
            sum2 = (uint32_t)(ew_rq_right(&p->in1, x1) + r2) << 1;
        }
    }
    return __SSAT(ew_rq_right(&p->out, (int32_t)sum2), 8);
}

/* One mul element from the product doubled (right) or shifted by lsl (left). */
__STATIC_FORCEINLINE int32_t ew_mul1(int32_t prod_x, const ew_params *p, const int left)
{
    return __SSAT(left ? tfc_smmlar(prod_x, p->out.mult, p->out.k) : ew_rq_right(&p->out, prod_x), 8);
}

__STATIC_FORCEINLINE int32_t ew_clamp(int32_t v, const ew_params *p, const int narrow)
{
    return narrow ? tfc_clamp(v, p->act_min, p->act_max) : v;
}

__STATIC_FORCEINLINE uint32_t ew_splat8(int32_t v) { return ((uint32_t)v & 0xFFU) * 0x01010101U; }

__STATIC_FORCEINLINE void ew_add_loop(const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n,
                                      const ew_params *p, const int kind, const int narrow)
{
    const uint32_t lo4 = ew_splat8(p->act_min), hi4 = ew_splat8(p->act_max);
    for (; n >= 4; n -= 4)
    {
        /* Byte loads (LDRSB) cost what a word load and the byte extractions would, and leave
         * registers for the requantization constants. */
        const int32_t q0 = ew_add1(in1[0], in2[0], p, kind);
        const int32_t q1 = ew_add1(in1[1], in2[1], p, kind);
        const int32_t q2 = ew_add1(in1[2], in2[2], p, kind);
        const int32_t q3 = ew_add1(in1[3], in2[3], p, kind);
        in1 += 4;
        in2 += 4;
        uint32_t w = ew_pack(q0, q1, q2, q3);
        if (narrow)
        {
            w = ew_clamp_s8x4(w, lo4, hi4);
        }
        memcpy(out, &w, 4);
        out += 4;
    }
    for (; n > 0; n--)
    {
        *out++ = (int8_t)ew_clamp(ew_add1(*in1++, *in2++, p, kind), p, narrow);
    }
}

__STATIC_FORCEINLINE void ew_mul_loop(const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n,
                                      const ew_params *p, const int left, const int narrow)
{
    const uint32_t o1 = ((uint32_t)p->off1 & 0xFFFFU) * 0x00010001U;
    const uint32_t o2 = ((uint32_t)p->off2 & 0xFFFFU) * 0x00010001U;
    const uint32_t lo4 = ew_splat8(p->act_min), hi4 = ew_splat8(p->act_max);
    const int32_t lsl = p->lsl;
    for (; n >= 4; n -= 4)
    {
        const uint32_t w1 = (uint32_t)tfc_read_s8x4(in1), w2 = (uint32_t)tfc_read_s8x4(in2);
        in1 += 4;
        in2 += 4;
        /* Offset inputs in int16 lanes: bytes 0 and 2, then bytes 1 and 3. */
        const uint32_t a02 = __SXTAB16(o1, w1), a13 = tfc_sxtab16_ror8(o1, w1);
        uint32_t b02 = __SXTAB16(o2, w2), b13 = tfc_sxtab16_ror8(o2, w2);
        int32_t x0, x1, x2, x3;
        if (left)
        {
            x0 = (int32_t)((uint32_t)ew_mul_lo(a02, b02) << lsl);
            x1 = (int32_t)((uint32_t)ew_mul_lo(a13, b13) << lsl);
            x2 = (int32_t)((uint32_t)ew_mul_hi(a02, b02) << lsl);
            x3 = (int32_t)((uint32_t)ew_mul_hi(a13, b13) << lsl);
        }
        else
        {
            /* Double one factor (two lanes per SADD16) instead of each product. */
            b02 = ew_sadd16(b02, b02);
            b13 = ew_sadd16(b13, b13);
            x0 = ew_mul_lo(a02, b02);
            x1 = ew_mul_lo(a13, b13);
            x2 = ew_mul_hi(a02, b02);
            x3 = ew_mul_hi(a13, b13);
        }
        uint32_t w = ew_pack(ew_mul1(x0, p, left), ew_mul1(x1, p, left), ew_mul1(x2, p, left), ew_mul1(x3, p, left));
        if (narrow)
        {
            w = ew_clamp_s8x4(w, lo4, hi4);
        }
        memcpy(out, &w, 4);
        out += 4;
    }
    for (; n > 0; n--)
    {
        const int32_t prod = (p->off1 + *in1++) * (p->off2 + *in2++);
        *out++ = (int8_t)ew_clamp(ew_mul1((int32_t)((uint32_t)prod << lsl), p, left), p, narrow);
    }
}

static int64_t ew_abs64(int32_t v) { return v < 0 ? -(int64_t)v : (int64_t)v; }

/* The output requantization by the identity for values up to x_max in magnitude; 0 when some
 * value could leave int32 (or the parameters are outside the identity's range). */
static int ew_prepare_out(ew_rq *q, int32_t *lsl, int64_t x_max, int32_t mult, int32_t shift, int32_t out_offset)
{
    if (mult < 0 || shift < -31 || shift > 30)
    {
        return 0;
    }
    q->mult = mult;
    if (shift >= 0)
    {
        const int64_t x2 = x_max << (shift + 1);
        if (x2 > NN_Q31_MAX || x_max * ((int64_t)1 << shift) + ew_abs64(out_offset) + 1 > NN_Q31_MAX)
        {
            return 0;
        }
        q->k = out_offset;
        q->shift = 0;
        *lsl = shift + 1;
        return 1;
    }
    const int32_t e = -shift;
    const int64_t k = ((int64_t)1 << (e - 1)) + (int64_t)out_offset * ((int64_t)1 << e);
    if (2 * x_max > NN_Q31_MAX || x_max + (k < 0 ? -k : k) + 1 > NN_Q31_MAX)
    {
        return 0;
    }
    q->k = (int32_t)k;
    q->shift = e;
    *lsl = 1;
    return 1;
}

static int ew_prepare_act(ew_params *p, int32_t act_min, int32_t act_max)
{
    p->act_min = act_min;
    p->act_max = act_max;
    return act_min >= -128 && act_min <= act_max && act_max <= 127;
}

/* An add input: (offset + a) << 20 rescaled by the identity (2x fitting int32, shift <= -1) or
 * "half" (multiplier 2^30, shift 0: exactly (offset + a) << 19); its requantized range
 * [lo, hi] (the reference at the extreme inputs) bounds the sum. Returns 0 for anything else. */
static int ew_prepare_add_input(ew_rq *q, int *half, int32_t *lo, int32_t *hi, int32_t offset, int32_t mult,
                                int32_t shift)
{
    *half = mult == (1 << 30) && shift == 0;
    if (ew_abs64(offset) > EW_MAX_OFFSET || mult < 0 || shift < -31 || (shift == 0 && !*half) || shift > 0)
    {
        return 0;
    }
    const int64_t x_max = (128 + ew_abs64(offset)) << EW_ADD_LEFT_SHIFT;
    const int32_t e = -shift;
    const int64_t khi = e > 0 ? (int64_t)1 << (e - 1) : 0;
    if (2 * x_max > NN_Q31_MAX || x_max + khi + 1 > NN_Q31_MAX)
    {
        return 0;
    }
    q->mult = mult;
    q->k = (int32_t)khi;
    q->shift = e;
    *lo = tfc_requantize(tfc_shl_wrap(offset - 128, EW_ADD_LEFT_SHIFT), mult, shift);
    *hi = tfc_requantize(tfc_shl_wrap(offset + 127, EW_ADD_LEFT_SHIFT), mult, shift);
    return 1;
}

/* Fills p for the add's fast path (input 1 half whenever one input is: the caller swaps), or
 * returns 0 when it does not apply. */
static int ew_prepare_add(ew_params *p, int32_t off1, int32_t mult1, int32_t shift1, int32_t off2, int32_t mult2,
                          int32_t shift2, int32_t left_shift, int32_t out_offset, int32_t out_mult,
                          int32_t out_shift, int32_t act_min, int32_t act_max)
{
    int32_t lo1, hi1, lo2, hi2, out_lsl;
    int half1, half2;
    if (left_shift != EW_ADD_LEFT_SHIFT || out_shift >= 0 || !ew_prepare_act(p, act_min, act_max) ||
        !ew_prepare_add_input(&p->in1, &half1, &lo1, &hi1, off1, mult1, shift1) ||
        !ew_prepare_add_input(&p->in2, &half2, &lo2, &hi2, off2, mult2, shift2) || (half2 && !half1))
    {
        return 0;
    }
    const int64_t lo = (int64_t)lo1 + lo2, hi = (int64_t)hi1 + hi2;
    p->off1 = (int32_t)((uint32_t)off1 << (EW_ADD_LEFT_SHIFT + 1));
    p->off2 = (int32_t)((uint32_t)off2 << (EW_ADD_LEFT_SHIFT + 1));
    p->kind = half1 ? (half2 ? EW_ADD_HALF_HALF : EW_ADD_HALF_RIGHT) : EW_ADD_RIGHT_RIGHT;
    if (p->kind == EW_ADD_HALF_HALF)
    {
        p->off1 = (int32_t)((uint32_t)(off1 + off2) << EW_ADD_LEFT_SHIFT);
    }
    else if (p->kind == EW_ADD_HALF_RIGHT)
    {
        const int64_t k = p->in2.k + (int64_t)off1 * ((int64_t)1 << (EW_ADD_LEFT_SHIFT - 1 + p->in2.shift));
        if ((k < 0 ? -k : k) + ((128 + ew_abs64(off2)) << EW_ADD_LEFT_SHIFT) + 1 > NN_Q31_MAX)
        {
            return 0;
        }
        p->in2.k = (int32_t)k;
    }
    return ew_prepare_out(&p->out, &out_lsl, lo < 0 ? TFC_MAX(-lo, hi) : hi, out_mult, out_shift, out_offset);
}

static int ew_prepare_mul(ew_params *p, int32_t off1, int32_t off2, int32_t out_offset, int32_t out_mult,
                          int32_t out_shift, int32_t act_min, int32_t act_max)
{
    if (ew_abs64(off1) > EW_MAX_OFFSET || ew_abs64(off2) > EW_MAX_OFFSET || !ew_prepare_act(p, act_min, act_max))
    {
        return 0;
    }
    p->off1 = off1;
    p->off2 = off2;
    const int64_t prod_max = (128 + ew_abs64(off1)) * (128 + ew_abs64(off2));
    return ew_prepare_out(&p->out, &p->lsl, prod_max, out_mult, out_shift, out_offset);
}

#endif /* TFC_NN_DSP */

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
#if TFC_NN_DSP
    ew_params p;
    /* The add is symmetric: put a half input first so three loops cover all. */
    const int swap = !(input_1_mult == (1 << 30) && input_1_shift == 0);
    if (swap ? ew_prepare_add(&p, input_2_offset, input_2_mult, input_2_shift, input_1_offset, input_1_mult,
                              input_1_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                              out_activation_max)
             : ew_prepare_add(&p, input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                              input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                              out_activation_max))
    {
        const int8_t *in1 = swap ? input_2_vect : input_1_vect, *in2 = swap ? input_1_vect : input_2_vect;
        const int narrow = out_activation_min != -128 || out_activation_max != 127;
        if (p.kind == EW_ADD_HALF_RIGHT)
        {
            narrow ? ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_HALF_RIGHT, 1)
                   : ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_HALF_RIGHT, 0);
        }
        else if (p.kind == EW_ADD_HALF_HALF)
        {
            narrow ? ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_HALF_HALF, 1)
                   : ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_HALF_HALF, 0);
        }
        else
        {
            narrow ? ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_RIGHT_RIGHT, 1)
                   : ew_add_loop(in1, in2, output, block_size, &p, EW_ADD_RIGHT_RIGHT, 0);
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
#endif
    add_exact(input_1_vect, input_2_vect, input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
              input_2_shift, left_shift, output, out_offset, out_mult, out_shift, out_activation_min,
              out_activation_max, block_size);
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
#if TFC_NN_DSP
    ew_params p;
    if (ew_prepare_mul(&p, input_1_offset, input_2_offset, out_offset, out_mult, out_shift, out_activation_min,
                       out_activation_max))
    {
        const int narrow = out_activation_min != -128 || out_activation_max != 127;
        const int left = out_shift >= 0;
        if (left)
        {
            narrow ? ew_mul_loop(input_1_vect, input_2_vect, output, block_size, &p, 1, 1)
                   : ew_mul_loop(input_1_vect, input_2_vect, output, block_size, &p, 1, 0);
        }
        else
        {
            narrow ? ew_mul_loop(input_1_vect, input_2_vect, output, block_size, &p, 0, 1)
                   : ew_mul_loop(input_1_vect, input_2_vect, output, block_size, &p, 0, 0);
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
#endif
    mul_exact(input_1_vect, input_2_vect, input_1_offset, input_2_offset, output, out_offset, out_mult, out_shift,
              out_activation_min, out_activation_max, block_size);
    return ARM_CMSIS_NN_SUCCESS;
}
