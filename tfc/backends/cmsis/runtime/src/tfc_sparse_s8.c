/*
 * tfc runtime: block-sparse int8 convolution and fully connected (see tfc_sparse.h, and
 * docs/sparse-format.md for the weight encoding and the widened input layout).
 *
 * DSP paths (Armv7E-M SXTB16/SMLAD/SMMLAR/SSAT) are compiled under __ARM_FEATURE_DSP, or on a
 * host under TFC_EMULATE_DSP with portable twins of those instructions; without either, plain C.
 * All three give the same bytes. Signed right shifts are arithmetic (GCC and Clang define them so).
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_sparse.h"
#include "tfc_sparse_gen.h"

typedef char sp_arithmetic_right_shift[(-8 >> 1) == -4 ? 1 : -1];

/* A function's own section whatever the build's flags (-ffunction-sections or not). */
#define SP_SECTION(name) __attribute__((section(name)))

/* Requantize n (1 or 4) accumulators of one channel into out[k * stride]. */
SP_INLINE void sp_store(const tfc_sparse_row *rec, int32_t *acc, const int n, int8_t *out, int32_t stride,
                        int32_t lo, int32_t hi, const int clamp)
{
    const int32_t m = rec->multiplier, rnd = rec->rounding, sh = rec->shift;
    if (rec->kind == TFC_SPARSE_RQ_RIGHT)
    {
        _Pragma("GCC unroll 4")
        for (int k = 0; k < n; k++)
        {
            out[k * stride] = (int8_t)sp_clamp(sp_rq_right(acc[k], m, rnd, sh), lo, hi, clamp);
        }
    }
    else if (rec->kind == TFC_SPARSE_RQ_LEFT)
    {
        _Pragma("GCC unroll 4")
        for (int k = 0; k < n; k++)
        {
            out[k * stride] = (int8_t)sp_clamp(sp_rq_left(acc[k], m, rnd, sh), lo, hi, clamp);
        }
    }
    else
    {
        _Pragma("GCC unroll 4")
        for (int k = 0; k < n; k++)
        {
            out[k * stride] = (int8_t)sp_clamp(sp_requantize_generic(acc[k], m, sh, rnd), lo, hi, 1);
        }
    }
}

/* ---- one weight block against n pixels ------------------------------------------------------------- */

/* acc[k] += dot(block weights wv, cell of pixel k); pixel k's cell starts at p + k * B. */
SP_INLINE void sp_block(const int16_t *p, const int8_t *wv, const int32_t B, const int n, int32_t *acc)
{
#if SP_DSP
    if (B >= 4)
    {
        _Pragma("GCC unroll 4")
        for (int32_t s = 0; s < B; s += 4)
        {
            int32_t wq;
            memcpy(&wq, __builtin_assume_aligned(wv + s, 4), 4);
            const int32_t w02 = sp_sxtb16(wq), w13 = sp_sxtb16_ror8(wq);
            _Pragma("GCC unroll 4")
            for (int k = 0; k < n; k++)
            {
                acc[k] = sp_smlad(w02, sp_ld32a(p + k * B + s), acc[k]);
                acc[k] = sp_smlad(w13, sp_ld32a(p + k * B + s + 2), acc[k]);
            }
        }
    }
    else if (B == 2)
    {
        const int32_t w01 = (int32_t)(((uint32_t)(uint8_t)wv[0]) | ((uint32_t)(uint8_t)wv[1] << 16));
        const int32_t wp = sp_sxtb16(w01);
        _Pragma("GCC unroll 4")
        for (int k = 0; k < n; k++)
        {
            acc[k] = sp_smlad(wp, sp_ld32a(p + 2 * k), acc[k]);
        }
    }
    else
    {
        const int32_t w0 = wv[0];
        if (n == 4)
        {
            const int32_t x01 = sp_ld32(p), x23 = sp_ld32(p + 2);
            acc[0] = sp_smlabb(w0, x01, acc[0]);
            acc[1] = sp_smlabt(w0, x01, acc[1]);
            acc[2] = sp_smlabb(w0, x23, acc[2]);
            acc[3] = sp_smlabt(w0, x23, acc[3]);
        }
        else
        {
            acc[0] += w0 * p[0];
        }
    }
#else
    /* Inside a group of 4 channels the cell holds c0, c2, c1, c3. */
    static const uint8_t order[4] = {0, 2, 1, 3};
    _Pragma("GCC unroll 4")
    for (int k = 0; k < n; k++)
    {
        int32_t sum = 0;
        for (int32_t c = 0; c < B; c++)
        {
            const int32_t at = B >= 4 ? (c & ~3) + order[c & 3] : c;
            sum += wv[c] * p[k * B + at];
        }
        acc[k] = (int32_t)((uint32_t)acc[k] + (uint32_t)sum);
    }
#endif
}

