/*
 * tfc runtime: convolution fused with a residual add, written over the skip tensor.
 * Built only from the public CMSIS-NN calls, so it works with tfc's kernels and the real library.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_kernels.h"

static int32_t align4(int32_t n)
{
    return (n + 3) & ~3;
}

int32_t tfc_convolve_add_s8_get_buffer_size(const cmsis_nn_dims *input_dims,
                                            const cmsis_nn_dims *filter_dims,
                                            const cmsis_nn_dims *output_dims)
{
    return align4(arm_convolve_s8_get_buffer_size(input_dims, filter_dims)) + output_dims->w * output_dims->c;
}

arm_cmsis_nn_status tfc_convolve_add_s8(const cmsis_nn_context *ctx,
                                        const cmsis_nn_conv_params *conv_params,
                                        const cmsis_nn_per_channel_quant_params *quant_params,
                                        const cmsis_nn_dims *input_dims,
                                        const int8_t *input_data,
                                        const cmsis_nn_dims *filter_dims,
                                        const int8_t *filter_data,
                                        const cmsis_nn_dims *bias_dims,
                                        const int32_t *bias_data,
                                        const cmsis_nn_dims *output_dims,
                                        const tfc_add_params *add,
                                        int8_t *residual_and_output)
{
    const int32_t conv_scratch = align4(arm_convolve_s8_get_buffer_size(input_dims, filter_dims));
    const int32_t row_size = output_dims->w * output_dims->c;
    const int32_t in_row = input_dims->w * input_dims->c;
    /* rows of input one output row's window spans */
    const int32_t span = (filter_dims->h - 1) * conv_params->dilation.h + 1;
    int8_t *row = (int8_t *)ctx->buf + conv_scratch;
    const cmsis_nn_context conv_ctx = {ctx->buf, conv_scratch};
    const cmsis_nn_dims row_dims = {1, 1, output_dims->w, output_dims->c};

    if (ctx->buf == NULL || ctx->size < conv_scratch + row_size)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t n = 0; n < output_dims->n; n++)
    {
        for (int32_t r = 0; r < output_dims->h; r++)
        {
            const int32_t top = r * conv_params->stride.h - conv_params->padding.h; /* first window row */
            const int32_t first = top > 0 ? top : 0;
            const int32_t end = top + span < input_dims->h ? top + span : input_dims->h;
            cmsis_nn_conv_params row_params = *conv_params;
            const cmsis_nn_dims band = {1, end - first, input_dims->w, input_dims->c};
            const int8_t *band_data = input_data + ((int64_t)n * input_dims->h + first) * in_row;
            int8_t *out = residual_and_output + ((int64_t)n * output_dims->h + r) * row_size;
            arm_cmsis_nn_status status;

            if (end <= first)
            {
                return ARM_CMSIS_NN_ARG_ERROR; /* a window entirely in the padding */
            }
            row_params.padding.h = first - top;
            status = arm_convolve_s8(&conv_ctx, &row_params, quant_params, &band, band_data, filter_dims,
                                     filter_data, bias_dims, bias_data, NULL, &row_dims, row);
            if (status != ARM_CMSIS_NN_SUCCESS)
            {
                return status;
            }
            status = arm_elementwise_add_s8(add->residual_first ? out : row,
                                            add->residual_first ? row : out,
                                            add->input_1_offset, add->input_1_mult, add->input_1_shift,
                                            add->input_2_offset, add->input_2_mult, add->input_2_shift,
                                            add->left_shift, out, add->out_offset, add->out_mult, add->out_shift,
                                            add->out_activation_min, add->out_activation_max, row_size);
            if (status != ARM_CMSIS_NN_SUCCESS)
            {
                return status;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
