/*
 * tfc runtime: the Armv7E-M DSP (SIMD32) instructions the fast kernel paths use.
 *
 * TFC_NN_DSP is 1 when the fast paths are compiled: on an Arm core with the DSP extension
 * (__ARM_FEATURE_DSP), or on any host when TFC_EMULATE_DSP is defined. On Arm the helpers map to
 * ACLE intrinsics (one instruction each); under TFC_EMULATE_DSP they are portable C with the
 * same results, so the host test suite exercises the DSP loops bit for bit.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_NN_DSP_H
#define TFC_NN_DSP_H

#include "arm_nn_math_types.h"

#if defined(TFC_EMULATE_DSP) || defined(__ARM_FEATURE_DSP)
#define TFC_NN_DSP 1
#else
#define TFC_NN_DSP 0
#endif

#if TFC_NN_DSP

/* Unaligned little-endian loads: memcpy compiles to one LDR on Cortex-M7. */
__STATIC_FORCEINLINE int32_t tfc_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

__STATIC_FORCEINLINE int32_t tfc_read_s16x2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

__STATIC_FORCEINLINE void tfc_write_s16x2(int16_t *p, int32_t v) { memcpy(p, &v, 4); }

/* The hand-scheduled inline-asm loops (convolve, convolve_wide, mat_mult) take up to 13 core
 * registers: at -O0 GCC keeps r7 as the frame pointer and reports "impossible constraints", so
 * unoptimized (debug) builds run the C loops, which compute the same integers. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP) && defined(__OPTIMIZE__)
#define TFC_ASM_LOOPS 1
#else
#define TFC_ASM_LOOPS 0
#endif

/* CMSIS-Core (cmsis_gcc.h / cmsis_armclang.h) already defines these names on a real target. */
#if !defined(__CMSIS_GCC_H) && !defined(__CMSIS_ARMCLANG_H) && !defined(__CMSIS_ARMCC_H)

/* Rotate right; compilers turn this into one ROR (GCC's arm_acle.h has no __ror). */
__STATIC_FORCEINLINE uint32_t __ROR(uint32_t x, uint32_t n)
{
    n &= 31U;
    return n == 0U ? x : (x >> n) | (x << (32U - n));
}

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
#include <arm_acle.h>

__STATIC_FORCEINLINE uint32_t __SXTB16(uint32_t x) { return (uint32_t)__sxtb16((int8x4_t)x); }
__STATIC_FORCEINLINE uint32_t __SXTAB16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)b);
}
__STATIC_FORCEINLINE uint32_t __SMLAD(uint32_t x, uint32_t y, uint32_t acc)
{
    return (uint32_t)__smlad((int16x2_t)x, (int16x2_t)y, (int32_t)acc);
}
__STATIC_FORCEINLINE int32_t __SMLABB(int32_t x, int32_t y, int32_t acc) { return __smlabb(x, y, acc); }
__STATIC_FORCEINLINE int32_t __SMLATT(int32_t x, int32_t y, int32_t acc) { return __smlatt(x, y, acc); }
__STATIC_FORCEINLINE int32_t __SMLATB(int32_t x, int32_t y, int32_t acc) { return __smlatb(x, y, acc); }
__STATIC_FORCEINLINE int32_t __SMLABT(int32_t x, int32_t y, int32_t acc) { return __smlabt(x, y, acc); }

#else /* portable definitions with identical results */

/* Low and high halfword of a packed pair, as signed 16-bit values. */
__STATIC_FORCEINLINE int32_t tfc_lo16(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFU); }
__STATIC_FORCEINLINE int32_t tfc_hi16(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x >> 16); }

__STATIC_FORCEINLINE uint32_t tfc_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFU) | (((uint32_t)hi & 0xFFFFU) << 16);
}

/* Bytes 0 and 2, sign-extended into the two halfwords. */
__STATIC_FORCEINLINE uint32_t __SXTB16(uint32_t x)
{
    return tfc_pack16((int8_t)(uint8_t)(x & 0xFFU), (int8_t)(uint8_t)((x >> 16) & 0xFFU));
}

/* Halfwords of a plus the sign-extended bytes 0 and 2 of b (each sum wraps to 16 bits). */
__STATIC_FORCEINLINE uint32_t __SXTAB16(uint32_t a, uint32_t b)
{
    const uint32_t e = __SXTB16(b);
    return tfc_pack16(tfc_lo16(a) + tfc_lo16(e), tfc_hi16(a) + tfc_hi16(e));
}

