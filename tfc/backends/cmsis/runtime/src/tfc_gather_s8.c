/*
 * tfc runtime: tfc_gather_s8, gather with constant indices along one axis.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

void tfc_gather_s8(const int8_t *input,
                   int8_t *output,
                   int32_t outer,
                   int32_t axis_len,
                   int32_t inner,
                   const int32_t *indices,
                   int32_t num_indices)
{
    for (int32_t o = 0; o < outer; o++)
    {
        for (int32_t j = 0; j < num_indices; j++)
        {
            memcpy(output, input + (o * axis_len + indices[j]) * inner, (size_t)inner);
            output += inner;
        }
    }
}
