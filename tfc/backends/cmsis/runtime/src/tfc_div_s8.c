/*
 * tfc runtime: tfc_div_s8, int8 a / b as onnxruntime runs a QDQ Div (dequantize each input,
 * divide, quantize), in float32, operands broadcasting over a rank-4 walk.
 * Each float step is one IEEE single-precision operation of its own (a product feeds only a
 * division, never an add a compiler could fuse), so the Cortex-M7's FPU, a host's SSE and the
 * numpy twin (tfc/kernels/div.py) give the same bits.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"

void tfc_div_s8(const int8_t *input_1,
                const int8_t *input_2,
                int8_t *output,
                const int32_t out_dims[4],
                const int32_t strides_1[4],
                const int32_t strides_2[4],
                int32_t zero_point_1,
                float scale_1,
                int32_t zero_point_2,
                float scale_2,
                float out_scale,
                int32_t out_offset)
{
    const float lo = (float)(-128 - out_offset);
    const float hi = (float)(127 - out_offset);
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *a = input_1 + i0 * strides_1[0] + i1 * strides_1[1] + i2 * strides_1[2];
                const int8_t *b = input_2 + i0 * strides_2[0] + i1 * strides_2[1] + i2 * strides_2[2];
                for (i3 = 0; i3 < out_dims[3]; i3++)
                {
                    const float fa = (float)(a[i3 * strides_1[3]] - zero_point_1) * scale_1;
                    const float fb = (float)(b[i3 * strides_2[3]] - zero_point_2) * scale_2;
                    float v;
                    if (fb == 0.0f)
                    {
                        /* x / 0: the extreme of x's sign; 0 / 0 (NaN): -128, as onnxruntime. */
                        v = fa > 0.0f ? hi : lo;
                    }
                    else
                    {
                        v = (fa / fb) / out_scale;
                    }
                    *output++ = tfc_ort_to_s8(v, lo, hi, out_offset);
                }
            }
        }
    }
}
