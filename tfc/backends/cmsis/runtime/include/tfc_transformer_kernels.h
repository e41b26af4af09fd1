/*
 * tfc runtime: the transformer kernels CMSIS-NN lacks (integer LayerNorm, table-driven softmax,
 * lookup-table activations, mean over an axis, gather). Included by tfc_kernels.h.
 * Python twins (bit-exact): tfc/quant/transformer_ops.py; parameters: tfc/quant/transformer_params.py.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TFC_TRANSFORMER_KERNELS_H
#define TFC_TRANSFORMER_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Integer-only LayerNorm over the last axis, `rows` rows of `width` int8 values. Per row:
 *   d_i = width * q_i - sum(q)                      exact; the input zero point cancels
 *   V   = (width (width sum(q^2) - sum(q)^2) << 2 prescale) + eps_term
 *                                                   = (sum(d_i^2) << 2 prescale) + eps_term, 64-bit;
 *                                                   eps_term = round(4^prescale width^3 eps / s_x^2)
 *   k   = (clz64(V) - 2) / 2, R = min(rsqrt((V << 2k) >> 30), 2^31 - 1) ~ 2^(61-k) / sqrt(V)
 *   n_i = SMMULR(d_i << min(k + prescale, 31), R)   = 2^29 d_i / sqrt(V / 4^prescale); 0 if V = 0
 *   out = clamp(SMMLAR(n_i, M_c, B_c) >> extra_bits, act_min, act_max)
 * with affine[2c] = M_c = round(gamma_c sqrt(width) 2^(P+3) / s_y), affine[2c + 1] = B_c =
 * round(beta_c 2^P / s_y) + z_y 2^P + 2^(P-1), P = extra_bits (SMMULR/SMMLAR: round(a b / 2^32),
 * ties up, the latter plus acc). rsqrt: a seed from x's top bits and three Newton steps, exactly
 * as tfc.quant.transformer_ops.layernorm_rsqrt. No floating point, no division.
 * in and out may be the same buffer. Python twin: tfc.quant.transformer_ops.layernorm_rows. */
void tfc_layernorm_s8(const int8_t *input,
                      int8_t *output,
                      int32_t rows,
                      int32_t width,
                      int32_t prescale,
                      uint64_t eps_term,
                      const int32_t *affine,
                      int32_t extra_bits,
                      int32_t act_min,
                      int32_t act_max);

/* tfc_layernorm_s8 with the result stored as a sparse layer's int16 cells of `block` (4, 8 or 16;
 * width % block == 0; tfc/sparse/cells.py): row r's channel c at
 * cells[((c / block) * rows + r) * block + p], p the channel's place in its cell (c0 c2 c1 c3 inside
 * each four); the cells hold the int8 results, the readers' biases hold their input offset. in and
 * cells must not overlap. Python twin: layernorm_rows, then tfc.sparse.cells.to_cells. */
void tfc_layernorm_cells_s8(const int8_t *input,
                            int16_t *cells,
                            int32_t rows,
                            int32_t width,
                            int32_t prescale,
                            uint64_t eps_term,
                            const int32_t *affine,
                            int32_t extra_bits,
                            int32_t act_min,
                            int32_t act_max,
                            int32_t block);

/* arm_softmax_s8's integers over rows of `row_size` int8 values (output scale 1/256, zero point
 * -128), with the layer's exp() terms tabulated at compile time: exp_table[diff + 255] is
 * e + 2^11, e the Q0.31 exp() arm_softmax_s8 computes from its mult, shift and diff_min for
 * diff = x - row max (-255..0), 0 below diff_min (the bias makes each rounded sum term one shift).
 * Per row: max, sum, one reciprocal; per element a table load, one multiply and one shift.
 * in and out may be the same buffer. */
void tfc_softmax_s8(const int8_t *input,
                    int32_t num_rows,
                    int32_t row_size,
                    const uint32_t exp_table[256],
                    int8_t *output);

/* tfc_softmax_s8 onto another output scale (zero point -128), for calibrated graphs: the per-row
 * reciprocal times out_mult (Q0.31), the final shift less out_shift, where out_mult 2^(out_shift
 * - 31) ~ 1/(256 scale); one rounding, no other per-element cost. 0 <= out_shift <= 20. */
void tfc_softmax_scaled_s8(const int8_t *input,
                           int32_t num_rows,
                           int32_t row_size,
                           const uint32_t exp_table[256],
                           int32_t out_mult,
                           int32_t out_shift,
                           int8_t *output);

/* out[i] = table[in[i] + 128]: GELU, HardSwish, Sigmoid, Tanh, ... tabulated at compile time as
 * quantize(f(dequantize(q))). in and out may be the same buffer. */
void tfc_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t table[256]);

/* Mean over the middle axis of [outer, reduce, inner]:
 * out[o][i] = clamp(requantize(sum_r (in[o][r][i] + input_offset) << left_shift, mult, shift) + out_offset)
 * (left_shift 0: TFLite Micro's MEAN; more: one rounding, at the nearest output level). */
void tfc_mean_s8(const int8_t *input,
                 int8_t *output,
                 int32_t outer,
                 int32_t reduce,
                 int32_t inner,
                 int32_t input_offset,
                 int32_t left_shift,
                 int32_t mult,
                 int32_t shift,
                 int32_t out_offset);

/* Gather along the middle axis of [outer, axis_len, inner] with constant indices:
 * out[o][j][:] = in[o][indices[j]][:]. out must not overlap in. */
void tfc_gather_s8(const int8_t *input,
                   int8_t *output,
                   int32_t outer,
                   int32_t axis_len,
                   int32_t inner,
                   const int32_t *indices,
                   int32_t num_indices);

#ifdef __cplusplus
}
#endif

#endif /* TFC_TRANSFORMER_KERNELS_H */
