/*
 * tfc runtime: tfc_depthwise_kx1_wide_s8, a depthwise convolution whose window is one column
 * (Kh x 1 on an input one pixel wide) or one row (1 x Kw on an input one pixel tall): a 1-D
 * depthwise conv along the run of pixels, stride 1, no padding, batch 1, with
 * arm_depthwise_conv_s8's integers on weights the compiler stored as int16 tap pairs
 * (tfc.kernels.depthwise_kx1).
 *
 * As in tfc_depthwise_3x3_wide_s8: four channels at a time the run is widened into four int16
 * planes (the same byte shuffles and SXTB16), the input offset is folded into the bias (no
 * padding, so every tap is inside), weights and bias are doubled so that the accumulator is the
 * 2 acc of the folded SMMLAR requantization. Per output one SMLAD per tap pair; the tap-pair
 * count is a compile-time constant in the specialised loops (3, 5, 10, 15 taps: the streaming
 * wake word model's), so that the weights stay in registers across the run, two outputs per
 * step, and one SSAT clamps where the activation range is all of int8. A window as long as the
 * run (one output per channel) skips the planes: its pairs are widened as they are read.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stddef.h>
#include <string.h>

#include "tfc_kernels.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

#define DWK1_MAX_PAIRS 8 /* 16 taps */

int32_t tfc_depthwise_kx1_wide_s8_get_buffer_size(const tfc_dwk1_geometry *d)
{
    /* four planes of the run (+2 columns: the last odd tap's pair reads one past), 4 to align */
    return 4 * (d->in_len + 2) * (int32_t)sizeof(int16_t) + 4;
}

