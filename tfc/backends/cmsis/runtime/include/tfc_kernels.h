/*
 * tfc runtime: the int8 kernels tfc needs that CMSIS-NN does not have.
 *
 * These are always compiled from tfc's runtime, also when a project links the real CMSIS-NN.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_KERNELS_H
#define TFC_KERNELS_H

#include <stdint.h>

#include "arm_nn_types.h"
#include "tfc_transformer_kernels.h"
#include "tfc_ort_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[i] = clamp(requantize(in[i] + input_offset, multiplier, shift) + output_offset, act_min, act_max)
 * (TFLite's int8 -> int8 QUANTIZE), or, when multiplier == 0 (input and output share their scale),
 * out[i] = clamp(in[i], act_min, act_max): a standalone ReLU or clip. Each byte is read before it
 * is written, so out may equal in (in place). */
void tfc_requantize_s8(const int8_t *input,
                       int8_t *output,
                       int32_t size,
                       int32_t input_offset,
                       int32_t multiplier,
                       int32_t shift,
                       int32_t output_offset,
                       int32_t act_min,
                       int32_t act_max);

/* Transpose of a rank-4 tensor of shape dims[0..3]: output axis i is input axis perm[i].
 * Lower ranks are padded with leading 1s. out must not overlap in. */
void tfc_transpose_s8(const int8_t *input, int8_t *output, const int32_t dims[4], const int32_t perm[4]);

/* Strided slice of int8 data of shape in_dims: along axis a it takes out_dims[a] elements from
 * index begin[a] in steps of step[a] (negative steps walk backwards). out must not overlap in. */
void tfc_slice_s8(const int8_t *input,
                  int8_t *output,
                  const int32_t in_dims[4],
                  const int32_t begin[4],
                  const int32_t step[4],
                  const int32_t out_dims[4]);

/* Constant pad of int8 data of shape in_dims to out_dims: output index o along axis a reads input
 * index o - before[a] where that lies inside the input, else holds `fill` (an int8 value);
 * negative `before` or a smaller out_dims crop. out must not overlap in. */
void tfc_pad_s8(const int8_t *input,
                int8_t *output,
                const int32_t in_dims[4],
                const int32_t before[4],
                const int32_t out_dims[4],
                int32_t fill);

/* Expand (broadcast) of int8 data to out_dims, walked as rank 4: output index (i0..i3) reads
 * input element sum(i_a * strides[a]) (stride 0 along a repeated axis). out must not overlap in. */
void tfc_expand_s8(const int8_t *input, int8_t *output, const int32_t out_dims[4], const int32_t strides[4]);

/* Concatenation of num_inputs int8 tensors viewed as [outer, sizes[k]] along their second axis.
 * Input k is copied when multipliers[k] == 0 (it is on the output grid), else rescaled as
 * tfc_requantize_s8(input_offsets[k], multipliers[k], shifts[k], output_offset) does.
 * out must not overlap any input. */
void tfc_concat_s8(const int8_t *const *inputs,
                   const int32_t *sizes,
                   const int32_t *input_offsets,
                   const int32_t *multipliers,
                   const int32_t *shifts,
                   int32_t num_inputs,
                   int32_t outer,
                   int32_t output_offset,
                   int8_t *output);

/* The same concatenation with each input copied (tables[k] == 0) or mapped through its 256-entry
 * table (entry q + 128): onnxruntime's dequantize, float concat, quantize. */
void tfc_concat_lut_s8(const int8_t *const *inputs,
                       const int32_t *sizes,
                       const int8_t *const *tables,
                       int32_t num_inputs,
                       int32_t outer,
                       int8_t *output);

/* The rank-4 walk of the broadcasting kernels (tfc_broadcast_mul_s8, tfc_sub_s8, tfc_div_s8,
 * tfc_expand_s8): the output is out_dims[0] x out_dims[1] x out_dims[2] rows of out_dims[3]
 * elements; this is where row `row` starts in an operand whose element stride along each output
 * axis is strides[a] (0 where the operand broadcasts). */
static inline int32_t tfc_walk_row_offset(const int32_t out_dims[4], const int32_t strides[4], int32_t row)
{
    const int32_t i2 = row % out_dims[2];
    const int32_t i1 = (row / out_dims[2]) % out_dims[1];
    const int32_t i0 = row / (out_dims[2] * out_dims[1]);
    return i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
}

