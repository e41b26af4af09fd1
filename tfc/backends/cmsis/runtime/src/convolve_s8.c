/*
 * tfc runtime: arm_convolve_s8 and arm_convolve_1x1_s8_fast, with their buffer sizes.
 *
 * Arithmetic: acc = bias + sum (x + input_offset) * w over the receptive field (modulo 2^32),
 * then requantize per output channel, add output_offset, clamp. Padded taps contribute 0 (an
 * input equal to the zero point), as in TFLite Micro's reference ConvPerChannel.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* Geometry of one convolution call, read once from the CMSIS-NN structs. */
typedef struct
{
    int32_t in_h, in_w, in_c;     /* virtual input size (after upscaling) and channels */
    int32_t data_h, data_w;       /* stored input size */
    int32_t up_y, up_x;           /* 1 when zeros are inserted between rows / columns */
    int32_t k_h, k_w, k_c;        /* filter size; k_c < in_c for grouped convolution */
    int32_t out_h, out_w, out_c;
    int32_t stride_y, stride_x, pad_y, pad_x, dil_y, dil_x;
    int32_t groups, out_c_per_group;
} conv_geometry;

/* The stored pixel behind virtual position (y, x), or NULL where the tap reads padding or an
 * inserted zero (both contribute 0 after the input offset). */
static const int8_t *conv_pixel(const conv_geometry *g, const int8_t *input, int32_t y, int32_t x)
{
    if (y < 0 || y >= g->in_h || x < 0 || x >= g->in_w)
    {
        return NULL;
    }
    if ((g->up_y && (y & 1)) || (g->up_x && (x & 1)))
    {
        return NULL;
    }
    y >>= g->up_y;
    x >>= g->up_x;
    if (y >= g->data_h || x >= g->data_w)
    {
        return NULL;
    }
    return input + (y * g->data_w + x) * g->in_c;
}

static int32_t aligned_rhs_cols(int32_t rhs_cols) { return (rhs_cols + 3) & ~3; }

int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    /* CMSIS-NN's rule for every non-MVE build: two im2col columns of int16. */
    const int32_t rhs_cols = filter_dims->w * filter_dims->h * input_dims->c;
    return 2 * aligned_rhs_cols(rhs_cols) * (int32_t)sizeof(int16_t);
}

int32_t arm_convolve_1x1_s8_fast_get_buffer_size(const cmsis_nn_dims *input_dims)
{
#if TFC_NN_DSP && defined(__ARMCC_VERSION) && (__ARMCC_VERSION >= 6010050)
    /* CMSIS-NN asks for a buffer only when built by Arm Compiler 6 for a DSP core. */
    return 2 * input_dims->c * (int32_t)sizeof(int16_t);
#else
    (void)input_dims;
    return 0;
#endif
}

static void conv_portable(const conv_geometry *g, const cmsis_nn_conv_params *p,
                          const cmsis_nn_per_channel_quant_params *q, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, int8_t *output)
{
    for (int32_t grp = 0; grp < g->groups; grp++)
    {
        for (int32_t oy = 0; oy < g->out_h; oy++)
        {
            for (int32_t ox = 0; ox < g->out_w; ox++)
            {
                int8_t *out = output + (oy * g->out_w + ox) * g->out_c;
                for (int32_t j = 0; j < g->out_c_per_group; j++)
                {
                    const int32_t oc = grp * g->out_c_per_group + j;
                    const int8_t *w = filter + oc * g->k_h * g->k_w * g->k_c;
                    uint32_t acc = bias ? (uint32_t)bias[oc] : 0U;
                    for (int32_t ky = 0; ky < g->k_h; ky++)
                    {
                        for (int32_t kx = 0; kx < g->k_w; kx++, w += g->k_c)
                        {
                            const int8_t *px = conv_pixel(g, input, oy * g->stride_y - g->pad_y + ky * g->dil_y,
                                                          ox * g->stride_x - g->pad_x + kx * g->dil_x);
                            if (px == NULL)
                            {
                                continue;
                            }
                            px += grp * g->k_c;
                            for (int32_t c = 0; c < g->k_c; c++)
                            {
                                acc += (uint32_t)((px[c] + p->input_offset) * w[c]);
                            }
                        }
                    }
                    out[oc] = tfc_requantize_to_s8((int32_t)acc, q->multiplier[oc], q->shift[oc], p->output_offset,
                                                   p->activation.min, p->activation.max);
                }
            }
        }
    }
}