static inline uint32_t dwk1_read(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Words a, b (channels c .. c + 3 of two pixels) to v[j] = channel j's (a, b) as int16 pairs. */
static inline void dwk1_widen(uint32_t a, uint32_t b, uint32_t v[4])
{
    /* bytes (a0, a1, b0, b1) and (a2, a3, b2, b3): SXTB16 pairs channel j's two pixels */
    const uint32_t t0 = (a & 0xFFFFU) | (b << 16), t1 = (b & 0xFFFF0000U) | (a >> 16);
#if TFC_NN_DSP
    v[0] = __SXTB16(t0);
    v[1] = __SXTB16(__ROR(t0, 8));
    v[2] = __SXTB16(t1);
    v[3] = __SXTB16(__ROR(t1, 8));
#else
    const uint32_t w[4] = {t0, t0 >> 8, t1, t1 >> 8};
    for (int32_t j = 0; j < 4; j++)
    {
        const uint32_t lo = (uint16_t)(int16_t)(int8_t)(uint8_t)(w[j] & 0xFFU);
        const uint32_t hi = (uint16_t)(int16_t)(int8_t)(uint8_t)((w[j] >> 16) & 0xFFU);
        v[j] = lo | (hi << 16);
    }
#endif
}

/* Channels c .. c + 3 of the run into four planes pw apart. */
static void dwk1_planes(const int8_t *src, int32_t step, int32_t n, int16_t *dst, int32_t pw)
{
    int32_t i = 0;
    for (; i + 1 < n; i += 2, src += 2 * step, dst += 2)
    {
        uint32_t a, b, v[4];
        memcpy(&a, src, 4);
        memcpy(&b, src + step, 4);
        dwk1_widen(a, b, v);
        memcpy(dst, &v[0], 4);
        memcpy(dst + pw, &v[1], 4);
        memcpy(dst + 2 * pw, &v[2], 4);
        memcpy(dst + 3 * pw, &v[3], 4);
    }
    if (i < n)
    {
        for (int32_t j = 0; j < 4; j++)
        {
            dst[j * pw] = src[j];
        }
    }
}

/* The requantization's constants, in locals: the int8 stores would otherwise make the compiler
 * reload them per output (a char store may alias anything). */
typedef struct
{
    int32_t bias, mult, rounding, shift, off, lo, hi;
} dwk1_consts;

/* 2 acc (modulo 2^32) to the int8 output (the rounding field holds the output offset); `full`
 * (a constant where inlined): the activation range is all of int8, one SSAT clamps. */
static inline __attribute__((always_inline)) int8_t dwk1_requantize(int32_t acc2, const dwk1_consts k, int full)
{
#if TFC_NN_DSP
    int32_t v = tfc_smmlar(acc2, k.mult, k.rounding + (acc2 >> 31)) >> k.shift;
    if (full)
    {
        return (int8_t)__SSAT(v, 8);
    }
    v = v < k.lo ? k.lo : v;
    return (int8_t)(v > k.hi ? k.hi : v);
#else
    (void)full;
    return (int8_t)tfc_requantize_to_s8(acc2 >> 1, k.mult, -k.shift, k.off, k.lo, k.hi);
#endif
}

static inline uint32_t dwk1_mac(uint32_t x, uint32_t w, uint32_t acc)
{
#if TFC_NN_DSP
    return __SMLAD(x, w, acc);
#else
    const int32_t x0 = (int16_t)(uint16_t)(x & 0xFFFFU), x1 = (int16_t)(uint16_t)(x >> 16);
    const int32_t w0 = (int16_t)(uint16_t)(w & 0xFFFFU), w1 = (int16_t)(uint16_t)(w >> 16);
    return acc + (uint32_t)(x0 * w0) + (uint32_t)(x1 * w1);
#endif
}

/* One channel's run of n outputs, two per step (a left-over one alone): `pairs` and `full`
 * constants where inlined into the specialised callers below, the weights then in registers. */
static inline __attribute__((always_inline)) void dwk1_run(const int16_t *p, const int16_t *w, int32_t pairs,
                                                           int full, const dwk1_consts k, int32_t n,
                                                           int32_t step, int8_t *o)
{
    uint32_t wr[DWK1_MAX_PAIRS] = {0};
#pragma GCC unroll 8
    for (int32_t m = 0; m < pairs; m++)
    {
        wr[m] = dwk1_read(w + 2 * m);
    }
    const int16_t *const end = p + (n & ~1);
    for (; p != end; p += 2, o += 2 * step)
    {
        uint32_t a0 = (uint32_t)k.bias, a1 = (uint32_t)k.bias;
#pragma GCC unroll 8
        for (int32_t m = 0; m < pairs; m++)
        {
            a0 = dwk1_mac(dwk1_read(p + 2 * m), wr[m], a0);
            a1 = dwk1_mac(dwk1_read(p + 2 * m + 1), wr[m], a1);
        }
        o[0] = dwk1_requantize((int32_t)a0, k, full);
        o[step] = dwk1_requantize((int32_t)a1, k, full);
    }
    if (n & 1)
    {
        uint32_t a0 = (uint32_t)k.bias;
#pragma GCC unroll 8
        for (int32_t m = 0; m < pairs; m++)
        {
            a0 = dwk1_mac(dwk1_read(p + 2 * m), wr[m], a0);
        }
        o[0] = dwk1_requantize((int32_t)a0, k, full);
    }
}

#define DWK1_RUN_N(n)                                                                                              \
    static void dwk1_run_##n(const int16_t *p, const int16_t *w, int full, const dwk1_consts k, int32_t len,       \
                             int32_t step, int8_t *o)                                                              \
    {                                                                                                              \
        if (full)                                                                                                  \
        {                                                                                                          \
            dwk1_run(p, w, n, 1, k, len, step, o);                                                                 \
        }                                                                                                          \
        else                                                                                                       \
        {                                                                                                          \
            dwk1_run(p, w, n, 0, k, len, step, o);                                                                 \
        }                                                                                                          \
    }
DWK1_RUN_N(2)
DWK1_RUN_N(3)
DWK1_RUN_N(5)
DWK1_RUN_N(8)

static void dwk1_run_any(const int16_t *p, const int16_t *w, int32_t pairs, int full, const dwk1_consts k,
                         int32_t n, int32_t step, int8_t *o)
{
    switch (pairs)
    {
    case 2: dwk1_run_2(p, w, full, k, n, step, o); break;
    case 3: dwk1_run_3(p, w, full, k, n, step, o); break;
    case 5: dwk1_run_5(p, w, full, k, n, step, o); break;
    case 8: dwk1_run_8(p, w, full, k, n, step, o); break;
    default: dwk1_run(p, w, pairs, 0, k, n, step, o); break;
    }
}

