/*
 * tfc runtime: the instructions (Armv7E-M DSP, or portable twins) and the requantization shared by
 * the sparse kernels (tfc_sparse_s8.c) and the per-layer sparse code tfc generates into model.c
 * (docs/sparse-format.md, "Generated code"). Internal to tfc's sparse kernels: names are sp_*.
 *
 * DSP paths are compiled under __ARM_FEATURE_DSP, or on a host under TFC_EMULATE_DSP with portable
 * twins of those instructions; without either, plain C. All give the same bytes.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_SPARSE_GEN_H
#define TFC_SPARSE_GEN_H

#include <stdint.h>
#include <string.h>

#if defined(TFC_EMULATE_DSP) || defined(__ARM_FEATURE_DSP)
#define SP_DSP 1
#else
#define SP_DSP 0
#endif
#if defined(__ARM_FEATURE_DSP) && !defined(TFC_EMULATE_DSP)
#define SP_ARM 1
#include <arm_acle.h>
#else
#define SP_ARM 0
#endif

#define SP_INLINE __attribute__((always_inline)) static inline


/* ---- instructions ------------------------------------------------------------------------------ */

SP_INLINE int32_t sp_ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A word of the widened image: cells of 2 or more int16 start on 4-byte boundaries. */
SP_INLINE int32_t sp_ld32a(const int16_t *p)
{
    int32_t v;
    memcpy(&v, __builtin_assume_aligned(p, 4), 4);
    return v;
}

SP_INLINE int32_t sp_lo16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFU); }
SP_INLINE int32_t sp_hi16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }

/* Rotate right by 8: one ROR, or folded into SXTB16's operand rotation. */
SP_INLINE uint32_t sp_ror8(uint32_t x) { return (x >> 8) | (x << 24); }

#if SP_ARM
SP_INLINE int32_t sp_sxtb16(int32_t x) { return (int32_t)__sxtb16((int8x4_t)x); }
/* GCC does not fold the rotation into SXTB16's operand by itself. */
SP_INLINE int32_t sp_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
SP_INLINE int32_t sp_sxtab16(int32_t a, int32_t x) { return (int32_t)__sxtab16((int16x2_t)a, (int8x4_t)x); }
SP_INLINE int32_t sp_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* (lo half of a, lo half of b) and (hi half of a, hi half of b): one PKHBT / PKHTB each, which
 * GCC does not pick for the mask-and-or forms. */