#if TFC_NN_DSP
/* n int8 values plus the offset into int16. */
static inline void widen_run(int16_t *dst, const int8_t *src, int32_t n, int32_t offset)
{
    for (int32_t i = 0; i < n; i++)
    {
        dst[i] = (int16_t)(src[i] + offset);
    }
}

/* Column layout shared by both im2col routines: every group of 4 values, the last one padded
 * with zeros, is stored x0 x2 x1 x3, the order SXTB16 / SXTB16_ROR8 unpack the weights in. So
 * value c of a last, partial group sits at COL_TAIL(c - full) within it. */
static const uint8_t col_tail_pos[4] = {0, 2, 1, 3};

/* im2col of one output pixel and group into int16 with the input offset added (layout above).
 * Bounds are tested per kernel row and per tap; the upscaled (transposed-convolution) case
 * takes conv_pixel. */
static void im2col_s16(const conv_geometry *g, const int8_t *input, int32_t grp, int32_t oy, int32_t ox,
                       int32_t input_offset, int16_t *col)
{
    int16_t *dst = col;
    const int32_t kc = g->k_c, row_values = g->k_w * kc;
    const int32_t x0 = ox * g->stride_x - g->pad_x;
    const int upscaled = g->up_x || g->up_y;
    for (int32_t ky = 0; ky < g->k_h; ky++, dst += row_values)
    {
        const int32_t y = oy * g->stride_y - g->pad_y + ky * g->dil_y;
        if (!upscaled && (y < 0 || y >= g->in_h))
        {
            memset(dst, 0, (size_t)row_values * sizeof(int16_t));
            continue;
        }
        for (int32_t kx = 0; kx < g->k_w; kx++)
        {
            const int8_t *px = conv_pixel(g, input, y, x0 + kx * g->dil_x);
            if (px == NULL)
            {
                memset(dst + kx * kc, 0, (size_t)kc * sizeof(int16_t));
                continue;
            }
            widen_run(dst + kx * kc, px + grp * kc, kc, input_offset);
        }
    }
    const int32_t n = (int32_t)(dst - col);
    for (int32_t i = n; i < aligned_rhs_cols(n); i++)
    {
        col[i] = 0;
    }
    for (int32_t i = 0; i < n; i += 4)
    {
        const int16_t x1 = col[i + 1];
        col[i + 1] = col[i + 2];
        col[i + 2] = x1;
    }
}

/* The int8 column a byte im2col may stage on the stack. */
#define IM2COL_BYTES_MAX 512

/* Whether im2col_bytes_s16 serves this layer: no upscaling, a column of at most
 * IM2COL_BYTES_MAX values, and a zero point that is an int8 (so a padded tap is one byte). */
static int im2col_bytes_applies(const conv_geometry *g, int32_t input_offset)
{
    return !g->up_x && !g->up_y && g->k_h * g->k_w * g->k_c <= IM2COL_BYTES_MAX && input_offset >= -127 &&
           input_offset <= 128;
}

/* GCC turns copy and fill loops back into memcpy / memset calls (-ftree-loop-distribute-patterns);
 * these two must stay loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define TFC_KEEP_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TFC_KEEP_LOOPS
#endif

/* n bytes, a word at a time (unaligned LDR / STR): runs are a few to a few hundred bytes, where
 * a library memcpy / memset call costs more than the copy. */
static inline TFC_KEEP_LOOPS void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
    {
        const int32_t v = tfc_read_s8x4(src + i);
        memcpy(dst + i, &v, 4);
    }
    for (; i < n; i++)
    {
        dst[i] = src[i];
    }
}

static inline TFC_KEEP_LOOPS void fill_bytes(int8_t *dst, uint32_t word, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
    {
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; i++)
    {
        dst[i] = (int8_t)word;
    }
}

/* The same column (layout above) in two passes: the int8 values in order, a padded tap being the
 * zero point itself (-input_offset, which widens to 0); then four values at a time widened with
 * two SXTAB16, which yields x0 x2 x1 x3 directly. A kernel row inside the input (one group, no
 * dilation) is one byte run. */
