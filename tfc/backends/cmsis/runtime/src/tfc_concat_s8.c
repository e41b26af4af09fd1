/*
 * tfc runtime: tfc_concat_s8 and tfc_concat_lut_s8, concatenation of int8 tensors, each rescaled
 * onto the output grid in fixed point or through a table.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

void tfc_concat_s8(const int8_t *const *inputs,
                   const int32_t *sizes,
                   const int32_t *input_offsets,
                   const int32_t *multipliers,
                   const int32_t *shifts,
                   int32_t num_inputs,
                   int32_t outer,
                   int32_t output_offset,
                   int8_t *output)
{
    int32_t o, k;
    for (o = 0; o < outer; o++)
    {
        for (k = 0; k < num_inputs; k++)
        {
            const int8_t *src = inputs[k] + o * sizes[k];
            if (multipliers[k] == 0)
            {
                memcpy(output, src, (size_t)sizes[k]);
            }
            else
            {
                tfc_requantize_s8(src, output, sizes[k], input_offsets[k], multipliers[k], shifts[k], output_offset,
                                  -128, 127);
            }
            output += sizes[k];
        }
    }
}

void tfc_concat_lut_s8(const int8_t *const *inputs,
                       const int32_t *sizes,
                       const int8_t *const *tables,
                       int32_t num_inputs,
                       int32_t outer,
                       int8_t *output)
{
    int32_t o, k, i;
    for (o = 0; o < outer; o++)
    {
        for (k = 0; k < num_inputs; k++)
        {
            const int8_t *src = inputs[k] + o * sizes[k];
            const int8_t *table = tables[k];
            if (table == 0)
            {
                memcpy(output, src, (size_t)sizes[k]);
            }
            else
            {
                for (i = 0; i < sizes[k]; i++)
                {
                    output[i] = table[src[i] + 128];
                }
            }
            output += sizes[k];
        }
    }
}
