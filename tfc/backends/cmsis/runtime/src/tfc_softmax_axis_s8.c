/*
 * tfc runtime: tfc_softmax_axis_s8, tfc_softmax_scaled_s8 over an axis other than the last: each column
 * gathered into `column` (length bytes), normalized there in place, scattered to the output.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"

void tfc_softmax_axis_s8(const int8_t *input,
                         int8_t *output,
                         int32_t outer,
                         int32_t length,
                         int32_t inner,
                         const uint32_t exp_table[256],
                         int32_t out_mult,
                         int32_t out_shift,
                         int8_t *column)
{
    for (int32_t o = 0; o < outer; o++)
    {
        const int8_t *in = input + o * length * inner;
        int8_t *out = output + o * length * inner;
        for (int32_t i = 0; i < inner; i++)
        {
            for (int32_t k = 0; k < length; k++)
            {
                column[k] = in[k * inner + i];
            }
            tfc_softmax_scaled_s8(column, 1, length, exp_table, out_mult, out_shift, column);
            for (int32_t k = 0; k < length; k++)
            {
                out[k * inner + i] = column[k];
            }
        }
    }
}