static TFC_KEEP_LOOPS void im2col_bytes_s16(const conv_geometry *g, const int8_t *input, int32_t grp, int32_t oy, int32_t ox,
                             int32_t input_offset, int16_t *col)
{
    int8_t bytes[IM2COL_BYTES_MAX + 4];
    const uint32_t zp = 0x01010101U * (uint8_t)(int8_t)(-input_offset); /* the zero point in each byte */
    int8_t *dst = bytes;
    const int32_t kc = g->k_c, row_values = g->k_w * kc;
    const int32_t x0 = ox * g->stride_x - g->pad_x;
    const int whole_rows = g->groups == 1 && g->dil_x == 1 && x0 >= 0 && x0 + g->k_w <= g->in_w;
    for (int32_t ky = 0; ky < g->k_h; ky++, dst += row_values)
    {
        const int32_t y = oy * g->stride_y - g->pad_y + ky * g->dil_y;
        if (y < 0 || y >= g->in_h)
        {
            fill_bytes(dst, zp, row_values);
            continue;
        }
        const int8_t *row = input + y * g->in_w * g->in_c + grp * kc;
        if (whole_rows)
        {
            copy_bytes(dst, row + x0 * g->in_c, row_values);
            continue;
        }
        for (int32_t kx = 0; kx < g->k_w; kx++)
        {
            const int32_t x = x0 + kx * g->dil_x;
            if (x < 0 || x >= g->in_w)
            {
                fill_bytes(dst + kx * kc, zp, kc);
                continue;
            }
            copy_bytes(dst + kx * kc, row + x * g->in_c, kc);
        }
    }
    const int32_t n = (int32_t)(dst - bytes);
    memcpy(dst, &zp, 4); /* the last group's padding */
    const uint32_t off2 = __PKHBT((uint32_t)input_offset, (uint32_t)input_offset, 16);
    for (int32_t i = 0; i < n; i += 4)
    {
        const uint32_t x = (uint32_t)tfc_read_s8x4(bytes + i);
        tfc_write_s16x2(col + i, (int32_t)__SXTAB16(off2, x));
        tfc_write_s16x2(col + i + 2, (int32_t)tfc_sxtab16_ror8(off2, x));
    }
}

/* Dot product of one int8 weight row with one unordered int16 column. */
static uint32_t dot_w_col(const int8_t *w, const int16_t *col, int32_t cols, uint32_t acc)
{
    const int32_t full = cols & ~3;
    for (int32_t c = 0; c < full; c += 4)
    {
        const uint32_t wv = (uint32_t)tfc_read_s8x4(w + c);
        acc = __SMLAD(__SXTB16(wv), (uint32_t)tfc_read_s16x2(col + c), acc);
        acc = __SMLAD(__SXTB16_RORn(wv, 8), (uint32_t)tfc_read_s16x2(col + c + 2), acc);
    }
    for (int32_t c = full; c < cols; c++)
    {
        acc += (uint32_t)(w[c] * col[full + col_tail_pos[c - full]]);
    }
    return acc;
}

/* Full 4-value blocks of two weight rows (w0, w1) times two im2col columns (c0, c1), whose blocks
 * are the words (x0, x2), (x1, x3): acc = {w0.c0, w0.c1, w1.c0, w1.c1}. */
#if TFC_ASM_LOOPS
/* One block: two LDR, four SXTB16, two LDRD, eight SMLAD (16 instructions, 16 MACs). */
#define CONV_2X2_BLOCK_ASM                                                                                         \
    "ldr %[wa], [%[w0]], #4\n\t"                                                                                    \
    "ldr %[wb], [%[w1]], #4\n\t"                                                                                    \
    "sxtb16 %[wao], %[wa], ror #8\n\t"                                                                              \
    "sxtb16 %[wa], %[wa]\n\t"                                                                                       \
    "sxtb16 %[wbo], %[wb], ror #8\n\t"                                                                              \
    "sxtb16 %[wb], %[wb]\n\t"                                                                                       \
    "ldrd %[xe], %[xo], [%[c0]], #8\n\t"                                                                            \
    "smlad %[a00], %[wa], %[xe], %[a00]\n\t"                                                                        \
    "smlad %[a00], %[wao], %[xo], %[a00]\n\t"                                                                       \
    "smlad %[a10], %[wb], %[xe], %[a10]\n\t"                                                                        \
    "smlad %[a10], %[wbo], %[xo], %[a10]\n\t"                                                                       \
    "ldrd %[xe], %[xo], [%[c1]], #8\n\t"                                                                            \
    "smlad %[a01], %[wa], %[xe], %[a01]\n\t"                                                                        \
    "smlad %[a01], %[wao], %[xo], %[a01]\n\t"                                                                       \
    "smlad %[a11], %[wb], %[xe], %[a11]\n\t"                                                                        \
    "smlad %[a11], %[wbo], %[xo], %[a11]\n\t"

/* Written out for the reason conv_patch_row is: 14 live values; the end lives on the stack and
 * is reloaded into a dead temporary for the loop test, once per two blocks. */
