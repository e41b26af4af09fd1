/*
 * tfc runtime: arm_depthwise_conv_s8 and arm_depthwise_conv_s8_opt, with the buffer size.
 *
 * Output channel oc = ic * ch_mult + m reads input channel ic; filter is [1, KH, KW, C_OUT].
 * acc = bias + sum over valid taps (x + input_offset) * w, modulo 2^32, then per-channel
 * requantization (TFLite Micro's reference DepthwiseConvPerChannel).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

typedef struct
{
    int32_t in_h, in_w, in_c, ch_mult;
    int32_t k_h, k_w, out_h, out_w, out_c;
    int32_t stride_y, stride_x, pad_y, pad_x, dil_y, dil_x;
} dw_geometry;

static void dw_geometry_init(dw_geometry *g, const cmsis_nn_dw_conv_params *p, const cmsis_nn_dims *input_dims,
                             const cmsis_nn_dims *filter_dims, const cmsis_nn_dims *output_dims)
{
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->in_c = input_dims->c;
    g->ch_mult = p->ch_mult;
    g->k_h = filter_dims->h;
    g->k_w = filter_dims->w;
    g->out_h = output_dims->h;
    g->out_w = output_dims->w;
    g->out_c = output_dims->c;
    g->stride_y = p->stride.h;
    g->stride_x = p->stride.w;
    g->pad_y = p->padding.h;
    g->pad_x = p->padding.w;
    g->dil_y = p->dilation.h;
    g->dil_x = p->dilation.w;
}

/* Not inlined: a cold path whose frame should not add to dw_run's. */
static __attribute__((noinline)) void dw_portable(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                                                  const cmsis_nn_per_channel_quant_params *q, const int8_t *input,
                                                  const int8_t *filter, const int32_t *bias, int8_t *output)
{
    for (int32_t oy = 0; oy < g->out_h; oy++)
    {
        for (int32_t ox = 0; ox < g->out_w; ox++)
        {
            for (int32_t ic = 0; ic < g->in_c; ic++)
            {
                for (int32_t m = 0; m < g->ch_mult; m++)
                {
                    const int32_t oc = ic * g->ch_mult + m;
                    uint32_t acc = bias ? (uint32_t)bias[oc] : 0U;
                    for (int32_t ky = 0; ky < g->k_h; ky++)
                    {
                        const int32_t iy = oy * g->stride_y - g->pad_y + ky * g->dil_y;
                        if (iy < 0 || iy >= g->in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < g->k_w; kx++)
                        {
                            const int32_t ix = ox * g->stride_x - g->pad_x + kx * g->dil_x;
                            if (ix < 0 || ix >= g->in_w)
                            {
                                continue;
                            }
                            const int32_t x = input[(iy * g->in_w + ix) * g->in_c + ic] + p->input_offset;
                            acc += (uint32_t)(x * filter[(ky * g->k_w + kx) * g->out_c + oc]);
                        }
                    }
                    output[(oy * g->out_w + ox) * g->out_c + oc] =
                        tfc_requantize_to_s8((int32_t)acc, q->multiplier[oc], q->shift[oc], p->output_offset,
                                             p->activation.min, p->activation.max);
                }
            }
        }
    }
}

#if TFC_NN_DSP
/* Kernel taps at most this many (k_h * k_w) have their widened weights cached on the stack. */
#define DW_MAX_TAPS 64

/* First and one-past-last kernel index whose tap at i0 + k * dil lies inside [0, size). */
static void dw_valid_taps(int32_t i0, int32_t dil, int32_t k, int32_t size, int32_t *first, int32_t *end)
{
    *first = i0 < 0 ? (-i0 + dil - 1) / dil : 0;
    *end = i0 >= size ? 0 : TFC_MIN(k, (size - i0 + dil - 1) / dil);
}

/* ch_mult == 1, four channels per pass, channel blocks outermost: the block's weights are widened
 * once into wbuf (words (w0, w2), (w1, w3) per tap) and its four requantization constants made
 * once, then every output pixel costs, per valid tap, one input load, two SXTAB16, one LDRD and
 * four 16x16 MACs (SMLABB/SMLATT on the even and odd channel pairs); padded taps are skipped by
 * computing each pixel's valid kernel window up front. */
