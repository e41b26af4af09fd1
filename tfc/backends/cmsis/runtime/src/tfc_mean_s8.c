/*
 * tfc runtime: tfc_mean_s8, mean over the middle axis of [outer, reduce, inner].
 * Python twin: tfc.quant.transformer_ops.mean.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_support.h"

void tfc_mean_s8(const int8_t *input,
                 int8_t *output,
                 int32_t outer,
                 int32_t reduce,
                 int32_t inner,
                 int32_t input_offset,
                 int32_t left_shift,
                 int32_t mult,
                 int32_t shift,
                 int32_t out_offset)
{
    for (int32_t o = 0; o < outer; o++)
    {
        const int8_t *in = input + o * reduce * inner;
        for (int32_t i = 0; i < inner; i++)
        {
            int32_t acc = 0;
            for (int32_t r = 0; r < reduce; r++)
            {
                acc += in[r * inner + i] + input_offset;
            }
            output[o * inner + i] = tfc_requantize_to_s8(tfc_shl_wrap(acc, left_shift), mult, shift, out_offset,
                                                         -128, 127);
        }
    }
}
