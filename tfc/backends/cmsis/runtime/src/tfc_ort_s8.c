/*
 * tfc runtime: int8 kernels with onnxruntime's arithmetic (see tfc_ort_kernels.h).
 * Python twins: tfc.quant.ort_numerics.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>

#include "tfc_kernels.h"

void tfc_ort_matmul_s8(const int8_t *lhs,
                       const int8_t *rhs,
                       const int32_t *bias,
                       int8_t *output,
                       int32_t rows,
                       int32_t cols,
                       int32_t depth,
                       const int32_t batches[4],
                       int32_t lhs_offset,
                       int32_t rhs_offset,
                       const float *scales,
                       int32_t per_channel,
                       int32_t out_offset,
                       int32_t act_min,
                       int32_t act_max)
{
    const float lo = (float)(act_min - out_offset);
    const float hi = (float)(act_max - out_offset);
    const int32_t out_n = batches[0] > batches[2] ? batches[0] : batches[2];
    const int32_t out_h = batches[1] > batches[3] ? batches[1] : batches[3];
    for (int32_t n = 0; n < out_n; n++)
    {
        for (int32_t h = 0; h < out_h; h++)
        {
            const int32_t lb = (batches[0] > 1 ? n : 0) * batches[1] + (batches[1] > 1 ? h : 0);
            const int32_t rb = (batches[2] > 1 ? n : 0) * batches[3] + (batches[3] > 1 ? h : 0);
            const int8_t *a = lhs + lb * rows * depth;
            const int8_t *b = rhs + rb * cols * depth;
            for (int32_t m = 0; m < rows; m++)
            {
                const int8_t *row = a + m * depth;
                for (int32_t c = 0; c < cols; c++)
                {
                    const int8_t *w = b + c * depth;
                    int32_t acc = bias != NULL ? bias[c] : 0;
                    for (int32_t k = 0; k < depth; k++)
                    {
                        acc += (row[k] + lhs_offset) * (w[k] + rhs_offset);
                    }
                    *output++ = tfc_ort_requantize(acc, scales[per_channel ? c : 0], lo, hi, out_offset);
                }
            }
        }
    }
}

void tfc_ort_conv_s8(const int8_t *input,
                     const int8_t *weights,
                     const int32_t *bias,
                     int8_t *output,
                     const int32_t in_dims[3],
                     const int32_t filter_dims[4],
                     const int32_t out_dims[3],
                     const int32_t geometry[6],
                     int32_t groups,
                     int32_t input_offset,
                     const float *scales,
                     int32_t out_offset,
                     int32_t act_min,
                     int32_t act_max)
{
    const int32_t in_h = in_dims[0], in_w = in_dims[1], in_c = in_dims[2];
    const int32_t out_c = filter_dims[0], k_h = filter_dims[1], k_w = filter_dims[2], k_c = filter_dims[3];
    const int32_t per_group = out_c / groups;
    const float lo = (float)(act_min - out_offset);
    const float hi = (float)(act_max - out_offset);
    for (int32_t oy = 0; oy < out_dims[0]; oy++)
    {
        const int32_t y0 = oy * geometry[0] - geometry[2];
        for (int32_t ox = 0; ox < out_dims[1]; ox++)
        {
            const int32_t x0 = ox * geometry[1] - geometry[3];
            for (int32_t o = 0; o < out_c; o++)
            {
                const int8_t *in_group = input + (o / per_group) * k_c;
                const int8_t *w = weights + o * k_h * k_w * k_c;
                int32_t acc = bias != NULL ? bias[o] : 0;
                for (int32_t ky = 0; ky < k_h; ky++)
                {
                    const int32_t iy = y0 + ky * geometry[4];
                    if (iy < 0 || iy >= in_h)
                    {
                        continue;
                    }
                    for (int32_t kx = 0; kx < k_w; kx++)
                    {
                        const int32_t ix = x0 + kx * geometry[5];
                        if (ix < 0 || ix >= in_w)
                        {
                            continue;
                        }
                        const int8_t *in = in_group + (iy * in_w + ix) * in_c;
                        const int8_t *wk = w + (ky * k_w + kx) * k_c;
                        for (int32_t c = 0; c < k_c; c++)
                        {
                            acc += (in[c] + input_offset) * wk[c];
                        }
                    }
                }
                *output++ = tfc_ort_requantize(acc, scales[o], lo, hi, out_offset);
            }
        }
    }
}

void tfc_ort_softmax_s8(const int8_t *input,
                        int8_t *output,
                        int32_t rows,
                        int32_t row_size,
                        const float exp_table[256],
                        float y_scale,
                        int32_t out_offset)
{
    const float lo = (float)(-128 - out_offset);
    const float hi = (float)(127 - out_offset);
    for (int32_t r = 0; r < rows; r++)
    {
        const int8_t *in = input + r * row_size;
        int8_t *out = output + r * row_size;
        int32_t max = in[0];
        for (int32_t i = 1; i < row_size; i++)
        {
            max = in[i] > max ? in[i] : max;
        }
        const int32_t base = 255 - max;   /* entry of in[i]: base + in[i], in 0..255 */
        float sum = 0.0f;
        for (int32_t i = 0; i < row_size; i++)
        {
            sum += exp_table[base + in[i]];
        }
        for (int32_t i = 0; i < row_size; i++)
        {
            const float scaled = exp_table[base + in[i]] * y_scale;
            float v = scaled / sum;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            v = (v + 12582912.0f) - 12582912.0f;
            out[i] = (int8_t)((int32_t)v + out_offset);
        }
    }
}

void tfc_ort_mean_s8(const int8_t *input,
                     int8_t *output,
                     int32_t outer,
                     int32_t reduce,
                     int32_t inner,
                     const float dequantized[256],
                     float out_scale,
                     int32_t out_offset)
{
    const float lo = (float)(-128 - out_offset);
    const float hi = (float)(127 - out_offset);
    const float count = (float)reduce;
    for (int32_t o = 0; o < outer; o++)
    {
        const int8_t *in = input + o * reduce * inner;
        for (int32_t i = 0; i < inner; i++)
        {
            float sum = dequantized[in[i] + 128];
            for (int32_t r = 1; r < reduce; r++)
            {
                sum += dequantized[in[r * inner + i] + 128];
            }
            const float mean = sum / count;
            float v = mean / out_scale;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            v = (v + 12582912.0f) - 12582912.0f;
            output[o * inner + i] = (int8_t)((int32_t)v + out_offset);
        }
    }
}
