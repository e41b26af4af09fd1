/*
 * tfc runtime: sparse int8 depthwise convolution (see tfc_sparse_depthwise.h; the record and tap
 * format is in docs/sparse-format.md, "Depthwise taps").
 *
 * Channel-outermost: a channel's taps, bias and requantization constants stay in registers while
 * it runs over every output pixel, so one output costs its taps' loads and MACs, the requantization
 * and a store. Channels run in groups of four: the group's zero-point-padded planes are copied into
 * scratch (a word per pixel), then each channel of the group reads its plane. Nothing else reads
 * those channels, so the output may overwrite the input (in place, TinyEngine's trick): the arena
 * holds one tensor and a four-channel plane instead of two tensors and a padded image. Channels of
 * 1, 2 or 3 taps (what pruning to ~15 % leaves of a 3x3 kernel) run loops specialised for that
 * count and for strides 1 and 2 (immediate load offsets), four pixels per step; where the output
 * rows are a multiple of 8 pixels, one-tap tables and the immediate-shift loops run eight per step
 * in one flat loop (a test per step for the row's end instead of a row loop whose state spills),
 * and the planes' input rows copy eight words per step (an STM on Arm); more taps run a loop over
 * the tap list. A RIGHT channel's weights and bias are doubled so SMMLAR takes the
 * accumulator as it is, and ReLU layers skip the negative accumulator's rounding correction
 * (sp_gen_out2): a one-tap output is a load, SMLABB, SMMLAR, ASR, SSAT and a store. Channels whose
 * requantization needs the other forms run one pixel at a time. Integer sums wrap modulo 2^32
 * like the dense kernel's, so every path gives the dense kernel's bytes.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_sparse_depthwise.h"
#include "tfc_sparse_gen.h"

typedef char sp_dw_arithmetic_right_shift[(-8 >> 1) == -4 ? 1 : -1];

#define SP_DW_MAX_TAPS 64 /* kernels up to 8x8: the tap tables live on the stack */

/* The planes the taps read: a group of G channels, zero-point padded, in scratch. Steps in bytes. */
#define SP_DW_G 4

typedef struct sp_dw_image sp_dw_image;
/* a one-tap channel by its table: px its tap's byte of the first window */
typedef void (*sp_dw_lut_fn)(const sp_dw_image *im, const uint8_t *px, const int8_t *lut, int8_t *out);

struct sp_dw_image
{
    int32_t hp, wp;   /* rows and columns the output windows cover */
    int32_t C;
    int32_t pitch;    /* bytes per plane row: wp * SP_DW_G */
    int32_t step;     /* between two output pixels' windows along x */
    int32_t row_step; /* between two output rows' windows */
    int32_t out_h, out_w;
    int32_t steps;    /* the specialised loops: 0 step 4 (stride 1), 1 step 8 (stride 2), 2 other */
    int32_t eights;   /* out_w a multiple of 16: 2, of 8: 1 (the loops of that many eights per step) */
    sp_dw_lut_fn lut; /* the one-tap table loop for these */
};

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
    im->pitch = im->wp * SP_DW_G;
    im->step = p->stride.w * SP_DW_G;
    im->row_step = p->stride.h * im->pitch;
    im->steps = im->step == 4 ? 0 : (im->step == 8 ? 1 : 2);
    im->eights = out->w % 16 == 0 ? 2 : out->w % 8 == 0;
    return 1;
}

/* The plane's zero-point padding alone (fill4: four zero points), around input rows that lie
 * whole in it: the rows above and below, the columns left and right of each input row. */
static void sp_dw_plane_padding(uint32_t *d, const sp_dw_image *im, int32_t top, int32_t left, int32_t in_h,
                                int32_t in_w, uint32_t fill4)
{
    const int32_t wp = im->wp, right = wp - left - in_w;
    uint32_t *p = d;
    for (uint32_t *const end = d + top * wp + left; p != end; p++)
    {
        *p = fill4; /* the rows above, and the first input row's left padding */
    }
    for (int32_t y = 0; y < in_h; y++)
    {
        p += in_w;
        /* this row's right padding, then the next row's left (or the rows below) */
        for (uint32_t *const end = p + right + (y + 1 < in_h ? left : 0); p != end; p++)
        {
            *p = fill4;
        }
    }
    for (uint32_t *const end = d + im->hp * wp; p != end; p++)
    {
        *p = fill4;
    }
}