SP_INLINE int32_t sp_pack_lo(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
SP_INLINE int32_t sp_pack_hi(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}
SP_INLINE int32_t sp_smlad(int32_t x, int32_t y, int32_t acc) { return __smlad((int16x2_t)x, (int16x2_t)y, acc); }
SP_INLINE int32_t sp_smlabb(int32_t x, int32_t y, int32_t acc) { return __smlabb(x, y, acc); }
SP_INLINE int32_t sp_smlabt(int32_t x, int32_t y, int32_t acc) { return __smlabt(x, y, acc); }
SP_INLINE int32_t sp_smlatb(int32_t x, int32_t y, int32_t acc) { return __smlatb(x, y, acc); }
/* (acc * 2^32 + a * b + 2^31) >> 32: one instruction, no ACLE intrinsic. */
SP_INLINE int32_t sp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
SP_INLINE int32_t sp_ssat8(int32_t x) { return __ssat(x, 8); }
/* r - (x >> 31, logical): one SUB with a shifted operand. Written out because GCC, given an
 * immediate r, spends a MOV (LSR) and an RSB on each use instead of holding r in a register. */
SP_INLINE int32_t sp_sub_lsr31(int32_t r, int32_t x)
{
    int32_t d;
    __asm__("sub %0, %1, %2, lsr #31" : "=r"(d) : "r"(r), "r"(x));
    return d;
}
#else
SP_INLINE int32_t sp_pack16(int32_t lo, int32_t hi) { return (int32_t)(((uint32_t)lo & 0xFFFFU) | ((uint32_t)hi << 16)); }
SP_INLINE int32_t sp_sxtb16(int32_t x) { return sp_pack16((int8_t)(uint8_t)x, (int8_t)(uint8_t)((uint32_t)x >> 16)); }
SP_INLINE int32_t sp_sxtb16_ror8(int32_t x)
{
    return sp_pack16((int8_t)(uint8_t)((uint32_t)x >> 8), (int8_t)(uint8_t)((uint32_t)x >> 24));
}
SP_INLINE int32_t sp_sxtab16(int32_t a, int32_t x)
{
    const int32_t e = sp_sxtb16(x);
    return sp_pack16(sp_lo16(a) + sp_lo16(e), sp_hi16(a) + sp_hi16(e));
}
SP_INLINE int32_t sp_sxtab16_ror8(int32_t a, int32_t x)
{
    const int32_t e = sp_sxtb16_ror8(x);
    return sp_pack16(sp_lo16(a) + sp_lo16(e), sp_hi16(a) + sp_hi16(e));
}
SP_INLINE int32_t sp_smlad(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(sp_lo16(x) * sp_lo16(y)) + (uint32_t)(sp_hi16(x) * sp_hi16(y)));
}
SP_INLINE int32_t sp_smlabb(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(sp_lo16(x) * sp_lo16(y)));
}
SP_INLINE int32_t sp_smlabt(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(sp_lo16(x) * sp_hi16(y)));
}
SP_INLINE int32_t sp_smlatb(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(sp_hi16(x) * sp_lo16(y)));
}
SP_INLINE int32_t sp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * (int64_t)b) + 0x80000000U;
    return (int32_t)(uint32_t)(sum >> 32);
}
SP_INLINE int32_t sp_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
SP_INLINE int32_t sp_sub_lsr31(int32_t r, int32_t x) { return (int32_t)((uint32_t)r - ((uint32_t)x >> 31)); }
SP_INLINE int32_t sp_pack_lo(int32_t a, int32_t b) { return (int32_t)(((uint32_t)a & 0xFFFFU) | ((uint32_t)b << 16)); }
SP_INLINE int32_t sp_pack_hi(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000U));
}
#endif

/* ---- requantization ------------------------------------------------------------------------------ */

/* TFLite's MultiplyByQuantizedMultiplier with gemmlowp's double rounding, in 64-bit arithmetic
 * (for the channels whose accumulators are too large for the fast forms). */
static inline int32_t sp_requantize_generic(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t a = (int32_t)((uint32_t)acc << left);
    int64_t x = a * mult + ((int64_t)1 << 30);
    x = (a == INT32_MIN && mult == INT32_MIN) ? INT32_MAX : x >> 31;
    const int64_t mask = ((int64_t)1 << right) - 1;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    int64_t y = (x >> right) + ((x & mask) > threshold ? 1 : 0) + out_offset;
    return (int32_t)(y < -128 ? -128 : (y > 127 ? 127 : y));
}

/* The proofs behind the fast forms are in tfc/sparse/reference.py (fast_requantize). */
SP_INLINE int32_t sp_rq_right(int32_t acc, int32_t mult, int32_t rounding, int32_t shift)
{
    const int32_t h = sp_smmlar((int32_t)((uint32_t)acc << 1), mult, rounding - (int32_t)((uint32_t)acc >> 31));
    return sp_ssat8(h >> shift);
}

SP_INLINE int32_t sp_rq_left(int32_t acc, int32_t mult, int32_t rounding, int32_t shift)
{
    return sp_ssat8(sp_smmlar((int32_t)((uint32_t)acc << shift), mult, rounding));
}

SP_INLINE int32_t sp_clamp(int32_t y, int32_t lo, int32_t hi, const int clamp)
{
    if (clamp)
    {
        y = y < lo ? lo : y;
        y = y > hi ? hi : y;
    }
    return y;
}


/* ---- primitives of the generated per-layer code ------------------------------------------------
 * A generated layer walks its block list unrolled: every cell offset, bias and requantization
 * constant is an immediate, the weights come from a const table of pre-widened int16 pairs
 * (per 4 channels (w0, w2), (w1, w3), the cell order c0 c2 c1 c3; block 2: (w0, w1); block 1:
 * (w0, 0)), read front to back. A cell of pixel k starts at c + k * B (4 pixels) or at c. */

