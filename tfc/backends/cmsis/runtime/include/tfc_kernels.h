/*
 * tfc runtime: the int8 kernels tfc needs that CMSIS-NN does not have.
 *
 * These are always compiled from tfc's runtime, also when a project links the real CMSIS-NN.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_KERNELS_H
#define TFC_KERNELS_H

#include <stdint.h>

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

#ifdef __cplusplus
}
#endif

#endif /* TFC_KERNELS_H */