/* One tap of four channels: input word at xp, widened weights wpair. */
#define DW_TAP(xp, wpair)                                                                                          \
    do                                                                                                             \
    {                                                                                                              \
        const uint32_t xv = (uint32_t)tfc_read_s8x4(xp);                                                           \
        const int32_t xe = (int32_t)__SXTAB16(off2, xv), xo = (int32_t)tfc_sxtab16_ror8(off2, xv);                 \
        const uint64_t wv = (wpair);                                                                               \
        const int32_t we = (int32_t)tfc_pair_lo(wv), wo = (int32_t)tfc_pair_hi(wv);                                \
        a0 = __SMLABB(xe, we, a0);                                                                                 \
        a2 = __SMLATT(xe, we, a2);                                                                                 \
        a1 = __SMLABB(xo, wo, a1);                                                                                 \
        a3 = __SMLATT(xo, wo, a3);                                                                                 \
    } while (0)

/* The blocks of four channels of a k x 1 kernel (str_ww's 3x1 ... 15x1 layers); returns the
 * channels done. Each pixel's taps form one column, so they are one loop with no per-row
 * set-up, and the weights are widened at each tap (LDR, two SXTB16) rather than once per block
 * into wbuf, which a layer with few output pixels (15x1 over 15 rows: one) would not earn back. */
static __attribute__((noinline)) int32_t dw_dsp_col(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                                                    const cmsis_nn_per_channel_quant_params *q, const int8_t *input,
                                                    const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t C = g->in_c, in_w = g->in_w, out_h = g->out_h, out_w = g->out_w;
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    const int32_t y_step = g->dil_y * in_w * C;
    int32_t c = 0;
    for (; c + 3 < C; c += 4)
    {
        tfc_rq rq[4];
        int32_t fast = act_min == -128 && act_max == 127;
        for (int32_t i = 0; i < 4; i++)
        {
            rq[i] = tfc_rq_make(q->multiplier[c + i], q->shift[c + i], out_off, act_max);
            fast &= rq[i].mode == TFC_RQ_RIGHT;
        }
        const int32_t b0 = bias ? bias[c] : 0, b1 = bias ? bias[c + 1] : 0;
        const int32_t b2 = bias ? bias[c + 2] : 0, b3 = bias ? bias[c + 3] : 0;
        int8_t *out = output + c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t iy0 = oy * g->stride_y - g->pad_y;
            int32_t ky0, ky1;
            dw_valid_taps(iy0, g->dil_y, g->k_h, g->in_h, &ky0, &ky1);
            const int8_t *const w0 = filter + ky0 * C + c, *const w_end = filter + ky1 * C + c;
            const int32_t row0 = (iy0 + ky0 * g->dil_y) * in_w;
            for (int32_t ox = 0, ix = -g->pad_x; ox < out_w; ox++, ix += g->stride_x, out += C)
            {
                int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                if (ix >= 0 && ix < in_w)
                {
                    const int8_t *x = input + (row0 + ix) * C + c;
                    for (const int8_t *w = w0; w < w_end; w += C, x += y_step)
                    {
                        const uint32_t w4 = (uint32_t)tfc_read_s8x4(w);
                        DW_TAP(x, tfc_pair(__SXTB16(w4), tfc_sxtb16_ror8(w4)));
                    }
                }
                if (fast)
                {
                    out[0] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[0], a0), out_off);
                    out[1] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[1], a1), out_off);
                    out[2] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[2], a2), out_off);
                    out[3] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[3], a3), out_off);
                    continue;
                }
                out[0] = tfc_rq_s8(&rq[0], (uint32_t)a0, out_off, act_min, act_max);
                out[1] = tfc_rq_s8(&rq[1], (uint32_t)a1, out_off, act_min, act_max);
                out[2] = tfc_rq_s8(&rq[2], (uint32_t)a2, out_off, act_min, act_max);
                out[3] = tfc_rq_s8(&rq[3], (uint32_t)a3, out_off, act_min, act_max);
            }
        }
    }
    return c;
}

/* A k x 1 kernel over a one-pixel-wide image with every tap inside it for every output (no
 * padding: str_ww's layers), every channel TFC_RQ_RIGHT with the full int8 range: per block of
 * four channels the weights are widened once onto the stack, and each output row is just its
 * taps (one LDR, two SXTAB16, one LDRD, four MACs each) and four requantizations, with none of
 * dw_dsp_col's per-row window set-up. Returns the channels done (0 when it does not apply). */
