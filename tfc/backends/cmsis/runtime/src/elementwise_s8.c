/*
 * tfc runtime: arm_elementwise_add_s8 / arm_elementwise_mul_s8 (TFLite Micro's reference int8
 * Add: both inputs shifted left by left_shift (20), rescaled to a common scale, summed and
 * rescaled to the output; Mul: the product of the offset inputs rescaled to the output).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_support.h"

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t a = tfc_requantize(tfc_shl_wrap(input_1_vect[i] + input_1_offset, left_shift), input_1_mult,
                                         input_1_shift);
        const int32_t b = tfc_requantize(tfc_shl_wrap(input_2_vect[i] + input_2_offset, left_shift), input_2_mult,
                                         input_2_shift);
        output[i] = tfc_requantize_to_s8(tfc_add_wrap(a, b), out_mult, out_shift, out_offset, out_activation_min,
                                         out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t prod = (input_1_vect[i] + input_1_offset) * (input_2_vect[i] + input_2_offset);
        output[i] = tfc_requantize_to_s8(prod, out_mult, out_shift, out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
