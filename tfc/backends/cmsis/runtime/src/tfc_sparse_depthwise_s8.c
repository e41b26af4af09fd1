/*
 * tfc runtime: sparse int8 depthwise convolution (see tfc_sparse_depthwise.h; the record and tap
 * format is in docs/sparse-format.md, "Depthwise taps").
 *
 * Channel-outermost: a channel's taps, bias and requantization constants stay in registers while
 * it runs over every output pixel, so one output costs its taps' loads and MACs, the requantization
 * and a store. Channels of 1, 2 or 3 taps (what pruning to ~15 % leaves of a 3x3 kernel) run
 * loops specialised for that count; more taps, and the rare channels whose requantization needs
 * the general arithmetic, run a loop over the tap list. Integer sums wrap modulo 2^32 like the
 * dense kernel's, so every path gives the dense kernel's bytes.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_sparse_depthwise.h"
#include "tfc_sparse_gen.h"

typedef char sp_dw_arithmetic_right_shift[(-8 >> 1) == -4 ? 1 : -1];

#define SP_DW_MAX_TAPS 64 /* kernels up to 8x8: the tap tables live on the stack */

/* The image the taps read: the input itself, or the padded copy in scratch. Steps in bytes. */
typedef struct
{
    int32_t hp, wp;   /* rows and columns the output windows cover */
    int32_t copy;     /* 1: the padded copy is needed */
    int32_t C;
    int32_t pitch;    /* bytes per image row */
    int32_t step;     /* between two output pixels' windows along x */
    int32_t row_step; /* between two output rows' windows */
    int32_t out_h, out_w;
} sp_dw_image;

static int sp_dw_geometry(const cmsis_nn_dw_conv_params *p, const cmsis_nn_dims *in, const tfc_sparse_dw_weights *w,
                          const cmsis_nn_dims *out, sp_dw_image *im)
{
    if (p->ch_mult != 1 || p->dilation.w != 1 || p->dilation.h != 1 || p->stride.w < 1 || p->stride.h < 1 ||
        p->padding.w < 0 || p->padding.h < 0 || in->c != w->channels || out->c != w->channels || out->n != in->n ||
        w->channels <= 0 || w->kh <= 0 || w->kw <= 0 || w->kh * w->kw > SP_DW_MAX_TAPS || out->h <= 0 ||
        out->w <= 0)
    {
        return 0;
    }
    im->C = in->c;
    im->out_h = out->h;
    im->out_w = out->w;
    im->hp = (out->h - 1) * p->stride.h + w->kh;
    im->wp = (out->w - 1) * p->stride.w + w->kw;
    im->copy = p->padding.h != 0 || p->padding.w != 0 || im->hp > in->h || im->wp > in->w;
    im->pitch = (im->copy ? im->wp : in->w) * im->C;
    im->step = p->stride.w * im->C;
    im->row_step = p->stride.h * im->pitch;
    return 1;
}

/* Word copies: newlib's memcpy and memset on the M7 move a byte per iteration. n, and the
 * pointers when `aligned`, are multiples of 4 (the caller checks). */
SP_INLINE void sp_dw_copy(int8_t *dst, const int8_t *src, int32_t n, const int aligned)
{
    if (!aligned)
    {
        memcpy(dst, src, (size_t)n);
        return;
    }
    uint32_t *d = (uint32_t *)__builtin_assume_aligned(dst, 4);
    const uint32_t *q = (const uint32_t *)__builtin_assume_aligned(src, 4);
    for (; n >= 16; n -= 16, d += 4, q += 4)
    {
        uint32_t a = q[0], b = q[1], c = q[2], e = q[3];
        /* Opaque to GCC, which would otherwise turn the loop back into a memcpy call. */
        __asm__("" : "+r"(a), "+r"(b), "+r"(c), "+r"(e));
        d[0] = a;
        d[1] = b;
        d[2] = c;
        d[3] = e;
    }
    for (; n > 0; n -= 4)
    {
        *d++ = *q++;
    }
}

SP_INLINE void sp_dw_fill(int8_t *dst, int32_t fill, int32_t n, const int aligned)
{
    if (!aligned)
    {
        memset(dst, fill, (size_t)n);
        return;
    }
    uint32_t *d = (uint32_t *)__builtin_assume_aligned(dst, 4);
    uint32_t v = ((uint32_t)fill & 0xFFU) * 0x01010101U;
    __asm__("" : "+r"(v)); /* no memset call (see sp_dw_copy) */
    for (; n > 0; n -= 4)
    {
        *d++ = v;
    }
}