static inline void conv_2x2_blocks(const int8_t *w0, const int8_t *w1, const int16_t *c0, const int16_t *c1,
                                   int32_t n, uint32_t acc[4])
{
    uint32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int16_t *const end = c0 + 4 * n;
    uint32_t wa, wao, wb, wbo, xe, xo;
#define CONV_2X2_OPERANDS                                                                                          \
    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w0] "+r"(w0), [w1] "+r"(w1),           \
      [c0] "+r"(c0), [c1] "+r"(c1), [wa] "=&r"(wa), [wao] "=&r"(wao), [wb] "=&r"(wb), [wbo] "=&r"(wbo),            \
      [xe] "=&r"(xe), [xo] "=&r"(xo)                                                                               \
    : [end] "m"(end)                                                                                               \
    : "cc", "memory"
    if (n & 1)
    {
        __asm__ volatile(CONV_2X2_BLOCK_ASM CONV_2X2_OPERANDS);
    }
    if (n > 1)
    {
        __asm__ volatile("1:\n\t" CONV_2X2_BLOCK_ASM CONV_2X2_BLOCK_ASM "ldr %[xe], %[end]\n\t"
                         "cmp %[c0], %[xe]\n\t"
                         "bne 1b" CONV_2X2_OPERANDS);
    }
#undef CONV_2X2_OPERANDS
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}
#else
static inline void conv_2x2_blocks(const int8_t *w0, const int8_t *w1, const int16_t *c0, const int16_t *c1,
                                   int32_t n, uint32_t acc[4])
{
    for (int32_t i = 0; i < 4 * n; i += 4)
    {
        const uint32_t wv0 = (uint32_t)tfc_read_s8x4(w0 + i), wv1 = (uint32_t)tfc_read_s8x4(w1 + i);
        const uint32_t w0e = __SXTB16(wv0), w0o = tfc_sxtb16_ror8(wv0);
        const uint32_t w1e = __SXTB16(wv1), w1o = tfc_sxtb16_ror8(wv1);
        const uint32_t x0e = (uint32_t)tfc_read_s16x2(c0 + i), x0o = (uint32_t)tfc_read_s16x2(c0 + i + 2);
        const uint32_t x1e = (uint32_t)tfc_read_s16x2(c1 + i), x1o = (uint32_t)tfc_read_s16x2(c1 + i + 2);
        acc[0] = __SMLAD(w0o, x0o, __SMLAD(w0e, x0e, acc[0]));
        acc[1] = __SMLAD(w0o, x1o, __SMLAD(w0e, x1e, acc[1]));
        acc[2] = __SMLAD(w1o, x0o, __SMLAD(w1e, x0e, acc[2]));
        acc[3] = __SMLAD(w1o, x1o, __SMLAD(w1e, x1e, acc[3]));
    }
}
#endif

/* Two im2col columns (two output pixels) at a time; two output channels per pass share each
 * column load, so one SXTB16 pair of weights feeds two SMLADs. */
