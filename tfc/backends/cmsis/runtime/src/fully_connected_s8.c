/*
 * tfc runtime: arm_fully_connected_s8 and arm_batch_matmul_s8 (TFLite Micro's reference
 * FullyConnected / BatchMatMul int8: per-tensor requantization, optional filter offset).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_support.h"

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    /* CMSIS-NN needs a kernel-sum buffer only on MVE (Helium) cores, which tfc does not target. */
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    if (input_dims->n == 1 &&
        tfc_nn_fc_vec_sym_s8(fc_params, quant_params, input_data, filter_data, bias_data, output_data,
                             output_dims->c, filter_dims->n))
    {
        return ARM_CMSIS_NN_SUCCESS;
    }
    /* One GEMM: input_dims->n rows of filter_dims->n (accumulation depth) against C_OUT rows. */
    tfc_nn_mat_mult_nt_t_s8(input_data, filter_data, bias_data, output_data, &quant_params->multiplier,
                            &quant_params->shift, 0, input_dims->n, output_dims->c, filter_dims->n,
                            fc_params->input_offset, fc_params->filter_offset, fc_params->output_offset,
                            output_dims->c, fc_params->activation.min, fc_params->activation.max);
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_per_channel_s8(const cmsis_nn_context *ctx,
                                                       const cmsis_nn_fc_params *fc_params,
                                                       const cmsis_nn_per_channel_quant_params *quant_params,
                                                       const cmsis_nn_dims *input_dims,
                                                       const int8_t *input_data,
                                                       const cmsis_nn_dims *filter_dims,
                                                       const int8_t *filter_data,
                                                       const cmsis_nn_dims *bias_dims,
                                                       const int32_t *bias_data,
                                                       const cmsis_nn_dims *output_dims,
                                                       int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    tfc_nn_mat_mult_nt_t_s8(input_data, filter_data, bias_data, output_data, quant_params->multiplier,
                            quant_params->shift, 1, input_dims->n, output_dims->c, filter_dims->n,
                            fc_params->input_offset, fc_params->filter_offset, fc_params->output_offset,
                            output_dims->c, fc_params->activation.min, fc_params->activation.max);
    return ARM_CMSIS_NN_SUCCESS;
}

/* Index of the operand matrix for output batch (n, h) under broadcasting of size-1 dims. */
static int32_t bcast_index(const cmsis_nn_dims *d, int32_t n, int32_t h)
{
    return (d->n > 1 ? n : 0) * d->h + (d->h > 1 ? h : 0);
}

arm_cmsis_nn_status arm_batch_matmul_s8(const cmsis_nn_context *ctx,
                                        const cmsis_nn_bmm_params *bmm_params,
                                        const cmsis_nn_per_tensor_quant_params *quant_params,
                                        const cmsis_nn_dims *input_lhs_dims,
                                        const int8_t *input_lhs,
                                        const cmsis_nn_dims *input_rhs_dims,
                                        const int8_t *input_rhs,
                                        const cmsis_nn_dims *output_dims,
                                        int8_t *output)
{
    (void)ctx;
    const cmsis_nn_fc_params *fc = &bmm_params->fc_params;
    const int32_t lhs_rows = input_lhs_dims->w;
    const int32_t rhs_rows = input_rhs_dims->w;
    const int32_t cols = input_rhs_dims->c;
    if (input_lhs_dims->c != cols)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t n = 0; n < output_dims->n; n++)
    {
        for (int32_t h = 0; h < output_dims->h; h++)
        {
            const int8_t *lhs = input_lhs + bcast_index(input_lhs_dims, n, h) * lhs_rows * cols;
            const int8_t *rhs = input_rhs + bcast_index(input_rhs_dims, n, h) * rhs_rows * cols;
            int8_t *out = output + (n * output_dims->h + h) * lhs_rows * rhs_rows;
            tfc_nn_mat_mult_nt_t_s8(lhs, rhs, NULL, out, &quant_params->multiplier, &quant_params->shift, 0, lhs_rows,
                                    rhs_rows, cols, fc->input_offset, fc->filter_offset, fc->output_offset, rhs_rows,
                                    fc->activation.min, fc->activation.max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