/* acc + lo*lo + hi*hi (wraps modulo 2^32 like the instruction; it only sets the Q flag). */
__STATIC_FORCEINLINE uint32_t __SMLAD(uint32_t x, uint32_t y, uint32_t acc)
{
    const uint32_t p0 = (uint32_t)(tfc_lo16(x) * tfc_lo16(y));
    const uint32_t p1 = (uint32_t)(tfc_hi16(x) * tfc_hi16(y));
    return acc + p0 + p1;
}

__STATIC_FORCEINLINE int32_t __SMLABB(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tfc_lo16((uint32_t)x) * tfc_lo16((uint32_t)y)));
}

__STATIC_FORCEINLINE int32_t __SMLATT(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tfc_hi16((uint32_t)x) * tfc_hi16((uint32_t)y)));
}

__STATIC_FORCEINLINE int32_t __SMLATB(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tfc_hi16((uint32_t)x) * tfc_lo16((uint32_t)y)));
}

__STATIC_FORCEINLINE int32_t __SMLABT(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tfc_lo16((uint32_t)x) * tfc_hi16((uint32_t)y)));
}

#endif /* ACLE or portable */

/* SXTB16 of x rotated right by n (8, 16 or 24): bytes 1 and 3 for n = 8. */
#define __SXTB16_RORn(x, n) __SXTB16(__ROR((uint32_t)(x), (n)))

/* Pack low halfword of a with (b << sh)'s high halfword. */
__STATIC_FORCEINLINE uint32_t __PKHBT(uint32_t a, uint32_t b, uint32_t sh)
{
    return (a & 0xFFFFU) | ((b << sh) & 0xFFFF0000U);
}

#endif /* not CMSIS-Core */

/* Signed saturation of x to n bits (SSAT); n a constant. */
#if !defined(__SSAT) && defined(__ARM_FEATURE_SAT) && !defined(TFC_EMULATE_DSP)
#include <arm_acle.h>
#define __SSAT(x, n) __ssat((x), (n))
#elif !defined(__SSAT)
__STATIC_FORCEINLINE int32_t __SSAT(int32_t x, int32_t n)
{
    const int32_t hi = (int32_t)((1U << (n - 1)) - 1U), lo = -hi - 1;
    return x < lo ? lo : (x > hi ? hi : x);
}
#endif

/* SXTB16 / SXTAB16 of x rotated right by 8 (bytes 1 and 3): one instruction, the rotation folded
 * in. GCC does not fold a separate __ROR into the ACLE intrinsic, hence the inline assembly. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
__STATIC_FORCEINLINE uint32_t tfc_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

__STATIC_FORCEINLINE uint32_t tfc_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
#else
__STATIC_FORCEINLINE uint32_t tfc_sxtb16_ror8(uint32_t x) { return __SXTB16(__ROR(x, 8)); }
__STATIC_FORCEINLINE uint32_t tfc_sxtab16_ror8(uint32_t a, uint32_t x) { return __SXTAB16(a, __ROR(x, 8)); }
#endif

/* A pair of packed int16x2 words kept as one uint64_t, so GCC loads and stores it with one
 * LDRD / STRD (it splits 64-bit accesses it cannot prove 8-byte aligned). */
__STATIC_FORCEINLINE uint64_t tfc_pair(uint32_t lo, uint32_t hi) { return (uint64_t)lo | ((uint64_t)hi << 32); }
__STATIC_FORCEINLINE uint32_t tfc_pair_lo(uint64_t v) { return (uint32_t)v; }
__STATIC_FORCEINLINE uint32_t tfc_pair_hi(uint64_t v) { return (uint32_t)(v >> 32); }

/* *p++ as two words: one post-incrementing LDRD. GCC, short of registers, splits plain 64-bit
 * loads into two LDRs just before each use, which costs an instruction per pair in the MAC loops. */
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
#define TFC_LOAD_PAIR_INC(p, lo, hi) \
    __asm__("ldrd %0, %1, [%2], #8" : "=&r"(lo), "=&r"(hi), "+r"(p) : "m"(*(const uint64_t(*)[1])(p)))
#else
#define TFC_LOAD_PAIR_INC(p, lo, hi) \
    do \
    { \
        const uint64_t v_ = *(p)++; \
        (lo) = tfc_pair_lo(v_); \
        (hi) = tfc_pair_hi(v_); \
    } while (0)
#endif

#endif /* TFC_NN_DSP */

#endif /* TFC_NN_DSP_H */
