/*
 * tfc runtime: tfc_lut_s8, an activation by 256-entry table (see tfc_transformer_kernels.h).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"

void tfc_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t table[256])
{
    for (int32_t i = 0; i < size; i++)
    {
        output[i] = table[input[i] + 128];
    }
}