static void conv_dsp(const conv_geometry *g, const cmsis_nn_conv_params *p, const cmsis_nn_per_channel_quant_params *q,
                     const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output, int16_t *buf)
{
    const int32_t cols = g->k_h * g->k_w * g->k_c;
    const int32_t stride = aligned_rhs_cols(cols);
    const int32_t full = cols & ~3;
    const int32_t n_pix = g->out_h * g->out_w;
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    const int32_t fast = act_min == -128 && act_max == 127 &&
                         tfc_rq_all_right(q->multiplier, q->shift, g->out_c, out_off, act_max);
    const int bytes_col = im2col_bytes_applies(g, p->input_offset);
    for (int32_t grp = 0; grp < g->groups; grp++)
    {
        for (int32_t pix = 0; pix < n_pix; pix += 2)
        {
            const int32_t two = pix + 1 < n_pix;
            int16_t *col0 = buf;
            int16_t *col1 = buf + stride;
            if (bytes_col)
            {
                im2col_bytes_s16(g, input, grp, pix / g->out_w, pix % g->out_w, p->input_offset, col0);
                if (two)
                {
                    im2col_bytes_s16(g, input, grp, (pix + 1) / g->out_w, (pix + 1) % g->out_w, p->input_offset, col1);
                }
            }
            else
            {
                im2col_s16(g, input, grp, pix / g->out_w, pix % g->out_w, p->input_offset, col0);
                if (two)
                {
                    im2col_s16(g, input, grp, (pix + 1) / g->out_w, (pix + 1) % g->out_w, p->input_offset, col1);
                }
            }
            int8_t *out0 = output + pix * g->out_c;
            int8_t *out1 = out0 + g->out_c;
            const int32_t oc_begin = grp * g->out_c_per_group;
            const int32_t oc_end = oc_begin + g->out_c_per_group;
            int32_t oc = oc_begin;
            for (; two && oc + 1 < oc_end; oc += 2)
            {
                const int8_t *w0 = filter + oc * cols;
                const int8_t *w1 = w0 + cols;
                const uint32_t b0 = bias ? (uint32_t)bias[oc] : 0U, b1 = bias ? (uint32_t)bias[oc + 1] : 0U;
                uint32_t acc[4] = {b0, b0, b1, b1};
                /* The columns' zero padding lets the last, partial group be a whole block, the
                 * weights it reads past w1's row being the following rows' (times 0), where the
                 * filter has that many bytes after w1's row (not for its last rows, nor for
                 * rows narrower than the overshoot). */
                const int32_t overshoot = ((cols + 3) & ~3) - cols;
                const int32_t whole = (g->out_c - oc - 2) * cols >= overshoot ? (cols + 3) / 4 : full / 4;
                conv_2x2_blocks(w0, w1, col0, col1, whole, acc);
                uint32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
                for (int32_t c = 4 * whole; c < cols; c++)
                {
                    const int32_t i = full + col_tail_pos[c - full];
                    a00 += (uint32_t)(w0[c] * col0[i]);
                    a01 += (uint32_t)(w0[c] * col1[i]);
                    a10 += (uint32_t)(w1[c] * col0[i]);
                    a11 += (uint32_t)(w1[c] * col1[i]);
                }
                if (fast)
                {
                    /* The pair's constants once for its two pixels: 3 instructions each. */
                    const tfc_rq r0 = tfc_rq_make_right(q->multiplier[oc], q->shift[oc]);
                    const tfc_rq r1 = tfc_rq_make_right(q->multiplier[oc + 1], q->shift[oc + 1]);
                    out0[oc] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r0, (int32_t)a00), out_off);
                    out1[oc] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r0, (int32_t)a01), out_off);
                    out0[oc + 1] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r1, (int32_t)a10), out_off);
                    out1[oc + 1] = (int8_t)tfc_rq_out_full(tfc_rq_right(&r1, (int32_t)a11), out_off);
                    continue;
                }
                out0[oc] = tfc_requantize_to_s8((int32_t)a00, q->multiplier[oc], q->shift[oc], out_off, act_min, act_max);
                out1[oc] = tfc_requantize_to_s8((int32_t)a01, q->multiplier[oc], q->shift[oc], out_off, act_min, act_max);
                out0[oc + 1] = tfc_requantize_to_s8((int32_t)a10, q->multiplier[oc + 1], q->shift[oc + 1], out_off,
                                                    act_min, act_max);
                out1[oc + 1] = tfc_requantize_to_s8((int32_t)a11, q->multiplier[oc + 1], q->shift[oc + 1], out_off,
                                                    act_min, act_max);
            }
            for (; oc < oc_end; oc++)
            {
                const int8_t *w0 = filter + oc * cols;
                const uint32_t b = bias ? (uint32_t)bias[oc] : 0U;
                out0[oc] = tfc_requantize_to_s8((int32_t)dot_w_col(w0, col0, cols, b), q->multiplier[oc], q->shift[oc],
                                                out_off, act_min, act_max);
                if (two)
                {
                    out1[oc] = tfc_requantize_to_s8((int32_t)dot_w_col(w0, col1, cols, b), q->multiplier[oc],
                                                    q->shift[oc], out_off, act_min, act_max);
                }
            }
        }
    }
}

/* ---- Four output pixels per pass over a widened input patch ---------------------------------
 * Four horizontally adjacent output pixels (stride_x 1, no dilation) read a k_h x (k_w + 3)
 * window of input pixels. That window, widened once to (x + input_offset) int16, takes
 * k_h * (k_w + 3) * C * 2 bytes, which fits CMSIS-NN's scratch size (4 * k_h * k_w * C bytes)
 * whenever k_w >= 3. Each pixel's im2col column is then, for every kernel row, a contiguous run
 * of the patch row starting p * C values in, so each weight word is loaded and widened once
 * for four pixels (15 instructions per 16 MACs). Blocks of 4 channels are stored as the words
 * (x0, x2), (x1, x3): the order SXTB16 / SXTB16-ROR8 unpack the weights in. */

