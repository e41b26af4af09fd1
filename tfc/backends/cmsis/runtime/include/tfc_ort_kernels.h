/*
 * tfc runtime: int8 kernels with onnxruntime's arithmetic, for graphs a QDQ model defined
 * (IR attribute numerics="onnxruntime"). Float32 requantization as onnxruntime's QLinearConv,
 * QLinearMatMul and QGemm (MLAS), onnxruntime's QLinearSoftmax and its float ReduceMean.
 * Python twins (bit-exact): tfc/quant/ort_numerics.py. Included by tfc_kernels.h.
 *
 * Every float step is one IEEE single-precision operation written as its own expression (no
 * a * b + c that a compiler could fuse into one rounding), so the Cortex-M7's FPU, a host's SSE
 * and numpy's float32 give the same bits. Rounding is half to even: adding 1.5 * 2^23 to a value
 * below 2^22 in magnitude leaves an integer, rounded in the default rounding mode.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_ORT_KERNELS_H
#define TFC_ORT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline float tfc_ort_clamp(float v, float lo, float hi)
{
#if defined(__arm__) && defined(__ARM_FP)
    return __builtin_fminf(__builtin_fmaxf(v, lo), hi);   /* FPv5: VMAXNM, VMINNM (v is never NaN) */
#else
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
#endif
}

/* A float already divided by the output scale -> int8: clamped to [lo, hi] (the int8 range less
 * the offset), rounded half to even (1.5 * 2^23: the FPU's default rounding does it), offset. */
static inline int8_t tfc_ort_to_s8(float v, float lo, float hi, int32_t out_offset)
{
    v = tfc_ort_clamp(v, lo, hi);
    v = (v + 12582912.0f) - 12582912.0f;
    return (int8_t)((int32_t)v + out_offset);
}

/* int32 accumulator -> int8: clamp(rint(float(acc) * scale) + out_offset, act_min, act_max),
 * the clamp taken on the float before rounding (as MLAS does; the same result). */
static inline int8_t tfc_ort_requantize(int32_t acc, float scale, float lo, float hi, int32_t out_offset)
{
    return tfc_ort_to_s8((float)acc * scale, lo, hi, out_offset);
}

/* out = in1 + in2 of int8 operands that broadcast (the rank-4 walk of tfc_div_s8), as onnxruntime's
 * fused QLinearAdd on x86-64: clamp(rint(fmaf(a, ratio_1, fmaf(b, ratio_2, fixed))), act_min, act_max),
 * the fmaf nesting swapped where swapped != 0; ratio_k = s_k / s_y, fixed the zero points' part
 * (tfc/kernels/ort_add.py). out may be an operand of out's shape (in place). */
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
                    int32_t act_max);

/* int8 -> int8 onto another grid (quantize, relu, clip) as onnxruntime computes DQ, op, Q. */
void tfc_ort_requantize_s8(const int8_t *input, int8_t *output, int32_t size, const float *dequantized,
                           float out_scale, float lo, float hi, int32_t out_offset);

/* Batched matmul with float requantization, a linear layer or a 1x1 conv when batches are 1:
 * out[b][m][n] = requant(sum_k (lhs[b][m][k] + lhs_offset) (rhs[b][n][k] + rhs_offset) + bias[n])
 * with scales[n] (per_channel) or scales[0]. Batches: lhs [lhs_n][lhs_h], rhs [rhs_n][rhs_h], the
 * output [max][max]; a batch dim of size 1 broadcasts. bias may be NULL. */
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
                       int32_t act_max);

/* Grouped convolution, NHWC input [in_h][in_w][in_c], OHWI weights [out_c][k_h][k_w][in_c / groups]
 * (a depthwise conv with out_c = groups = in_c: CMSIS-NN's depthwise layout [k_h][k_w][out_c]); output channel o reads the input channels of
 * group o / (out_c / groups). Padding taps add nothing. geometry: stride h, w, padding top, left,
 * dilation h, w. Float requantization per output channel. scratch: k_h * k_w * in_c / groups
 * bytes (one gathered patch; unused by a depthwise conv with one channel per input channel). */
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
                     int32_t act_max);

/* onnxruntime's QLinearSoftmax over rows of row_size: t = exp_table[x - row max + 255] (float),
 * sum = t over the row in order, out = clamp(rint((t * y_scale) / sum) + out_offset), y_scale =
 * floor(1 / s_y). in and out may be the same buffer (a row is read fully before it is written). */
void tfc_ort_softmax_s8(const int8_t *input,
                        int8_t *output,
                        int32_t rows,
                        int32_t row_size,
                        const float exp_table[256],
                        float y_scale,
                        int32_t out_offset);

/* onnxruntime's float ReduceMean between DequantizeLinear and QuantizeLinear, over the middle
 * axis of [outer, reduce, inner]: sum = dequantized[in + 128] over r in order, then
 * out = clamp(rint((sum / reduce) / out_scale) + out_offset). */
void tfc_ort_mean_s8(const int8_t *input,
                     int8_t *output,
                     int32_t outer,
                     int32_t reduce,
                     int32_t inner,
                     const float dequantized[256],
                     float out_scale,
                     int32_t out_offset);

/* onnxruntime's float LayerNormalization between DequantizeLinear and QuantizeLinear, over rows
 * of `width`: x = dequantized[in + 128]; sum(x) and sum(x * x) in eight lanes (x[h] into lane
 * h % 8) reduced as a tree, mean = sum / width, r = 1 / sqrt(sum2 / width - mean * mean +
 * epsilon); out = clamp(rint(((x - mean) * r * gamma + beta) / out_scale) + out_offset) (the
 * order onnxruntime's x86-64 build matches). in and out may be the same buffer. */
void tfc_ort_layernorm_s8(const int8_t *input,
                          int8_t *output,
                          int32_t rows,
                          int32_t width,
                          const float dequantized[256],
                          const float *gamma,
                          const float *beta,
                          float epsilon,
                          float out_scale,
                          int32_t out_offset);

#ifdef __cplusplus
}
#endif

#endif /* TFC_ORT_KERNELS_H */
