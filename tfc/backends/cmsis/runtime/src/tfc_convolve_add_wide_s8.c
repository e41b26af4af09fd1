/*
 * tfc runtime: tfc_convolve_add_wide_s8, tfc_convolve_add_s8 on tfc_convolve_wide_s8: one output
 * row of the conv at a time into a row buffer, then the residual add over the same row of the
 * skip tensor, in place. The integers of the unfused conv + add. Output rows [row_begin, row_end)
 * (all of them, or one band's in fused tiles), from residual_and_output on.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_kernels.h"

void tfc_convolve_add_wide_s8(const tfc_conv_wide_geometry *g,
                              const int8_t *input,
                              const int16_t *weights,
                              const tfc_conv_wide_channel *channels,
                              const tfc_add_params *add,
                              int8_t *residual_and_output,
                              int8_t *row,
                              void *window,
                              int32_t row_begin,
                              int32_t row_end,
                              int32_t input_row)
{
    const int32_t row_size = g->out_w * g->out_c;
    for (int32_t r = row_begin; r < row_end; r++)
    {
        int8_t *out = residual_and_output + (r - row_begin) * row_size;
        tfc_convolve_wide_s8(g, input, weights, channels, row, window, r, r + 1, input_row);
        (void)arm_elementwise_add_s8(add->residual_first ? out : row, add->residual_first ? row : out,
                                     add->input_1_offset, add->input_1_mult, add->input_1_shift,
                                     add->input_2_offset, add->input_2_mult, add->input_2_shift, add->left_shift,
                                     out, add->out_offset, add->out_mult, add->out_shift, add->out_activation_min,
                                     add->out_activation_max, row_size);
    }
}
