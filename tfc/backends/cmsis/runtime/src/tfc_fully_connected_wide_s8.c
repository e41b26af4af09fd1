/*
 * tfc runtime: tfc_fully_connected_wide_s8, a batch-1 per-tensor fully connected layer whose
 * weights the compiler stored widened to int16 (twice the flash of arm_fully_connected_s8).
 *
 * Same integers as arm_fully_connected_s8 (symmetric weights): acc = bias + sum (x + input_offset)
 * * w, requantized per tensor. The input is widened once into scratch; the weights need no
 * unpacking, so 4 columns x 4 rows cost 13 instructions (one LDRD of input, four of weights,
 * eight SMLAD) instead of 23.
 *
 * Weight layout (tfc.kernels.fc_wide.wide_weights): rows in groups of 4 (zero rows pad the last
 * group), columns in blocks of 4 (zero columns pad the last block); group g, block b, row r of
 * the group holds 4 int16 at ((g * blocks + b) * 4 + r) * 4, in the column order 0, 2, 1, 3.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

#if TFC_NN_DSP
/* The input block (x0, x2) and (x1, x3) + input_offset: SXTAB16's natural order, so widening
 * is a load, two SXTAB16 and a store per 4 columns (the weights are stored in the same order). */
static void fcw_widen(const int8_t *input, int32_t cols, int32_t input_offset, int16_t *scratch)
{
    const uint32_t lo2 = __PKHBT((uint32_t)input_offset, (uint32_t)input_offset, 16);
    const int32_t cols4 = cols & ~3;
    int32_t c = 0;
    for (; c < cols4; c += 4)
    {
        const uint32_t v = (uint32_t)tfc_read_s8x4(input + c);
        tfc_write_s16x2(scratch + c, (int32_t)__SXTAB16(lo2, v));
        tfc_write_s16x2(scratch + c + 2, (int32_t)tfc_sxtab16_ror8(lo2, v));
    }
    if (c < cols)
    {
        static const int8_t slot[4] = {0, 2, 1, 3};
        for (int32_t j = 0; j < 4; j++)
        {
            scratch[c + slot[j]] = (int16_t)(c + j < cols ? input[c + j] + input_offset : 0);
        }
    }
}

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* One block: LDRD of input, then per row LDRD of weights and two SMLAD. */
#define FCW_BLOCK_ASM                                                                                              \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t"                                                                            \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a0], %[xa], %[wa], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[xb], %[wb], %[a0]\n\t"                                                                         \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a1], %[xa], %[wa], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[xb], %[wb], %[a1]\n\t"                                                                         \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a2], %[xa], %[wa], %[a2]\n\t"                                                                         \
    "smlad %[a2], %[xb], %[wb], %[a2]\n\t"                                                                         \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                                            \
    "smlad %[a3], %[xa], %[wa], %[a3]\n\t"                                                                         \
    "smlad %[a3], %[xb], %[wb], %[a3]\n\t"
#define FCW_OPERANDS                                                                                               \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "+r"(x), [xa] "=&r"(xa),        \
      [xb] "=&r"(xb), [wa] "=&r"(wa), [wb] "=&r"(wb)                                                               \
    : [end] "r"(end)                                                                                               \
    : "cc", "memory"
/* n >= 1 blocks of one row group into the locals a0..a3; w advances past them. */
#define FCW_DOT4(n)                                                                                                \
    do                                                                                                             \
    {                                                                                                              \
        const int16_t *x = scratch;                                                                                \
        const int16_t *const end = scratch + 4 * (n);                                                              \
        uint32_t xa, xb, wa, wb;                                                                                   \
        if ((n) & 1)                                                                                               \
        {                                                                                                          \
            __asm__ volatile(FCW_BLOCK_ASM FCW_OPERANDS);                                                          \
        }                                                                                                          \
        if ((n) > 1)                                                                                               \
        {                                                                                                          \
            __asm__ volatile("1:\n\t" FCW_BLOCK_ASM FCW_BLOCK_ASM "cmp %[x], %[end]\n\t"                            \
                                                                  "bne 1b" FCW_OPERANDS);                          \
        }                                                                                                          \
    } while (0)