/* out = in1 * in2 of int8 operands that broadcast, walked as rank 4 over out_dims: operand k's
 * element for output index (i0..i3) is at sum(i_a * strides_k[a]) (stride 0 where it broadcasts).
 * Per element arm_elementwise_mul_s8's arithmetic (TFLite Micro's MUL), which runs each innermost
 * row whose operands are contiguous. out may be an operand of out's shape (in place). */
void tfc_broadcast_mul_s8(const int8_t *input_1,
                          const int8_t *input_2,
                          int8_t *output,
                          const int32_t out_dims[4],
                          const int32_t strides_1[4],
                          const int32_t strides_2[4],
                          int32_t input_1_offset,
                          int32_t input_2_offset,
                          int32_t out_offset,
                          int32_t out_mult,
                          int32_t out_shift,
                          int32_t act_min,
                          int32_t act_max);

/* tfc_softmax_scaled_s8 over the middle axis of [outer, length, inner] int8 data (out_mult 0:
 * tfc_softmax_s8's grid): each column of `length` values (stride inner) is copied into `column`
 * (length bytes of scratch), normalized there and copied to the output. out must not overlap in. */
void tfc_softmax_axis_s8(const int8_t *input,
                         int8_t *output,
                         int32_t outer,
                         int32_t length,
                         int32_t inner,
                         const uint32_t exp_table[256],
                         int32_t out_mult,
                         int32_t out_shift,
                         int8_t *column);

/* The add half of tfc_convolve_add_s8: arm_elementwise_add_s8's arguments. `residual_first`
 * says whether the skip tensor is the add's first operand (each operand has its own rescaling). */
typedef struct
{
    int32_t input_1_offset, input_1_mult, input_1_shift;
    int32_t input_2_offset, input_2_mult, input_2_shift;
    int32_t left_shift;
    int32_t out_offset, out_mult, out_shift;
    int32_t out_activation_min, out_activation_max;
    int32_t residual_first;
} tfc_add_params;

/* arm_elementwise_add_s8 on equal-sized inputs, each input's rescaling (TFLite's (a + offset)
 * << 20, requantized) read from its table: table_i[a + 128] = twice the rescaled a. The sum is
 * rescaled to the output and clamped. out may be either input (in place). */
void tfc_add_table_s8(const int8_t *input_1,
                      const int8_t *input_2,
                      const int32_t table_1[256],
                      const int32_t table_2[256],
                      int8_t *output,
                      int32_t size,
                      int32_t out_offset,
                      int32_t out_mult,
                      int32_t out_shift,
                      int32_t act_min,
                      int32_t act_max);

/* out = in1 - in2 of int8 operands that broadcast (walked as tfc_broadcast_mul_s8 does), with
 * TFLite Micro's SUB arithmetic: each input offset, shifted left by left_shift and rescaled as
 * arm_elementwise_add_s8 rescales it, the difference rescaled to the output and clamped.
 * out may be an operand of out's shape (in place). */
void tfc_sub_s8(const int8_t *input_1,
                const int8_t *input_2,
                int8_t *output,
                const int32_t out_dims[4],
                const int32_t strides_1[4],
                const int32_t strides_2[4],
                const tfc_add_params *p);

/* out = in1 / in2 of int8 operands that broadcast (walked as tfc_broadcast_mul_s8 does), as
 * onnxruntime runs a QDQ Div: rint(((float(a - zp1) * s1) / (float(b - zp2) * s2)) / out_scale)
 * + out_offset, saturated; a zero divisor gives the extreme of a's sign (0 / 0: -128).
 * out may be an operand of out's shape (in place). */
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
                int32_t out_offset);

/* conv2d then a residual add, written over the skip tensor: for each output row, arm_convolve_s8
 * computes the row into a row buffer, then arm_elementwise_add_s8 adds it to the same row of
 * `residual_and_output` in place. The integers equal the unfused conv + add (the conv's output
 * quantization is in quant_params/conv_params, the add's in add), but the full conv output never
 * exists. ctx->buf holds arm_convolve_s8's scratch followed by one output row:
 * tfc_convolve_add_s8_get_buffer_size bytes. Batch and rows are looped here; each row call crops
 * the input to the rows its window reads and moves the top padding accordingly. */