static __attribute__((noinline)) int32_t dw_dsp_col_valid(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                                                          const cmsis_nn_per_channel_quant_params *q,
                                                          const int8_t *input, const int8_t *filter,
                                                          const int32_t *bias, int8_t *output)
{
    const int32_t C = g->in_c, out_off = p->output_offset;
    if (g->out_w != 1 || g->in_w < 1 || g->pad_x != 0 || g->pad_y != 0 || g->k_h > DW_MAX_TAPS ||
        (g->out_h - 1) * g->stride_y + (g->k_h - 1) * g->dil_y >= g->in_h || p->activation.min != -128 ||
        p->activation.max != 127 || !tfc_rq_all_right(q->multiplier, q->shift, C, out_off, 127))
    {
        return 0;
    }
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t y_step = g->stride_y * g->in_w * C, tap_step = g->dil_y * g->in_w * C;
    uint64_t wbuf[DW_MAX_TAPS];
    int32_t c = 0;
    for (; c + 3 < C; c += 4)
    {
        for (int32_t t = 0; t < g->k_h; t++)
        {
            const uint32_t w = (uint32_t)tfc_read_s8x4(filter + t * C + c);
            wbuf[t] = tfc_pair(__SXTB16(w), tfc_sxtb16_ror8(w));
        }
        const tfc_rq r0 = tfc_rq_make_right(q->multiplier[c], q->shift[c]);
        const tfc_rq r1 = tfc_rq_make_right(q->multiplier[c + 1], q->shift[c + 1]);
        const tfc_rq r2 = tfc_rq_make_right(q->multiplier[c + 2], q->shift[c + 2]);
        const tfc_rq r3 = tfc_rq_make_right(q->multiplier[c + 3], q->shift[c + 3]);
        const int32_t b0 = bias ? bias[c] : 0, b1 = bias ? bias[c + 1] : 0;
        const int32_t b2 = bias ? bias[c + 2] : 0, b3 = bias ? bias[c + 3] : 0;
        const int8_t *row = input + c;
        int8_t *out = output + c;
        for (int32_t oy = 0; oy < g->out_h; oy++, row += y_step, out += C)
        {
            int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
            const int8_t *x = row;
            for (const uint64_t *w = wbuf, *const w_end = wbuf + g->k_h; w != w_end; w++, x += tap_step)
            {
                DW_TAP(x, *w);
            }
            out[0] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r0, a0), out_off);
            out[1] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r1, a1), out_off);
            out[2] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r2, a2), out_off);
            out[3] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r3, a3), out_off);
        }
    }
    return c;
}

