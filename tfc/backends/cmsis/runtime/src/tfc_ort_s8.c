/*
 * tfc runtime: int8 kernels with onnxruntime's arithmetic (see tfc_ort_kernels.h).
 * Python twins: tfc.quant.ort_numerics.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"

/* One lhs row x (depth values) against `cols` rhs rows: out[c] = requant(sum_k (x[k] + lhs_offset)
 * (rhs[c][k] + rhs_offset) + bias[c]). With the DSP extension two rhs rows share each widened
 * input word: per 8 products one LDR of x, two SXTAB16, two LDR of rhs, four SXTAB16 and
 * four SMLAD (four rows spill registers on the M7). The integer sum is exact (modulo 2^32) in any order. */
static void ort_row(const int8_t *x, const int8_t *rhs, const int32_t *bias, int8_t *out, int32_t cols,
                    int32_t depth, int32_t lhs_offset, int32_t rhs_offset, const float *scales,
                    int32_t per_channel, int32_t out_offset, float lo, float hi)
{
    int32_t c = 0;
#if TFC_NN_DSP
    const int32_t depth4 = depth & ~3;
    const uint32_t lo2 = ((uint32_t)lhs_offset & 0xFFFFU) * 0x10001U;
    const uint32_t ro2 = ((uint32_t)rhs_offset & 0xFFFFU) * 0x10001U;
    for (; c + 2 <= cols; c += 2)
    {
        const int8_t *w0 = rhs + c * depth, *w1 = w0 + depth;
        uint32_t a0 = bias != NULL ? (uint32_t)bias[c] : 0U;
        uint32_t a1 = bias != NULL ? (uint32_t)bias[c + 1] : 0U;
        for (int32_t k = 0; k < depth4; k += 4)
        {
            const uint32_t xv = (uint32_t)tfc_read_s8x4(x + k);
            const uint32_t xe = __SXTAB16(lo2, xv), xo = tfc_sxtab16_ror8(lo2, xv);
            const uint32_t v0 = (uint32_t)tfc_read_s8x4(w0 + k), v1 = (uint32_t)tfc_read_s8x4(w1 + k);
            a0 = __SMLAD(xo, tfc_sxtab16_ror8(ro2, v0), __SMLAD(xe, __SXTAB16(ro2, v0), a0));
            a1 = __SMLAD(xo, tfc_sxtab16_ror8(ro2, v1), __SMLAD(xe, __SXTAB16(ro2, v1), a1));
        }
        for (int32_t k = depth4; k < depth; k++)
        {
            const int32_t xk = x[k] + lhs_offset;
            a0 += (uint32_t)(xk * (w0[k] + rhs_offset));
            a1 += (uint32_t)(xk * (w1[k] + rhs_offset));
        }
        out[c] = tfc_ort_requantize((int32_t)a0, scales[per_channel ? c : 0], lo, hi, out_offset);
        out[c + 1] = tfc_ort_requantize((int32_t)a1, scales[per_channel ? c + 1 : 0], lo, hi, out_offset);
    }
#endif
    for (; c < cols; c++)
    {
        const int8_t *w = rhs + c * depth;
        uint32_t acc = bias != NULL ? (uint32_t)bias[c] : 0U;
        for (int32_t k = 0; k < depth; k++)
        {
            acc += (uint32_t)((x[k] + lhs_offset) * (w[k] + rhs_offset));
        }
        out[c] = tfc_ort_requantize((int32_t)acc, scales[per_channel ? c : 0], lo, hi, out_offset);
    }
}

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
                ort_row(a + m * depth, b, bias, output, cols, depth, lhs_offset, rhs_offset, scales, per_channel,
                        out_offset, lo, hi);
                output += cols;
            }
        }
    }
}

/* Depthwise with one output channel per input channel; weights in CMSIS-NN's depthwise layout
 * [k_h][k_w][ch]. Per output pixel the taps inside the input are found once; channels go four at
 * a time (SXTAB16 splits even and odd channels, SMLABB/SMLATT keep the four sums apart). */