arm_cmsis_nn_status tfc_convolve_add_s8(const cmsis_nn_context *ctx,
                                        const cmsis_nn_conv_params *conv_params,
                                        const cmsis_nn_per_channel_quant_params *quant_params,
                                        const cmsis_nn_dims *input_dims,
                                        const int8_t *input_data,
                                        const cmsis_nn_dims *filter_dims,
                                        const int8_t *filter_data,
                                        const cmsis_nn_dims *bias_dims,
                                        const int32_t *bias_data,
                                        const cmsis_nn_dims *output_dims,
                                        const tfc_add_params *add,
                                        int8_t *residual_and_output);

/* Bytes of ctx->buf tfc_convolve_add_s8 needs: the conv scratch (rounded up to 4) + one output row. */
int32_t tfc_convolve_add_s8_get_buffer_size(const cmsis_nn_dims *input_dims,
                                            const cmsis_nn_dims *filter_dims,
                                            const cmsis_nn_dims *output_dims);

/* A batch-1 per-tensor fully connected layer (arm_fully_connected_s8's integers, symmetric
 * weights) on weights the compiler widened to int16 and grouped by 4 rows x 4 columns
 * (tfc.kernels.fc_wide). scratch holds 4 * ceil(cols / 4) int16, 8-byte aligned: the widened
 * input (the generated code gives it from the stack). */
void tfc_fully_connected_wide_s8(const int8_t *input,
                                 const int16_t *weights,
                                 const int32_t *bias,
                                 int8_t *output,
                                 int16_t *scratch,
                                 int32_t rows,
                                 int32_t cols,
                                 int32_t input_offset,
                                 int32_t multiplier,
                                 int32_t shift,
                                 int32_t output_offset,
                                 int32_t act_min,
                                 int32_t act_max);

/* Geometry and quantization of one tfc_convolve_wide_s8 layer (batch 1, no groups, no dilation). */
typedef struct
{
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w;
    int32_t out_h, out_w, out_c;
    int32_t stride_y, stride_x, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
} tfc_conv_wide_geometry;

/* One output channel of tfc_convolve_wide_s8 (16 bytes): bias, multiplier, and the requantization
 * folded for a right shift (the quantization shift is -shift, shift >= 1; rounding =
 * 2^(shift - 1), plus output_offset * 2^shift where the kernel folds the offset in: the wide conv
 * and depthwise kernels, whose biases are also doubled); the compiler checked that the channel's
 * accumulators stay in range for that form. */
typedef struct
{
    int32_t bias, mult, rounding, shift;
} tfc_conv_wide_channel;

/* arm_convolve_s8's integers on weights the compiler widened to int16 (tfc.kernels.conv_wide):
 * output rows [row_begin, row_end) of the NHWC output, written from `output` on (the first of
 * those rows), from `input` holding the input's rows from input_row on (0: the whole input; a
 * band's first row in fused tiles). rows: NULL (each pixel pair's windows widened from the
 * input; scratch: tfc_convolve_wide_s8_get_buffer_size bytes) or tfc_convolve_wide_s8_get_rows_size
 * bytes (in_c a multiple of 4, k_h <= TFC_CONV_WIDE_MAX_ROWS: each input row widened once into
 * a ring of k_h rows; scratch: tfc_convolve_wide_s8_get_rows_buffer_size bytes). The generated
 * code gives both from the stack. */
void tfc_convolve_wide_s8(const tfc_conv_wide_geometry *g,
                          const int8_t *input,
                          const int16_t *weights,
                          const tfc_conv_wide_channel *channels,
                          int8_t *output,
                          void *scratch,
                          void *rows,
                          int32_t row_begin,
                          int32_t row_end,
                          int32_t input_row);

#define TFC_CONV_WIDE_MAX_ROWS 8

/* Called after each output row r of tfc_convolve_wide_rows_s8, with that row's bytes. */
typedef void (*tfc_conv_wide_row_fn)(void *ctx, int8_t *row, int32_t r);

/* tfc_convolve_wide_s8 with the output's row step given (0: every row into the same bytes) and
 * row_done (or NULL) called after each row: tfc_convolve_add_wide_s8 adds each row as it is made. */
void tfc_convolve_wide_rows_s8(const tfc_conv_wide_geometry *g,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               int32_t out_row_step,
                               void *scratch,
                               void *rows,
                               int32_t row_begin,
                               int32_t row_end,
                               int32_t input_row,
                               tfc_conv_wide_row_fn row_done,
                               void *ctx);

int32_t tfc_convolve_wide_s8_get_rows_size(const tfc_conv_wide_geometry *g);