/* Channels c0 .. C - 1 (dw_dsp_col may have done the first ones). */
static __attribute__((noinline)) void dw_dsp_mult1(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                         const cmsis_nn_per_channel_quant_params *q, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output, int32_t c0)
{
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t C = g->in_c;
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    const int32_t full_range = act_min == -128 && act_max == 127;
    const int32_t x_step = g->dil_x * C;
    uint64_t wbuf[DW_MAX_TAPS];
    int32_t c = c0;
    for (; c + 3 < C; c += 4)
    {
        for (int32_t t = 0; t < g->k_h * g->k_w; t++)
        {
            const uint32_t w = (uint32_t)tfc_read_s8x4(filter + t * C + c);
            wbuf[t] = tfc_pair(__SXTB16(w), tfc_sxtb16_ror8(w));
        }
        tfc_rq rq[4];
        int32_t all_right = 1;
        for (int32_t i = 0; i < 4; i++)
        {
            rq[i] = tfc_rq_make(q->multiplier[c + i], q->shift[c + i], out_off, act_max);
            all_right &= rq[i].mode == TFC_RQ_RIGHT;
        }
        const int32_t b0 = bias ? bias[c] : 0, b1 = bias ? bias[c + 1] : 0;
        const int32_t b2 = bias ? bias[c + 2] : 0, b3 = bias ? bias[c + 3] : 0;
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            const int32_t iy0 = oy * g->stride_y - g->pad_y;
            int32_t ky0, ky1;
            dw_valid_taps(iy0, g->dil_y, g->k_h, g->in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < g->out_w; ox++)
            {
                const int32_t ix0 = ox * g->stride_x - g->pad_x;
                int32_t kx0, kx1;
                dw_valid_taps(ix0, g->dil_x, g->k_w, g->in_w, &kx0, &kx1);
                int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                for (int32_t ky = ky0; ky < ky1; ky++)
                {
                    const int8_t *x = input + ((iy0 + ky * g->dil_y) * g->in_w + ix0 + kx0 * g->dil_x) * C + c;
                    const uint64_t *w = wbuf + ky * g->k_w + kx0;
                    if (kx1 - kx0 == 3 && g->dil_x == 1)
                    {
                        /* The common full 3-tap row, unrolled: no loop state to keep in registers. */
                        DW_TAP(x, w[0]);
                        DW_TAP(x + C, w[1]);
                        DW_TAP(x + 2 * C, w[2]);
                        continue;
                    }
                    /* Looping on the weight pointer: a separate counter made GCC spill. */
                    for (const uint64_t *const w_end = w + (kx1 - kx0); w != w_end; w++, x += x_step)
                    {
                        DW_TAP(x, *w);
                    }
                }
                int8_t *out = output + (oy * g->out_w + ox) * C + c;
                if (all_right && full_range)
                {
                    out[0] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[0], a0), out_off);
                    out[1] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[1], a1), out_off);
                    out[2] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[2], a2), out_off);
                    out[3] = (int8_t)tfc_rq_out_full(tfc_rq_right(&rq[3], a3), out_off);
                    continue;
                }
                out[0] = tfc_rq_s8(&rq[0], (uint32_t)a0, out_off, act_min, act_max);
                out[1] = tfc_rq_s8(&rq[1], (uint32_t)a1, out_off, act_min, act_max);
                out[2] = tfc_rq_s8(&rq[2], (uint32_t)a2, out_off, act_min, act_max);
                out[3] = tfc_rq_s8(&rq[3], (uint32_t)a3, out_off, act_min, act_max);
            }
        }
    }
    for (; c < C; c++)
    {
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            const int32_t iy0 = oy * g->stride_y - g->pad_y;
            for (int32_t ox = 0; ox < g->out_w; ox++)
            {
                const int32_t ix0 = ox * g->stride_x - g->pad_x;
                uint32_t acc = bias ? (uint32_t)bias[c] : 0U;
                for (int32_t ky = 0; ky < g->k_h; ky++)
                {
                    const int32_t iy = iy0 + ky * g->dil_y;
                    for (int32_t kx = 0; kx < g->k_w && iy >= 0 && iy < g->in_h; kx++)
                    {
                        const int32_t ix = ix0 + kx * g->dil_x;
                        if (ix >= 0 && ix < g->in_w)
                        {
                            const int32_t x = input[(iy * g->in_w + ix) * C + c] + p->input_offset;
                            acc += (uint32_t)(x * filter[(ky * g->k_w + kx) * C + c]);
                        }
                    }
                }
                output[(oy * g->out_w + ox) * C + c] =
                    tfc_requantize_to_s8((int32_t)acc, q->multiplier[c], q->shift[c], out_off, act_min, act_max);
            }
        }
    }
}

/* ---- 3x3, ch_mult 1, stride 1 or 2, no dilation: taps paired over channel-major int16 rows -----
 * For each block of four channels, every input row an output row reads is widened once to
 * (x + input_offset) int16 and stored channel-major (for each channel, its row of pixels; padding
 * columns 0) in a ring of three row slots on the stack (slot = input row mod 3). A channel's taps
 * kx = 0, 1 of one kernel row are then one halfword-aligned 32-bit word: one SMLAD against the
 * packed weights (w0, w1); tap 2 is one SMLABB / SMLATB-family MAC. Two outputs per pass share
 * their loads (per kernel row 3 loads and 4 MACs for 6 multiply-accumulates), the channel's
 * weights and requantization constants stay in registers along the row, and each rotation of
 * the ring is its own instantiation so the three rows are immediate offsets from one pointer. */
#define DW3_COLS 64               /* slot columns: stride * (out_w - 1) + 4 must fit */
#define DW3_SLOT (4 * DW3_COLS)   /* int16 values per slot: four channel rows */
#define DW3_BUF 1024              /* int16 values of the stack buffer: the ring, or a plane */

static int dw3_applies(const dw_geometry *g)
{
    return g->k_h == 3 && g->k_w == 3 && g->dil_x == 1 && g->dil_y == 1 && (g->stride_x == 1 || g->stride_x == 2) &&
           g->stride_y >= 1 && (g->in_c & 3) == 0 && g->stride_x * (g->out_w - 1) + 4 <= DW3_COLS && g->pad_x >= 0 &&
           g->pad_y >= 0;
}

/* Input row iy of channels c .. c + 3 into dst (channel rows ch_step apart), columns j0 .. j1 - 1
 * (input column j - pad_x); a row outside the input is all padding (0). */