/* sp_dw_plane_words' copy of the input rows (the padding written already) when every input row
 * lies whole in the plane and is n = 8k words long: the input is one run, eight words per
 * step, the plane's padding skipped at each row's end. q: the group's word of input pixel (0, 0);
 * d: its plane word. */
static __attribute__((noinline)) void sp_dw_plane_eights(const uint32_t *q, int32_t n, int32_t cw, int32_t rows,
                                                         int32_t wp, uint32_t *d)
{
    uint32_t *row_end = d + n;
    const int32_t skip = wp - n;
#if SP_ARM
    const int32_t s1 = 4 * cw, s3 = 12 * cw;
#endif
    for (int32_t y = rows;;)
    {
#if SP_ARM
        /* eight loads at register offsets and one STM (GCC spills instead: the words and the
         * offsets take every register); r7 left alone, Thumb's frame pointer where there is one */
        __asm__ volatile("ldr r4, [%[q]]\n\t"
                         "ldr r5, [%[q], %[s1]]\n\t"
                         "ldr r6, [%[q], %[s1], lsl #1]\n\t"
                         "ldr r8, [%[q], %[s3]]\n\t"
                         "add %[q], %[q], %[s1], lsl #2\n\t"
                         "ldr r9, [%[q]]\n\t"
                         "ldr r10, [%[q], %[s1]]\n\t"
                         "ldr r11, [%[q], %[s1], lsl #1]\n\t"
                         "ldr lr, [%[q], %[s3]]\n\t"
                         "add %[q], %[q], %[s1], lsl #2\n\t"
                         "stmia %[d]!, {r4, r5, r6, r8, r9, r10, r11, lr}"
                         : [q] "+r"(q), [d] "+r"(d)
                         : [s1] "r"(s1), [s3] "r"(s3)
                         : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "lr", "memory");
#else
        for (int32_t k = 0; k < 8; k++, q += cw)
        {
            *d++ = *q;
        }
#endif
        if (d == row_end)
        {
            if (--y == 0)
            {
                break;
            }
            d += skip;
            row_end += wp;
        }
    }
}

/* The padded planes of a group of four whole channels at a word-aligned offset (C % 4 == 0, aligned
 * input): plane row y, column x is the word of input (y - top, x - left), or fill4 (four zero
 * points) outside the input (top, left >= 0). in: the group's word of input pixel (0, 0); cw: words
 * per input pixel. Plane rows are wp words, one after another, so the plane is one run of words:
 * padding, input rows with their padding, padding. The padding is the same for every group: only
 * the first (borders) writes it, the others copy the input words. Not inlined: the registers are
 * its own. */
static __attribute__((noinline)) void sp_dw_plane_words(const uint32_t *in, int32_t in_h, int32_t in_w, int32_t cw,
                                                        int32_t top, int32_t left, uint32_t fill4,
                                                        const sp_dw_image *im, uint32_t *d, int borders)
{
    const int32_t wp = im->wp, hp = im->hp;
    /* per input row: `lead` padding words, then `n` input words */
    const int32_t lead = left < wp ? left : wp;
    const int32_t n = (in_w + left < wp ? in_w + left : wp) - lead;
    const int32_t above = top < hp ? top : hp;
    const int32_t rows = n > 0 ? (in_h < hp - above ? in_h : hp - above) : 0;
    if (borders)
    {
        for (uint32_t *p = d, *const end = d + hp * wp; p != end; p++)
        {
            *p = fill4;
        }
    }
    d += above * wp + lead;
    for (int32_t y = 0; y < rows; y++, d += wp, in += in_w * cw)
    {
        const uint32_t *q = in;
        uint32_t *o = d;
        for (uint32_t *const quads = d + (n & ~3); o != quads; o += 4, q += 4 * cw)
        {
            const uint32_t a = q[0], b = q[cw], c = q[2 * cw], f = q[3 * cw];
            o[0] = a;
            o[1] = b;
            o[2] = c;
            o[3] = f;
        }
        for (uint32_t *const e = d + n; o != e; o++, q += cw)
        {
            *o = *q;
        }
    }
}

