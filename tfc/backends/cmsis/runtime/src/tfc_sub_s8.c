/*
 * tfc runtime: tfc_sub_s8, TFLite Micro's int8 SUB (ADD's rescaling, the rescaled inputs
 * subtracted), operands broadcasting over a rank-4 walk.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_support.h"

void tfc_sub_s8(const int8_t *input_1,
                const int8_t *input_2,
                int8_t *output,
                const int32_t out_dims[4],
                const int32_t strides_1[4],
                const int32_t strides_2[4],
                const tfc_add_params *p)
{
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *a = input_1 + i0 * strides_1[0] + i1 * strides_1[1] + i2 * strides_1[2];
                const int8_t *b = input_2 + i0 * strides_2[0] + i1 * strides_2[1] + i2 * strides_2[2];
                for (i3 = 0; i3 < out_dims[3]; i3++)
                {
                    const int32_t sa = tfc_requantize(tfc_shl_wrap(a[i3 * strides_1[3]] + p->input_1_offset, p->left_shift),
                                                      p->input_1_mult, p->input_1_shift);
                    const int32_t sb = tfc_requantize(tfc_shl_wrap(b[i3 * strides_2[3]] + p->input_2_offset, p->left_shift),
                                                      p->input_2_mult, p->input_2_shift);
                    *output++ = tfc_requantize_to_s8((int32_t)((uint32_t)sa - (uint32_t)sb), p->out_mult, p->out_shift, p->out_offset,
                                                     p->out_activation_min, p->out_activation_max);
                }
            }
        }
    }
}