static void dw3_fill(const dw_geometry *g, const int8_t *input, int32_t c, int32_t iy, uint32_t off2, int32_t j0,
                     int32_t j1, int16_t *dst, int32_t ch_step)
{
    int16_t *s0 = dst, *s1 = dst + ch_step, *s2 = dst + 2 * ch_step, *s3 = dst + 3 * ch_step;
    if (iy < 0 || iy >= g->in_h)
    {
        for (int32_t j = j0; j < j1; j++)
        {
            s0[j] = s1[j] = s2[j] = s3[j] = 0;
        }
        return;
    }
    const int32_t C = g->in_c;
    const int8_t *src = input + (iy * g->in_w + j0 - g->pad_x) * C + c;
    for (int32_t j = j0; j < j1; j++, src += C)
    {
        const uint32_t x = (uint32_t)tfc_read_s8x4(src);
        const uint32_t e = __SXTAB16(off2, x), o = tfc_sxtab16_ror8(off2, x); /* (x0, x2), (x1, x3) */
        s0[j] = (int16_t)e;
        s2[j] = (int16_t)(e >> 16);
        s1[j] = (int16_t)o;
        s3[j] = (int16_t)(o >> 16);
    }
}

/* One channel's output row. p: the channel's column 0 in row 0; kernel row k is row rk, rows
 * row_step values apart (ring slots, or a plane's rows).
 * w = {(w00, w01), (w10, w11), (w20, w21), (w02, w12), w22}. Outputs to out, out + C, ...
 * stride, fast (requantization TFC_RQ_RIGHT, full int8 range) and r0..r2 are constants in the
 * fast instantiations. */
__STATIC_FORCEINLINE void dw3_channel_row(const int16_t *p, const int32_t *w, int32_t b, const tfc_rq *rq,
                                          int8_t *out, int32_t C, int32_t out_w, int32_t out_off, int32_t act_min,
                                          int32_t act_max, const int32_t stride, const int32_t fast, const int32_t r0,
                                          const int32_t r1, const int32_t r2, const int32_t row_step)
{
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], v01 = w[3], v2 = w[4];
    const tfc_rq k = *rq; /* a copy: the int8 stores could alias it */
#define DW3_LD(row, col) tfc_read_s16x2(p + (row) * row_step + (col))
#define DW3_STORE(o, acc)                                                                                          \
    (o) = fast ? (int8_t)tfc_rq_out_full(tfc_rq_right(&k, (acc)), out_off)                                         \
               : tfc_rq_s8(&k, (uint32_t)(acc), out_off, act_min, act_max)
    int32_t ox = 0;
    for (; ox + 1 < out_w; ox += 2, p += 2 * stride, out += 2 * C)
    {
        int32_t a = b, d = b;
        /* (x0, x1), (x2, x3) and, for stride 1, (x1, x2) / for stride 2, (x4, x5) of each row. */
        int32_t l0 = DW3_LD(r0, 0), l2 = DW3_LD(r0, 2), l1 = stride == 1 ? DW3_LD(r0, 1) : DW3_LD(r0, 4);
        a = (int32_t)__SMLAD((uint32_t)l0, (uint32_t)w0, (uint32_t)a);
        a = __SMLABB(l2, v01, a);
        d = (int32_t)__SMLAD((uint32_t)(stride == 1 ? l1 : l2), (uint32_t)w0, (uint32_t)d);
        d = stride == 1 ? __SMLATB(l2, v01, d) : __SMLABB(l1, v01, d);
        l0 = DW3_LD(r1, 0), l2 = DW3_LD(r1, 2), l1 = stride == 1 ? DW3_LD(r1, 1) : DW3_LD(r1, 4);
        a = (int32_t)__SMLAD((uint32_t)l0, (uint32_t)w1, (uint32_t)a);
        a = __SMLABT(l2, v01, a);
        d = (int32_t)__SMLAD((uint32_t)(stride == 1 ? l1 : l2), (uint32_t)w1, (uint32_t)d);
        d = stride == 1 ? __SMLATT(l2, v01, d) : __SMLABT(l1, v01, d);
        l0 = DW3_LD(r2, 0), l2 = DW3_LD(r2, 2), l1 = stride == 1 ? DW3_LD(r2, 1) : DW3_LD(r2, 4);
        a = (int32_t)__SMLAD((uint32_t)l0, (uint32_t)w2, (uint32_t)a);
        a = __SMLABB(l2, v2, a);
        d = (int32_t)__SMLAD((uint32_t)(stride == 1 ? l1 : l2), (uint32_t)w2, (uint32_t)d);
        d = stride == 1 ? __SMLATB(l2, v2, d) : __SMLABB(l1, v2, d);
        DW3_STORE(out[0], a);
        DW3_STORE(out[C], d);
    }
    if (ox < out_w)
    {
        int32_t a = (int32_t)__SMLAD((uint32_t)DW3_LD(r0, 0), (uint32_t)w0, (uint32_t)b);
        a = __SMLABB(DW3_LD(r0, 2), v01, a);
        a = (int32_t)__SMLAD((uint32_t)DW3_LD(r1, 0), (uint32_t)w1, (uint32_t)a);
        a = __SMLABT(DW3_LD(r1, 2), v01, a);
        a = (int32_t)__SMLAD((uint32_t)DW3_LD(r2, 0), (uint32_t)w2, (uint32_t)a);
        a = __SMLABB(DW3_LD(r2, 2), v2, a);
        DW3_STORE(out[0], a);
    }