/* ---- every channel against n pixels (n = 4: x, x+1, x+2, x+3; n = 1) ----------------------------- */

SP_INLINE void sp_rows(const tfc_sparse_weights *w, const int16_t *base, int8_t *out, int32_t stride,
                       int32_t channel_step, const int32_t B, const int n, const int clamp)
{
    const tfc_sparse_row *rec = w->records;
    const uint8_t *sk = w->skips;
    const int8_t *wv = w->values;
    const int32_t lo = w->activation.min, hi = w->activation.max;
    for (; rec->count >= 0; rec++, out += channel_step)
    {
        int32_t count = rec->count;
        /* Opaque to the optimizer, so it addresses the 4 outputs from one register instead of
         * keeping (and spilling) 4 output pointers across the block loop. */
        __asm__("" : "+r"(out));
        if (count == 0)
        {
            _Pragma("GCC unroll 4")
            for (int k = 0; k < n; k++)
            {
                out[k * stride] = rec->empty;
            }
            continue;
        }
        int32_t acc[4];
        _Pragma("GCC unroll 4")
        for (int k = 0; k < n; k++)
        {
            acc[k] = rec->bias;
        }
        const int16_t *p = base;
        if (n == 1 && (count & 1) == 0)
        {
            /* One vector: two blocks per iteration (an odd block first, below) halve the loop
             * overhead. */
            goto pairs;
        }
        p += (int32_t)*sk++ * B;
        sp_block(p, wv, B, n, acc);
        p += B;
        wv += B;
        count--;
        if (n == 1)
        {
        pairs:
            for (count >>= 1; count > 0; count--)
            {
                p += (int32_t)sk[0] * B;
                sp_block(p, wv, B, 1, acc);
                p += (int32_t)sk[1] * B + B;
                sp_block(p, wv + B, B, 1, acc);
                p += B;
                sk += 2;
                wv += 2 * B;
            }
        }
        for (; count > 0; count--)
        {
            p += (int32_t)*sk++ * B;
            sp_block(p, wv, B, n, acc);
            p += B;
            wv += B;
        }
        sp_store(rec, acc, n, out, stride, lo, hi, clamp);
    }
}

/* The public loop pairs, one per block size (tfc_sparse.h). Each is its own section, so with
 * --gc-sections a model links only the pairs its weights name; nothing here picks among them. */
#define SP_ROWS_VARIANTS(B)                                                                          \
    SP_SECTION(".text.tfc_sparse_brle_rows4_b" #B)                                                   \
    void tfc_sparse_brle_rows4_b##B(const tfc_sparse_weights *w, const int16_t *b, int8_t *o, int32_t s, \
                                    int32_t c)                                                       \
    {                                                                                                \
        if (w->activation.min <= -128 && w->activation.max >= 127)                                   \
            sp_rows(w, b, o, s, c, B, 4, 0);                                                         \
        else                                                                                         \
            sp_rows(w, b, o, s, c, B, 4, 1);                                                         \
    }                                                                                                \
    SP_SECTION(".text.tfc_sparse_brle_rows1_b" #B)                                                   \
    void tfc_sparse_brle_rows1_b##B(const tfc_sparse_weights *w, const int16_t *b, int8_t *o, int32_t s, \
                                    int32_t c)                                                       \
    {                                                                                                \
        if (w->activation.min <= -128 && w->activation.max >= 127)                                   \
            sp_rows(w, b, o, s, c, B, 1, 0);                                                         \
        else                                                                                         \
            sp_rows(w, b, o, s, c, B, 1, 1);                                                         \
    }

SP_ROWS_VARIANTS(1)
SP_ROWS_VARIANTS(2)
SP_ROWS_VARIANTS(4)
SP_ROWS_VARIANTS(8)
SP_ROWS_VARIANTS(16)

/* ---- the widened image ------------------------------------------------------------------------------ */

typedef struct
{
    int32_t hp, wp, groups, block; /* cells [hp][groups][wp], each `block` int16 */
} sp_image;