/* The padded image: row y, column x holds input (y - top, x - left), or the zero point -offset. */
SP_INLINE void sp_dw_pad_rows(const int8_t *in, int32_t in_h, int32_t in_w, int32_t top, int32_t left, int32_t fill,
                              const sp_dw_image *im, int8_t *img, const int aligned)
{
    const int32_t C = im->C;
    const int32_t lcols = left < im->wp ? left : im->wp;
    const int32_t ccols = in_w < im->wp - lcols ? in_w : im->wp - lcols;
    for (int32_t y = 0; y < im->hp; y++, img += im->pitch)
    {
        const int32_t iy = y - top;
        if (iy < 0 || iy >= in_h)
        {
            sp_dw_fill(img, fill, im->pitch, aligned);
            continue;
        }
        sp_dw_fill(img, fill, lcols * C, aligned);
        sp_dw_copy(img + lcols * C, in + iy * in_w * C, ccols * C, aligned);
        sp_dw_fill(img + (lcols + ccols) * C, fill, (im->wp - lcols - ccols) * C, aligned);
    }
}

static void sp_dw_pad(const int8_t *in, int32_t in_h, int32_t in_w, int32_t top, int32_t left, int32_t offset,
                      const sp_dw_image *im, int8_t *img)
{
    if (im->C % 4 == 0 && ((uintptr_t)in & 3U) == 0 && ((uintptr_t)img & 3U) == 0)
    {
        sp_dw_pad_rows(in, in_h, in_w, top, left, -offset, im, img, 1);
        return;
    }
    sp_dw_pad_rows(in, in_h, in_w, top, left, -offset, im, img, 0);
}

/* acc = bias + the n taps (n = 0: the `count` (offset, weight) pairs at tw) of the window at px. */
SP_INLINE uint32_t sp_dw_acc(const int8_t *px, const int32_t *tw, int32_t count, const int n, int32_t bias,
                             int32_t o0, int32_t w0, int32_t o1, int32_t w1, int32_t o2, int32_t w2)
{
    uint32_t acc = (uint32_t)bias;
    if (n == 0)
    {
        for (const int32_t *const end = tw + 2 * count; tw != end; tw += 2)
        {
            acc += (uint32_t)(tw[1] * px[tw[0]]);
        }
        return acc;
    }
    acc += (uint32_t)(w0 * px[o0]);
    if (n >= 2)
    {
        acc += (uint32_t)(w1 * px[o1]);
    }
    if (n >= 3)
    {
        acc += (uint32_t)(w2 * px[o2]);
    }
    return acc;
}

/* One channel over every output pixel. n = 1, 2, 3: that many taps, held in registers; n = 0:
 * `count` taps from tw. right: the channel takes the RIGHT requantization (a constant then);
 * otherwise `kind` picks it per output. base: the channel's byte of the first window's top-left. */
SP_INLINE void sp_dw_channel(const sp_dw_image *im, const int8_t *base, const int32_t *tw, int32_t count, const int n,
                             int32_t bias, int32_t m, int32_t rnd, int32_t sh, const int right, int32_t kind,
                             int32_t lo, int32_t hi, const int clamp, int8_t *out)
{
    const int32_t o0 = n >= 1 ? tw[0] : 0, o1 = n >= 2 ? tw[2] : 0, o2 = n >= 3 ? tw[4] : 0;
    const int32_t w0 = n >= 1 ? tw[1] : 0, w1 = n >= 2 ? tw[3] : 0, w2 = n >= 3 ? tw[5] : 0;
    const int32_t C = im->C, step = im->step, out_w = im->out_w;
    const int gkind = kind == TFC_SPARSE_RQ_RIGHT ? 0 : (kind == TFC_SPARSE_RQ_LEFT ? 1 : 2);
    for (int32_t oy = 0; oy < im->out_h; oy++)
    {
        const int8_t *px = base + oy * im->row_step;
        int8_t *o = out + oy * out_w * C;
        for (int8_t *const o_end = o + out_w * C; o != o_end; o += C, px += step)
        {
            const uint32_t acc = sp_dw_acc(px, tw, count, n, bias, o0, w0, o1, w1, o2, w2);
            if (right)
            {
                *o = (int8_t)sp_clamp(sp_rq_right((int32_t)acc, m, rnd, sh), lo, hi, clamp);
            }
            else
            {
                *o = sp_gen_out((int32_t)acc, gkind, m, rnd, sh, lo, hi, 1);
            }
        }
    }
}

/* Separate functions, so each specialised loop gets the registers to itself. N = 0: any count. */
#define SP_DW_FAST(N, CLAMP)                                                                                          static __attribute__((noinline)) void sp_dw_fast##N##_##CLAMP(const sp_dw_image *im, const int8_t *base,                                                                        const int32_t *tw, int32_t count, int32_t bias,                                                                    int32_t m, int32_t rnd, int32_t sh, int32_t lo,                                                                    int32_t hi, int8_t *out)                             {                                                                                                                      sp_dw_channel(im, base, tw, count, N, bias, m, rnd, sh, 1, TFC_SPARSE_RQ_RIGHT, lo, hi, CLAMP, out);           }
SP_DW_FAST(0, 0)
SP_DW_FAST(0, 1)
SP_DW_FAST(1, 0)
SP_DW_FAST(1, 1)
SP_DW_FAST(2, 0)
SP_DW_FAST(2, 1)
SP_DW_FAST(3, 0)
SP_DW_FAST(3, 1)

