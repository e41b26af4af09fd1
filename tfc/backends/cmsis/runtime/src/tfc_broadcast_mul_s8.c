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
    const int32_t row = out_dims[3];
    const int contiguous = strides_1[3] == 1 && strides_2[3] == 1;
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *a = input_1 + i0 * strides_1[0] + i1 * strides_1[1] + i2 * strides_1[2];
                const int8_t *b = input_2 + i0 * strides_2[0] + i1 * strides_2[1] + i2 * strides_2[2];
                if (contiguous)
                {
                    arm_elementwise_mul_s8(a, b, input_1_offset, input_2_offset, output, out_offset, out_mult,
                                           out_shift, act_min, act_max, row);
                }
                else
                {
                    for (i3 = 0; i3 < row; i3++)
                    {
                        const int32_t prod =
                            (a[i3 * strides_1[3]] + input_1_offset) * (b[i3 * strides_2[3]] + input_2_offset);
                        output[i3] = tfc_requantize_to_s8(prod, out_mult, out_shift, out_offset, act_min, act_max);
                    }
                }
                output += row;
            }
        }
    }
}