static int32_t sp_image_bytes(const sp_image *im)
{
    return im->hp * im->groups * im->wp * im->block * (int32_t)sizeof(int16_t);
}

/* img = x + input_offset at (y + top, x + left), zero elsewhere; channel c of group g sits at
 * position c % block, permuted c0 c2 c1 c3 inside each 4 when block >= 4. */
#if SP_DSP
/* Channels c..c+3 (one word) of w consecutive NHWC pixels into their cells: src is pixel 0's word,
 * `pitch` bytes per pixel; cell is pixel 0's cell, pixel k's B int16 after. Four pixels per step
 * (four loads, eight SXTAB16, four STRD): one channel quad walks the whole row, so there is no
 * per-pixel set-up; src steps pixel by pixel, which leaves GCC registers for the caller's loops. */
SP_INLINE void sp_widen_column(const int8_t *src, int32_t w, int32_t pitch, const int32_t B, int32_t off2,
                               int16_t *cell)
{
    int32_t x = w;
    for (; x >= 4; x -= 4, cell += 4 * B)
    {
        const int32_t v0 = sp_ld32(src);
        sp_st64(cell, 0, sp_sxtab16(off2, v0), sp_sxtab16_ror8(off2, v0));
        const int32_t v1 = sp_ld32(src + pitch);
        sp_st64(cell, 2 * B, sp_sxtab16(off2, v1), sp_sxtab16_ror8(off2, v1));
        src += 2 * pitch;
        const int32_t v2 = sp_ld32(src);
        sp_st64(cell, 4 * B, sp_sxtab16(off2, v2), sp_sxtab16_ror8(off2, v2));
        const int32_t v3 = sp_ld32(src + pitch);
        sp_st64(cell, 6 * B, sp_sxtab16(off2, v3), sp_sxtab16_ror8(off2, v3));
        src += 2 * pitch;
    }
    for (; x > 0; x--, src += pitch, cell += B)
    {
        const int32_t v = sp_ld32(src);
        sp_st64(cell, 0, sp_sxtab16(off2, v), sp_sxtab16_ror8(off2, v));
    }
}

/* h rows of w NHWC pixels, cin a multiple of 4, into the image whose row 0 cell of pixel 0 is at
 * img (row_step int16 per image row, group_step per group): channel quad after channel quad. B is
 * a constant in each caller, so the cell of a quad is shifts and masks. */
SP_INLINE void sp_widen_nhwc(const int8_t *in, int32_t h, int32_t w, int32_t cin, int16_t *img, int32_t row_step,
                             int32_t group_step, const int32_t B, int32_t off2)
{
    for (int32_t y = 0; y < h; y++, in += w * cin, img += row_step)
    {
        for (int32_t c = 0; c < cin; c += 4)
        {
            sp_widen_column(in + c, w, cin, B, off2, img + (c / B) * group_step + c % B);
        }
    }
}

/* One pixel's cin = groups * B channels into its cells, one per group (group_step int16 apart):
 * rows narrower than 8 pixels (VWW's 6x6 and 3x3 maps), where a column walk costs more set-up. */
SP_INLINE void sp_widen_groups(const int8_t *src, int32_t cin, const int32_t B, int32_t group_step, int32_t off2,
                               int16_t *cell)
{
    for (const int8_t *end = src + cin; src < end; src += B, cell += group_step)
    {
        _Pragma("GCC unroll 4")
        for (int32_t q = 0; q < B; q += 4)
        {
            const int32_t v = sp_ld32(src + q);
            sp_st64(cell, 2 * q, sp_sxtab16(off2, v), sp_sxtab16_ror8(off2, v));
        }
    }
}
#endif