int32_t tfc_convolve_wide_s8_get_rows_buffer_size(const tfc_conv_wide_geometry *g);

int32_t tfc_convolve_wide_s8_rows_width(const tfc_conv_wide_geometry *g);

int32_t tfc_convolve_wide_s8_get_buffer_size(const tfc_conv_wide_geometry *g);

/* One tfc_pointwise_wide_s8 layer: a 1x1 unpadded conv (batch 1, no groups, in_c and out_c
 * multiples of 4); the offsets are folded into the records. */
typedef struct
{
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t stride_y, stride_x, act_min, act_max;
} tfc_pw_geometry;

/* arm_convolve_s8's integers for a 1x1 conv on weights the compiler widened to int16 and doubled,
 * by quads of output channels (tfc.kernels.pointwise_wide), records per quad: 4 biases (input
 * offset folded in, doubled), then multiplier, rounding (output offset folded in), shift per
 * channel. Rows and input_row as tfc_convolve_wide_s8's. scratch: 8-byte aligned,
 * tfc_pointwise_wide_s8_get_buffer_size bytes (the generated code gives it from the stack). */
void tfc_pointwise_wide_s8(const tfc_pw_geometry *g,
                           const int8_t *input,
                           const int16_t *weights,
                           const int32_t *records,
                           int8_t *output,
                           void *scratch,
                           int32_t row_begin,
                           int32_t row_end,
                           int32_t input_row);

int32_t tfc_pointwise_wide_s8_get_buffer_size(const tfc_pw_geometry *g);

/* One tfc_depthwise_3x3_wide_s8 layer, in run order: `g` with rows and columns swapped where the
 * compiler chose to run down the columns (transposed); the byte steps between input pixels along
 * a run and between runs, and the same for the output. */
typedef struct
{
    tfc_conv_wide_geometry g;
    int32_t in_step, in_row_step, out_step, out_row_step;
} tfc_dw3_geometry;

/* arm_depthwise_conv_s8's integers for a 3x3 depthwise layer (one output channel per input channel,
 * stride 1 or 2 both ways, in_c a multiple of 4; tfc.kernels.depthwise_wide): weights as 6 int16
 * pairs per channel, doubled, and channel records whose bias is doubled with input_offset *
 * sum(w) folded in. scratch: tfc_depthwise_3x3_wide_s8_get_buffer_size bytes (four int16 planes
 * of the input). */
void tfc_depthwise_3x3_wide_s8(const tfc_dw3_geometry *d,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               void *scratch);

int32_t tfc_depthwise_3x3_wide_s8_get_buffer_size(const tfc_dw3_geometry *d);

/* tfc_depthwise_3x3_wide_s8's integers for small stride-1 maps (tfc.kernels.depthwise_wide
 * DepthwisePlane): four channels' whole padded input planes at once, their outputs one run over
 * the planes' columns (the two past each output row computed and dropped), so short rows do not
 * each pay a run's set-up. Same weights and channel records; `d` not transposed. scratch:
 * tfc_depthwise_3x3_plane_s8_get_buffer_size bytes (on the stack). */
void tfc_depthwise_3x3_plane_s8(const tfc_dw3_geometry *d,
                                const int8_t *input,
                                const int16_t *weights,
                                const tfc_conv_wide_channel *channels,
                                int8_t *output,
                                void *scratch);

int32_t tfc_depthwise_3x3_plane_s8_get_buffer_size(const tfc_dw3_geometry *d);

/* One tfc_depthwise_kx1_wide_s8 layer: a Kh x 1 (or 1 x Kw) depthwise window along a run of in_len
 * pixels (the input one pixel wide, or tall), stride 1, no padding; byte steps between input and
 * output pixels (the channel count). */
typedef struct
{
    int32_t in_len, out_len, channels, taps;
    int32_t in_step, out_step;
    int32_t output_offset, act_min, act_max;
} tfc_dwk1_geometry;

/* arm_depthwise_conv_s8's integers for such a layer (one output channel per input channel, channels
 * a multiple of 4, taps <= 16; tfc.kernels.depthwise_kx1): weights as (taps + 1) / 2 int16 pairs
 * per channel, doubled; channels with the input offset folded into the doubled bias; scratch:
 * tfc_depthwise_kx1_wide_s8_get_buffer_size bytes (on the stack). */
void tfc_depthwise_kx1_wide_s8(const tfc_dwk1_geometry *d,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               void *scratch);

