/*
 * tfc runtime: tfc_expand_s8, int8 data repeated over the axes it broadcasts along (ONNX
 * Expand), walked as rank 4.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

void tfc_expand_s8(const int8_t *input, int8_t *output, const int32_t out_dims[4], const int32_t strides[4])
{
    const int32_t width = out_dims[3];
    const int32_t rows = out_dims[0] * out_dims[1] * out_dims[2];
    for (int32_t r = 0; r < rows; r++, output += width)
    {
        const int8_t *src = input + tfc_walk_row_offset(out_dims, strides, r);
        if (strides[3] == 1)
        {
            memcpy(output, src, (size_t)width);
            continue;
        }
        for (int32_t i = 0; i < width; i++)
        {
            output[i] = src[i * strides[3]];
        }
    }
}