static void sp_widen(const int8_t *in, int32_t h, int32_t w, int32_t cin, int32_t top, int32_t left,
                     int32_t input_offset, const sp_image *im, int16_t *img)
{
    const int32_t B = im->block;
    const int32_t full = top == 0 && left == 0 && h == im->hp && w == im->wp && cin == im->groups * B;
    if (!full)
    {
        memset(img, 0, (size_t)sp_image_bytes(im));
    }
    const int32_t row_cells = im->groups * im->wp;
#if SP_DSP
    if (B >= 4 && cin % 4 == 0 && w >= 8)
    {
        /* a row of pixels per channel quad (one vector: the per-pixel walk below is shorter) */
        const int32_t off2 = (int32_t)(((uint32_t)input_offset & 0xFFFFU) | ((uint32_t)input_offset << 16));
        int16_t *at = img + (top * row_cells + left) * B;
        switch (B) /* immediate store offsets, shifts for the quads' cells */
        {
        case 4: sp_widen_nhwc(in, h, w, cin, at, row_cells * 4, im->wp * 4, 4, off2); break;
        case 8: sp_widen_nhwc(in, h, w, cin, at, row_cells * 8, im->wp * 8, 8, off2); break;
        default: sp_widen_nhwc(in, h, w, cin, at, row_cells * 16, im->wp * 16, 16, off2); break;
        }
        return;
    }
#endif
    for (int32_t y = 0; y < h; y++)
    {
        for (int32_t x = 0; x < w; x++)
        {
            const int8_t *src = in + (y * w + x) * cin;
            int16_t *cell = img + ((y + top) * row_cells + x + left) * B;
            int32_t c = 0;
#if SP_DSP
            if (B >= 4 && cin % B == 0)
            {
                /* whole groups: 4 channels are one load, two SXTAB16 and one STRD */
                const int32_t off2 = (int32_t)(((uint32_t)input_offset & 0xFFFFU) | ((uint32_t)input_offset << 16));
                switch (B)
                {
                case 4: sp_widen_groups(src, cin, 4, im->wp * 4, off2, cell); break;
                case 8: sp_widen_groups(src, cin, 8, im->wp * 8, off2, cell); break;
                default: sp_widen_groups(src, cin, 16, im->wp * 16, off2, cell); break;
                }
                c = cin;
            }
            else if (B >= 4)
            {
                /* the channels of a layer whose cin is not a multiple of 4 */
                const int32_t off2 = (int32_t)(((uint32_t)input_offset & 0xFFFFU) | ((uint32_t)input_offset << 16));
                for (; c + 4 <= cin; c += 4)
                {
                    const int32_t v = sp_ld32(src + c);
                    int16_t *d = cell + (c / B) * im->wp * B + (c % B);
                    const int32_t e = sp_sxtab16(off2, v), o = sp_sxtab16_ror8(off2, v);
                    memcpy(d, &e, 4);
                    memcpy(d + 2, &o, 4);
                }
            }
#endif
            for (; c < cin; c++)
            {
                const int32_t r = c % B;
                const int32_t at = B >= 4 ? (r & ~3) + (int32_t)((0x3120U >> (4 * (r & 3))) & 0xFU) : r;
                cell[(c / B) * im->wp * B + at] = (int16_t)(src[c] + input_offset);
            }
        }
    }
}

#if SP_DSP
/* Channels c..c+N-1 (N = 4, or 3: a model's RGB input, the quad's last lane zero) of one input row
 * (NCHW: planes `plane` bytes apart) into their cells, 4 pixels per step: N loads, 2N SXTAB16 and
 * eight PKHBT/PKHTB give the 4 pixels' cells (c0 c2 c1 c3 each) without a separate transpose.
 * Returns the pixels done (a multiple of 4). */
SP_INLINE int32_t sp_widen_quads(const int8_t *src, int32_t w, int32_t plane, const int32_t B, int32_t off2,
                                 int16_t *cell, const int N)
{
    int32_t x = 0;
    for (; x + 4 <= w; x += 4, cell += 4 * B)
    {
        const int32_t r0 = sp_ld32(src + x), r1 = sp_ld32(src + plane + x);
        const int32_t r2 = sp_ld32(src + 2 * plane + x);
        /* e: pixels 0 and 2, o: pixels 1 and 3, of channels 0..3 (lo, hi halves) */
        const int32_t e0 = sp_sxtab16(off2, r0), o0 = sp_sxtab16_ror8(off2, r0);
        const int32_t e1 = sp_sxtab16(off2, r1), o1 = sp_sxtab16_ror8(off2, r1);
        const int32_t e2 = sp_sxtab16(off2, r2), o2 = sp_sxtab16_ror8(off2, r2);
        const int32_t r3 = N == 4 ? sp_ld32(src + 3 * plane + x) : 0;
        const int32_t e3 = N == 4 ? sp_sxtab16(off2, r3) : 0, o3 = N == 4 ? sp_sxtab16_ror8(off2, r3) : 0;
        sp_st64(cell, 0, sp_pack_lo(e0, e2), sp_pack_lo(e1, e3));
        sp_st64(cell, 2 * B, sp_pack_lo(o0, o2), sp_pack_lo(o1, o3));
        sp_st64(cell, 4 * B, sp_pack_hi(e0, e2), sp_pack_hi(e1, e3));
        sp_st64(cell, 6 * B, sp_pack_hi(o0, o2), sp_pack_hi(o1, o3));
    }
    return x;
}
#endif