int32_t tfc_depthwise_kx1_wide_s8_get_buffer_size(const tfc_dwk1_geometry *d);

/* tfc_convolve_add_s8 on tfc_convolve_wide_s8 (the same integers): row by row, output rows
 * [row_begin, row_end), the conv into `row` (out_w * out_c bytes), then the add over that row of
 * residual_and_output (from row row_begin on), in place. input_row, window and rows: as
 * tfc_convolve_wide_s8's input_row, scratch and rows. */
void tfc_convolve_add_wide_s8(const tfc_conv_wide_geometry *g,
                              const int8_t *input,
                              const int16_t *weights,
                              const tfc_conv_wide_channel *channels,
                              const tfc_add_params *add,
                              int8_t *residual_and_output,
                              int8_t *row,
                              void *window,
                              void *rows,
                              int32_t row_begin,
                              int32_t row_end,
                              int32_t input_row);

/* tfc_convolve_first_s8 (tfc.kernels.conv_first): arm_convolve_s8's integers for a first layer,
 * whose window of K = k_h * k_w * in_c <= TFC_CONV_FIRST_MAX_DEPTH values is one short vector, on
 * the compiler's stream of channel pairs (doubled biases, doubled int16 weights in blocks of 4,
 * requantization records). Output rows [row_begin, row_end), input and input_row as
 * tfc_convolve_wide_s8's. scratch: tfc_convolve_first_s8_get_buffer_size bytes (on the stack). */
#define TFC_CONV_FIRST_MAX_DEPTH 64
#define TFC_CONV_FIRST_MAX_KH 16
#define TFC_CONV_FIRST_COLUMN_STEP 64 /* int16 from one pixel's column to the next's */
/* Copies one pixel's window from its KH widened rows (the layer's row stride apart) into a column:
 * the generated code writes one per layer, its offsets as immediates. */
typedef void (*tfc_conv_first_window)(const int16_t *rows, int16_t *column);
void tfc_convolve_first_s8(const tfc_conv_wide_geometry *g,
                           const int8_t *input,
                           const int16_t *stream,
                           tfc_conv_first_window window,
                           int8_t *output,
                           void *scratch,
                           int32_t row_begin,
                           int32_t row_end,
                           int32_t input_row);

int32_t tfc_convolve_first_s8_get_buffer_size(const tfc_conv_wide_geometry *g);
int32_t tfc_convolve_first_s8_row_stride(const tfc_conv_wide_geometry *g);

/* Sizes of one multi-head attention core: `heads` heads (the leading dims), q [rows, depth],
 * k [cols, depth], vt [width, cols] (v transposed) and the output [rows, width] per head. */
typedef struct
{
    int32_t heads, rows, cols, depth, width;
} tfc_attention_dims;

/* softmax(q k^T) v one head at a time: for head h,
 *   arm_batch_matmul_s8(q_h, k_h)       -> ctx->buf, one head's scores [rows, cols]
 *   tfc_softmax_scaled_s8(ctx->buf, exp_table, probs_mult, probs_shift)
 *                                       -> in place, the probabilities (1/256, -128 for probs_mult 0)
 *   arm_batch_matmul_s8(ctx->buf, vt_h) -> output_h [rows, width]
 * The same calls and integers as the three layers over all heads at once (each head is
 * independent), but the scores and probabilities of all heads never exist: ctx->buf holds
 * tfc_attention_s8_get_buffer_size bytes. q, k, vt and output are [heads, ...] contiguous;
 * output must not overlap the inputs or the buffer. */
arm_cmsis_nn_status tfc_attention_s8(const cmsis_nn_context *ctx,
                                     const cmsis_nn_bmm_params *qk_params,
                                     const cmsis_nn_per_tensor_quant_params *qk_quant,
                                     const cmsis_nn_bmm_params *pv_params,
                                     const cmsis_nn_per_tensor_quant_params *pv_quant,
                                     const uint32_t exp_table[256],
                                     int32_t probs_mult,
                                     int32_t probs_shift,
                                     const tfc_attention_dims *dims,
                                     const int8_t *q,
                                     const int8_t *k,
                                     const int8_t *vt,
                                     int8_t *output);

/* Bytes of ctx->buf tfc_attention_s8 needs: one head's scores, rows x cols. */
int32_t tfc_attention_s8_get_buffer_size(const tfc_attention_dims *dims);

#ifdef __cplusplus
}
#endif

#endif /* TFC_KERNELS_H */