static int conv_patch_applies(const conv_geometry *g, const cmsis_nn_context *ctx, int32_t input_offset)
{
    const int32_t patch_bytes = g->k_h * (g->k_w + 3) * g->in_c * (int32_t)sizeof(int16_t);
    return g->groups == 1 && g->up_x == 0 && g->up_y == 0 && g->dil_x == 1 && g->dil_y == 1 && g->stride_x == 1 &&
           (g->in_c & 3) == 0 && g->k_w >= 3 && ((uintptr_t)ctx->buf & 7U) == 0 &&
           patch_bytes <= 4 * aligned_rhs_cols(g->k_h * g->k_w * g->in_c) && input_offset >= -32640 &&
           input_offset <= 32640;
}

/* The patch under output row oy, columns ox .. ox + 3: k_h rows of (k_w + 3) pixels of C / 4
 * blocks; taps outside the input are 0 (an input equal to the zero point). */
static void conv_fill_patch(const conv_geometry *g, const int8_t *input, int32_t oy, int32_t ox, uint32_t off2,
                            uint64_t *patch)
{
    const int32_t blocks = g->in_c / 4;
    for (int32_t ky = 0; ky < g->k_h; ky++)
    {
        const int32_t iy = oy * g->stride_y - g->pad_y + ky;
        for (int32_t px = 0; px < g->k_w + 3; px++, patch += blocks)
        {
            const int32_t ix = ox - g->pad_x + px;
            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w)
            {
                memset(patch, 0, (size_t)blocks * sizeof(uint64_t));
                continue;
            }
            const int8_t *src = input + (iy * g->in_w + ix) * g->in_c;
            for (int32_t b = 0; b < blocks; b++, src += 4)
            {
                const uint32_t x = (uint32_t)tfc_read_s8x4(src);
                patch[b] = tfc_pair(__SXTAB16(off2, x), tfc_sxtab16_ror8(off2, x));
            }
        }
    }
}

/* Sums of one kernel row: for each 4-channel block i < n, the weights w[4i .. 4i + 3] times the
 * same block of each pixel's column (x0[i] .. x3[i]). Returns the advanced weight pointer. */
#if TFC_ASM_LOOPS
/* One block: LDR, two SXTB16, four LDRD, eight SMLAD (15 instructions, 16 MACs). */
#define CONV_PATCH_BLOCK_ASM                                                                                       \
    "ldr %[wv], [%[w]], #4\n\t"                                                                                    \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "ldrd %[xe], %[xo], [%[x0]], #8\n\t"                                                                           \
    "smlad %[a0], %[wv], %[xe], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[wo], %[xo], %[a0]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x1]], #8\n\t"                                                                           \
    "smlad %[a1], %[wv], %[xe], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[wo], %[xo], %[a1]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x2]], #8\n\t"                                                                           \
    "smlad %[a2], %[wv], %[xe], %[a2]\n\t"                                                                         \
    "smlad %[a2], %[wo], %[xo], %[a2]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x3]], #8\n\t"                                                                           \
    "smlad %[a3], %[wv], %[xe], %[a3]\n\t"                                                                         \
    "smlad %[a3], %[wo], %[xo], %[a3]\n\t"

/* Written out because GCC 12 spills two of the 14 live values (4 sums, 5 pointers, the end,
 * 4 temporaries) inside the loop, 5 extra instructions per 15. Here the end lives on the stack
 * and is reloaded into a dead temporary for the loop test, which runs once per two blocks. */
static inline const int8_t *conv_patch_row(const int8_t *w, const uint64_t *x0, const uint64_t *x1,
                                           const uint64_t *x2, const uint64_t *x3, int32_t n, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint64_t *const end = x0 + n;
    uint32_t wv, wo, xe, xo;
#define CONV_PATCH_OPERANDS                                                                                        \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x0] "+r"(x0), [x1] "+r"(x1),      \
      [x2] "+r"(x2), [x3] "+r"(x3), [wv] "=&r"(wv), [wo] "=&r"(wo), [xe] "=&r"(xe), [xo] "=&r"(xo)                 \
    : [end] "m"(end)                                                                                               \
    : "cc", "memory"
    if (n & 1)
    {
        __asm__ volatile(CONV_PATCH_BLOCK_ASM CONV_PATCH_OPERANDS);
    }
    if (n > 1)
    {
        __asm__ volatile("1:\n\t" CONV_PATCH_BLOCK_ASM CONV_PATCH_BLOCK_ASM "ldr %[xe], %[end]\n\t"
                         "cmp %[x0], %[xe]\n\t"
                         "bne 1b" CONV_PATCH_OPERANDS);
    }
#undef CONV_PATCH_OPERANDS
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}