/* The same planes for any channel count and alignment (g channels of the group, lane j holds
 * channel c0 + j), a byte at a time. */
static void sp_dw_plane_bytes(const int8_t *in, int32_t in_h, int32_t in_w, int32_t top, int32_t left, int32_t fill,
                              const sp_dw_image *im, int32_t c0, int32_t g, int8_t *plane)
{
    const int32_t C = im->C;
    memset(plane, fill, (size_t)(im->hp * im->pitch));
    const int32_t x0 = left < im->wp ? left : im->wp;
    const int32_t x1 = in_w + left < im->wp ? in_w + left : im->wp;
    for (int32_t y = top; y < im->hp && y - top < in_h; y++)
    {
        const int8_t *src = in + ((y - top) * in_w + (x0 - left)) * C + c0;
        int8_t *d = plane + y * im->pitch + x0 * SP_DW_G;
        for (int32_t x = x0; x < x1; x++, d += SP_DW_G, src += C)
        {
            for (int32_t j = 0; j < g; j++)
            {
                d[j] = src[j];
            }
        }
    }
}

/* acc = bias + the n taps (n = 0: the `count` (offset, weight) pairs at tw) of the window at px.
 * SMLABB / SMLATB (weights fit 16 bits, doubled too): one instruction per tap, which GCC's
 * reassociation of a plain sum (a MUL, MLAs and an ADD) is not; w01 holds the first two weights
 * (low, high half), so two taps take one register. */
SP_INLINE uint32_t sp_dw_acc(const int8_t *px, const int32_t *tw, int32_t count, const int n, uint32_t bias,
                             int32_t o0, int32_t o1, int32_t w01, int32_t o2, int32_t w2)
{
    int32_t acc = (int32_t)bias;
    if (n == 0)
    {
        for (const int32_t *const end = tw + 2 * count; tw != end; tw += 2)
        {
            acc = sp_smlabb(tw[1], px[tw[0]], acc);
        }
        return (uint32_t)acc;
    }
    acc = sp_smlabb(w01, px[o0], acc);
    if (n >= 2)
    {
        acc = sp_smlatb(w01, px[o1], acc);
    }
    if (n >= 3)
    {
        acc = sp_smlabb(w2, px[o2], acc);
    }
    return (uint32_t)acc;
}

/* One channel over every output pixel, four pixels per step; the outputs requantized from the
 * doubled accumulator (sp_gen_out2: RIGHT channels only), with the sign correction where `sign`. n = 1, 2, 3: that many taps, held in
 * registers; n = 0: `count` taps from tw. STEP: the bytes between two output pixels' windows (4 or
 * 8: strides 1 and 2, immediate offsets; 0: im->step). base: the channel's byte of the first
 * window's top-left; tw's weights and bias2 are doubled. */
