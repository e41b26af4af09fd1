/*
 * tfc runtime: tfc_convolve_add_wide_s8, tfc_convolve_add_s8 on tfc_convolve_wide_s8: one output
 * row of the conv at a time into a row buffer, then the residual add over the same row of the
 * skip tensor, in place. The integers of the unfused conv + add. Output rows [row_begin, row_end)
 * (all of them, or one band's in fused tiles), from residual_and_output on. One conv call for all
 * the rows (its ring of widened input rows is filled once), the add run after each row.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_kernels.h"

typedef struct
{
    const tfc_add_params *add;
    int8_t *out;      /* output row row_begin */
    int32_t row_size; /* out_w * out_c */
    int32_t row_begin;
} cwa_rows;

/* The add over output row r, the conv's row in `row`. */
static void cwa_add_row(void *ctx, int8_t *row, int32_t r)
{
    const cwa_rows *c = (const cwa_rows *)ctx;
    const tfc_add_params *add = c->add;
    int8_t *out = c->out + (r - c->row_begin) * c->row_size;
    (void)arm_elementwise_add_s8(add->residual_first ? out : row, add->residual_first ? row : out,
                                 add->input_1_offset, add->input_1_mult, add->input_1_shift, add->input_2_offset,
                                 add->input_2_mult, add->input_2_shift, add->left_shift, out, add->out_offset,
                                 add->out_mult, add->out_shift, add->out_activation_min, add->out_activation_max,
                                 c->row_size);
}

void tfc_convolve_add_wide_s8(const tfc_conv_wide_geometry *g,
                              const int8_t *input,
                              const int16_t *weights,
                              const tfc_conv_wide_channel *channels,
                              const tfc_add_params *add,
                              int8_t *residual_and_output,
                              int8_t *row,
                              void *window,
                              void *rows,
                              int32_t row_begin,
                              int32_t row_end,
                              int32_t input_row)
{
    cwa_rows ctx = {add, residual_and_output, g->out_w * g->out_c, row_begin};
    tfc_convolve_wide_rows_s8(g, input, weights, channels, row, 0, window, rows, row_begin, row_end, input_row,
                              cwa_add_row, &ctx);
}
