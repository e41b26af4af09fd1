/*
 * tfc runtime: tfc_requantize_s8, int8 -> int8 with new quantization, or a clamp (ReLU, clip).
 * Same arithmetic as tfc.quant.int8_ops.requantize (TFLite Micro's requantize for QUANTIZE).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_support.h"

void tfc_requantize_s8(const int8_t *input,
                       int8_t *output,
                       int32_t size,
                       int32_t input_offset,
                       int32_t multiplier,
                       int32_t shift,
                       int32_t output_offset,
                       int32_t act_min,
                       int32_t act_max)
{
    int32_t i;
    if (multiplier == 0)
    {
        for (i = 0; i < size; i++)
        {
            output[i] = (int8_t)tfc_clamp(input[i], act_min, act_max);
        }
        return;
    }
    for (i = 0; i < size; i++)
    {
        output[i] = tfc_requantize_to_s8(input[i] + input_offset, multiplier, shift, output_offset, act_min, act_max);
    }
}