SP_INLINE void sp_dw_channel(const sp_dw_image *im, const int8_t *base, const int32_t *tw, int32_t count, const int n,
                             const int32_t STEP, uint32_t bias2, int32_t m, int32_t rnd, int32_t sh, const int sign,
                             int32_t lo, int32_t hi, const int clamp, const int EIGHTS, int8_t *out)
{
    const int32_t o0 = n >= 1 ? tw[0] : 0, o1 = n >= 2 ? tw[2] : 0, o2 = n >= 3 ? tw[4] : 0;
    const int32_t w01 = n >= 1 ? sp_pack_lo(tw[1], n >= 2 ? tw[3] : 0) : 0, w2 = n >= 3 ? tw[5] : 0;
    const int32_t C = im->C, step = STEP != 0 ? STEP : im->step, out_w = im->out_w;
    /* The outputs are one run of pixels C bytes apart; the windows jump at each row's end. */
    const int32_t jump = im->row_step - out_w * step;
    const int32_t quads = out_w >> 2, rest = out_w & 3;
    const int8_t *px = base;
    int8_t *o = out;
    if (EIGHTS && n >= 1)
    {
        /* out_w a multiple of 8: one loop over the outputs, eight per step, the windows' jump at
         * a row's end a test per step (a row loop's state would not fit the registers); a pointer
         * per tap, so the loads take immediate offsets */
        const int32_t row_step = im->row_step;
        const int8_t *t0 = px + o0, *t1 = px + o1, *t2 = px + o2;
        const int8_t *row_end = t0 + out_w * step;
        int32_t C3 = 3 * C;
        __asm__("" : "+r"(C3)); /* 3C in a register: a store each, not an add and a store */
        for (int32_t rows = im->out_h;;)
        {
            _Pragma("GCC unroll 8")
            for (int32_t k = 0; k < 8; k++)
            {
                int32_t acc = sp_smlabb(w01, t0[k * step], (int32_t)bias2);
                if (n >= 2)
                {
                    acc = sp_smlatb(w01, t1[k * step], acc);
                }
                if (n >= 3)
                {
                    acc = sp_smlabb(w2, t2[k * step], acc);
                }
                o[(k & 3) == 3 ? C3 : (k & 3) * C] = sp_gen_out2(acc, m, rnd, sh, sign, lo, hi, clamp);
                if (k == 3 || k == 7)
                {
                    o += 4 * C;
                    __asm__("" : "+r"(o)); /* one output pointer: GCC would keep a second at o + 4C */
                }
            }
            t0 += 8 * step;
            t1 += 8 * step;
            t2 += 8 * step;
            if (t0 == row_end)
            {
                if (--rows == 0)
                {
                    break;
                }
                t0 += jump;
                t1 += jump;
                t2 += jump;
                row_end += row_step;
            }
        }
        return;
    }
    for (int32_t oy = im->out_h; oy > 0; oy--, px += jump)
    {
        for (int32_t q = quads; q > 0; q--, px += 4 * step, o += 4 * C)
        {
            _Pragma("GCC unroll 4")
            for (int32_t k = 0; k < 4; k++)
            {
                const uint32_t acc = sp_dw_acc(px + k * step, tw, count, n, bias2, o0, o1, w01, o2, w2);
                o[k * C] = sp_gen_out2((int32_t)acc, m, rnd, sh, sign, lo, hi, clamp);
            }
        }
        for (int32_t r = rest; r > 0; r--, px += step, o += C)
        {
            *o = sp_gen_out2((int32_t)sp_dw_acc(px, tw, count, n, bias2, o0, o1, w01, o2, w2), m, rnd, sh, sign,
                             lo, hi, clamp);
        }
    }
}

/* Separate functions, so each specialised loop gets the registers to itself: N taps (0: any
 * count), STEP (0: any stride), SIGN; no clamp. */
#define SP_DW_FAST(N, STEP, SIGN)                                                                                    \
    static __attribute__((noinline)) void sp_dw_fast##N##_##STEP##_##SIGN(                                           \
        const sp_dw_image *im, const int8_t *base, const int32_t *tw, int32_t count, uint32_t bias2, int32_t m,      \
        int32_t rnd, int32_t sh, int8_t *out)                                                                       \
    {                                                                                                                 \
        sp_dw_channel(im, base, tw, count, N, STEP, bias2, m, rnd, sh, SIGN, -128, 127, 0, 0, out);                  \
    }
#define SP_DW_FAST_STEPS(N, SIGN) SP_DW_FAST(N, 4, SIGN) SP_DW_FAST(N, 8, SIGN) SP_DW_FAST(N, 0, SIGN)
SP_DW_FAST_STEPS(1, 0)
SP_DW_FAST_STEPS(1, 1)
SP_DW_FAST_STEPS(2, 0)
SP_DW_FAST_STEPS(2, 1)
SP_DW_FAST_STEPS(3, 0)
SP_DW_FAST_STEPS(3, 1)
SP_DW_FAST(0, 0, 0)
SP_DW_FAST(0, 0, 1)

/* The same with the requantization's shift an immediate (SSAT shifts: one instruction fewer per
 * output, and a register freed for the multiplier): the shifts ReLU layers' RIGHT channels mostly
 * have. Strides 1 and 2, no sign correction. */
#define SP_DW_FAST_SH(N, STEP, SH, EIGHTS)                                                                           \
    static __attribute__((noinline)) void sp_dw_fast##N##_##STEP##_sh##SH##_##EIGHTS(                                \
        const sp_dw_image *im, const int8_t *base, const int32_t *tw, int32_t count, uint32_t bias2, int32_t m,      \
        int32_t rnd, int32_t sh, int8_t *out)                                                                       \
    {                                                                                                                 \
        (void)sh;                                                                                                     \
        sp_dw_channel(im, base, tw, count, N, STEP, bias2, m, rnd, SH, 0, -128, 127, 0, EIGHTS, out);                \
    }
