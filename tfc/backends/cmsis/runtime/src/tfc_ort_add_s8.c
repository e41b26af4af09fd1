/*
 * tfc runtime: tfc_ort_add_s8, int8 a + b as onnxruntime's fused QLinearAdd computes it on x86-64
 * (MLAS's float kernel), operands broadcasting over a rank-4 walk:
 *     y = clamp(rint(fmaf(a, ratio_1, fmaf(b, ratio_2, fixed))))  (a, b the raw int8 values),
 * the two fmaf swapped where a is one value per row (swapped != 0); see tfc/kernels/ort_add.py.
 * The fused multiply-adds are explicit (fmaf: VFMA.F32 on the Cortex-M7, libm on a host) and
 * -std=c99 contracts nothing else, so the numpy twin gives the same bits.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "tfc_kernels.h"

void tfc_ort_add_s8(const int8_t *input_1,
                    const int8_t *input_2,
                    int8_t *output,
                    const int32_t out_dims[4],
                    const int32_t strides_1[4],
                    const int32_t strides_2[4],
                    float ratio_1,
                    float ratio_2,
                    float fixed,
                    int32_t swapped,
                    int32_t act_min,
                    int32_t act_max)
{
    const float lo = (float)act_min;
    const float hi = (float)act_max;
    const int32_t rows = out_dims[0] * out_dims[1] * out_dims[2];
    for (int32_t r = 0; r < rows; r++)
    {
        const int8_t *a = input_1 + tfc_walk_row_offset(out_dims, strides_1, r);
        const int8_t *b = input_2 + tfc_walk_row_offset(out_dims, strides_2, r);
        for (int32_t i = 0; i < out_dims[3]; i++)
        {
            const float fa = (float)a[i * strides_1[3]];
            const float fb = (float)b[i * strides_2[3]];
            const float v = swapped ? fmaf(fb, ratio_2, fmaf(fa, ratio_1, fixed))
                                    : fmaf(fa, ratio_1, fmaf(fb, ratio_2, fixed));
            *output++ = tfc_ort_to_s8(v, lo, hi, 0);
        }
    }
}