#else
#define FCW_DOT4(n)                                                                                                \
    do                                                                                                             \
    {                                                                                                              \
        for (int32_t b_ = 0; b_ < (n); b_++, w += 16)                                                              \
        {                                                                                                          \
            const uint32_t xa = (uint32_t)tfc_read_s16x2(scratch + 4 * b_);                                        \
            const uint32_t xb = (uint32_t)tfc_read_s16x2(scratch + 4 * b_ + 2);                                    \
            a0 = __SMLAD(xb, (uint32_t)tfc_read_s16x2(w + 2), __SMLAD(xa, (uint32_t)tfc_read_s16x2(w), a0));       \
            a1 = __SMLAD(xb, (uint32_t)tfc_read_s16x2(w + 6), __SMLAD(xa, (uint32_t)tfc_read_s16x2(w + 4), a1));   \
            a2 = __SMLAD(xb, (uint32_t)tfc_read_s16x2(w + 10), __SMLAD(xa, (uint32_t)tfc_read_s16x2(w + 8), a2));  \
            a3 = __SMLAD(xb, (uint32_t)tfc_read_s16x2(w + 14), __SMLAD(xa, (uint32_t)tfc_read_s16x2(w + 12), a3)); \
        }                                                                                                          \
    } while (0)
#endif
#endif /* TFC_NN_DSP */

void tfc_fully_connected_wide_s8(const int8_t *input,
                                 const int16_t *weights,
                                 const int32_t *bias,
                                 int8_t *output,
                                 int16_t *scratch,
                                 int32_t rows,
                                 int32_t cols,
                                 int32_t input_offset,
                                 int32_t multiplier,
                                 int32_t shift,
                                 int32_t output_offset,
                                 int32_t act_min,
                                 int32_t act_max)
{
    const int32_t blocks = (cols + 3) / 4;
#if TFC_NN_DSP
    fcw_widen(input, cols, input_offset, scratch);
    const tfc_rq q = tfc_rq_make(multiplier, shift, output_offset, act_max);
    const int16_t *w = weights;
    int32_t k = 0;
    if (q.mode == TFC_RQ_RIGHT && bias != NULL)
    {
        /* The common case (every TFLite int8 FC layer): the loop keeps the constants in registers. */
        for (; k + 3 < rows; k += 4)
        {
            uint32_t a0 = (uint32_t)bias[k], a1 = (uint32_t)bias[k + 1], a2 = (uint32_t)bias[k + 2],
                     a3 = (uint32_t)bias[k + 3];
            FCW_DOT4(blocks);
            output[k] = (int8_t)tfc_rq_out(tfc_rq_right(&q, (int32_t)a0), output_offset, act_min, act_max);
            output[k + 1] = (int8_t)tfc_rq_out(tfc_rq_right(&q, (int32_t)a1), output_offset, act_min, act_max);
            output[k + 2] = (int8_t)tfc_rq_out(tfc_rq_right(&q, (int32_t)a2), output_offset, act_min, act_max);
            output[k + 3] = (int8_t)tfc_rq_out(tfc_rq_right(&q, (int32_t)a3), output_offset, act_min, act_max);
        }
    }
    for (; k < rows; k += 4)
    {
        uint32_t a0 = 0U, a1 = 0U, a2 = 0U, a3 = 0U;
        if (bias != NULL)
        {
            a0 = (uint32_t)bias[k];
            a1 = k + 1 < rows ? (uint32_t)bias[k + 1] : 0U;
            a2 = k + 2 < rows ? (uint32_t)bias[k + 2] : 0U;
            a3 = k + 3 < rows ? (uint32_t)bias[k + 3] : 0U;
        }
        FCW_DOT4(blocks);
        const uint32_t acc[4] = {a0, a1, a2, a3};
        for (int32_t r = 0; r < 4 && k + r < rows; r++)
        {
            output[k + r] = tfc_rq_s8(&q, acc[r], output_offset, act_min, act_max);
        }
    }
#else
    /* Portable build: the same layout read one product at a time. */
    static const int8_t slot[4] = {0, 2, 1, 3};
    for (int32_t k = 0; k < rows; k += 4)
    {
        for (int32_t r = 0; r < 4 && k + r < rows; r++)
        {
            uint32_t acc = bias != NULL ? (uint32_t)bias[k + r] : 0U;
            for (int32_t c = 0; c < cols; c++)
            {
                const int16_t wv = weights[((k / 4 * blocks + c / 4) * 4 + r) * 4 + slot[c % 4]];
                acc += (uint32_t)((input[c] + input_offset) * wv);
            }
            output[k + r] = tfc_requantize_to_s8((int32_t)acc, multiplier, shift, output_offset, act_min, act_max);
        }
    }
    (void)scratch;
#endif
}