#define SP_DW_FAST_SHIFTS(N, E)                                                                                      \
    SP_DW_FAST_SH(N, 4, 7, E) SP_DW_FAST_SH(N, 4, 8, E) SP_DW_FAST_SH(N, 8, 7, E) SP_DW_FAST_SH(N, 8, 8, E)
SP_DW_FAST_SHIFTS(1, 0)
SP_DW_FAST_SHIFTS(2, 0)
SP_DW_FAST_SHIFTS(3, 0)
SP_DW_FAST_SHIFTS(1, 1)
SP_DW_FAST_SHIFTS(2, 1)
SP_DW_FAST_SHIFTS(3, 1)
#define SP_DW_SH_MIN 7 /* the shifts with their own loops: SP_DW_SH_MIN and SP_DW_SH_MIN + 1 */

typedef void (*sp_dw_fast_fn)(const sp_dw_image *, const int8_t *, const int32_t *, int32_t, uint32_t, int32_t,
                              int32_t, int32_t, int8_t *);

/* RIGHT channels of a layer that clamps (any stride, the sign correction kept): N taps, 0 any. */
#define SP_DW_CLAMPED(N)                                                                                              \
    static __attribute__((noinline)) void sp_dw_clamped##N(const sp_dw_image *im, const int8_t *base,               \
                                                           const int32_t *tw, int32_t count, uint32_t bias2,         \
                                                           int32_t m, int32_t rnd, int32_t sh, int32_t lo,           \
                                                           int32_t hi, int8_t *out)                                  \
    {                                                                                                                 \
        sp_dw_channel(im, base, tw, count, N, 0, bias2, m, rnd, sh, 1, lo, hi, 1, 0, out);                             \
    }
SP_DW_CLAMPED(0)
SP_DW_CLAMPED(1)
SP_DW_CLAMPED(2)
SP_DW_CLAMPED(3)

typedef void (*sp_dw_clamped_fn)(const sp_dw_image *, const int8_t *, const int32_t *, int32_t, uint32_t, int32_t,
                                 int32_t, int32_t, int32_t, int32_t, int8_t *);

/* A channel of one tap with its table (lut[(uint8)x] is the output for input byte x: bias,
 * requantization, zero point and clamp included): a load, a table load and a store per output.
 * px: the tap's byte of the first window; STEP as in sp_dw_channel. EIGHTS: out_w is a multiple of
 * 8, eight pixels per step and no remainder loop (the row's state is small enough to stay in
 * registers); else four pixels per step. */
SP_INLINE void sp_dw_lut_channel(const sp_dw_image *im, const uint8_t *px, const int8_t *lut, const int32_t STEP,
                                 const int EIGHTS, int8_t *out)
{
    const int32_t C = im->C, step = STEP != 0 ? STEP : im->step, out_w = im->out_w;
    const int32_t jump = im->row_step - out_w * step;
    const int32_t quads = out_w >> 2, rest = out_w & 3, C2 = 2 * C;
    int8_t *o = out;
    if (EIGHTS)
    {
        /* one loop over the outputs (one run, C bytes apart); the windows jump at each row's end */
        int32_t C3 = 3 * C;
        const int32_t C4 = 4 * C, row_step = im->row_step;
        __asm__("" : "+r"(C3)); /* 3C in a register: a store each, not an add and a store */
        const uint8_t *row_end = px + out_w * step;
        for (int32_t rows = im->out_h;;)
        {
            /* EIGHTS blocks of eight pixels, four at a time */
            _Pragma("GCC unroll 4")
            for (int32_t b = 0; b < 2 * EIGHTS; b++)
            {
                const int8_t y0 = lut[px[0]], y1 = lut[px[step]], y2 = lut[px[2 * step]], y3 = lut[px[3 * step]];
                px += 4 * step;
                o[0] = y0;
                o[C] = y1;
                o[C2] = y2;
                o[C3] = y3;
                o += C4;
                __asm__("" : "+r"(o)); /* one output pointer: GCC would keep a second at o + 4C */
            }
            if (px == row_end)
            {
                if (--rows == 0)
                {
                    break;
                }
                px += jump;
                row_end += row_step;
            }
        }
        return;
    }
    for (int32_t oy = im->out_h; oy > 0; oy--, px += jump)
    {
        /* the stores step by 2C twice per quad: two step registers instead of four, so the loop's
         * state stays in registers */
        for (const uint8_t *const end = px + quads * 4 * step; px != end; px += 4 * step)
        {
            const int8_t y0 = lut[px[0]], y1 = lut[px[step]], y2 = lut[px[2 * step]], y3 = lut[px[3 * step]];
            o[0] = y0;
            o[C] = y1;
            o += C2;
            o[0] = y2;
            o[C] = y3;
            o += C2;
        }
        for (int32_t r = rest; r > 0; r--, px += step, o += C)
        {
            *o = lut[*px];
        }
    }
}