/* A word-aligned int32 that may alias anything (the int16 image, the weight table): plain loads
 * that GCC can pair into LDRD (word alignment is enough on Armv7-M), which memcpy's
 * unaligned-capable LDRs never are. */
typedef int32_t sp_word __attribute__((may_alias, aligned(4)));

/* Two adjacent aligned words at base + off bytes. */
SP_INLINE void sp_ld64(const void *base, const int32_t off, int32_t *lo, int32_t *hi)
{
#if SP_ARM
    /* GCC never pairs these into LDRD by itself. LDRD's immediate offset reaches 1020: farther
     * offsets go from base + a multiple of 1024, which GCC computes once for all blocks near it. */
    if (__builtin_constant_p(off) && off >= 0 && (off & 3) == 0)
    {
        const uint8_t *near = (const uint8_t *)base + (off & ~1023);
        /* volatile: keeps each load beside its use (GCC would hoist them all and spill). */
        __asm__ volatile("ldrd %0, %1, [%2, %3]" : "=r"(*lo), "=r"(*hi) : "r"(near), "n"(off & 1023));
        return;
    }
#endif
    const sp_word *q = (const sp_word *)((const uint8_t *)base + off);
    *lo = q[0];
    *hi = q[1];
}

/* The same, stored: two adjacent words at base + off bytes (off a multiple of 4 below 1024). */
SP_INLINE void sp_st64(void *base, const int32_t off, int32_t lo, int32_t hi)
{
#if SP_ARM
    if (__builtin_constant_p(off) && off >= 0 && off < 1024 && (off & 3) == 0)
    {
        __asm__ volatile("strd %0, %1, [%2, %3]" : : "r"(lo), "r"(hi), "r"(base), "n"(off) : "memory");
        return;
    }
#endif
    sp_word *q = (sp_word *)((uint8_t *)base + off);
    q[0] = lo;
    q[1] = hi;
}

SP_INLINE void sp_init4(int32_t *a, int32_t bias)
{
    a[0] = a[1] = a[2] = a[3] = bias;
}

/* One block of B (1, 2, 4, 8, 16) channels against 4 pixels: pixel k's cells at p + off + k * S
 * (int16 units; S = B, or B times the conv's stride where B >= 4), weights at w + wo (words); off,
 * wo and S are immediates of the generated code. */
SP_INLINE void sp_gen_block4(const int16_t *p, const int32_t off, const int32_t *w, const int32_t wo,
                             const int32_t B, const int32_t S, int32_t *a)
{
    if (B >= 4)
    {
        _Pragma("GCC unroll 4")
        for (int32_t q = 0; q < B / 4; q++)
        {
            int32_t w02, w13;
            sp_ld64(w, 4 * (wo + 2 * q), &w02, &w13);
            _Pragma("GCC unroll 4")
            for (int k = 0; k < 4; k++)
            {
                int32_t x02, x13;
                sp_ld64(p, 2 * (off + k * S + 4 * q), &x02, &x13);
                a[k] = sp_smlad(w02, x02, a[k]);
                a[k] = sp_smlad(w13, x13, a[k]);
            }
        }
    }
    else if (B == 2)
    {
        (void)S; /* B: blocks of 1 and 2 run unstrided convs only (codegen.strided_quads) */
        const int32_t w01 = w[wo];
        int32_t x0, x1, x2, x3;
        sp_ld64(p, 2 * off, &x0, &x1);
        sp_ld64(p, 2 * (off + 4), &x2, &x3);
        a[0] = sp_smlad(w01, x0, a[0]);
        a[1] = sp_smlad(w01, x1, a[1]);
        a[2] = sp_smlad(w01, x2, a[2]);
        a[3] = sp_smlad(w01, x3, a[3]);
    }
    else
    {
        /* Cells of one int16: pixel pairs may start at any halfword, so no LDRD. */
        (void)S;
        const int32_t w0 = w[wo];
        const int32_t x01 = sp_ld32(p + off), x23 = sp_ld32(p + off + 2);
        a[0] = sp_smlabb(w0, x01, a[0]);
        a[1] = sp_smlabt(w0, x01, a[1]);
        a[2] = sp_smlabb(w0, x23, a[2]);
        a[3] = sp_smlabt(w0, x23, a[3]);
    }
}

