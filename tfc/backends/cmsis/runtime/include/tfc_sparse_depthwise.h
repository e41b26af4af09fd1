/*
 * tfc runtime: sparse int8 depthwise convolution (SparseEngine), channel multiplier 1.
 *
 * Bit-exact with arm_depthwise_conv_s8 on the same (pruned) weights. Per channel only the
 * non-zero kernel taps are stored ("dw-taps", docs/sparse-format.md): a 12-byte record (bias with
 * the input offset folded in, requantization, tap count, the output of an empty channel), then
 * count (tap index ky * kw + kx, int8 weight) byte pairs. The kernel copies four channels at a time
 * into padded planes whose padding holds the input zero point (x + input_offset = 0 there), so every
 * tap of every pixel is a plain load: a channel with t taps costs t loads and t MACs per output pixel,
 * then the requantization of tfc_sparse_gen.h (sp_gen_out2: 3 or 4 instructions) and a store. The
 * output may be the input (in place).
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_SPARSE_DEPTHWISE_H
#define TFC_SPARSE_DEPTHWISE_H

#include <stdint.h>

#include "arm_nn_types.h"
#include "tfc_sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One channel; 12 bytes. */
typedef struct
{
    int32_t bias;       /* bias + input_offset * (sum of the channel's weights), modulo 2^32 */
    int32_t multiplier; /* the channel's requantization multiplier */
    int8_t kind;        /* TFC_SPARSE_RQ_* (tfc_sparse.h) */
    int8_t shift;       /* RIGHT: right shift (>= 1); LEFT: left shift + 1; GENERIC: CMSIS-NN's shift */
    uint8_t count;      /* non-zero taps */
    int8_t empty;       /* the output of every pixel when count == 0 */
} tfc_sparse_dw_channel;

/* Sparse depthwise weights [channels][kh][kw] and the constants folded into their records. */
typedef struct
{
    int32_t channels;
    int32_t kh;
    int32_t kw;
    int32_t input_offset;                  /* folded into the records' bias */
    int32_t output_offset;                 /* folded into the records */
    cmsis_nn_activation activation;        /* folded into the records */
    const tfc_sparse_dw_channel *records;  /* channels */
    const uint8_t *taps;                   /* per channel count pairs (tap index, int8 weight) */
    const int8_t *luts;                    /* per one-tap channel 256 outputs, by (uint8)input; NULL: none */
} tfc_sparse_dw_weights;

/* Scratch bytes: four channels' padded planes. */
int32_t tfc_sparse_depthwise_conv_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                     const cmsis_nn_dims *input_dims,
                                                     const tfc_sparse_dw_weights *weights,
                                                     const cmsis_nn_dims *output_dims);

/* Depthwise convolution NHWC -> NHWC, ch_mult 1, dilation 1, kh * kw <= 64, any stride and padding (the
 * output size comes from output_dims). ARM_CMSIS_NN_ARG_ERROR when the weights do not fit the call. */
arm_cmsis_nn_status tfc_sparse_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                                 const cmsis_nn_dw_conv_params *dw_conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const int8_t *input_data,
                                                 const tfc_sparse_dw_weights *weights,
                                                 const cmsis_nn_dims *output_dims,
                                                 int8_t *output_data);

#ifdef __cplusplus
}
#endif

#endif /* TFC_SPARSE_DEPTHWISE_H */
