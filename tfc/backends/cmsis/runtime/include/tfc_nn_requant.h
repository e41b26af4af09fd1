/*
 * tfc runtime: a few-instruction requantization, bit-exact with TFLite Micro (internal header).
 *
 * TFLite's MultiplyByQuantizedMultiplier (tfc_requantize in tfc_nn_support.h) rounds twice:
 *     y = SaturatingRoundingDoublingHighMul(acc << left, m) = floor((x * m + 2^30) / 2^31)
 *     r = RoundingDivideByPOT(y, e)                         = floor((y + 2^(e-1) - [y < 0]) / 2^e)
 * For a multiplier m in [2^30, 2^31) (every multiplier TFLite's QuantizeMultiplier makes) this
 * equals, with m2 = 2m - 2^32 (2m wrapped to int32) and khi = 2^(e-1):
 *     S = SMMLAR(x, m2, khi)       = floor((khi * 2^32 + x * m2 + 2^31) / 2^32) = y + khi - x
 *     r = (QADD(S, x) + (x >> 31)) >> e     for e >= 1      (x >> 31 is -[x < 0])
 *     r = S + x                             for e == 0      (khi = 0)
 * Why: x * m2 = 2xm - x * 2^32, so S + x = floor((2xm + 2^31) / 2^32) + khi = y + khi exactly;
 * [y < 0] may be replaced by [x < 0] because y < 0 implies x < 0, and x < 0 with y = 0 gives 0
 * either way; nested floors of divisions by powers of two compose. y - x lies in [-2^30, 2^30]
 * (|y| <= |x| and y has x's sign up to rounding), so for e <= 30 (khi <= 2^29) S fits in int32
 * and SMMLAR loses nothing; e = 31 takes the general path (x = INT32_MIN, m = 2^30 would wrap).
 * Only y + khi can pass INT32_MAX (large positive x);
 * QADD then saturates, giving (2^31 - 1) >> e instead of a value >= 2^(31 - e): after adding the
 * output offset and clamping to the activation range both clamp to act_max whenever
 * ((2^31 - 1) >> e) + out_offset >= act_max, so channels failing that test (e close to 31) take
 * the exact general path, as do multipliers outside [2^30, 2^31).
 * tests/backends/cmsis/test_requant_fast.py proves the identity exhaustively on edge values and
 * by Hypothesis (Python twin and this C code, real instructions on the emulated Cortex-M7).
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_NN_REQUANT_H
#define TFC_NN_REQUANT_H

#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

#if TFC_NN_DSP

#if defined(__ARM_FEATURE_DSP) && !defined(TFC_EMULATE_DSP)
/* Top word of acc * 2^32 + a * b, rounded (+2^31): one instruction. ACLE has no intrinsic. */
__STATIC_FORCEINLINE int32_t tfc_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Saturating int32 add: one QADD. */
__STATIC_FORCEINLINE int32_t tfc_qadd(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("qadd %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
__STATIC_FORCEINLINE int32_t tfc_smmlar(int32_t a, int32_t b, int32_t acc)
{
    /* Modulo 2^64 like the instruction; the top word is the result. */
    const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * (int64_t)b) + 0x80000000U;
    return (int32_t)(uint32_t)(sum >> 32);
}

__STATIC_FORCEINLINE int32_t tfc_qadd(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > NN_Q31_MAX ? NN_Q31_MAX : (s < NN_Q31_MIN ? NN_Q31_MIN : (int32_t)s);
}
#endif

/* How one output channel is requantized. */
typedef enum
{
    TFC_RQ_GENERAL = 0, /* the exact reference formula (unusual multipliers or shifts) */
    TFC_RQ_RIGHT = 1,   /* shift < 0: SMMLAR, QADD, sign correction, arithmetic shift */
    TFC_RQ_LEFT = 2     /* shift >= 0: left shift, SMMLAR, add */
} tfc_rq_mode;

typedef struct
{
    int32_t m2;    /* 2 * multiplier modulo 2^32 */
    int32_t khi;   /* 2^(e - 1) for TFC_RQ_RIGHT, else 0 */
    int32_t shift; /* e = -shift (RIGHT) or the left shift (LEFT, GENERAL: the original shift) */
    int32_t mult;  /* the original multiplier (GENERAL) */
    int32_t mode;  /* tfc_rq_mode */
} tfc_rq;

/* The per-channel constants; out_offset and act_max decide whether saturation is harmless. */
__STATIC_FORCEINLINE tfc_rq tfc_rq_make(int32_t mult, int32_t shift, int32_t out_offset, int32_t act_max)
{
    tfc_rq q;
    q.m2 = (int32_t)((uint32_t)mult << 1);
    q.khi = 0;
    q.mult = mult;
    q.shift = shift;
    q.mode = TFC_RQ_GENERAL;
    if (mult < (1 << 30) || shift > 31 || shift < -31)
    {
        return q;
    }
    if (shift >= 0)
    {
        q.mode = TFC_RQ_LEFT;
        return q;
    }
    const int32_t e = -shift;
    if (e <= 30 && (int64_t)(NN_Q31_MAX >> e) + out_offset >= act_max)
    {
        q.mode = TFC_RQ_RIGHT;
        q.shift = e;
        q.khi = (int32_t)(1U << (e - 1));
    }
    return q;
}

/* TFC_RQ_RIGHT constants without the checks, for channels tfc_rq_all_right() vetted. */
__STATIC_FORCEINLINE tfc_rq tfc_rq_make_right(int32_t mult, int32_t shift)
{
    tfc_rq q;
    q.m2 = (int32_t)((uint32_t)mult << 1);
    q.shift = -shift;
    q.khi = (int32_t)(1U << (-shift - 1));
    q.mult = mult;
    q.mode = TFC_RQ_RIGHT;
    return q;
}

/* 1 when every one of the n channels takes TFC_RQ_RIGHT: the kernels then build each channel's
 * constants in three instructions instead of checking it again for every output block. */
static inline int32_t tfc_rq_all_right(const int32_t *mult, const int32_t *shift, int32_t n, int32_t out_offset,
                                       int32_t act_max)
{
    for (int32_t i = 0; i < n; i++)
    {
        if (tfc_rq_make(mult[i], shift[i], out_offset, act_max).mode != TFC_RQ_RIGHT)
        {
            return 0;
        }
    }
    return 1;
}

/* TFC_RQ_RIGHT: requantized accumulator (before the output offset), four instructions. */
__STATIC_FORCEINLINE int32_t tfc_rq_right(const tfc_rq *q, int32_t x)
{
    return (tfc_qadd(tfc_smmlar(x, q->m2, q->khi), x) + (x >> 31)) >> q->shift;
}

/* Any mode: the requantized accumulator (tfc_requantize's value, up to harmless saturation). */
__STATIC_FORCEINLINE int32_t tfc_rq_apply(const tfc_rq *q, int32_t acc)
{
    if (q->mode == TFC_RQ_RIGHT)
    {
        return tfc_rq_right(q, acc);
    }
    if (q->mode == TFC_RQ_LEFT)
    {
        const int32_t x = tfc_shl_wrap(acc, q->shift);
        return tfc_smmlar(x, q->m2, 0) + x;
    }
    return tfc_requantize(acc, q->mult, q->shift);
}

/* Output offset (saturating, so a huge LEFT/GENERAL value still clamps to act_max) and clamp;
 * the int8 store drops the upper bits. */
__STATIC_FORCEINLINE int32_t tfc_rq_out(int32_t r, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    r = tfc_qadd(r, out_offset);
    r = r < act_min ? act_min : r;
    return r > act_max ? act_max : r;
}

/* The clamp when the activation range is all of int8 (no activation, or a ReLU whose zero point
 * is -128): one SSAT instead of two compare-and-selects. */
__STATIC_FORCEINLINE int32_t tfc_rq_out_full(int32_t r, int32_t out_offset)
{
    return __SSAT(tfc_qadd(r, out_offset), 8);
}

/* Four accumulators of one channel to out[0], out[stride], out[2 * stride], out[3 * stride]:
 * the mode and range tests are made once for the four. */
__STATIC_FORCEINLINE void tfc_rq_store4(const tfc_rq *q, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                        int8_t *out, int32_t stride, int32_t out_offset, int32_t act_min,
                                        int32_t act_max)
{
    if (q->mode == TFC_RQ_RIGHT && act_min == -128 && act_max == 127)
    {
        out[0] = (int8_t)tfc_rq_out_full(tfc_rq_right(q, (int32_t)a0), out_offset);
        out[stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(q, (int32_t)a1), out_offset);
        out[2 * stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(q, (int32_t)a2), out_offset);
        out[3 * stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(q, (int32_t)a3), out_offset);
        return;
    }
    if (q->mode == TFC_RQ_RIGHT)
    {
        out[0] = (int8_t)tfc_rq_out(tfc_rq_right(q, (int32_t)a0), out_offset, act_min, act_max);
        out[stride] = (int8_t)tfc_rq_out(tfc_rq_right(q, (int32_t)a1), out_offset, act_min, act_max);
        out[2 * stride] = (int8_t)tfc_rq_out(tfc_rq_right(q, (int32_t)a2), out_offset, act_min, act_max);
        out[3 * stride] = (int8_t)tfc_rq_out(tfc_rq_right(q, (int32_t)a3), out_offset, act_min, act_max);
        return;
    }
    out[0] = (int8_t)tfc_rq_out(tfc_rq_apply(q, (int32_t)a0), out_offset, act_min, act_max);
    out[stride] = (int8_t)tfc_rq_out(tfc_rq_apply(q, (int32_t)a1), out_offset, act_min, act_max);
    out[2 * stride] = (int8_t)tfc_rq_out(tfc_rq_apply(q, (int32_t)a2), out_offset, act_min, act_max);
    out[3 * stride] = (int8_t)tfc_rq_out(tfc_rq_apply(q, (int32_t)a3), out_offset, act_min, act_max);
}

/* One accumulator to one int8 output. */
__STATIC_FORCEINLINE int8_t tfc_rq_s8(const tfc_rq *q, uint32_t acc, int32_t out_offset, int32_t act_min,
                                      int32_t act_max)
{
    return (int8_t)tfc_rq_out(tfc_rq_apply(q, (int32_t)acc), out_offset, act_min, act_max);
}

#endif /* TFC_NN_DSP */

#endif /* TFC_NN_REQUANT_H */