/* All k_h kernel rows in one loop when a row's block count n is even: after each row the four
 * column pointers skip to the next patch row (skip bytes); the row count and the row's end live
 * on the stack. About 12 instructions per row instead of a call's 45. */
static inline const int8_t *conv_patch_rows(const int8_t *w, const uint64_t *x0, const uint64_t *x1,
                                            const uint64_t *x2, const uint64_t *x3, int32_t n, int32_t rows,
                                            int32_t skip, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int32_t row_bytes = 8 * n;
    const uint64_t *end;
    uint32_t wv, wo, xe, xo;
    __asm__ volatile("2:\n\t"
                     "ldr %[xe], %[rb]\n\t"
                     "add %[xe], %[xe], %[x0]\n\t"
                     "str %[xe], %[end]\n\t"
                     "1:\n\t" CONV_PATCH_BLOCK_ASM CONV_PATCH_BLOCK_ASM "ldr %[xe], %[end]\n\t"
                     "cmp %[x0], %[xe]\n\t"
                     "bne 1b\n\t"
                     "ldr %[xe], %[skip]\n\t"
                     "add %[x0], %[x0], %[xe]\n\t"
                     "add %[x1], %[x1], %[xe]\n\t"
                     "add %[x2], %[x2], %[xe]\n\t"
                     "add %[x3], %[x3], %[xe]\n\t"
                     "ldr %[xe], %[rows]\n\t"
                     "subs %[xe], %[xe], #1\n\t"
                     "str %[xe], %[rows]\n\t"
                     "bne 2b"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x0] "+r"(x0),
                       [x1] "+r"(x1), [x2] "+r"(x2), [x3] "+r"(x3), [wv] "=&r"(wv), [wo] "=&r"(wo), [xe] "=&r"(xe),
                       [xo] "=&r"(xo), [end] "=m"(end), [rows] "+m"(rows)
                     : [rb] "m"(row_bytes), [skip] "m"(skip)
                     : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}
#else
static inline const int8_t *conv_patch_row(const int8_t *w, const uint64_t *x0, const uint64_t *x1,
                                           const uint64_t *x2, const uint64_t *x3, int32_t n, uint32_t acc[4])
{
    for (int32_t i = 0; i < n; i++, w += 4)
    {
        const uint32_t wv = (uint32_t)tfc_read_s8x4(w);
        const uint32_t we = __SXTB16(wv), wo = tfc_sxtb16_ror8(wv);
        acc[0] = __SMLAD(wo, tfc_pair_hi(x0[i]), __SMLAD(we, tfc_pair_lo(x0[i]), acc[0]));
        acc[1] = __SMLAD(wo, tfc_pair_hi(x1[i]), __SMLAD(we, tfc_pair_lo(x1[i]), acc[1]));
        acc[2] = __SMLAD(wo, tfc_pair_hi(x2[i]), __SMLAD(we, tfc_pair_lo(x2[i]), acc[2]));
        acc[3] = __SMLAD(wo, tfc_pair_hi(x3[i]), __SMLAD(we, tfc_pair_lo(x3[i]), acc[3]));
    }
    return w;
}

static inline const int8_t *conv_patch_rows(const int8_t *w, const uint64_t *x0, const uint64_t *x1,
                                            const uint64_t *x2, const uint64_t *x3, int32_t n, int32_t rows,
                                            int32_t skip, uint32_t acc[4])
{
    const int32_t step = n + skip / 8; /* blocks from one patch row to the next */
    for (int32_t r = 0; r < rows; r++)
    {
        w = conv_patch_row(w, x0 + r * step, x1 + r * step, x2 + r * step, x3 + r * step, n, acc);
    }
    return w;
}
#endif

