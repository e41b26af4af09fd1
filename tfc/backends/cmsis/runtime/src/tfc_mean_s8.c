/*
 * tfc runtime: tfc_mean_s8, mean over the middle axis of [outer, reduce, inner].
 * Python twin: tfc.quant.transformer_ops.mean.
 *
 * On a DSP core (or TFC_EMULATE_DSP) four neighbouring inner positions are summed at once: one
 * word load and two SXTAB16 per four bytes into int16 lanes (exact while reduce <= 256: |sum| <=
 * 256 * 128), about 0.8 instructions a byte where the scalar walk takes ~10 with its strided
 * loads. The offsets are added once per output as reduce * input_offset (the same integer).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

/* The signed low and high halfwords of a pair of int16 lanes. */
static inline int32_t lane_lo(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFU); }
static inline int32_t lane_hi(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x >> 16); }

static int8_t mean_out(int32_t acc, int32_t left_shift, int32_t mult, int32_t shift, int32_t out_offset)
{
    return tfc_requantize_to_s8(tfc_shl_wrap(acc, left_shift), mult, shift, out_offset, -128, 127);
}

void tfc_mean_s8(const int8_t *input,
                 int8_t *output,
                 int32_t outer,
                 int32_t reduce,
                 int32_t inner,
                 int32_t input_offset,
                 int32_t left_shift,
                 int32_t mult,
                 int32_t shift,
                 int32_t out_offset)
{
    for (int32_t o = 0; o < outer; o++)
    {
        const int8_t *in = input + o * reduce * inner;
        int8_t *out = output + o * inner;
        int32_t i = 0;
#if TFC_NN_DSP
        if (reduce <= 256)
        {
            const int32_t offsets = reduce * input_offset;
            for (; i + 4 <= inner; i += 4)
            {
                uint32_t even = 0, odd = 0; /* int16 lanes: positions i, i + 2 and i + 1, i + 3 */
                for (int32_t r = 0; r < reduce; r++)
                {
                    const uint32_t w = (uint32_t)tfc_read_s8x4(in + r * inner + i);
                    even = __SXTAB16(even, w);
                    odd = tfc_sxtab16_ror8(odd, w);
                }
                out[i] = mean_out(lane_lo(even) + offsets, left_shift, mult, shift, out_offset);
                out[i + 1] = mean_out(lane_lo(odd) + offsets, left_shift, mult, shift, out_offset);
                out[i + 2] = mean_out(lane_hi(even) + offsets, left_shift, mult, shift, out_offset);
                out[i + 3] = mean_out(lane_hi(odd) + offsets, left_shift, mult, shift, out_offset);
            }
        }
#endif
        for (; i < inner; i++)
        {
            int32_t acc = 0;
            for (int32_t r = 0; r < reduce; r++)
            {
                acc += in[r * inner + i] + input_offset;
            }
            out[i] = mean_out(acc, left_shift, mult, shift, out_offset);
        }
    }
}
