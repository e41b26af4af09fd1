/*
 * tfc runtime: fixed-point helpers shared by the kernels (internal header).
 *
 * Each helper equals the gemmlowp/TFLite Micro function named beside it bit for bit; the Python
 * twins live in tfc/quant/fixed_point.py. Overflowing shifts and products are done on uint32_t
 * so the code stays free of undefined behaviour (UBSan-clean) and wraps exactly like the
 * two's-complement hardware the reference assumes.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_NN_SUPPORT_H
#define TFC_NN_SUPPORT_H

#include "arm_nn_math_types.h"
#include "arm_nn_types.h"

/* Arm's CMSIS-NN since v6 defines it in Internal/arm_nn_compiler.h, which arm_nn_math_types.h no
 * longer includes: a kernel built against that library must not depend on the include order. */
#ifndef __STATIC_FORCEINLINE
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#endif

#define TFC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TFC_MIN(a, b) ((a) < (b) ? (a) : (b))

/* x * 2^n modulo 2^32 (TFLite's `x * (1 << n)` without the signed-overflow UB). */
__STATIC_FORCEINLINE int32_t tfc_shl_wrap(int32_t x, int32_t n) { return (int32_t)((uint32_t)x << n); }

/* a + b modulo 2^32. */
__STATIC_FORCEINLINE int32_t tfc_add_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* gemmlowp::SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties up; (MIN, MIN) -> MAX. */
__STATIC_FORCEINLINE int32_t tfc_srdhm(int32_t a, int32_t b)
{
    if (a == NN_Q31_MIN && b == NN_Q31_MIN)
    {
        return NN_Q31_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    /* Arithmetic shift of a negative int64 is implementation-defined, so floor-divide by hand. */
    const int64_t q = ab >= 0 ? ab / ((int64_t)1 << 31) : -((-ab + (((int64_t)1 << 31) - 1)) / ((int64_t)1 << 31));
    return (int32_t)q;
}

/* gemmlowp::RoundingDivideByPOT: x / 2^e rounded half away from zero, 0 <= e <= 31. */
__STATIC_FORCEINLINE int32_t tfc_rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << e) - 1U);
    const int32_t remainder = x & mask;
    const int32_t result = x >= 0 ? x >> e : ~(~x >> e); /* floor(x / 2^e) without UB */
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return result + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding) == CMSIS-NN arm_nn_requantize. */
__STATIC_FORCEINLINE int32_t tfc_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return tfc_rdbpot(tfc_srdhm(tfc_shl_wrap(acc, left), multiplier), right);
}

/* gemmlowp::SaturatingRoundingMultiplyByPOT for a positive exponent: saturating left shift. */
__STATIC_FORCEINLINE int32_t tfc_sat_shl(int32_t x, int32_t e)
{
    const int32_t thresh = (int32_t)((((uint32_t)1) << (31 - e)) - 1U);
    if (x > thresh)
    {
        return NN_Q31_MAX;
    }
    if (x < -thresh)
    {
        return NN_Q31_MIN;
    }
    return tfc_shl_wrap(x, e);
}

__STATIC_FORCEINLINE int32_t tfc_clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* Requantize an accumulator, add the output zero point and clamp to the activation range. */
__STATIC_FORCEINLINE int8_t tfc_requantize_to_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                                                 int32_t act_min, int32_t act_max)
{
    return (int8_t)tfc_clamp(tfc_requantize(acc, mult, shift) + out_offset, act_min, act_max);
}

/* Matrix product core shared by convolution (1x1), fully connected and batch matmul:
 * out[r * out_stride + k] = requant(bias[k] + sum_c (lhs[r][c] + lhs_offset) * (rhs[k][c] + rhs_offset))
 * for r < lhs_rows, k < rhs_rows. mult/shift are per output column k when per_channel, else [0]. */
void tfc_nn_mat_mult_nt_t_s8(const int8_t *lhs,
                             const int8_t *rhs,
                             const int32_t *bias,
                             int8_t *out,
                             const int32_t *mult,
                             const int32_t *shift,
                             int32_t per_channel,
                             int32_t lhs_rows,
                             int32_t rhs_rows,
                             int32_t cols,
                             int32_t lhs_offset,
                             int32_t rhs_offset,
                             int32_t out_offset,
                             int32_t out_stride,
                             int32_t act_min,
                             int32_t act_max);

/* arm_fully_connected_s8 at batch 1 with symmetric weights (fc->filter_offset 0, as in every
 * TFLite int8 model): out[k] for k < rhs_rows, reached without the general product's setup.
 * Returns 0 without writing anything when its fast path does not apply (no DSP extension, or
 * an input offset outside int16); the caller then uses tfc_nn_mat_mult_nt_t_s8. */
int tfc_nn_fc_vec_sym_s8(const cmsis_nn_fc_params *fc,
                         const cmsis_nn_per_tensor_quant_params *quant,
                         const int8_t *lhs,
                         const int8_t *rhs,
                         const int32_t *bias,
                         int8_t *out,
                         int32_t rhs_rows,
                         int32_t cols);

#endif /* TFC_NN_SUPPORT_H */
