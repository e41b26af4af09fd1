/*
 * tfc runtime: tfc_expand_s8, int8 data repeated over the axes it broadcasts along (ONNX
 * Expand), walked as rank 4.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

void tfc_expand_s8(const int8_t *input, int8_t *output, const int32_t out_dims[4], const int32_t strides[4])
{
    const int32_t row = out_dims[3];
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *src = input + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
                if (strides[3] == 1)
                {
                    memcpy(output, src, (size_t)row);
                }
                else
                {
                    for (i3 = 0; i3 < row; i3++)
                    {
                        output[i3] = src[i3 * strides[3]];
                    }
                }
                output += row;
            }
        }
    }
}