#define SP_DW_LUT(STEP, EIGHTS)                                                                                       \
    static __attribute__((noinline)) void sp_dw_lut##STEP##_##EIGHTS(const sp_dw_image *im, const uint8_t *px,       \
                                                                     const int8_t *lut, int8_t *out)                 \
    {                                                                                                                 \
        sp_dw_lut_channel(im, px, lut, STEP, EIGHTS, out);                                                            \
    }
SP_DW_LUT(4, 0)
SP_DW_LUT(8, 0)
SP_DW_LUT(0, 0)
SP_DW_LUT(4, 1)
SP_DW_LUT(8, 1)
SP_DW_LUT(4, 2)
SP_DW_LUT(8, 2)

/* The table loop for the layer's stride and width, picked once per layer. */
static void sp_dw_pick_lut(sp_dw_image *im)
{
    static const sp_dw_lut_fn luts[3][3] = {{sp_dw_lut4_0, sp_dw_lut8_0, sp_dw_lut0_0},
                                             {sp_dw_lut4_1, sp_dw_lut8_1, sp_dw_lut0_0},
                                             {sp_dw_lut4_2, sp_dw_lut8_2, sp_dw_lut0_0}};
    im->lut = luts[im->eights][im->steps];
}

/* Channels whose requantization is LEFT or GENERIC (large multipliers or accumulators: rare): the
 * real (undoubled) accumulator, one pixel at a time. */
static __attribute__((noinline)) void sp_dw_any(const sp_dw_image *im, const int8_t *base, const int32_t *tw,
                                                int32_t count, int32_t bias, int32_t m, int32_t rnd, int32_t sh,
                                                int32_t kind, int32_t lo, int32_t hi, int8_t *out)
{
    const int32_t C = im->C, step = im->step, out_w = im->out_w;
    const int gkind = kind == TFC_SPARSE_RQ_LEFT ? 1 : 2;
    for (int32_t oy = 0; oy < im->out_h; oy++)
    {
        const int8_t *px = base + oy * im->row_step;
        int8_t *o = out + oy * out_w * C;
        for (int8_t *const o_end = o + out_w * C; o != o_end; o += C, px += step)
        {
            const uint32_t acc = sp_dw_acc(px, tw, count, 0, (uint32_t)bias, 0, 0, 0, 0, 0);
            *o = sp_gen_out((int32_t)acc, gkind, m, rnd, sh, lo, hi, 1);
        }
    }
}

/* Whether a RIGHT requantization needs its correction for a negative accumulator: not where the
 * output zero point is at or below the clamp's minimum (ReLU and ReLU6 layers; the proof is
 * tfc/sparse/reference.py's sign_fix_needed). */
static int sp_dw_sign_fix(const tfc_sparse_dw_weights *w)
{
    return w->output_offset > w->activation.min;
}

/* One channel of taps (a one-tap channel with a table runs it from sp_dw_run) of the group whose
 * planes are at plane (lane j). */
