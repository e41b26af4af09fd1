/*
 * tfc runtime: tfc_add_table_s8, arm_elementwise_add_s8's arithmetic with each input's rescaling
 * read from a table (see tfc_kernels.h). Python twin: tfc.quant.reference.add (tables from
 * tfc.kernels.add_table).
 *
 * TFLite's add rescales each int8 input on its own before the sum: r_i(a) = requantize((a +
 * offset_i) << 20, mult_i, shift_i), a function of one int8, so tfc computes both at compile time
 * (table_i[a + 128] = 2 r_i(a), int32 in flash) and the loop keeps only the sum's rescaling:
 *     out = clamp(requantize(r_1(a) + r_2(b), out_mult, out_shift) + out_offset)
 * On a DSP core (or TFC_EMULATE_DSP) that rescaling is elementwise_s8.c's identity for m >= 0,
 * e = -out_shift >= 1 and a doubled sum x2 = 2x whose magnitude bound fits:
 *     requantize(x, m, -e) + out_offset = (SMMLAR(x2, m, K) + (x2 >> 31)) >> e,
 *     K = 2^(e-1) + out_offset 2^e,
 * nine instructions per element (two byte loads, two table loads, ADD, SMMLAR, ADD, ASR, SSAT;
 * eight where e is an immediate and SSAT shifts)
 * where the add without tables takes about seventeen. The tables are monotone (TFLite's input
 * multipliers are non-negative and tfc keeps the shifted offsets inside int32), so their end
 * entries bound every sum; otherwise, and on cores without DSP, the exact loop runs.
 * In place: each element's inputs are read before its output is written.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* The exact arithmetic: the sum of the two rescaled inputs (each table entry is even). */
static void add_table_exact(const int8_t *in1, const int8_t *in2, const int32_t *t1, const int32_t *t2, int8_t *out,
                            int32_t n, int32_t out_offset, int32_t out_mult, int32_t out_shift, int32_t act_min,
                            int32_t act_max)
{
    for (int32_t i = 0; i < n; i++)
    {
        const int32_t sum = t1[in1[i]] / 2 + t2[in2[i]] / 2;
        out[i] = tfc_requantize_to_s8(sum, out_mult, out_shift, out_offset, act_min, act_max);
    }
}

#if TFC_NN_DSP
static int64_t add_table_abs(int32_t v) { return v < 0 ? -(int64_t)v : (int64_t)v; }

/* The largest |2x| the tables can sum to: their end entries (monotone tables). */
static int64_t add_table_bound(const int32_t *t1, const int32_t *t2)
{
    return TFC_MAX(add_table_abs(t1[-128]), add_table_abs(t1[127])) +
           TFC_MAX(add_table_abs(t2[-128]), add_table_abs(t2[127]));
}

__STATIC_FORCEINLINE int32_t add_table1(int32_t x2, int32_t mult, int32_t k, int32_t e)
{
    return __SSAT((tfc_smmlar(x2, mult, k) + (x2 >> 31)) >> e, 8);
}

/* out[i] = v as one STRB: GCC otherwise packs the four bytes of a step with BFIs into a word,
 * two instructions more and a register it then lacks. */
__STATIC_FORCEINLINE void add_table_store(int8_t *out, const int32_t i, int32_t v)
{
#if defined(__ARM_FEATURE_DSP) && !defined(TFC_EMULATE_DSP)
    __asm__ volatile("strb %1, %0" : "=m"(out[i]) : "r"(v));
#else
    out[i] = (int8_t)v;
#endif
}

/* `narrow` is a constant at each call: the full int8 range needs no clamp after SSAT. Each output
 * is stored after its own inputs are read (in place: out may be in1 or in2). */
__STATIC_FORCEINLINE void add_table_loop(const int8_t *in1, const int8_t *in2, const int32_t *t1, const int32_t *t2,
                                         int8_t *out, int32_t n, int32_t mult, int32_t k, int32_t e,
                                         const int narrow, int32_t act_min, int32_t act_max)
{
    for (int8_t *const end = out + (n & ~3); out != end; in1 += 4, in2 += 4, out += 4)
    {
        _Pragma("GCC unroll 4")
        for (int32_t i = 0; i < 4; i++)
        {
            const int32_t v = add_table1(t1[in1[i]] + t2[in2[i]], mult, k, e);
            add_table_store(out, i, narrow ? tfc_clamp(v, act_min, act_max) : v);
        }
    }
    for (n &= 3; n > 0; n--)
    {
        const int32_t v = add_table1(t1[*in1++] + t2[*in2++], mult, k, e);
        *out++ = (int8_t)(narrow ? tfc_clamp(v, act_min, act_max) : v);
    }
}

static void add_table_fast(const int8_t *in1, const int8_t *in2, const int32_t *t1, const int32_t *t2, int8_t *out,
                           int32_t n, int32_t mult, int32_t k, int32_t e, int32_t act_min, int32_t act_max)
{
    if (act_min > -128 || act_max < 127)
    {
        add_table_loop(in1, in2, t1, t2, out, n, mult, k, e, 1, act_min, act_max);
    }
    else
    {
        /* TFLite's adds (inputs shifted left by 20) mostly land on these e: an immediate shift
         * folds into SSAT, one instruction fewer per element. */
        switch (e)
        {
        case 18: add_table_loop(in1, in2, t1, t2, out, n, mult, k, 18, 0, -128, 127); break;
        case 19: add_table_loop(in1, in2, t1, t2, out, n, mult, k, 19, 0, -128, 127); break;
        case 20: add_table_loop(in1, in2, t1, t2, out, n, mult, k, 20, 0, -128, 127); break;
        case 21: add_table_loop(in1, in2, t1, t2, out, n, mult, k, 21, 0, -128, 127); break;
        default: add_table_loop(in1, in2, t1, t2, out, n, mult, k, e, 0, -128, 127); break;
        }
    }
}
#endif

void tfc_add_table_s8(const int8_t *input_1,
                      const int8_t *input_2,
                      const int32_t table_1[256],
                      const int32_t table_2[256],
                      int8_t *output,
                      int32_t size,
                      int32_t out_offset,
                      int32_t out_mult,
                      int32_t out_shift,
                      int32_t act_min,
                      int32_t act_max)
{
    /* Indexed by the signed input: entry a + 128 at t[a]. */
    const int32_t *t1 = table_1 + 128, *t2 = table_2 + 128;
#if TFC_NN_DSP
    if (out_mult >= 0 && out_shift < 0 && out_shift >= -31 && act_min >= -128 && act_max <= 127)
    {
        const int32_t e = -out_shift;
        const int64_t x2_max = add_table_bound(t1, t2);
        const int64_t k = ((int64_t)1 << (e - 1)) + (int64_t)out_offset * ((int64_t)1 << e);
        if (x2_max <= NN_Q31_MAX && x2_max / 2 + (k < 0 ? -k : k) + 1 <= NN_Q31_MAX)
        {
            add_table_fast(input_1, input_2, t1, t2, output, size, out_mult, (int32_t)k, e, act_min, act_max);
            return;
        }
    }
#endif
    add_table_exact(input_1, input_2, t1, t2, output, size, out_offset, out_mult, out_shift, act_min, act_max);
}
