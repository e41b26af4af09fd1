/*
 * tfc runtime: the int8 matrix-product core behind arm_convolve_1x1_s8_fast,
 * arm_fully_connected_s8 and arm_batch_matmul_s8.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

/* One output: requantized dot product of lhs row and rhs row, accumulated modulo 2^32. */
static int8_t dot_scalar(const int8_t *lhs, const int8_t *rhs, int32_t cols, int32_t lhs_offset, int32_t rhs_offset,
                         uint32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t act_min,
                         int32_t act_max)
{
    for (int32_t c = 0; c < cols; c++)
    {
        acc += (uint32_t)((lhs[c] + lhs_offset) * (rhs[c] + rhs_offset));
    }
    return tfc_requantize_to_s8((int32_t)acc, mult, shift, out_offset, act_min, act_max);
}

#if TFC_NN_DSP
/* The packed SIMD path keeps (x + offset) in 16 bits; larger offsets take the scalar path. */
static int offset_fits_s16(int32_t offset) { return offset >= -32640 && offset <= 32640; }

/* 2 lhs rows x 2 rhs rows per pass: each pair of loaded words feeds two SMLADs. */
static void mat_mult_dsp(const int8_t *lhs, const int8_t *rhs, const int32_t *bias, int8_t *out, const int32_t *mult,
                         const int32_t *shift, int32_t per_channel, int32_t lhs_rows, int32_t rhs_rows, int32_t cols,
                         int32_t lhs_offset, int32_t rhs_offset, int32_t out_offset, int32_t out_stride,
                         int32_t act_min, int32_t act_max)
{
    const uint32_t lo2 = __PKHBT((uint32_t)lhs_offset, (uint32_t)lhs_offset, 16);
    const uint32_t ro2 = __PKHBT((uint32_t)rhs_offset, (uint32_t)rhs_offset, 16);
    const int32_t cols4 = cols & ~3;
    int32_t r = 0;
    for (; r + 1 < lhs_rows; r += 2)
    {
        const int8_t *l0 = lhs + r * cols;
        const int8_t *l1 = l0 + cols;
        int32_t k = 0;
        for (; k + 1 < rhs_rows; k += 2)
        {
            const int8_t *r0 = rhs + k * cols;
            const int8_t *r1 = r0 + cols;
            uint32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
            for (int32_t c = 0; c < cols4; c += 4)
            {
                const uint32_t x0 = (uint32_t)tfc_read_s8x4(l0 + c);
                const uint32_t x1 = (uint32_t)tfc_read_s8x4(l1 + c);
                const uint32_t w0 = (uint32_t)tfc_read_s8x4(r0 + c);
                const uint32_t w1 = (uint32_t)tfc_read_s8x4(r1 + c);
                const uint32_t x0e = __SXTAB16(lo2, x0), x0o = __SXTAB16(lo2, __ROR(x0, 8));
                const uint32_t x1e = __SXTAB16(lo2, x1), x1o = __SXTAB16(lo2, __ROR(x1, 8));
                const uint32_t w0e = __SXTAB16(ro2, w0), w0o = __SXTAB16(ro2, __ROR(w0, 8));
                const uint32_t w1e = __SXTAB16(ro2, w1), w1o = __SXTAB16(ro2, __ROR(w1, 8));
                a00 = __SMLAD(x0o, w0o, __SMLAD(x0e, w0e, a00));
                a01 = __SMLAD(x0o, w1o, __SMLAD(x0e, w1e, a01));
                a10 = __SMLAD(x1o, w0o, __SMLAD(x1e, w0e, a10));
                a11 = __SMLAD(x1o, w1o, __SMLAD(x1e, w1e, a11));
            }
            for (int32_t c = cols4; c < cols; c++)
            {
                const int32_t x0 = l0[c] + lhs_offset, x1 = l1[c] + lhs_offset;
                const int32_t w0 = r0[c] + rhs_offset, w1 = r1[c] + rhs_offset;
                a00 += (uint32_t)(x0 * w0);
                a01 += (uint32_t)(x0 * w1);
                a10 += (uint32_t)(x1 * w0);
                a11 += (uint32_t)(x1 * w1);
            }
            const uint32_t b0 = bias ? (uint32_t)bias[k] : 0U, b1 = bias ? (uint32_t)bias[k + 1] : 0U;
            const int32_t m0 = per_channel ? mult[k] : mult[0], m1 = per_channel ? mult[k + 1] : mult[0];
            const int32_t s0 = per_channel ? shift[k] : shift[0], s1 = per_channel ? shift[k + 1] : shift[0];
            int8_t *o0 = out + r * out_stride + k;
            int8_t *o1 = o0 + out_stride;
            o0[0] = tfc_requantize_to_s8((int32_t)(a00 + b0), m0, s0, out_offset, act_min, act_max);
            o0[1] = tfc_requantize_to_s8((int32_t)(a01 + b1), m1, s1, out_offset, act_min, act_max);
            o1[0] = tfc_requantize_to_s8((int32_t)(a10 + b0), m0, s0, out_offset, act_min, act_max);
            o1[1] = tfc_requantize_to_s8((int32_t)(a11 + b1), m1, s1, out_offset, act_min, act_max);
        }
        for (; k < rhs_rows; k++)
        {
            const uint32_t b = bias ? (uint32_t)bias[k] : 0U;
            const int32_t m = per_channel ? mult[k] : mult[0], s = per_channel ? shift[k] : shift[0];
            const int8_t *rk = rhs + k * cols;
            out[r * out_stride + k] = dot_scalar(l0, rk, cols, lhs_offset, rhs_offset, b, m, s, out_offset, act_min,
                                                 act_max);
            out[(r + 1) * out_stride + k] = dot_scalar(l1, rk, cols, lhs_offset, rhs_offset, b, m, s, out_offset,
                                                       act_min, act_max);
        }
    }
    for (; r < lhs_rows; r++)
    {
        /* Last odd row: one row against two rhs rows per pass. */
        const int8_t *l0 = lhs + r * cols;
        int32_t k = 0;
        for (; k + 1 < rhs_rows; k += 2)
        {
            const int8_t *r0 = rhs + k * cols;
            const int8_t *r1 = r0 + cols;
            uint32_t a0 = 0, a1 = 0;
            for (int32_t c = 0; c < cols4; c += 4)
            {
                const uint32_t x0 = (uint32_t)tfc_read_s8x4(l0 + c);
                const uint32_t w0 = (uint32_t)tfc_read_s8x4(r0 + c);
                const uint32_t w1 = (uint32_t)tfc_read_s8x4(r1 + c);
                const uint32_t x0e = __SXTAB16(lo2, x0), x0o = __SXTAB16(lo2, __ROR(x0, 8));
                a0 = __SMLAD(x0o, __SXTAB16(ro2, __ROR(w0, 8)), __SMLAD(x0e, __SXTAB16(ro2, w0), a0));
                a1 = __SMLAD(x0o, __SXTAB16(ro2, __ROR(w1, 8)), __SMLAD(x0e, __SXTAB16(ro2, w1), a1));
            }
            for (int32_t c = cols4; c < cols; c++)
            {
                const int32_t x0 = l0[c] + lhs_offset;
                a0 += (uint32_t)(x0 * (r0[c] + rhs_offset));
                a1 += (uint32_t)(x0 * (r1[c] + rhs_offset));
            }
            const uint32_t b0 = bias ? (uint32_t)bias[k] : 0U, b1 = bias ? (uint32_t)bias[k + 1] : 0U;
            int8_t *o0 = out + r * out_stride + k;
            o0[0] = tfc_requantize_to_s8((int32_t)(a0 + b0), per_channel ? mult[k] : mult[0],
                                         per_channel ? shift[k] : shift[0], out_offset, act_min, act_max);
            o0[1] = tfc_requantize_to_s8((int32_t)(a1 + b1), per_channel ? mult[k + 1] : mult[0],
                                         per_channel ? shift[k + 1] : shift[0], out_offset, act_min, act_max);
        }
        for (; k < rhs_rows; k++)
        {
            out[r * out_stride + k] = dot_scalar(l0, rhs + k * cols, cols, lhs_offset, rhs_offset,
                                                 bias ? (uint32_t)bias[k] : 0U, per_channel ? mult[k] : mult[0],
                                                 per_channel ? shift[k] : shift[0], out_offset, act_min, act_max);
        }
    }
}
#endif /* TFC_NN_DSP */

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
                             int32_t act_max)
{
#if TFC_NN_DSP
    if (offset_fits_s16(lhs_offset) && offset_fits_s16(rhs_offset))
    {
        mat_mult_dsp(lhs, rhs, bias, out, mult, shift, per_channel, lhs_rows, rhs_rows, cols, lhs_offset, rhs_offset,
                     out_offset, out_stride, act_min, act_max);
        return;
    }
#endif
    for (int32_t r = 0; r < lhs_rows; r++)
    {
        for (int32_t k = 0; k < rhs_rows; k++)
        {
            out[r * out_stride + k] =
                dot_scalar(lhs + r * cols, rhs + k * cols, cols, lhs_offset, rhs_offset, bias ? (uint32_t)bias[k] : 0U,
                           per_channel ? mult[k] : mult[0], per_channel ? shift[k] : shift[0], out_offset, act_min,
                           act_max);
        }
    }
}