static void sp_dw_one(const tfc_sparse_dw_weights *w, const sp_dw_image *im, const tfc_sparse_dw_channel *rec,
                      const uint8_t *tap, const int8_t *plane, int8_t *out)
{
    static const sp_dw_fast_fn fast[2][4][3] = {
        {{sp_dw_fast0_0_0, sp_dw_fast0_0_0, sp_dw_fast0_0_0},
         {sp_dw_fast1_4_0, sp_dw_fast1_8_0, sp_dw_fast1_0_0},
         {sp_dw_fast2_4_0, sp_dw_fast2_8_0, sp_dw_fast2_0_0},
         {sp_dw_fast3_4_0, sp_dw_fast3_8_0, sp_dw_fast3_0_0}},
        {{sp_dw_fast0_0_1, sp_dw_fast0_0_1, sp_dw_fast0_0_1},
         {sp_dw_fast1_4_1, sp_dw_fast1_8_1, sp_dw_fast1_0_1},
         {sp_dw_fast2_4_1, sp_dw_fast2_8_1, sp_dw_fast2_0_1},
         {sp_dw_fast3_4_1, sp_dw_fast3_8_1, sp_dw_fast3_0_1}}};
    const int32_t lo = w->activation.min, hi = w->activation.max, out_off = w->output_offset;
    const int clamp = !(lo <= -128 && hi >= 127);
    const int32_t count = rec->count, sh = rec->shift, kind = rec->kind;
    /* RIGHT: the weights and bias doubled, the accumulator is 2 * acc (sp_gen_out2) */
    const int32_t scale = kind == TFC_SPARSE_RQ_RIGHT ? 2 : 1;
    int32_t tw[2 * SP_DW_MAX_TAPS]; /* (byte offset in the window, weight) per tap */
    for (int32_t t = 0; t < count; t++, tap += 2)
    {
        const int32_t ky = tap[0] / w->kw, kx = tap[0] % w->kw;
        tw[2 * t] = ky * im->pitch + kx * SP_DW_G;
        tw[2 * t + 1] = scale * (int8_t)tap[1];
    }
    if (kind != TFC_SPARSE_RQ_RIGHT)
    {
        sp_dw_any(im, plane, tw, count, rec->bias, rec->multiplier, out_off, sh, kind, lo, hi, out);
        return;
    }
    /* 2^(shift-1) + output_offset * 2^shift (tfc/sparse/reference.py requant_kind) */
    const int32_t rnd = (int32_t)((1U << (sh - 1)) + ((uint32_t)out_off << sh));
    const uint32_t bias2 = (uint32_t)rec->bias << 1;
    if (clamp)
    {
        static const sp_dw_clamped_fn clamped[4] = {sp_dw_clamped0, sp_dw_clamped1, sp_dw_clamped2, sp_dw_clamped3};
        clamped[count <= 3 ? count : 0](im, plane, tw, count, bias2, rec->multiplier, rnd, sh, lo, hi, out);
        return;
    }
    const int32_t steps = im->steps;
    if (!sp_dw_sign_fix(w) && count >= 1 && count <= 3 && steps < 2 && sh >= SP_DW_SH_MIN && sh <= SP_DW_SH_MIN + 1)
    {
        static const sp_dw_fast_fn fast_sh[2][3][2][2] = {
            {{{sp_dw_fast1_4_sh7_0, sp_dw_fast1_4_sh8_0}, {sp_dw_fast1_8_sh7_0, sp_dw_fast1_8_sh8_0}},
             {{sp_dw_fast2_4_sh7_0, sp_dw_fast2_4_sh8_0}, {sp_dw_fast2_8_sh7_0, sp_dw_fast2_8_sh8_0}},
             {{sp_dw_fast3_4_sh7_0, sp_dw_fast3_4_sh8_0}, {sp_dw_fast3_8_sh7_0, sp_dw_fast3_8_sh8_0}}},
            {{{sp_dw_fast1_4_sh7_1, sp_dw_fast1_4_sh8_1}, {sp_dw_fast1_8_sh7_1, sp_dw_fast1_8_sh8_1}},
             {{sp_dw_fast2_4_sh7_1, sp_dw_fast2_4_sh8_1}, {sp_dw_fast2_8_sh7_1, sp_dw_fast2_8_sh8_1}},
             {{sp_dw_fast3_4_sh7_1, sp_dw_fast3_4_sh8_1}, {sp_dw_fast3_8_sh7_1, sp_dw_fast3_8_sh8_1}}}};
        fast_sh[im->eights != 0][count - 1][steps][sh - SP_DW_SH_MIN](im, plane, tw, count, bias2, rec->multiplier,
                                                                         rnd, sh, out);
        return;
    }
    fast[sp_dw_sign_fix(w)][count <= 3 ? count : 0][steps](im, plane, tw, count, bias2, rec->multiplier, rnd, sh,
                                                          out);
}