/* The same image from an NCHW input (channel c of pixel (y, x) at in[c * plane + y * w + x]): a
 * model's channels-first input read directly, instead of transposed to NHWC first. */
static void sp_widen_planes(const int8_t *in, int32_t h, int32_t w, int32_t cin, int32_t plane, int32_t top,
                            int32_t left, int32_t input_offset, const sp_image *im, int16_t *img)
{
    const int32_t B = im->block;
    if (!(top == 0 && left == 0 && h == im->hp && w == im->wp && cin == im->groups * B))
    {
        memset(img, 0, (size_t)sp_image_bytes(im));
    }
    const int32_t row_cells = im->groups * im->wp, group_step = im->wp * B;
    for (int32_t y = 0; y < h; y++)
    {
        int16_t *row = img + ((y + top) * row_cells + left) * B;
        int32_t c = 0;
#if SP_DSP
        if (B >= 4)
        {
            const int32_t off2 = (int32_t)(((uint32_t)input_offset & 0xFFFFU) | ((uint32_t)input_offset << 16));
            for (; c + 4 <= cin; c += 4)
            {
                const int8_t *src = in + c * plane + y * w;
                int16_t *cell = row + (c / B) * group_step + (c % B);
                int32_t x;
                switch (B)  /* immediate store offsets */
                {
                case 4: x = sp_widen_quads(src, w, plane, 4, off2, cell, 4); break;
                case 8: x = sp_widen_quads(src, w, plane, 8, off2, cell, 4); break;
                default: x = sp_widen_quads(src, w, plane, 16, off2, cell, 4); break;
                }
                for (cell += x * B; x < w; x++, cell += B)
                {
                    cell[0] = (int16_t)(src[x] + input_offset);
                    cell[1] = (int16_t)(src[2 * plane + x] + input_offset);
                    cell[2] = (int16_t)(src[plane + x] + input_offset);
                    cell[3] = (int16_t)(src[3 * plane + x] + input_offset);
                }
            }
            if (cin - c == 3 && B == 4)
            {
                /* three channels left (an RGB input): whole cells, the padding lane zero */
                const int8_t *src = in + c * plane + y * w;
                int16_t *cell = row + (c / B) * group_step;
                int32_t x = sp_widen_quads(src, w, plane, 4, off2, cell, 3);
                for (cell += x * B; x < w; x++, cell += B)
                {
                    cell[0] = (int16_t)(src[x] + input_offset);
                    cell[1] = (int16_t)(src[2 * plane + x] + input_offset);
                    cell[2] = (int16_t)(src[plane + x] + input_offset);
                    cell[3] = 0;
                }
                c = cin;
            }
        }
#endif
        for (; c < cin; c++)
        {
            const int32_t r = c % B;
            const int32_t at = B >= 4 ? (r & ~3) + (int32_t)((0x3120U >> (4 * (r & 3))) & 0xFU) : r;
            const int8_t *src = in + c * plane + y * w;
            int16_t *cell = row + (c / B) * group_step + at;
            int32_t x = 0;
#if SP_DSP
            /* the channels left over (a model's 3-channel input): 4 pixels per load */
            const int32_t off2 = (int32_t)(((uint32_t)input_offset & 0xFFFFU) | ((uint32_t)input_offset << 16));
            for (; x + 4 <= w; x += 4)
            {
                const int32_t v = sp_ld32(src + x);
                const int32_t e = sp_sxtab16(off2, v), o = sp_sxtab16_ror8(off2, v);
                cell[x * B] = (int16_t)sp_lo16(e);
                cell[(x + 1) * B] = (int16_t)sp_lo16(o);
                cell[(x + 2) * B] = (int16_t)sp_hi16(e);
                cell[(x + 3) * B] = (int16_t)sp_hi16(o);
            }
#endif
            for (; x < w; x++)
            {
                cell[x * B] = (int16_t)(src[x] + input_offset);
            }
        }
    }
}

/* ---- drivers ---------------------------------------------------------------------------------- */

static int sp_valid_block(int32_t block)
{
    return block == 1 || block == 2 || block == 4 || block == 8 || block == 16;
}