#undef DW3_LD
#undef DW3_STORE
}

/* The four channels of a block along one output row (every one TFC_RQ_RIGHT, full range). */
typedef void (*dw3_fast_row)(const int16_t *p, const int32_t (*w)[5], const int32_t *b, const tfc_rq *rq,
                             int8_t *out, int32_t C, int32_t out_w, int32_t out_off);

#define DW3_FAST_ROW(stride, r0, r1, r2)                                                                           \
    static __attribute__((noinline)) void dw3_fast_s##stride##_r##r0(const int16_t *p, const int32_t (*w)[5],      \
                                                                       const int32_t *b, const tfc_rq *rq,           \
                                                                       int8_t *out, int32_t C, int32_t out_w,        \
                                                                       int32_t out_off)                              \
    {                                                                                                              \
        for (int32_t i = 0; i < 4; i++)                                                                            \
        {                                                                                                          \
            dw3_channel_row(p + i * DW3_COLS, w[i], b[i], &rq[i], out + i, C, out_w, out_off, -128, 127, stride, 1, \
                            r0, r1, r2, DW3_SLOT);                                                                 \
        }                                                                                                          \
    }
DW3_FAST_ROW(1, 0, 1, 2)
DW3_FAST_ROW(1, 1, 2, 0)
DW3_FAST_ROW(1, 2, 0, 1)
DW3_FAST_ROW(2, 0, 1, 2)
DW3_FAST_ROW(2, 1, 2, 0)
DW3_FAST_ROW(2, 2, 0, 1)
#undef DW3_FAST_ROW

/* [stride - 1][slot of kernel row 0] */
static const dw3_fast_row dw3_fast_rows[2][3] = {{dw3_fast_s1_r0, dw3_fast_s1_r1, dw3_fast_s1_r2},
                                                 {dw3_fast_s2_r0, dw3_fast_s2_r1, dw3_fast_s2_r2}};

/* Small layers: when a block's whole padded input (4 channels x rows x pitch) fits DW3_BUF, it
 * is widened once as a plane and each channel runs all its output rows in one call, so the
 * per-channel set-up (weights, constants, call) is paid once per block, not once per row. */
typedef void (*dw3_plane_fn)(const int16_t *plane, int32_t ch_step, const int32_t (*w)[5], const int32_t *b,
                             const tfc_rq *rq, int8_t *out, int32_t C, int32_t out_w, int32_t out_h, int32_t row_jump,
                             int32_t out_off);

#define DW3_PLANE(stride, pitch)                                                                                   \
    static __attribute__((noinline)) void dw3_plane_s##stride##_p##pitch(                                          \
        const int16_t *plane, int32_t ch_step, const int32_t (*w)[5], const int32_t *b, const tfc_rq *rq,          \
        int8_t *out, int32_t C, int32_t out_w, int32_t out_h, int32_t row_jump, int32_t out_off)                   \
    {                                                                                                              \
        for (int32_t i = 0; i < 4; i++)                                                                            \
        {                                                                                                          \
            const int16_t *p = plane + i * ch_step;                                                                \
            int8_t *o = out + i;                                                                                   \
            /* Local copies: the int8 stores could alias w and rq, which would reload them every row. */          \
            const int32_t wl[5] = {w[i][0], w[i][1], w[i][2], w[i][3], w[i][4]}, bl = b[i];                        \
            const tfc_rq k = rq[i];                                                                                \
            for (int32_t oy = 0; oy < out_h; oy++, p += row_jump, o += out_w * C)                                  \
            {                                                                                                      \
                dw3_channel_row(p, wl, bl, &k, o, C, out_w, out_off, -128, 127, stride, 1, 0, 1, 2, pitch);        \
            }                                                                                                      \
        }                                                                                                          \
    }