/* Every channel of one image, four at a time: their planes into scratch, then their outputs
 * (which may overwrite their own input: nothing reads those channels again). */
static void sp_dw_run(const tfc_sparse_dw_weights *w, const sp_dw_image *im, const int8_t *in, int32_t in_h,
                      int32_t in_w, int32_t top, int32_t left, int32_t fill, int8_t *plane, int8_t *out)
{
    const uint8_t *tap = w->taps;
    const int8_t *lut = w->luts;
    const int words = im->C % 4 == 0 && ((uintptr_t)in & 3U) == 0 && ((uintptr_t)plane & 3U) == 0;
    int borders = 1; /* the word planes' padding: written by the first group, kept by the others */
    /* every input row whole in the plane, 8k words: copied eight per step */
    const int eights = in_h > 0 && in_w > 0 && top + in_h <= im->hp && left + in_w <= im->wp && in_w % 8 == 0;
    for (int32_t c0 = 0; c0 < im->C; c0 += SP_DW_G)
    {
        const int32_t g = im->C - c0 < SP_DW_G ? im->C - c0 : SP_DW_G;
        int32_t used = 0;
        for (int32_t j = 0; j < g; j++)
        {
            used |= w->records[c0 + j].count != 0;
        }
        if (used && words)
        {
            const uint32_t fill4 = ((uint32_t)fill & 0xFFU) * 0x01010101U;
            uint32_t *const words_plane = (uint32_t *)__builtin_assume_aligned(plane, 4);
            const uint32_t *const words_in = (const uint32_t *)__builtin_assume_aligned(in + c0, 4);
            if (eights)
            {
                if (borders)
                {
                    sp_dw_plane_padding(words_plane, im, top, left, in_h, in_w, fill4);
                }
                sp_dw_plane_eights(words_in, in_w, im->C / 4, in_h, im->wp, words_plane + top * im->wp + left);
            }
            else
            {
                sp_dw_plane_words(words_in, in_h, in_w, im->C / 4, top, left, fill4, im, words_plane, borders);
            }
            borders = 0;
        }
        else if (used)
        {
            sp_dw_plane_bytes(in, in_h, in_w, top, left, fill, im, c0, g, plane);
        }
        for (int32_t j = 0; j < g; j++)
        {
            const tfc_sparse_dw_channel *rec = &w->records[c0 + j];
            const int32_t c = c0 + j;
            if (rec->count == 0)
            {
                const int8_t empty = rec->empty;
                int8_t *o = out + c;
                for (int8_t *const o_end = o + im->out_h * im->out_w * im->C; o != o_end; o += im->C)
                {
                    *o = empty;
                }
                continue;
            }
            if (rec->count == 1 && lut != NULL)
            {
                /* its table, called from here: sp_dw_one's frame is the tap list's */
                im->lut(im, (const uint8_t *)plane + j + (tap[0] / w->kw) * im->pitch + (tap[0] % w->kw) * SP_DW_G,
                        lut, out + c);
                tap += 2;
                lut += 256;
                continue;
            }
            sp_dw_one(w, im, rec, tap, plane + j, out + c);
            tap += 2 * rec->count;
        }
    }
}

int32_t tfc_sparse_depthwise_conv_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                     const cmsis_nn_dims *input_dims,
                                                     const tfc_sparse_dw_weights *weights,
                                                     const cmsis_nn_dims *output_dims)
{
    sp_dw_image im;
    if (!sp_dw_geometry(dw_conv_params, input_dims, weights, output_dims, &im))
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
    if (ctx == NULL || ctx->buf == NULL || ctx->size < im.hp * im.pitch)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    sp_dw_pick_lut(&im);
    const int32_t in_size = input_dims->h * input_dims->w * input_dims->c;
    const int32_t out_size = output_dims->h * output_dims->w * output_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        sp_dw_run(weights, &im, input_data + b * in_size, input_dims->h, input_dims->w, p->padding.h, p->padding.w,
                  -p->input_offset, (int8_t *)ctx->buf, output_data + b * out_size);
    }
    return ARM_CMSIS_NN_SUCCESS;
}