static void conv_patch_dsp(const conv_geometry *g, const cmsis_nn_conv_params *p,
                           const cmsis_nn_per_channel_quant_params *q, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output, uint64_t *patch)
{
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    const int32_t all_right = tfc_rq_all_right(q->multiplier, q->shift, g->out_c, out_off, act_max);
    const int32_t blocks = g->in_c / 4;         /* per pixel */
    const int32_t row_blocks = g->k_w * blocks; /* per kernel row of one column */
    const int32_t patch_row = (g->k_w + 3) * blocks;
    for (int32_t oy = 0; oy < g->out_h; oy++)
    {
        for (int32_t ox = 0; ox < g->out_w; ox += 4)
        {
            conv_fill_patch(g, input, oy, ox, off2, patch);
            const int32_t n = TFC_MIN(4, g->out_w - ox);
            int8_t *out = output + (oy * g->out_w + ox) * g->out_c;
            const int8_t *w = filter;
            for (int32_t oc = 0; oc < g->out_c; oc++, out++)
            {
                const uint32_t b = bias ? (uint32_t)bias[oc] : 0U;
                uint32_t acc[4] = {b, b, b, b};
                if ((row_blocks & 1) == 0 && g->k_h > 0)
                {
                    w = conv_patch_rows(w, patch, patch + blocks, patch + 2 * blocks, patch + 3 * blocks, row_blocks,
                                        g->k_h, 8 * (patch_row - row_blocks), acc);
                }
                else
                {
                    for (int32_t ky = 0; ky < g->k_h; ky++)
                    {
                        const uint64_t *x0 = patch + ky * patch_row;
                        w = conv_patch_row(w, x0, x0 + blocks, x0 + 2 * blocks, x0 + 3 * blocks, row_blocks, acc);
                    }
                }
                const tfc_rq rq = all_right ? tfc_rq_make_right(q->multiplier[oc], q->shift[oc])
                                            : tfc_rq_make(q->multiplier[oc], q->shift[oc], out_off, act_max);
                if (n == 4)
                {
                    tfc_rq_store4(&rq, acc[0], acc[1], acc[2], acc[3], out, g->out_c, out_off, act_min, act_max);
                    continue;
                }
                for (int32_t i = 0; i < n; i++)
                {
                    out[i * g->out_c] = tfc_rq_s8(&rq, acc[i], out_off, act_min, act_max);
                }
            }
        }
    }
}
#endif /* TFC_NN_DSP */

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *upscale_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)bias_dims;
    /* CMSIS-NN always requires the scratch buffer; keep the same contract. */
    if (ctx == NULL || ctx->buf == NULL || filter_dims->c <= 0 || input_dims->c % filter_dims->c != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    conv_geometry g;
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.in_c = input_dims->c;
    g.up_y = (upscale_dims != NULL && upscale_dims->h == 2) ? 1 : 0;
    g.up_x = (upscale_dims != NULL && upscale_dims->w == 2) ? 1 : 0;
    g.data_h = g.in_h >> g.up_y;
    g.data_w = g.in_w >> g.up_x;
    g.k_h = filter_dims->h;
    g.k_w = filter_dims->w;
    g.k_c = filter_dims->c;
    g.out_h = output_dims->h;
    g.out_w = output_dims->w;
    g.out_c = output_dims->c;
    g.stride_y = conv_params->stride.h;
    g.stride_x = conv_params->stride.w;
    g.pad_y = conv_params->padding.h;
    g.pad_x = conv_params->padding.w;
    g.dil_y = conv_params->dilation.h;
    g.dil_x = conv_params->dilation.w;
    g.groups = g.in_c / g.k_c;
    if (g.out_c % g.groups != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    g.out_c_per_group = g.out_c / g.groups;

    const int32_t in_batch = g.data_h * g.data_w * g.in_c;
    const int32_t out_batch = g.out_h * g.out_w * g.out_c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
#if TFC_NN_DSP
        /* The int16 im2col holds x + input_offset; CMSIS-NN's documented offsets always fit. */
        if (conv_patch_applies(&g, ctx, conv_params->input_offset))
        {
            conv_patch_dsp(&g, conv_params, quant_params, input_data + b * in_batch, filter_data, bias_data,
                           output_data + b * out_batch, (uint64_t *)ctx->buf);
            continue;
        }
        if (conv_params->input_offset >= -32640 && conv_params->input_offset <= 32640)
        {
            conv_dsp(&g, conv_params, quant_params, input_data + b * in_batch, filter_data, bias_data,
                     output_data + b * out_batch, (int16_t *)ctx->buf);
            continue;
        }
#endif
        conv_portable(&g, conv_params, quant_params, input_data + b * in_batch, filter_data, bias_data,
                      output_data + b * out_batch);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_convolve_1x1_s8_fast(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
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
    (void)filter_dims;
    (void)bias_dims;
    if (conv_params->padding.w != 0 || conv_params->padding.h != 0 || conv_params->stride.w != 1 ||
        conv_params->stride.h != 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    /* Every pixel is one row of a GEMM against the [C_OUT, C_IN] weights. */
    const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
    tfc_nn_mat_mult_nt_t_s8(input_data, filter_data, bias_data, output_data, quant_params->multiplier,
                            quant_params->shift, 1, rows, output_dims->c, input_dims->c, conv_params->input_offset, 0,
                            conv_params->output_offset, output_dims->c, conv_params->activation.min,
                            conv_params->activation.max);
    return ARM_CMSIS_NN_SUCCESS;
}