DW3_PLANE(1, 8)
DW3_PLANE(1, 16)
DW3_PLANE(2, 8)
DW3_PLANE(2, 16)
#undef DW3_PLANE

/* [stride - 1][pitch 16] */
static const dw3_plane_fn dw3_planes[2][2] = {{dw3_plane_s1_p8, dw3_plane_s1_p16}, {dw3_plane_s2_p8, dw3_plane_s2_p16}};

/* Any requantization or activation range: one channel's row, rows r0, r0 + 1, r0 + 2 (mod 3
 * for the ring) row_step apart. */
static __attribute__((noinline)) void dw3_any_row(const int16_t *p, const int32_t *w, int32_t b, const tfc_rq *rq,
                                                  int8_t *out, int32_t C, int32_t out_w, int32_t out_off,
                                                  int32_t act_min, int32_t act_max, int32_t stride, int32_t r0,
                                                  int32_t row_step)
{
    const int32_t r1 = r0 == 2 ? 0 : r0 + 1, r2 = r1 == 2 ? 0 : r1 + 1;
    if (stride == 1)
    {
        dw3_channel_row(p, w, b, rq, out, C, out_w, out_off, act_min, act_max, 1, 0, r0, r1, r2, row_step);
    }
    else
    {
        dw3_channel_row(p, w, b, rq, out, C, out_w, out_off, act_min, act_max, 2, 0, r0, r1, r2, row_step);
    }
}

static __attribute__((noinline)) void dw3_run(const dw_geometry *g, const cmsis_nn_dw_conv_params *p, const cmsis_nn_per_channel_quant_params *q,
                    const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t C = g->in_c, sx = g->stride_x, out_w = g->out_w;
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    const int32_t full_range = act_min == -128 && act_max == 127;
    const int32_t cols = sx * (out_w - 1) + 4;
    const int32_t j0 = TFC_MIN(g->pad_x, cols), j1 = TFC_MIN(cols, g->pad_x + g->in_w);
    const int32_t pitch = cols <= 8 ? 8 : (cols <= 16 ? 16 : 0);
    const int32_t rows = g->stride_y * (g->out_h - 1) + 3; /* padded input rows a plane holds */
    const int32_t plane = pitch != 0 && 4 * rows * pitch <= DW3_BUF;
    int16_t ring[DW3_BUF];
    memset(ring, 0, sizeof ring); /* padding columns stay 0: fills write only j0 .. j1 - 1 */
    for (int32_t c = 0; c < C; c += 4)
    {
        int32_t wk[4][5], b4[4];
        tfc_rq rq[4];
        int32_t all_fast = full_range;
        for (int32_t i = 0; i < 4; i++)
        {
            const int8_t *f = filter + c + i; /* tap (ky, kx) at f[(3 * ky + kx) * C] */
            for (int32_t ky = 0; ky < 3; ky++)
            {
                wk[i][ky] = (int32_t)__PKHBT((uint32_t)(int32_t)f[3 * ky * C], (uint32_t)(int32_t)f[(3 * ky + 1) * C], 16);
            }
            wk[i][3] = (int32_t)__PKHBT((uint32_t)(int32_t)f[2 * C], (uint32_t)(int32_t)f[5 * C], 16);
            wk[i][4] = f[8 * C];
            rq[i] = tfc_rq_make(q->multiplier[c + i], q->shift[c + i], out_off, act_max);
            all_fast &= rq[i].mode == TFC_RQ_RIGHT;
            b4[i] = bias ? bias[c + i] : 0;
        }
        if (plane)
        {
            /* Rows outside the input stay as the memset left them (0). */
            for (int32_t r = TFC_MAX(0, g->pad_y); r < TFC_MIN(rows, g->pad_y + g->in_h); r++)
            {
                dw3_fill(g, input, c, r - g->pad_y, off2, j0, j1, ring + r * pitch, rows * pitch);
            }
            if (all_fast)
            {
                dw3_planes[sx - 1][pitch == 16](ring, rows * pitch, (const int32_t(*)[5])wk, b4, rq, output + c, C,
                                                 out_w, g->out_h, g->stride_y * pitch, out_off);
                continue;
            }
            for (int32_t oy = 0; oy < g->out_h; oy++)
            {
                for (int32_t i = 0; i < 4; i++)
                {
                    dw3_any_row(ring + i * rows * pitch + oy * g->stride_y * pitch, wk[i], b4[i], &rq[i],
                                output + oy * out_w * C + c + i, C, out_w, out_off, act_min, act_max, sx, 0, pitch);
                }
            }
            continue;
        }
        int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN};
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            const int32_t iy0 = oy * g->stride_y - g->pad_y;
            const int32_t r0 = (iy0 + 3 * (g->pad_y + 1)) % 3; /* slot = input row mod 3; iy0 >= -pad_y */
            for (int32_t ky = 0, slot = r0; ky < 3; ky++, slot = slot == 2 ? 0 : slot + 1)
            {
                if (held[slot] != iy0 + ky)
                {
                    dw3_fill(g, input, c, iy0 + ky, off2, j0, j1, ring + slot * DW3_SLOT, DW3_COLS);
                    held[slot] = iy0 + ky;
                }
            }
            int8_t *out = output + oy * out_w * C + c;
            if (all_fast)
            {
                dw3_fast_rows[sx - 1][r0](ring, (const int32_t(*)[5])wk, b4, rq, out, C, out_w, out_off);
                continue;
            }
            for (int32_t i = 0; i < 4; i++)
            {
                dw3_any_row(ring + i * DW3_COLS, wk[i], b4[i], &rq[i], out + i, C, out_w, out_off, act_min, act_max, sx,
                            r0, DW3_SLOT);
            }
        }
    }
}
#endif /* TFC_NN_DSP */