static int sp_weights_fit(const tfc_sparse_weights *w, int32_t output_offset, const cmsis_nn_activation *act)
{
    const int brle = w->records != NULL && w->brle_rows4 != NULL && w->brle_rows1 != NULL;
    const int cells_out = w->output_cells == 0 || (w->code != NULL && !w->output_nchw);
    return (brle || w->code != NULL) && cells_out && w->output_offset == output_offset &&
           w->activation.min == act->min && w->activation.max == act->max && w->rows > 0 && w->cin > 0;
}

/* Where output channel c of pixel k goes: out[k * pixel + c * channel]; output row y starts at out[y * row]. */
typedef struct
{
    int32_t pixel, channel, row;
} sp_steps;

/* NHWC: a pixel's channels side by side; NCHW: one plane of `pixels` per channel; cells of B
 * (output_cells, generated code): a pixel's B int16 (2B bytes) apart, a row's W x rows int16 (the
 * generated code adds each channel's place in the row). */
static sp_steps sp_output_steps(const tfc_sparse_weights *w, int32_t pixels, int32_t out_w)
{
    const sp_steps nhwc = {w->rows, 1, out_w * w->rows}, nchw = {1, pixels, out_w};
    const sp_steps cells = {2 * w->output_cells, 1, 2 * out_w * w->rows};
    return w->output_cells ? cells : w->output_nchw ? nchw : nhwc;
}

/* A linear layer's n vectors: row-major, its readers' cells, or the generated code's own layout
 * (output_pixel_step: each channel at its own offset). */
static sp_steps sp_vector_steps(const tfc_sparse_weights *w, int32_t n)
{
    if (w->output_pixel_step > 0)
    {
        const sp_steps steps = {w->output_pixel_step, 1, 0};
        return steps;
    }
    return sp_output_steps(w, n, n);
}

/* Every output pixel of one image: rows of 4 pixels along x where the stride allows. */
static void sp_run_image(const tfc_sparse_weights *w, const sp_image *im, const int16_t *img, int32_t out_h,
                         int32_t out_w, int32_t stride_y, int32_t stride_x, sp_steps step, int8_t *out)
{
    const tfc_sparse_brle_fn rows4 = w->brle_rows4, rows1 = w->brle_rows1;
    const tfc_sparse_rows_fn code4 = w->code != NULL ? w->code->rows4 : NULL;
    const tfc_sparse_rows_fn code1 = w->code != NULL ? w->code->rows1 : NULL;
    const int32_t B = im->block, ps = step.pixel, cs = step.channel;
    for (int32_t oy = 0; oy < out_h; oy++)
    {
        const int16_t *row = img + (oy * stride_y) * im->groups * im->wp * B;
        int8_t *o = out + oy * step.row;
        int32_t ox = 0;
        /* generated 4-pixel code reads strided pixels itself (its cells' offsets are immediates) */
        if (stride_x == 1 || code4 != NULL)
        {
            for (; ox + 4 <= out_w; ox += 4)
            {
                if (code4 != NULL)
                {
                    code4(row + ox * stride_x * B, o + ox * ps, ps);
                }
                else
                {
                    rows4(w, row + ox * B, o + ox * ps, ps, cs);
                }
            }
        }
        for (; ox < out_w; ox++)
        {
            if (code1 != NULL)
            {
                code1(row + ox * stride_x * B, o + ox * ps, ps);
            }
            else
            {
                rows1(w, row + ox * stride_x * B, o + ox * ps, ps, cs);
            }
        }
    }
}

/* The widened image of input rows [0, h) (NHWC or NCHW, as the weights say). */
static void sp_widen_input(const tfc_sparse_weights *w, const int8_t *in, const cmsis_nn_dims *dims, int32_t y0,
                           int32_t h, int32_t top, int32_t left, int32_t input_offset, const sp_image *im,
                           int16_t *img)
{
    if (w->input_nchw)
    {
        sp_widen_planes(in + y0 * dims->w, h, dims->w, dims->c, dims->h * dims->w, top, left, input_offset, im,
                        img);
    }
    else
    {
        sp_widen(in + y0 * dims->w * dims->c, h, dims->w, dims->c, top, left, input_offset, im, img);
    }
}

