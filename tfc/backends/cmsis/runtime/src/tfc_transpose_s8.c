/*
 * tfc runtime: tfc_transpose_s8, a rank-4 permutation of int8 data.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"

void tfc_transpose_s8(const int8_t *input, int8_t *output, const int32_t dims[4], const int32_t perm[4])
{
    /* Input strides, then the stride of each output axis in the input. */
    int32_t in_stride[4];
    int32_t stride[4];
    int32_t out_dims[4];
    int32_t a, i0, i1, i2, i3;
    in_stride[3] = 1;
    for (a = 2; a >= 0; a--)
    {
        in_stride[a] = in_stride[a + 1] * dims[a + 1];
    }
    for (a = 0; a < 4; a++)
    {
        stride[a] = in_stride[perm[a]];
        out_dims[a] = dims[perm[a]];
    }
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *src = input + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                for (i3 = 0; i3 < out_dims[3]; i3++)
                {
                    *output++ = src[i3 * stride[3]];
                }
            }
        }
    }
}