/* Tap pair m of four channels (x: their first tap, the second `step` bytes on, or none: b = 0)
 * into the four accumulators; channel j's weight pair 2 pairs int16 after channel j - 1's. */
static inline __attribute__((always_inline)) void dwk1_single_pair(uint32_t a, uint32_t b, const int16_t *w,
                                                                   int32_t pairs, uint32_t acc[4])
{
    uint32_t v[4];
    dwk1_widen(a, b, v);
    acc[0] = dwk1_mac(v[0], dwk1_read(w), acc[0]);
    acc[1] = dwk1_mac(v[1], dwk1_read(w + 2 * pairs), acc[1]);
    acc[2] = dwk1_mac(v[2], dwk1_read(w + 4 * pairs), acc[2]);
    acc[3] = dwk1_mac(v[3], dwk1_read(w + 6 * pairs), acc[3]);
}

/* A window as long as the run (one output per channel): no planes, the pairs widened as they are
 * read, four channels at a time. */
static void dwk1_single(const tfc_dwk1_geometry *d, const int8_t *input, const int16_t *weights,
                        const tfc_conv_wide_channel *channels, int8_t *output)
{
    const int32_t pairs = (d->taps + 1) / 2, step = d->in_step, whole = d->taps / 2;
    const int full = d->act_min == -128 && d->act_max == 127;
    for (int32_t c = 0; c < d->channels; c += 4)
    {
        uint32_t acc[4] = {(uint32_t)channels[c].bias, (uint32_t)channels[c + 1].bias,
                           (uint32_t)channels[c + 2].bias, (uint32_t)channels[c + 3].bias};
        const int16_t *w = weights + (int64_t)2 * pairs * c;
        const int8_t *x = input + c;
        for (int32_t m = 0; m < whole; m++, w += 2, x += 2 * step)
        {
            uint32_t a, b;
            memcpy(&a, x, 4);
            memcpy(&b, x + step, 4);
            dwk1_single_pair(a, b, w, pairs, acc);
        }
        if (whole < pairs)
        {
            uint32_t a;
            memcpy(&a, x, 4);
            dwk1_single_pair(a, 0, w, pairs, acc);
        }
        for (int32_t j = 0; j < 4; j++)
        {
            const tfc_conv_wide_channel *r = &channels[c + j];
            const dwk1_consts k = {r->bias, r->mult, r->rounding, r->shift, d->output_offset, d->act_min, d->act_max};
            output[c + j] = full ? dwk1_requantize((int32_t)acc[j], k, 1) : dwk1_requantize((int32_t)acc[j], k, 0);
        }
    }
}

void tfc_depthwise_kx1_wide_s8(const tfc_dwk1_geometry *d,
                               const int8_t *input,
                               const int16_t *weights,
                               const tfc_conv_wide_channel *channels,
                               int8_t *output,
                               void *scratch)
{
    if (d->out_len == 1)
    {
        (void)scratch;
        dwk1_single(d, input, weights, channels, output);
        return;
    }
    const int32_t pw = d->in_len + 2, pairs = (d->taps + 1) / 2;
    const int full = d->act_min == -128 && d->act_max == 127;
    int16_t *planes = (int16_t *)(void *)(((uintptr_t)scratch + 3U) & ~(uintptr_t)3U);
    for (int32_t j = 0; j < 4; j++)
    {
        /* the two columns past the run: read by the last odd tap's pair, against a zero weight */
        planes[j * pw + d->in_len] = 0;
        planes[j * pw + d->in_len + 1] = 0;
    }
    for (int32_t c = 0; c < d->channels; c += 4)
    {
        dwk1_planes(input + c, d->in_step, d->in_len, planes, pw);
        for (int32_t j = 0; j < 4; j++)
        {
            const int16_t *w = weights + (int64_t)2 * pairs * (c + j);
            const tfc_conv_wide_channel *r = &channels[c + j];
            const dwk1_consts k = {r->bias, r->mult, r->rounding, r->shift, d->output_offset, d->act_min, d->act_max};
            dwk1_run_any(planes + j * pw, w, pairs, full, k, d->out_len, d->out_step, output + c + j);
        }
    }
}