static int sp_conv_image(const cmsis_nn_conv_params *cp, const cmsis_nn_dims *in, const tfc_sparse_weights *w,
                         const cmsis_nn_dims *out, sp_image *im)
{
    if (!sp_valid_block(w->block))
    {
        return 0;
    }
    if (cp->dilation.w != 1 || cp->dilation.h != 1 || cp->stride.w < 1 || cp->stride.h < 1 || in->c != w->cin ||
        out->c != w->rows || cp->padding.w < 0 || cp->padding.h < 0 || out->n != in->n)
    {
        return 0;
    }
    const int32_t need_w = (out->w - 1) * cp->stride.w + w->kw;
    const int32_t need_h = (out->h - 1) * cp->stride.h + w->kh;
    im->block = w->block;
    im->groups = (w->cin + w->block - 1) / w->block;
    im->wp = w->width;
    /* A 1x1 kernel reads one input row per output row: one widened row at a time is enough. */
    im->hp = w->kh == 1 ? 1 : TFC_SPARSE_MAX(need_h, in->h + cp->padding.h);
    return need_w <= im->wp && in->w + cp->padding.w <= im->wp;
}

/* The 1x1 case: widen the input row each output row reads (zeros in the padding), then run it. */
static void sp_conv_rows(const tfc_sparse_weights *w, const cmsis_nn_conv_params *cp, const cmsis_nn_dims *in,
                         const int8_t *x, const cmsis_nn_dims *out, const sp_image *row, int16_t *img, int8_t *y)
{
    const sp_steps step = sp_output_steps(w, out->h * out->w, out->w);
    for (int32_t oy = 0; oy < out->h; oy++)
    {
        const int32_t iy = oy * cp->stride.h - cp->padding.h;
        if (iy >= 0 && iy < in->h)
        {
            sp_widen_input(w, x, in, iy, 1, 0, cp->padding.w, cp->input_offset, row, img);
        }
        else
        {
            memset(img, 0, (size_t)sp_image_bytes(row));
        }
        if (oy == 0 && w->code != NULL && w->code->fill != NULL)
        {
            w->code->fill(y);
        }
        sp_run_image(w, row, img, 1, out->w, 1, cp->stride.w, step, y + oy * step.row);
    }
}

int32_t tfc_sparse_convolve_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                               const cmsis_nn_dims *input_dims,
                                               const tfc_sparse_weights *weights,
                                               const cmsis_nn_dims *output_dims)
{
    sp_image im;
    return sp_conv_image(conv_params, input_dims, weights, output_dims, &im) ? sp_image_bytes(&im) : 0;
}

arm_cmsis_nn_status tfc_sparse_convolve_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_conv_params *conv_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const tfc_sparse_weights *weights,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    sp_image im;
    if (!sp_conv_image(conv_params, input_dims, weights, output_dims, &im) ||
        !sp_weights_fit(weights, conv_params->output_offset, &conv_params->activation) || ctx == NULL ||
        ctx->buf == NULL || ctx->size < sp_image_bytes(&im))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    int16_t *img = (int16_t *)ctx->buf;
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    const int32_t out_bytes = weights->output_cells ? 2 : 1; /* an output stored as cells: int16 */
    const int32_t out_size = output_dims->h * output_dims->w * output_dims->c * out_bytes;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        if (weights->kh == 1)
        {
            sp_conv_rows(weights, conv_params, input_dims, input_data + b * in_size, output_dims, &im, img,
                         output_data + b * out_size);
            continue;
        }
        if (weights->code != NULL && weights->code->fill != NULL)
        {
            weights->code->fill(output_data + b * out_size);
        }
        sp_widen_input(weights, input_data + b * in_size, input_dims, 0, input_dims->h, conv_params->padding.h,
                       conv_params->padding.w, conv_params->input_offset, &im, img);
        sp_run_image(weights, &im, img, output_dims->h, output_dims->w, conv_params->stride.h,
                     conv_params->stride.w, sp_output_steps(weights, output_dims->h * output_dims->w, output_dims->w),
                     output_data + b * out_size);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t tfc_sparse_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *input_dims,
                                                      const tfc_sparse_weights *weights)
{
    const int32_t groups = (weights->cin + weights->block - 1) / weights->block;
    return groups * input_dims->n * weights->block * (int32_t)sizeof(int16_t);
}

