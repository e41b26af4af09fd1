/*
 * tfc runtime: tfc_pad_s8, a constant pad (or crop) of int8 data walked as rank 4.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

static int32_t tfc_pad_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void tfc_pad_s8(const int8_t *input,
                int8_t *output,
                const int32_t in_dims[4],
                const int32_t before[4],
                const int32_t out_dims[4],
                int32_t fill)
{
    const int32_t row = out_dims[3];
    /* The output columns an input row covers: [lo, hi); the rest of the row is fill. */
    const int32_t lo = tfc_pad_clamp(before[3], 0, row);
    const int32_t hi = tfc_pad_clamp(before[3] + in_dims[3], 0, row);
    const int32_t stride2 = in_dims[3];
    const int32_t stride1 = stride2 * in_dims[2];
    const int32_t stride0 = stride1 * in_dims[1];
    int32_t o0, o1, o2;
    for (o0 = 0; o0 < out_dims[0]; o0++)
    {
        const int32_t i0 = o0 - before[0];
        for (o1 = 0; o1 < out_dims[1]; o1++)
        {
            const int32_t i1 = o1 - before[1];
            for (o2 = 0; o2 < out_dims[2]; o2++)
            {
                const int32_t i2 = o2 - before[2];
                if (i0 < 0 || i0 >= in_dims[0] || i1 < 0 || i1 >= in_dims[1] || i2 < 0 || i2 >= in_dims[2]
                    || hi <= lo)
                {
                    memset(output, fill, (size_t)row);
                }
                else
                {
                    const int8_t *src = input + i0 * stride0 + i1 * stride1 + i2 * stride2;
                    memset(output, fill, (size_t)lo);
                    memcpy(output + lo, src + (lo - before[3]), (size_t)(hi - lo));
                    memset(output + hi, fill, (size_t)(row - hi));
                }
                output += row;
            }
        }
    }
}