/* Runs every batch through the DSP core when it applies, else the portable loop. */
static void dw_run(const cmsis_nn_dw_conv_params *p, const cmsis_nn_per_channel_quant_params *q,
                   const cmsis_nn_dims *input_dims, const int8_t *input, const cmsis_nn_dims *filter_dims,
                   const int8_t *filter, const int32_t *bias, const cmsis_nn_dims *output_dims, int8_t *output)
{
    dw_geometry g;
    dw_geometry_init(&g, p, input_dims, filter_dims, output_dims);
    const int32_t in_batch = g.in_h * g.in_w * g.in_c;
    const int32_t out_batch = g.out_h * g.out_w * g.out_c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
#if TFC_NN_DSP
        if (g.ch_mult == 1 && g.k_h * g.k_w <= DW_MAX_TAPS && p->input_offset >= -32640 && p->input_offset <= 32640)
        {
            if (dw3_applies(&g))
            {
                dw3_run(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
                continue;
            }
            /* A k x 1 kernel's blocks of four channels take a column loop. */
            int32_t c0 = 0;
            if (g.k_w == 1)
            {
                c0 = dw_dsp_col_valid(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
                if (c0 == 0)
                {
                    c0 = dw_dsp_col(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
                }
            }
            if (c0 < g.in_c)
            {
                dw_dsp_mult1(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch, c0);
            }
            continue;
        }
#endif
        dw_portable(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
    }
}

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_dw_conv_params *dw_conv_params,
                                          const cmsis_nn_per_channel_quant_params *quant_params,
                                          const cmsis_nn_dims *input_dims,
                                          const int8_t *input_data,
                                          const cmsis_nn_dims *filter_dims,
                                          const int8_t *filter_data,
                                          const cmsis_nn_dims *bias_dims,
                                          const int32_t *bias_data,
                                          const cmsis_nn_dims *output_dims,
                                          int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    if (dw_conv_params->ch_mult < 1 || output_dims->c != input_dims->c * dw_conv_params->ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    dw_run(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims,
           output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_s8_opt(const cmsis_nn_context *ctx,
                                              const cmsis_nn_dw_conv_params *dw_conv_params,
                                              const cmsis_nn_per_channel_quant_params *quant_params,
                                              const cmsis_nn_dims *input_dims,
                                              const int8_t *input_data,
                                              const cmsis_nn_dims *filter_dims,
                                              const int8_t *filter_data,
                                              const cmsis_nn_dims *bias_dims,
                                              const int32_t *bias_data,
                                              const cmsis_nn_dims *output_dims,
                                              int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    if (input_dims->c != output_dims->c || dw_conv_params->ch_mult != 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    dw_run(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims,
           output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_depthwise_conv_s8_opt_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
#if TFC_NN_DSP
    /* CMSIS-NN's DSP rule: one int16 im2col patch of all channels. */
    return input_dims->c * filter_dims->w * filter_dims->h * (int32_t)sizeof(int16_t);
#else
    (void)input_dims;
    (void)filter_dims;
    return 0;
#endif
}
