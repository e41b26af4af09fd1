/*
 * tfc runtime: tfc_slice_s8, a strided slice of int8 data walked as rank 4.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

void tfc_slice_s8(const int8_t *input,
                  int8_t *output,
                  const int32_t in_dims[4],
                  const int32_t begin[4],
                  const int32_t step[4],
                  const int32_t out_dims[4])
{
    /* The distance in the input between neighbours of the output along each axis. */
    int32_t stride[4];
    int32_t in_stride = 1;
    int32_t a, i0, i1, i2, i3;
    const int8_t *first = input;
    for (a = 3; a >= 0; a--)
    {
        first += begin[a] * in_stride;
        stride[a] = step[a] * in_stride;
        in_stride *= in_dims[a];
    }
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *src = first + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                if (stride[3] == 1)
                {
                    memcpy(output, src, (size_t)out_dims[3]);
                    output += out_dims[3];
                    continue;
                }
                for (i3 = 0; i3 < out_dims[3]; i3++)
                {
                    *output++ = src[i3 * stride[3]];
                }
            }
        }
    }
}