/* Channels whose requantization is LEFT or GENERIC (large multipliers or accumulators: rare). */
static __attribute__((noinline)) void sp_dw_any(const sp_dw_image *im, const int8_t *base, const int32_t *tw,
                                                int32_t count, int32_t bias, int32_t m, int32_t rnd, int32_t sh,
                                                int32_t kind, int32_t lo, int32_t hi, int8_t *out)
{
    sp_dw_channel(im, base, tw, count, 0, bias, m, rnd, sh, 0, kind, lo, hi, 1, out);
}

typedef void (*sp_dw_fast_fn)(const sp_dw_image *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t,
                              int32_t, int32_t, int32_t, int32_t, int8_t *);

/* Every channel of one image. */
static void sp_dw_run(const tfc_sparse_dw_weights *w, const sp_dw_image *im, const int8_t *img, int8_t *out)
{
    static const sp_dw_fast_fn fast[2][4] = {{sp_dw_fast0_0, sp_dw_fast1_0, sp_dw_fast2_0, sp_dw_fast3_0},
                                             {sp_dw_fast0_1, sp_dw_fast1_1, sp_dw_fast2_1, sp_dw_fast3_1}};
    const int32_t lo = w->activation.min, hi = w->activation.max, out_off = w->output_offset;
    const int clamp = !(lo <= -128 && hi >= 127);
    const uint8_t *tap = w->taps;
    int32_t tw[2 * SP_DW_MAX_TAPS]; /* (byte offset in the window, weight) per tap */
    for (int32_t c = 0; c < im->C; c++)
    {
        const tfc_sparse_dw_channel *rec = &w->records[c];
        const int32_t count = rec->count;
        if (count == 0)
        {
            const int8_t empty = rec->empty;
            int8_t *o = out + c;
            for (int8_t *const o_end = o + im->out_h * im->out_w * im->C; o != o_end; o += im->C)
            {
                *o = empty;
            }
            continue;
        }
        for (int32_t t = 0; t < count; t++, tap += 2)
        {
            const int32_t ky = tap[0] / w->kw, kx = tap[0] % w->kw;
            tw[2 * t] = ky * im->pitch + kx * im->C;
            tw[2 * t + 1] = (int8_t)tap[1];
        }
        const int32_t sh = rec->shift, kind = rec->kind;
        int32_t rnd = out_off;
        if (kind == TFC_SPARSE_RQ_RIGHT)
        {
            /* 2^(shift-1) + output_offset * 2^shift (tfc/sparse/reference.py requant_kind) */
            rnd = (int32_t)((1U << (sh - 1)) + ((uint32_t)out_off << sh));
        }
        if (kind == TFC_SPARSE_RQ_RIGHT)
        {
            fast[clamp][count <= 3 ? count : 0](im, img + c, tw, count, rec->bias, rec->multiplier, rnd, sh, lo, hi,
                                                out + c);
        }
        else
        {
            sp_dw_any(im, img + c, tw, count, rec->bias, rec->multiplier, rnd, sh, kind, lo, hi, out + c);
        }
    }
}

int32_t tfc_sparse_depthwise_conv_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                     const cmsis_nn_dims *input_dims,
                                                     const tfc_sparse_dw_weights *weights,
                                                     const cmsis_nn_dims *output_dims)
{
    sp_dw_image im;
    if (!sp_dw_geometry(dw_conv_params, input_dims, weights, output_dims, &im) || !im.copy)
    {
        return 0;
    }
    return im.hp * im.pitch;
}

arm_cmsis_nn_status tfc_sparse_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                                 const cmsis_nn_dw_conv_params *dw_conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const int8_t *input_data,
                                                 const tfc_sparse_dw_weights *weights,
                                                 const cmsis_nn_dims *output_dims,
                                                 int8_t *output_data)
{
    const cmsis_nn_dw_conv_params *p = dw_conv_params;
    sp_dw_image im;
    if (!sp_dw_geometry(p, input_dims, weights, output_dims, &im) || weights->records == NULL ||
        weights->input_offset != p->input_offset || weights->output_offset != p->output_offset ||
        weights->activation.min != p->activation.min || weights->activation.max != p->activation.max ||
        p->input_offset < -127 || p->input_offset > 128)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (im.copy && (ctx == NULL || ctx->buf == NULL || ctx->size < im.hp * im.pitch))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    const int32_t out_size = output_dims->h * output_dims->w * output_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *img = input_data + b * in_size;
        if (im.copy)
        {
            sp_dw_pad(img, input_dims->h, input_dims->w, p->padding.h, p->padding.w, p->input_offset, &im,
                      (int8_t *)ctx->buf);
            img = (const int8_t *)ctx->buf;
        }
        sp_dw_run(weights, &im, img, output_data + b * out_size);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
