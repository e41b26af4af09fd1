/*
 * tfc runtime: tfc_layernorm_s8, LayerNorm in integers only (see tfc_transformer_kernels.h).
 * Python twin: tfc.quant.transformer_ops.layernorm_rows.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_kernels.h"
#include "tfc_nn_support.h"

#define TFC_LN_FRAC_BITS 20

/* floor(sqrt(v)) for v < 2^62, bit by bit. */
static uint32_t tfc_isqrt_u64(uint64_t v)
{
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > v)
    {
        bit >>= 2;
    }
    while (bit != 0)
    {
        if (v >= res + bit)
        {
            v -= res + bit;
            res = (res >> 1) + bit;
        }
        else
        {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

static int32_t tfc_clz_u64(uint64_t v)
{
    int32_t n = 0;
    if (v == 0)
    {
        return 64;
    }
    while ((v & ((uint64_t)1 << 63)) == 0)
    {
        v <<= 1;
        n++;
    }
    return n;
}

/* round(x / 2^s), halves away from zero, 1 <= s <= 62. */
static int32_t tfc_round_shift_s64(int64_t x, int32_t s)
{
    const uint64_t mag = x < 0 ? (uint64_t)(-x) : (uint64_t)x;
    const uint64_t r = (mag + ((uint64_t)1 << (s - 1))) >> s;
    return x < 0 ? -(int32_t)r : (int32_t)r;
}

void tfc_layernorm_s8(const int8_t *input,
                      int8_t *output,
                      int32_t rows,
                      int32_t width,
                      int32_t prescale,
                      uint64_t eps_term,
                      const int32_t *mult,
                      const int32_t *shift,
                      const int32_t *bias,
                      int32_t extra_bits,
                      int32_t out_offset,
                      int32_t act_min,
                      int32_t act_max)
{
    for (int32_t row = 0; row < rows; row++)
    {
        const int8_t *in = input + row * width;
        int8_t *out = output + row * width;
        int32_t sum = 0;
        uint64_t v = 0;
        for (int32_t i = 0; i < width; i++)
        {
            sum += in[i];
        }
        for (int32_t i = 0; i < width; i++)
        {
            const int32_t d = width * in[i] - sum;
            v += (uint64_t)((int64_t)d * d);
        }
        v = (v << (2 * prescale)) + eps_term;
        int64_t recip = 0;
        int32_t down = 1;
        if (v != 0)
        {
            const int32_t lz = tfc_clz_u64(v);
            const int32_t k = lz >= 2 ? (lz - 2) / 2 : 0;
            const uint32_t r = tfc_isqrt_u64(v << (2 * k));
            recip = (int64_t)((((uint64_t)1 << 62) + r / 2) / r);
            down = 62 - TFC_LN_FRAC_BITS - prescale - k;
            if (down < 1)
            {
                down = 1; /* only for constant rows (every d is 0) */
            }
        }
        for (int32_t i = 0; i < width; i++)
        {
            const int32_t d = width * in[i] - sum;
            const int32_t n = v != 0 ? tfc_round_shift_s64((int64_t)d * recip, down) : 0;
            const int32_t t = tfc_add_wrap(tfc_requantize(n, mult[i], shift[i]), bias[i]);
            out[i] = (int8_t)tfc_clamp(tfc_rdbpot(t, extra_bits) + out_offset, act_min, act_max);
        }
    }
}
