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
    const int32_t rows = out_dims[0] * out_dims[1] * out_dims[2];
    for (int32_t r = 0; r < rows; r++)
    {
        const int8_t *a = input_1 + tfc_walk_row_offset(out_dims, strides_1, r);
        const int8_t *b = input_2 + tfc_walk_row_offset(out_dims, strides_2, r);
        for (int32_t i = 0; i < out_dims[3]; i++)
        {
            const float fa = (float)(a[i * strides_1[3]] - zero_point_1) * scale_1;
            const float fb = (float)(b[i * strides_2[3]] - zero_point_2) * scale_2;
            /* x / 0: the extreme of x's sign; 0 / 0 (NaN): -128, as onnxruntime. */
            const float v = fb == 0.0f ? (fa > 0.0f ? hi : lo) : (fa / fb) / out_scale;
            *output++ = tfc_ort_to_s8(v, lo, hi, out_offset);
        }
    }
}
