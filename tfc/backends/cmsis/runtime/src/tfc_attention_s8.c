/*
 * tfc runtime: the attention core one head at a time (see tfc_kernels.h). Built only from
 * arm_batch_matmul_s8 and tfc_softmax_scaled_s8, so it works with tfc's kernels and the real CMSIS-NN.
 * Python twin: tfc.quant.transformer_ops.attention.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_kernels.h"

int32_t tfc_attention_s8_get_buffer_size(const tfc_attention_dims *dims)
{
    return dims->rows * dims->cols;
}

arm_cmsis_nn_status tfc_attention_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_bmm_params *qk_params,
                                     const cmsis_nn_per_tensor_quant_params *qk_quant,
                                     const cmsis_nn_bmm_params *pv_params,
                                     const cmsis_nn_per_tensor_quant_params *pv_quant,
                                     const uint32_t exp_table[256],
                                     int32_t probs_mult,
                                     int32_t probs_shift,
                                     const tfc_attention_dims *dims,
                                     const int8_t *q,
                                     const int8_t *k,
                                     const int8_t *vt,
                                     int8_t *output)
{
    const int32_t rows = dims->rows, cols = dims->cols, depth = dims->depth, width = dims->width;
    if (ctx == NULL || ctx->buf == NULL || ctx->size < tfc_attention_s8_get_buffer_size(dims))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    int8_t *scores = (int8_t *)ctx->buf;
    /* One head per call: batch 1, the head's slice reached by pointer offsets. No kernel scratch
     * (arm_batch_matmul_s8 needs a buffer only on MVE). */
    const cmsis_nn_context none = { .buf = NULL, .size = 0 };
    const cmsis_nn_dims q_dims = { .n = 1, .h = 1, .w = rows, .c = depth };
    const cmsis_nn_dims k_dims = { .n = 1, .h = 1, .w = cols, .c = depth };
    const cmsis_nn_dims s_dims = { .n = 1, .h = 1, .w = rows, .c = cols };
    const cmsis_nn_dims v_dims = { .n = 1, .h = 1, .w = width, .c = cols };
    const cmsis_nn_dims o_dims = { .n = 1, .h = 1, .w = rows, .c = width };
    for (int32_t h = 0; h < dims->heads; h++)
    {
        arm_cmsis_nn_status status = arm_batch_matmul_s8(&none, qk_params, qk_quant, &q_dims, q + h * rows * depth,
                                                         &k_dims, k + h * cols * depth, &s_dims, scores);
        if (status != ARM_CMSIS_NN_SUCCESS)
        {
            return status;
        }
        tfc_softmax_scaled_s8(scores, rows, cols, exp_table, probs_mult, probs_shift, scores);
        status = arm_batch_matmul_s8(&none, pv_params, pv_quant, &s_dims, scores, &v_dims, vt + h * width * cols,
                                     &o_dims, output + h * rows * width);
        if (status != ARM_CMSIS_NN_SUCCESS)
        {
            return status;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
