/*
 * tfc runtime: tfc_broadcast_mul_s8, an int8 mul whose operands broadcast, walked as rank 4.
 * Per element: TFLite Micro's MUL (the offset inputs' product requantized, double rounding),
 * the arithmetic of arm_elementwise_mul_s8, which runs every innermost row where both operands
 * are contiguous.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_kernels.h"
#include "tfc_nn_support.h"

void tfc_broadcast_mul_s8(const int8_t *input_1,
                          const int8_t *input_2,
                          int8_t *output,
                          const int32_t out_dims[4],
                          const int32_t strides_1[4],
                          const int32_t strides_2[4],
                          int32_t input_1_offset,
                          int32_t input_2_offset,
                          int32_t out_offset,
                          int32_t out_mult,
                          int32_t out_shift,
                          int32_t act_min,
                          int32_t act_max)
{
    const int32_t width = out_dims[3];
    const int32_t rows = out_dims[0] * out_dims[1] * out_dims[2];
    const int contiguous = strides_1[3] == 1 && strides_2[3] == 1;
    for (int32_t r = 0; r < rows; r++, output += width)
    {
        const int8_t *a = input_1 + tfc_walk_row_offset(out_dims, strides_1, r);
        const int8_t *b = input_2 + tfc_walk_row_offset(out_dims, strides_2, r);
        if (contiguous)
        {
            arm_elementwise_mul_s8(a, b, input_1_offset, input_2_offset, output, out_offset, out_mult, out_shift,
                                   act_min, act_max, width);
            continue;
        }
        for (int32_t i = 0; i < width; i++)
        {
            const int32_t prod = (a[i * strides_1[3]] + input_1_offset) * (b[i * strides_2[3]] + input_2_offset);
            output[i] = tfc_requantize_to_s8(prod, out_mult, out_shift, out_offset, act_min, act_max);
        }
    }
}