arm_cmsis_nn_status tfc_sparse_fully_connected_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_fc_params *fc_params,
                                                  const cmsis_nn_dims *input_dims,
                                                  const int8_t *input_data,
                                                  const tfc_sparse_weights *weights,
                                                  const cmsis_nn_dims *output_dims,
                                                  int8_t *output_data)
{
    const int32_t n = input_dims->n;
    if (!sp_valid_block(weights->block) ||
        !sp_weights_fit(weights, fc_params->output_offset, &fc_params->activation) || fc_params->filter_offset != 0 ||
        weights->kh != 1 || weights->kw != 1 || weights->width != n || output_dims->c != weights->rows ||
        weights->input_nchw || weights->output_nchw || (weights->output_pixel_step != 0 && weights->code == NULL) ||
        ctx == NULL ||
        ctx->buf == NULL || ctx->size < tfc_sparse_fully_connected_s8_get_buffer_size(input_dims, weights))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    /* N vectors are a 1 x N image with cin channels, the weights a 1x1 convolution. */
    const sp_image im = {1, n, (weights->cin + weights->block - 1) / weights->block, weights->block};
    int16_t *img = (int16_t *)ctx->buf;
    const sp_steps step = sp_vector_steps(weights, n);
    sp_widen(input_data, 1, n, weights->cin, 0, 0, fc_params->input_offset, &im, img);
    sp_run_image(weights, &im, img, 1, n, 1, 1, step, output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

/* ---- inputs their producer stored as cells (tfc/sparse/cells.py) ------------------------------ */

/* The image is the input: the int16 cells [h][groups][w][block] a producer wrote (the int8 values;
 * the input offset is in the records' biases), so there is no widening and no scratch. */
arm_cmsis_nn_status tfc_sparse_convolve_cells_s8(const cmsis_nn_context *ctx,
                                                 const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const int16_t *cells,
                                                 const tfc_sparse_weights *weights,
                                                 const cmsis_nn_dims *output_dims,
                                                 int8_t *output_data)
{
    const cmsis_nn_conv_params *cp = conv_params;
    const cmsis_nn_dims *in = input_dims, *out = output_dims;
    const tfc_sparse_weights *w = weights;
    (void)ctx;
    if (!sp_valid_block(w->block) || !sp_weights_fit(w, cp->output_offset, &cp->activation) || w->kh != 1 ||
        w->kw != 1 || cp->stride.w != 1 || cp->stride.h != 1 || cp->padding.w != 0 || cp->padding.h != 0 ||
        cp->dilation.w != 1 || cp->dilation.h != 1 || w->cin % w->block != 0 || in->c != w->cin ||
        w->width != in->w || w->input_nchw || out->c != w->rows || out->n != in->n || out->h != in->h ||
        out->w != in->w)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const sp_image im = {in->h, in->w, w->cin / w->block, w->block};
    const int32_t in_size = in->h * in->w * in->c, out_size = out->h * out->w * out->c * (w->output_cells ? 2 : 1);
    for (int32_t b = 0; b < in->n; b++)
    {
        if (w->code != NULL && w->code->fill != NULL)
        {
            w->code->fill(output_data + b * out_size);
        }
        sp_run_image(w, &im, cells + b * in_size, out->h, out->w, 1, 1, sp_output_steps(w, out->h * out->w, out->w),
                     output_data + b * out_size);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status tfc_sparse_fully_connected_cells_s8(const cmsis_nn_context *ctx,
                                                        const cmsis_nn_fc_params *fc_params,
                                                        const cmsis_nn_dims *input_dims,
                                                        const int16_t *cells,
                                                        const tfc_sparse_weights *weights,
                                                        const cmsis_nn_dims *output_dims,
                                                        int8_t *output_data)
{
    const int32_t n = input_dims->n;
    (void)ctx;
    if (!sp_valid_block(weights->block) ||
        !sp_weights_fit(weights, fc_params->output_offset, &fc_params->activation) || fc_params->filter_offset != 0 ||
        weights->kh != 1 || weights->kw != 1 || weights->width != n || output_dims->c != weights->rows ||
        weights->input_nchw || weights->output_nchw || (weights->output_pixel_step != 0 && weights->code == NULL) ||
        weights->cin % weights->block != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    /* N vectors are a 1 x N image with cin channels, the weights a 1x1 convolution. */
    const sp_image im = {1, n, weights->cin / weights->block, weights->block};
    const sp_steps step = sp_vector_steps(weights, n);
    sp_run_image(weights, &im, cells, 1, n, 1, 1, step, output_data);
    return ARM_CMSIS_NN_SUCCESS;
}