static void ort_depthwise(const int8_t *input, const int8_t *weights, const int32_t *bias, int8_t *output,
                          const int32_t in_dims[3], const int32_t filter_dims[4], const int32_t out_dims[3],
                          const int32_t geometry[6], int32_t input_offset, const float *scales, int32_t out_offset,
                          float lo, float hi)
{
    const int32_t in_h = in_dims[0], in_w = in_dims[1], ch = in_dims[2];
    const int32_t k_h = filter_dims[1], k_w = filter_dims[2];
    const int32_t dil_y = geometry[4], dil_x = geometry[5];
#if TFC_NN_DSP
    const uint32_t off2 = ((uint32_t)input_offset & 0xFFFFU) * 0x10001U;
    const int32_t ch4 = ch & ~3;
#endif
    for (int32_t oy = 0; oy < out_dims[0]; oy++)
    {
        const int32_t y0 = oy * geometry[0] - geometry[2];
        int32_t ky0 = 0, ky1 = k_h;   /* taps inside the input: ky in [ky0, ky1) */
        while (ky0 < k_h && y0 + ky0 * dil_y < 0)
        {
            ky0++;
        }
        while (ky1 > ky0 && y0 + (ky1 - 1) * dil_y >= in_h)
        {
            ky1--;
        }
        for (int32_t ox = 0; ox < out_dims[1]; ox++)
        {
            const int32_t x0 = ox * geometry[1] - geometry[3];
            int32_t kx0 = 0, kx1 = k_w;
            while (kx0 < k_w && x0 + kx0 * dil_x < 0)
            {
                kx0++;
            }
            while (kx1 > kx0 && x0 + (kx1 - 1) * dil_x >= in_w)
            {
                kx1--;
            }
            int32_t c = 0;
#if TFC_NN_DSP
            for (; c < ch4; c += 4)
            {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                if (bias != NULL)
                {
                    a0 = bias[c];
                    a1 = bias[c + 1];
                    a2 = bias[c + 2];
                    a3 = bias[c + 3];
                }
                for (int32_t ky = ky0; ky < ky1; ky++)
                {
                    const int8_t *in = input + ((y0 + ky * dil_y) * in_w + x0 + kx0 * dil_x) * ch + c;
                    const int8_t *w = weights + (ky * k_w + kx0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++, in += dil_x * ch, w += ch)
                    {
                        const uint32_t iv = (uint32_t)tfc_read_s8x4(in), wv = (uint32_t)tfc_read_s8x4(w);
                        const uint32_t ie = __SXTAB16(off2, iv), io = tfc_sxtab16_ror8(off2, iv);
                        const uint32_t we = __SXTB16(wv), wo = tfc_sxtb16_ror8(wv);
                        a0 = __SMLABB((int32_t)ie, (int32_t)we, a0);
                        a2 = __SMLATT((int32_t)ie, (int32_t)we, a2);
                        a1 = __SMLABB((int32_t)io, (int32_t)wo, a1);
                        a3 = __SMLATT((int32_t)io, (int32_t)wo, a3);
                    }
                }
                output[c] = tfc_ort_requantize(a0, scales[c], lo, hi, out_offset);
                output[c + 1] = tfc_ort_requantize(a1, scales[c + 1], lo, hi, out_offset);
                output[c + 2] = tfc_ort_requantize(a2, scales[c + 2], lo, hi, out_offset);
                output[c + 3] = tfc_ort_requantize(a3, scales[c + 3], lo, hi, out_offset);
            }
#endif
            for (; c < ch; c++)
            {
                int32_t acc = bias != NULL ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ky++)
                {
                    const int8_t *in = input + ((y0 + ky * dil_y) * in_w + x0 + kx0 * dil_x) * ch + c;
                    const int8_t *w = weights + (ky * k_w + kx0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++, in += dil_x * ch, w += ch)
                    {
                        acc += (*in + input_offset) * *w;
                    }
                }
                output[c] = tfc_ort_requantize(acc, scales[c], lo, hi, out_offset);
            }
            output += ch;
        }
    }
}

void tfc_ort_conv_s8(const int8_t *input,
                     const int8_t *weights,
                     const int32_t *bias,
                     int8_t *output,
                     int8_t *scratch,
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
    const float lo = (float)(act_min - out_offset);
    const float hi = (float)(act_max - out_offset);
    if (groups == in_c && k_c == 1 && out_c == in_c)
    {
        ort_depthwise(input, weights, bias, output, in_dims, filter_dims, out_dims, geometry, input_offset, scales,
                      out_offset, lo, hi);
        return;
    }
    /* Per output pixel and group, the patch [k_h][k_w][k_c] gathered into scratch (taps outside
     * the input hold -input_offset, which adds nothing), then one matmul row per group. */
    const int32_t per_group = out_c / groups;
    const int32_t patch = k_h * k_w * k_c;
    const int8_t pad = (int8_t)(-input_offset);
    for (int32_t oy = 0; oy < out_dims[0]; oy++)
    {
        const int32_t y0 = oy * geometry[0] - geometry[2];
        for (int32_t ox = 0; ox < out_dims[1]; ox++)
        {
            const int32_t x0 = ox * geometry[1] - geometry[3];
            for (int32_t g = 0; g < groups; g++)
            {
                int8_t *dst = scratch;
                for (int32_t ky = 0; ky < k_h; ky++)
                {
                    const int32_t iy = y0 + ky * geometry[4];
                    for (int32_t kx = 0; kx < k_w; kx++, dst += k_c)
                    {
                        const int32_t ix = x0 + kx * geometry[5];
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w)
                        {
                            memset(dst, pad, (size_t)k_c);
                        }
                        else
                        {
                            memcpy(dst, input + (iy * in_w + ix) * in_c + g * k_c, (size_t)k_c);
                        }
                    }
                }
                ort_row(scratch, weights + g * per_group * patch, bias != NULL ? bias + g * per_group : NULL, output,
                        per_group, patch, input_offset, 0, scales + g * per_group, 1, out_offset, lo, hi);
                output += per_group;
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
            out[i] = tfc_ort_to_s8(scaled / sum, lo, hi, out_offset);
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
            output[o * inner + i] = tfc_ort_to_s8(mean / out_scale, lo, hi, out_offset);
        }
    }
}

