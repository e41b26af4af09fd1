/*
 * tfc runtime: block-sparse int8 convolution and fully connected kernels (SparseEngine).
 *
 * Bit-exact with the dense kernels (arm_convolve_s8, arm_fully_connected_per_channel_s8) on the
 * same weights: every skipped block is exactly zero, integer sums are exact, and the
 * requantization below gives the integers of TFLite Micro's MultiplyByQuantizedMultiplier.
 *
 * Weights come in blockwise run-length coding (docs/sparse-format.md, tfc/sparse/encoding.py):
 * per output channel a record (stored block count, bias, requantization constants, the output of
 * an empty channel), then per stored block a skip byte and its `block` int8 values. The
 * per-channel quantization (bias, multiplier, shift) lives in the records, and the records were
 * built for one output offset and activation range, which the weights carry and the kernels check.
 *
 * The kernels first widen the input once into the scratch buffer: int16 values x + input_offset
 * (zero in the padding), laid out [row][channel group][x][block channels]; inside each group of 4
 * channels the order is c0, c2, c1, c3 so that SXTB16 of 4 weights pairs with one 32-bit load.
 * Then each output channel's block list is run for 4 output pixels at a time (each weight block
 * loaded once for 4 pixels), and the 4 sums are requantized (5 instructions each on Armv7E-M).
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_SPARSE_H
#define TFC_SPARSE_H

#include <stdint.h>

#include "arm_nn_types.h"

#define TFC_SPARSE_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef __cplusplus
extern "C" {
#endif

/* How a record requantizes (chosen per channel by tfc/sparse/reference.py, which proves the fast
 * forms exact for every accumulator the channel can produce). */
enum
{
    TFC_SPARSE_RQ_RIGHT = 0,   /* shift < 0: smmlar(acc * 2, m, rounding - (acc < 0)) >> shift */
    TFC_SPARSE_RQ_LEFT = 1,    /* shift >= 0: smmlar(acc << shift, m, rounding) */
    TFC_SPARSE_RQ_GENERIC = 2, /* the full double-rounding arithmetic (large accumulators) */
};

/* One output channel; 20 bytes. A record with count < 0 ends the list (the sentinel). */
typedef struct
{
    int32_t count;      /* stored blocks of this channel, escapes included */
    int32_t bias;       /* int32 bias (0 without one) */
    int32_t multiplier; /* the channel's requantization multiplier, >= 0 */
    int32_t rounding;   /* RIGHT: 2^(shift-1) + output_offset * 2^shift; LEFT: output_offset */
    int8_t kind;        /* TFC_SPARSE_RQ_* */
    int8_t shift;       /* RIGHT: right shift (>= 1); LEFT: left shift + 1; GENERIC: CMSIS-NN's shift */
    int8_t empty;       /* the output of every pixel when count == 0 */
    int8_t reserved;    /* 0 */
} tfc_sparse_row;

/* A layer's block lists compiled into code (generated per layer by tfc, docs/sparse-format.md):
 * every channel against 4 consecutive output pixels whose cells start at cells, cells + B, ...
 * (rows4), or against one pixel (rows1); channel c of pixel k goes to out[k * out_stride + c],
 * or, for code generated for an NCHW output, to out[c * plane + k] (the plane's size an immediate). */
typedef void (*tfc_sparse_rows_fn)(const int16_t *cells, int8_t *out, int32_t out_stride);
typedef struct
{
    tfc_sparse_rows_fn rows4;
    tfc_sparse_rows_fn rows1;
    /* Code for an NCHW output: fills the planes of the channels without blocks (their constant)
     * once per image, and rows4/rows1 leave those channels alone. NULL otherwise. */
    void (*fill)(int8_t *out);
} tfc_sparse_code;

typedef struct tfc_sparse_weights tfc_sparse_weights;

/* The runtime loops over the brle streams for one block size B: every channel of w against 4
 * consecutive output pixels whose cells start at cells, cells + B, ... (rows4_bB), or against one
 * pixel (rows1_bB); channel c of pixel k goes to out[k * pixel_step + c * channel_step] (NHWC:
 * pixel_step = channels, channel_step = 1; NCHW: 1 and the plane's size). One public pair per block
 * size, each function in its own section, and the weights name the pair of their block: with
 * --gc-sections a model links only the pairs its layers use (docs/sparse-format.md, "Linking"). */
typedef void (*tfc_sparse_brle_fn)(const tfc_sparse_weights *w, const int16_t *cells, int8_t *out,
                                   int32_t pixel_step, int32_t channel_step);
#define TFC_SPARSE_BRLE_DECLARE(B)                                                                    \
    void tfc_sparse_brle_rows4_b##B(const tfc_sparse_weights *w, const int16_t *cells, int8_t *out,   \
                                    int32_t pixel_step, int32_t channel_step);                        \
    void tfc_sparse_brle_rows1_b##B(const tfc_sparse_weights *w, const int16_t *cells, int8_t *out,   \
                                    int32_t pixel_step, int32_t channel_step);
TFC_SPARSE_BRLE_DECLARE(1)
TFC_SPARSE_BRLE_DECLARE(2)
TFC_SPARSE_BRLE_DECLARE(4)
TFC_SPARSE_BRLE_DECLARE(8)
TFC_SPARSE_BRLE_DECLARE(16)
#undef TFC_SPARSE_BRLE_DECLARE

