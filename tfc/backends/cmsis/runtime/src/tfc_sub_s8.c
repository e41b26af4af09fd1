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
    const int32_t rows = out_dims[0] * out_dims[1] * out_dims[2];
    for (int32_t r = 0; r < rows; r++)
    {
        const int8_t *a = input_1 + tfc_walk_row_offset(out_dims, strides_1, r);
        const int8_t *b = input_2 + tfc_walk_row_offset(out_dims, strides_2, r);
        for (int32_t i = 0; i < out_dims[3]; i++)
        {
            const int32_t sa = tfc_requantize(tfc_shl_wrap(a[i * strides_1[3]] + p->input_1_offset, p->left_shift),
                                              p->input_1_mult, p->input_1_shift);
            const int32_t sb = tfc_requantize(tfc_shl_wrap(b[i * strides_2[3]] + p->input_2_offset, p->left_shift),
                                              p->input_2_mult, p->input_2_shift);
            *output++ = tfc_requantize_to_s8((int32_t)((uint32_t)sa - (uint32_t)sb), p->out_mult, p->out_shift,
                                             p->out_offset, p->out_activation_min, p->out_activation_max);
        }
    }
}