/* A product that must be rounded on its own: GNU C on Arm may otherwise fuse a * b + c into one
 * VFMA (one rounding), which onnxruntime's x86 build does not do. */
#if defined(__arm__) && defined(__ARM_FP)
#define TFC_ORT_ROUNDED(v) __asm__("" : "+t"(v))
#else
#define TFC_ORT_ROUNDED(v) ((void)0)
#endif

#if !(defined(__arm__) && defined(__ARM_FP))
static float ort_float_step(float x, int32_t ulps)   /* x > 0 moved by `ulps` units in the last place */
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits = (uint32_t)((int32_t)bits + ulps);
    memcpy(&x, &bits, sizeof x);
    return x;
}
#endif

/* The correctly rounded square root of x (IEEE sqrt; 0 for x <= 0, which a variance plus a
 * positive epsilon never is): VSQRT with an Arm FPU, else a double Newton estimate settled on
 * the float whose rounding interval holds sqrt(x) (squares of float midpoints are exact in
 * double). Keeps libm out of the link. */
static float ort_sqrt(float x)
{
#if defined(__arm__) && defined(__ARM_FP)
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
#else
    if (!(x > 0.0f))
    {
        return 0.0f;
    }
    if (x < 1.17549435e-38f)   /* subnormal: sqrt(x 2^24) 2^-12, both scalings exact */
    {
        return ort_sqrt(x * 16777216.0f) * 2.44140625e-4f;
    }
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits = (bits >> 1) + 0x1FBD1DF5U;   /* halve the exponent: within a few percent */
    float guess;
    memcpy(&guess, &bits, sizeof guess);
    const double xd = (double)x;
    double g = (double)guess;
    for (int i = 0; i < 5; i++)
    {
        g = 0.5 * (g + xd / g);
    }
    float r = (float)g;
    for (int i = 0; i < 2; i++)
    {
        const double below = 0.5 * ((double)r + (double)ort_float_step(r, -1));
        const double above = 0.5 * ((double)r + (double)ort_float_step(r, 1));
        if (xd < below * below)
        {
            r = ort_float_step(r, -1);
        }
        else if (xd > above * above)
        {
            r = ort_float_step(r, 1);
        }
    }
    return r;
#endif
}

/* The sum of eight lanes as a tree: lane i + i+4, then j + j+2, then 0 + 1. */
static float ort_lanes_sum(float lane[8])
{
    for (int32_t half = 4; half >= 1; half /= 2)
    {
        for (int32_t i = 0; i < half; i++)
        {
            lane[i] += lane[i + half];
        }
    }
    return lane[0];
}

void tfc_ort_layernorm_s8(const int8_t *input,
                          int8_t *output,
                          int32_t rows,
                          int32_t width,
                          const float dequantized[256],
                          const float *gamma,
                          const float *beta,
                          float epsilon,
                          float out_scale,
                          int32_t out_offset)
{
    const float lo = (float)(-128 - out_offset);
    const float hi = (float)(127 - out_offset);
    const float n = (float)width;
    for (int32_t row = 0; row < rows; row++)
    {
        const int8_t *in = input + row * width;
        int8_t *out = output + row * width;
        float sums[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        float squares[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        for (int32_t h = 0; h < width; h++)
        {
            const float x = dequantized[in[h] + 128];
            float xx = x * x;
            TFC_ORT_ROUNDED(xx);
            sums[h & 7] += x;
            squares[h & 7] += xx;
        }
        const float mean = ort_lanes_sum(sums) / n;
        float mean2 = mean * mean;
        TFC_ORT_ROUNDED(mean2);
        const float inv = 1.0f / ort_sqrt((ort_lanes_sum(squares) / n - mean2) + epsilon);
        for (int32_t h = 0; h < width; h++)
        {
            float scaled = ((dequantized[in[h] + 128] - mean) * inv) * gamma[h];
            TFC_ORT_ROUNDED(scaled);
            out[h] = tfc_ort_to_s8((scaled + beta[h]) / out_scale, lo, hi, out_offset);
        }
    }
}