/* One block against one pixel. */
SP_INLINE int32_t sp_gen_block1(const int16_t *p, const int32_t off, const int32_t *w, const int32_t wo,
                                const int32_t B, int32_t a)
{
    if (B >= 4)
    {
        _Pragma("GCC unroll 4")
        for (int32_t q = 0; q < B / 4; q++)
        {
            int32_t w02, w13, x02, x13;
            sp_ld64(w, 4 * (wo + 2 * q), &w02, &w13);
            sp_ld64(p, 2 * (off + 4 * q), &x02, &x13);
            a = sp_smlad(w02, x02, a);
            a = sp_smlad(w13, x13, a);
        }
        return a;
    }
    if (B == 2)
    {
        return sp_smlad(w[wo], sp_ld32a(p + off), a);
    }
    return sp_smlabb(w[wo], (int32_t)p[off], a);
}

/* Requantize one accumulator by a record's constants (kind: TFC_SPARSE_RQ_*), clamp when asked: the
 * byte as an int32 (sp_gen_y: an epilogue indexes its table with it, no sign extension in between). */
SP_INLINE int32_t sp_gen_y(int32_t acc, const int kind, int32_t m, int32_t rnd, int32_t sh, int32_t lo, int32_t hi,
                           const int clamp)
{
    int32_t y;
    if (kind == 0)
    {
        y = sp_rq_right(acc, m, rnd, sh);
    }
    else if (kind == 1)
    {
        y = sp_rq_left(acc, m, rnd, sh);
    }
    else
    {
        y = sp_requantize_generic(acc, m, sh, rnd);
    }
    return sp_clamp(y, lo, hi, clamp);
}

SP_INLINE int8_t sp_gen_out(int32_t acc, const int kind, int32_t m, int32_t rnd, int32_t sh, int32_t lo,
                            int32_t hi, const int clamp)
{
    return (int8_t)sp_gen_y(acc, kind, m, rnd, sh, lo, hi, clamp);
}

/* A RIGHT channel's output from 2 * acc (its weights and bias doubled): SMMLAR, the shift and
 * saturation (one SSAT with an immediate shift), without the negative accumulator's correction
 * where the clamp hides it (sign = 0: tfc/sparse/reference.py sign_fix_needed). */
SP_INLINE int32_t sp_gen_y2(int32_t acc2, int32_t m, int32_t rnd, int32_t sh, const int sign, int32_t lo, int32_t hi,
                            const int clamp)
{
    const int32_t r = sign ? sp_sub_lsr31(rnd, acc2) : rnd;
    return sp_clamp(sp_ssat8(sp_smmlar(acc2, m, r) >> sh), lo, hi, clamp);
}

SP_INLINE int8_t sp_gen_out2(int32_t acc2, int32_t m, int32_t rnd, int32_t sh, const int sign, int32_t lo, int32_t hi,
                             const int clamp)
{
    return (int8_t)sp_gen_y2(acc2, m, rnd, sh, sign, lo, hi, clamp);
}

/* ---- epilogues: the elementwise node after the layer, applied before the store ------------------
 * (tfc.kernels.sparse_epilogue). A table: out = t[y] (t = table + 128). A residual add: TFLite's
 * ADD of y and the residual's byte r with each operand's rescaling from its int32 table (twice
 * the rescaled value, tfc_add_table_s8's tables, ty and tr at entry 0) and the sum requantized in
 * tfc_add_table_s8's fast form (m, k, e: the compiler checked its bounds), the same bytes. */
SP_INLINE int8_t sp_epi_add(int32_t y, int32_t r, const int32_t *ty, const int32_t *tr, int32_t m, int32_t k,
                            const int32_t e, int32_t lo, int32_t hi, const int clamp)
{
    const int32_t x2 = ty[y] + tr[r];
    return (int8_t)sp_clamp(sp_ssat8((sp_smmlar(x2, m, k) + (x2 >> 31)) >> e), lo, hi, clamp);
}

#endif /* TFC_SPARSE_GEN_H */