/* A sparse weight tensor [rows][kh][kw][cin] (OHWI; a linear layer: kh = kw = 1, cin = in). */
struct tfc_sparse_weights
{
    int32_t rows;   /* output channels */
    int32_t block;  /* 1, 2, 4, 8 or 16 */
    int32_t kh;
    int32_t kw;
    int32_t cin;
    int32_t width;  /* padded input width the skips were encoded for (linear: number of vectors) */
    int32_t output_offset;          /* folded into the records */
    cmsis_nn_activation activation; /* folded into the records */
    const tfc_sparse_row *records;  /* rows + 1 (sentinel) */
    const uint8_t *skips;           /* one per stored block */
    const int8_t *values;           /* block per stored block; 8-byte aligned */
    const tfc_sparse_code *code;    /* non-NULL: run this generated code (records/skips/values unused) */
    tfc_sparse_brle_fn brle_rows4;  /* brle: tfc_sparse_brle_rows4_b<block> (NULL with code) */
    tfc_sparse_brle_fn brle_rows1;  /* brle: tfc_sparse_brle_rows1_b<block> */
    int32_t input_nchw;             /* conv: the input is [n][cin][h][w] instead of NHWC */
    int32_t output_nchw;            /* conv: the output is [n][rows][h][w]; code must be generated for it */
    int32_t output_cells;           /* > 0: the output is the int16 cells of this block its sparse readers
                                     * multiply (tfc/sparse/cells.py); generated code only, it addresses them */
    /* linear, generated code only: > 0, the distance between two vectors' outputs, whose code stores
     * each channel at its own offset (a folded head-split transpose); 0: rows (row-major) */
    int32_t output_pixel_step;
};

/* Sets w->brle_rows4/rows1 from w->block; 0 for a block size without loops. For callers that know
 * the block only at run time (test drivers): it names every pair, so it links them all, and
 * generated code names its pair directly instead. */
static inline int tfc_sparse_brle_bind(tfc_sparse_weights *w)
{
    switch (w->block)
    {
    case 1: w->brle_rows4 = tfc_sparse_brle_rows4_b1; w->brle_rows1 = tfc_sparse_brle_rows1_b1; return 1;
    case 2: w->brle_rows4 = tfc_sparse_brle_rows4_b2; w->brle_rows1 = tfc_sparse_brle_rows1_b2; return 1;
    case 4: w->brle_rows4 = tfc_sparse_brle_rows4_b4; w->brle_rows1 = tfc_sparse_brle_rows1_b4; return 1;
    case 8: w->brle_rows4 = tfc_sparse_brle_rows4_b8; w->brle_rows1 = tfc_sparse_brle_rows1_b8; return 1;
    case 16: w->brle_rows4 = tfc_sparse_brle_rows4_b16; w->brle_rows1 = tfc_sparse_brle_rows1_b16; return 1;
    default: return 0;
    }
}

/* Scratch bytes tfc_sparse_convolve_s8 needs: the widened, zero-padded input image. */
int32_t tfc_sparse_convolve_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                               const cmsis_nn_dims *input_dims,
                                               const tfc_sparse_weights *weights,
                                               const cmsis_nn_dims *output_dims);

/* Convolution NHWC -> NHWC, any kernel size (1x1 included), any stride and padding, dilation 1,
 * one group; NCHW in or out where the weights say so (input_nchw, output_nchw: a model's
 * channels-first boundary, read or written directly instead of transposed). The output size
 * comes from output_dims; input_dims->w + padding must equal weights->width.
 * ARM_CMSIS_NN_ARG_ERROR when the weights do not fit the call. */
arm_cmsis_nn_status tfc_sparse_convolve_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_conv_params *conv_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const tfc_sparse_weights *weights,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data);

/* Scratch bytes tfc_sparse_fully_connected_s8 needs: the widened input vectors. */
int32_t tfc_sparse_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *input_dims,
                                                      const tfc_sparse_weights *weights);

/* Fully connected over input_dims->n vectors of weights->cin values (linear over N tokens):
 * output [n][rows]. fc_params->filter_offset must be 0 (symmetric weights keep zeros zero), and
 * weights->width must equal n (the skips address the vectors' interleaved layout). */
arm_cmsis_nn_status tfc_sparse_fully_connected_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_fc_params *fc_params,
                                                  const cmsis_nn_dims *input_dims,
                                                  const int8_t *input_data,
                                                  const tfc_sparse_weights *weights,
                                                  const cmsis_nn_dims *output_dims,
                                                  int8_t *output_data);

/* The same layers reading an input their producer stored as this layer's int16 cells
 * (tfc/sparse/cells.py: [h][cin / block][w][block], c0 c2 c1 c3 inside each four, the int8 values;
 * the records' biases hold the input offset times their weight sums): no widening, no scratch (ctx
 * unused). The conv: 1x1, stride 1, no padding, NHWC input, cin % block == 0; the linear layer:
 * cin % block == 0. */
arm_cmsis_nn_status tfc_sparse_convolve_cells_s8(const cmsis_nn_context *ctx,
                                                 const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const int16_t *cells,
                                                 const tfc_sparse_weights *weights,
                                                 const cmsis_nn_dims *output_dims,
                                                 int8_t *output_data);
arm_cmsis_nn_status tfc_sparse_fully_connected_cells_s8(const cmsis_nn_context *ctx,
                                                        const cmsis_nn_fc_params *fc_params,
                                                        const cmsis_nn_dims *input_dims,
                                                        const int16_t *cells,
                                                        const tfc_sparse_weights *weights,
                                                        const cmsis_nn_dims *output_dims,
                                                        int8_t *output_data);

#ifdef __cplusplus
}
#endif

#endif /* TFC_SPARSE_H */
