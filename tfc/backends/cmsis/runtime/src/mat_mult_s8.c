/*
 * tfc runtime: the int8 matrix-product core behind arm_convolve_1x1_s8_fast,
 * arm_fully_connected_s8 and arm_batch_matmul_s8.
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tfc_nn_dsp.h"
#include "tfc_nn_requant.h"
#include "tfc_nn_support.h"

/* One output: requantized dot product of lhs row and rhs row, accumulated modulo 2^32. */
static int8_t dot_scalar(const int8_t *lhs, const int8_t *rhs, int32_t cols, int32_t lhs_offset, int32_t rhs_offset,
                         uint32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t act_min,
                         int32_t act_max)
{
    for (int32_t c = 0; c < cols; c++)
    {
        acc += (uint32_t)((lhs[c] + lhs_offset) * (rhs[c] + rhs_offset));
    }
    return tfc_requantize_to_s8((int32_t)acc, mult, shift, out_offset, act_min, act_max);
}

#if TFC_NN_DSP
/* The packed SIMD path keeps (x + offset) in 16 bits; larger offsets take the scalar path. */
static int offset_fits_s16(int32_t offset) { return offset >= -32640 && offset <= 32640; }

/* Four lhs rows are widened once into at most this many int16 columns on the stack (1 KiB at
 * 128, 8 bytes per column used); longer rows take the one-row path. CMSIS-NN's API gives these
 * kernels no scratch buffer (arm_convolve_1x1_s8_fast's size is 0 outside Arm Compiler 6). */
#ifndef TFC_MAT_MULT_STACK_COLS
#define TFC_MAT_MULT_STACK_COLS 128
#endif

/* The arguments every inner kernel needs, gathered once. */
typedef struct
{
    const int32_t *bias, *mult, *shift;
    int32_t per_channel, cols, cols4, out_offset, out_stride, act_min, act_max;
    uint32_t lo2, ro2; /* lhs_offset and rhs_offset in both halfwords */
    int32_t lhs_offset, rhs_offset;
    int32_t all_right; /* every channel takes the four-instruction requantization */
} mm_args;

__STATIC_FORCEINLINE tfc_rq mm_rq(const mm_args *a, int32_t k)
{
    const int32_t i = a->per_channel ? k : 0;
    return a->all_right ? tfc_rq_make_right(a->mult[i], a->shift[i])
                        : tfc_rq_make(a->mult[i], a->shift[i], a->out_offset, a->act_max);
}

/* Four rows widened to (x + lhs_offset) int16, interleaved per 4-column block: buf[4b + p] holds
 * block b of row p as the words (x0, x2) and (x1, x3), the order SXTB16 and SXTB16-ROR8 unpack
 * the weights in, so one LDRD per row feeds two SMLADs. sums (when not NULL: an rhs with an offset)
 * gets each row's sum of its widened columns, modulo 2^32: two SMLADs with ones per block here
 * instead of a second pass over buf. */
__STATIC_FORCEINLINE void widen_rows4_sums(const int8_t *lhs, int32_t cols, int32_t cols4, uint32_t lo2,
                                           uint64_t *buf, uint32_t *sums)
{
    const uint32_t ones = 0x00010001U;
    for (int32_t p = 0; p < 4; p++)
    {
        const int8_t *row = lhs + p * cols;
        uint64_t *dst = buf + p;
        uint32_t sum = 0;
        for (int32_t c = 0; c < cols4; c += 4, dst += 4)
        {
            const uint32_t x = (uint32_t)tfc_read_s8x4(row + c);
            const uint32_t e = __SXTAB16(lo2, x), o = tfc_sxtab16_ror8(lo2, x);
            *dst = tfc_pair(e, o);
            if (sums != NULL)
            {
                sum = __SMLAD(e, ones, __SMLAD(o, ones, sum));
            }
        }
        if (sums != NULL)
        {
            sums[p] = sum;
        }
    }
}

static void widen_rows4(const int8_t *lhs, int32_t cols, int32_t cols4, uint32_t lo2, uint64_t *buf)
{
    widen_rows4_sums(lhs, cols, cols4, lo2, buf, NULL);
}

/* One 4-column block of the weight row at wp against the four widened rows at x: 15 instructions
 * (LDR, two SXTAB16, four LDRD, eight SMLAD) for 16 MACs. */
#define MM_ROWS4_BLOCK(wp)                                                                                         \
    do                                                                                                             \
    {                                                                                                              \
        const uint32_t wv = (uint32_t)tfc_read_s8x4(wp);                                                           \
        const uint32_t we = __SXTAB16(ro2, wv), wo = tfc_sxtab16_ror8(ro2, wv);                                    \
        uint32_t xe, xo;                                                                                           \
        TFC_LOAD_PAIR_INC(x, xe, xo);                                                                              \
        a0 = __SMLAD(wo, xo, __SMLAD(we, xe, a0));                                                                 \
        TFC_LOAD_PAIR_INC(x, xe, xo);                                                                              \
        a1 = __SMLAD(wo, xo, __SMLAD(we, xe, a1));                                                                 \
        TFC_LOAD_PAIR_INC(x, xe, xo);                                                                              \
        a2 = __SMLAD(wo, xo, __SMLAD(we, xe, a2));                                                                 \
        TFC_LOAD_PAIR_INC(x, xe, xo);                                                                              \
        a3 = __SMLAD(wo, xo, __SMLAD(we, xe, a3));                                                                 \
    } while (0)

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* One symmetric (rhs_offset 0) weight block against the four widened rows: LDR, two SXTB16,
 * four LDRD, eight SMLAD (15 instructions, 16 MACs). */
#define MM_ROWS4_SYM_BLOCK_ASM                                                                                     \
    "ldr %[wv], [%[w]], #4\n\t"                                                                                    \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a0], %[wv], %[xe], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[wo], %[xo], %[a0]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a1], %[wv], %[xe], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[wo], %[xo], %[a1]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a2], %[wv], %[xe], %[a2]\n\t"                                                                         \
    "smlad %[a2], %[wo], %[xo], %[a2]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a3], %[wv], %[xe], %[a3]\n\t"                                                                         \
    "smlad %[a3], %[wo], %[xo], %[a3]\n\t"

/* n >= 1 blocks of the weight row w against buf; returns w advanced by 4n. Written out because
 * GCC, with the channel loop's state live around it, spilled; four blocks per loop iteration
 * (after 1 and 2 odd ones) keep the compare-and-branch at 2 instructions per 60. */
__STATIC_FORCEINLINE const int8_t *mm_rows4_dot_sym(const int8_t *w, const uint64_t *x, int32_t n, uint32_t acc[4])
{
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint64_t *const end = x + 4 * n;
    uint32_t wv, wo, xe, xo;
#define MM_ROWS4_OPERANDS                                                                                          \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "+r"(x), [wv] "=&r"(wv),        \
      [wo] "=&r"(wo), [xe] "=&r"(xe), [xo] "=&r"(xo)                                                               \
    : [end] "r"(end)                                                                                               \
    : "cc", "memory"
    if (n & 1)
    {
        __asm__ volatile(MM_ROWS4_SYM_BLOCK_ASM MM_ROWS4_OPERANDS);
    }
    if (n & 2)
    {
        __asm__ volatile(MM_ROWS4_SYM_BLOCK_ASM MM_ROWS4_SYM_BLOCK_ASM MM_ROWS4_OPERANDS);
    }
    if (n > 3)
    {
        __asm__ volatile("1:\n\t" MM_ROWS4_SYM_BLOCK_ASM MM_ROWS4_SYM_BLOCK_ASM MM_ROWS4_SYM_BLOCK_ASM
                             MM_ROWS4_SYM_BLOCK_ASM "cmp %[x], %[end]\n\t"
                                                    "bne 1b" MM_ROWS4_OPERANDS);
    }
#undef MM_ROWS4_OPERANDS
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}
#else
__STATIC_FORCEINLINE const int8_t *mm_rows4_dot_sym(const int8_t *w, const uint64_t *x, int32_t n, uint32_t acc[4])
{
    for (int32_t i = 0; i < n; i++, w += 4, x += 4)
    {
        const uint32_t wv = (uint32_t)tfc_read_s8x4(w);
        const uint32_t we = __SXTB16(wv), wo = tfc_sxtb16_ror8(wv);
        acc[0] = __SMLAD(wo, tfc_pair_hi(x[0]), __SMLAD(we, tfc_pair_lo(x[0]), acc[0]));
        acc[1] = __SMLAD(wo, tfc_pair_hi(x[1]), __SMLAD(we, tfc_pair_lo(x[1]), acc[1]));
        acc[2] = __SMLAD(wo, tfc_pair_hi(x[2]), __SMLAD(we, tfc_pair_lo(x[2]), acc[2]));
        acc[3] = __SMLAD(wo, tfc_pair_hi(x[3]), __SMLAD(we, tfc_pair_lo(x[3]), acc[3]));
    }
    return w;
}
#endif

#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
/* One accumulator (in place) to its int8 output value: the four-instruction requantization
 * (tfc_rq_right), the output offset, SSAT for the full int8 range. */
/* The requantization phase reuses the dot products' registers under these names. */
#define MM_M2 "%[x]"    /* 2 * multiplier */
#define MM_KHI "%[end]" /* 2^(e - 1) */
#define MM_E "%[wv]"    /* e = -shift */
#define MM_OFF "%[xe]"  /* output offset */
#define MM_T "%[wo]"    /* temporary */

#define MM_RQ_FULL_ASM(acc)                                                                                        \
    "smmlar " MM_T ", %[" acc "], " MM_M2 ", " MM_KHI "\n\t"                                                       \
    "qadd " MM_T ", " MM_T ", %[" acc "]\n\t"                                                                      \
    "add " MM_T ", " MM_T ", %[" acc "], asr #31\n\t"                                                              \
    "asr " MM_T ", " MM_T ", " MM_E "\n\t"                                                                         \
    "qadd " MM_T ", " MM_T ", " MM_OFF "\n\t"                                                                      \
    "ssat %[" acc "], #8, " MM_T "\n\t"

/* After a channel's dot products, with m2, khi and e loaded: the output offset, the four
 * requantizations, the four stores and the channel loop's test (both written-out loops below). */
#define MM_RQ4_STORE_NEXT                                                                                          \
    "ldr " MM_OFF ", %[out_off]\n\t" MM_RQ_FULL_ASM("a0") MM_RQ_FULL_ASM("a1") MM_RQ_FULL_ASM("a2")                \
        MM_RQ_FULL_ASM("a3") "ldr %[x], %[out]\n\t"                                                                \
    "add %[x], %[x], %[k]\n\t"                                                                                     \
    "ldr %[end], %[stride]\n\t"                                                                                    \
    "strb %[a0], [%[x]]\n\t"                                                                                       \
    "strb %[a1], [%[x], %[end]]\n\t"                                                                               \
    "add %[x], %[x], %[end], lsl #1\n\t"                                                                           \
    "strb %[a2], [%[x]]\n\t"                                                                                       \
    "strb %[a3], [%[x], %[end]]\n\t"                                                                               \
    "add %[k], %[k], #1\n\t"                                                                                       \
    "ldr %[xo], %[rows]\n\t"                                                                                       \
    "cmp %[k], %[xo]\n\t"                                                                                          \
    "blt 1b\n\t"

/* The registers of both written-out channel loops (their outputs; the inputs are their own). */
#define MM_LOOP_OUTPUTS                                                                                            \
    : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w), [k] "+r"(k), [x] "=&r"(x),      \
      [end] "=&r"(end), [wv] "=&r"(wv), [wo] "=&r"(wo), [xe] "=&r"(xe), [xo] "=&r"(xo)

/* The whole channel loop of mm_rows4_sym for per-channel quantization with a bias and the full
 * int8 output range (a 1x1 convolution after calibration), written out: GCC kept four output
 * pointers and the loop's constants on the stack, ~45 instructions per channel around the
 * 248 of the dot products. Per channel: bias, dot products (4 blocks per loop iteration after
 * n % 4 single ones), constants m2 = 2 * mult, khi = 2^(e - 1), e = -shift (9 instructions),
 * 4 x 6 requantization, 4 stores, loop test. Registers change roles after the dot products
 * (12 is all GCC can give): x holds m2, end khi, wv e, xe the output offset, wo the temporary;
 * x and end then address the stores. */
static void mm_rows4_sym_asm(const uint64_t *buf, const int8_t *w, int32_t n, int32_t rhs_rows, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, int8_t *out, int32_t stride, int32_t out_off)
{
    const uint64_t *const xend = buf + 4 * n;
    const int32_t n_odd = n & 3;
    uint32_t a0, a1, a2, a3, x, end, wv, wo, xe, xo;
    int32_t k = 0;
#define MM_SYM_BLOCK                                                                                               \
    "ldr %[wv], [%[w]], #4\n\t"                                                                                    \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a0], %[wv], %[xe], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[wo], %[xo], %[a0]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a1], %[wv], %[xe], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[wo], %[xo], %[a1]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a2], %[wv], %[xe], %[a2]\n\t"                                                                         \
    "smlad %[a2], %[wo], %[xo], %[a2]\n\t"                                                                         \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"                                                                            \
    "smlad %[a3], %[wv], %[xe], %[a3]\n\t"                                                                         \
    "smlad %[a3], %[wo], %[xo], %[a3]\n\t"
    /* n % 4 single blocks: LSLS #31 puts bit 0 of n % 4 in N and bit 1 in C. */
#define MM_SYM_ODD_BLOCKS                                                                                          \
    "ldr %[xe], %[n_odd]\n\t"                                                                                      \
    "lsls %[xe], %[xe], #31\n\t"                                                                                   \
    "bpl 2f\n\t" MM_SYM_BLOCK "2:\n\t"                                                                             \
    "bcc 3f\n\t" MM_SYM_BLOCK MM_SYM_BLOCK "3:\n\t"                                                                \
    "cmp %[x], %[end]\n\t"                                                                                         \
    "beq 4f\n\t"
#define MM_SYM_CHANNEL_LOOP(odd)                                                                                   \
    "1:\n\t"                                                                                                       \
    "ldr %[xo], %[bias]\n\t"                                                                                       \
    "ldr %[a0], [%[xo], %[k], lsl #2]\n\t"                                                                         \
    "mov %[a1], %[a0]\n\t"                                                                                         \
    "mov %[a2], %[a0]\n\t"                                                                                         \
    "mov %[a3], %[a0]\n\t"                                                                                         \
    "ldr %[x], %[buf]\n\t"                                                                                         \
    "ldr %[end], %[xend]\n\t" odd "5:\n\t" MM_SYM_BLOCK MM_SYM_BLOCK MM_SYM_BLOCK MM_SYM_BLOCK                     \
    "cmp %[x], %[end]\n\t"                                                                                         \
    "bne 5b\n\t"                                                                                                   \
    "4:\n\t"                                                                                                       \
    "ldr %[xo], %[mult]\n\t"                                                                                       \
    "ldr " MM_M2 ", [%[xo], %[k], lsl #2]\n\t"                                                                     \
    "lsl " MM_M2 ", " MM_M2 ", #1\n\t"                                                                             \
    "ldr %[xo], %[shift]\n\t"                                                                                      \
    "ldr " MM_E ", [%[xo], %[k], lsl #2]\n\t"                                                                      \
    "mvn %[xo], " MM_E "\n\t"                                                                                      \
    "mov " MM_KHI ", #1\n\t"                                                                                       \
    "lsl " MM_KHI ", " MM_KHI ", %[xo]\n\t"                                                                        \
    "rsb " MM_E ", " MM_E ", #0\n\t"                                                                               \
    MM_RQ4_STORE_NEXT
#define MM_SYM_OPERANDS                                                                                            \
    MM_LOOP_OUTPUTS                                                                                                \
    : [bias] "m"(bias), [mult] "m"(mult), [shift] "m"(shift), [out] "m"(out), [stride] "m"(stride),                \
      [out_off] "m"(out_off), [rows] "m"(rhs_rows), [buf] "m"(buf), [xend] "m"(xend), [n_odd] "m"(n_odd)           \
    : "cc", "memory"
    if (n_odd != 0)
    {
        __asm__ volatile(MM_SYM_CHANNEL_LOOP(MM_SYM_ODD_BLOCKS) MM_SYM_OPERANDS);
    }
    else
    {
        __asm__ volatile(MM_SYM_CHANNEL_LOOP("") MM_SYM_OPERANDS);
    }
#undef MM_SYM_OPERANDS
#undef MM_SYM_CHANNEL_LOOP
}

/* mm_rows4_offset's usual case (a batch matmul: no bias, one TFC_RQ_RIGHT requantization for the
 * tensor, the full int8 range), written out like mm_rows4_sym_asm: GCC kept the four accumulators'
 * start values, the output pointers and the requantization constants on the stack, ~75
 * instructions per channel around the dot products; here 4 loads start the accumulators at the
 * rows' offset terms, then the dot products, 4 loads of the constants, 4 x 6 requantization, 4
 * stores and the loop test; the blocks are mm_rows4_sym_asm's (MM_SYM_BLOCK). */
static void mm_rows4_offset_asm(const uint64_t *buf, const int8_t *w, int32_t n, int32_t rhs_rows,
                                const uint32_t row_term[4], int32_t m2, int32_t khi, int32_t e, int8_t *out,
                                int32_t stride, int32_t out_off)
{
    const uint64_t *const xend = buf + 4 * n;
    const int32_t n_odd = n & 3;
    const uint32_t t0 = row_term[0], t1 = row_term[1], t2 = row_term[2], t3 = row_term[3];
    uint32_t a0, a1, a2, a3, x, end, wv, wo, xe, xo;
    int32_t k = 0;
#define MM_OFF_CHANNEL_LOOP(odd)                                                                                   \
    "1:\n\t"                                                                                                       \
    "ldr %[a0], %[t0]\n\t"                                                                                         \
    "ldr %[a1], %[t1]\n\t"                                                                                         \
    "ldr %[a2], %[t2]\n\t"                                                                                         \
    "ldr %[a3], %[t3]\n\t"                                                                                         \
    "ldr %[x], %[buf]\n\t"                                                                                         \
    "ldr %[end], %[xend]\n\t" odd "5:\n\t" MM_SYM_BLOCK MM_SYM_BLOCK MM_SYM_BLOCK MM_SYM_BLOCK                     \
    "cmp %[x], %[end]\n\t"                                                                                         \
    "bne 5b\n\t"                                                                                                   \
    "4:\n\t"                                                                                                       \
    "ldr " MM_M2 ", %[m2]\n\t"                                                                                     \
    "ldr " MM_KHI ", %[khi]\n\t"                                                                                   \
    "ldr " MM_E ", %[e]\n\t"                                                                                       \
    MM_RQ4_STORE_NEXT
#define MM_OFF_OPERANDS                                                                                            \
    MM_LOOP_OUTPUTS                                                                                                \
    : [t0] "m"(t0), [t1] "m"(t1), [t2] "m"(t2), [t3] "m"(t3), [m2] "m"(m2), [khi] "m"(khi), [e] "m"(e),            \
      [out] "m"(out), [stride] "m"(stride), [out_off] "m"(out_off), [rows] "m"(rhs_rows), [buf] "m"(buf),          \
      [xend] "m"(xend), [n_odd] "m"(n_odd)                                                                         \
    : "cc", "memory"
    if (n_odd != 0)
    {
        __asm__ volatile(MM_OFF_CHANNEL_LOOP(MM_SYM_ODD_BLOCKS) MM_OFF_OPERANDS);
    }
    else
    {
        __asm__ volatile(MM_OFF_CHANNEL_LOOP("") MM_OFF_OPERANDS);
    }
#undef MM_OFF_OPERANDS
#undef MM_OFF_CHANNEL_LOOP
#undef MM_SYM_ODD_BLOCKS
#undef MM_SYM_BLOCK
}
#undef MM_M2
#undef MM_KHI
#undef MM_E
#undef MM_OFF
#undef MM_T
#undef MM_RQ_FULL_ASM
#undef MM_RQ4_STORE_NEXT
#undef MM_LOOP_OUTPUTS
#endif

/* Four widened rows against every symmetric weight row (rhs_offset 0, cols a multiple of 4, at
 * least 4), every channel on the four-instruction requantization: the case of every 1x1
 * convolution. Per channel only the bias, two quantization words and the 4 stores surround the
 * dot products, with the loop's constants in locals rather than behind the args pointer. */
static void mm_rows4_sym(const mm_args *a, const uint64_t *buf, const int8_t *rhs, int32_t rhs_rows, int8_t *out)
{
    const int32_t n = a->cols4 / 4, stride = a->out_stride, out_off = a->out_offset;
    const int32_t act_min = a->act_min, act_max = a->act_max;
    const int32_t *bias = a->bias, *mult = a->mult, *shift = a->shift;
    const int32_t step = a->per_channel ? 1 : 0;
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
    if (step && bias && act_min == -128 && act_max == 127 && rhs_rows > 0)
    {
        mm_rows4_sym_asm(buf, rhs, n, rhs_rows, bias, mult, shift, out, stride, out_off);
        return;
    }
#endif
    const int8_t *w = rhs;
    for (int32_t k = 0; k < rhs_rows; k++, out++, mult += step, shift += step)
    {
        const uint32_t b = bias ? (uint32_t)bias[k] : 0U;
        uint32_t acc[4] = {b, b, b, b};
        w = mm_rows4_dot_sym(w, buf, n, acc);
        const tfc_rq q = tfc_rq_make_right(*mult, *shift);
        tfc_rq_store4(&q, acc[0], acc[1], acc[2], acc[3], out, stride, out_off, act_min, act_max);
    }
}

/* An rhs with an offset (a batch matmul of two activations: attention's q k^T and p v): the
 * offset moves out of the dot products, sum (x + lo)(w + ro) = sum (x + lo) w + ro sum (x + lo),
 * the second term one number per lhs row (sums: the widened rows' sums, made while widening),
 * so the dot products run the symmetric loop (15 instructions per 16 MACs) instead of
 * the offset loop GCC spills in. Equal modulo 2^32, as the accumulators are. */
static void mm_rows4_offset(const mm_args *a, const uint64_t *buf, const uint32_t sums[4], const int8_t *rhs,
                            int32_t rhs_rows, int8_t *out)
{
    const int32_t n = a->cols4 / 4;
    uint32_t row_term[4];
    for (int32_t p = 0; p < 4; p++)
    {
        row_term[p] = sums[p] * (uint32_t)a->rhs_offset;
    }
    const int8_t *w = rhs;
    if (!a->per_channel && a->bias == NULL && a->all_right && a->act_min == -128 && a->act_max == 127)
    {
        /* A batch matmul's usual case: one requantization for every output, hoisted, and the four
         * accumulators in registers around the dot products. */
        const tfc_rq q = tfc_rq_make_right(a->mult[0], a->shift[0]);
        const int32_t stride = a->out_stride, out_off = a->out_offset;
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
        if (rhs_rows > 0)
        {
            mm_rows4_offset_asm(buf, w, n, rhs_rows, row_term, q.m2, q.khi, q.shift, out, stride, out_off);
            return;
        }
#endif
        for (int32_t k = 0; k < rhs_rows; k++)
        {
            uint32_t acc[4] = {row_term[0], row_term[1], row_term[2], row_term[3]};
            w = mm_rows4_dot_sym(w, buf, n, acc);
            out[k] = (int8_t)tfc_rq_out_full(tfc_rq_right(&q, (int32_t)acc[0]), out_off);
            out[k + stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(&q, (int32_t)acc[1]), out_off);
            out[k + 2 * stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(&q, (int32_t)acc[2]), out_off);
            out[k + 3 * stride] = (int8_t)tfc_rq_out_full(tfc_rq_right(&q, (int32_t)acc[3]), out_off);
        }
        return;
    }
    for (int32_t k = 0; k < rhs_rows; k++)
    {
        const uint32_t b = a->bias ? (uint32_t)a->bias[k] : 0U;
        uint32_t acc[4] = {b + row_term[0], b + row_term[1], b + row_term[2], b + row_term[3]};
        w = mm_rows4_dot_sym(w, buf, n, acc);
        const tfc_rq q = mm_rq(a, k);
        tfc_rq_store4(&q, acc[0], acc[1], acc[2], acc[3], out + k, a->out_stride, a->out_offset, a->act_min,
                      a->act_max);
    }
}

/* Four lhs rows (already widened in buf) against every rhs row: each weight word is loaded and
 * widened once for four rows (15 instructions per 16 MACs in the loop). */
static void mm_rows4(const mm_args *a, const int8_t *lhs, const uint64_t *buf, const uint32_t sums[4],
                     const int8_t *rhs, int32_t rhs_rows, int8_t *out)
{
    if (a->rhs_offset == 0 && a->all_right && a->cols4 == a->cols && a->cols >= 4)
    {
        mm_rows4_sym(a, buf, rhs, rhs_rows, out);
        return;
    }
    if (a->rhs_offset != 0 && a->cols4 == a->cols && a->cols >= 4)
    {
        mm_rows4_offset(a, buf, sums, rhs, rhs_rows, out);
        return;
    }
    const int32_t cols = a->cols, cols4 = a->cols4;
    const uint32_t ro2 = a->ro2;
    for (int32_t k = 0; k < rhs_rows; k++)
    {
        const int8_t *w = rhs + k * cols;
        const uint32_t b = a->bias ? (uint32_t)a->bias[k] : 0U;
        uint32_t a0 = b, a1 = b, a2 = b, a3 = b;
        const uint64_t *x = buf;
        /* Two blocks per iteration halve the loop's compare-and-branch. */
        int32_t c = 0;
        for (; c + 8 <= cols4; c += 8)
        {
            MM_ROWS4_BLOCK(w + c);
            MM_ROWS4_BLOCK(w + c + 4);
        }
        for (; c < cols4; c += 4)
        {
            MM_ROWS4_BLOCK(w + c);
        }
        for (int32_t c = cols4; c < cols; c++)
        {
            const int32_t wc = w[c] + a->rhs_offset;
            a0 += (uint32_t)((lhs[c] + a->lhs_offset) * wc);
            a1 += (uint32_t)((lhs[cols + c] + a->lhs_offset) * wc);
            a2 += (uint32_t)((lhs[2 * cols + c] + a->lhs_offset) * wc);
            a3 += (uint32_t)((lhs[3 * cols + c] + a->lhs_offset) * wc);
        }
        const tfc_rq q = mm_rq(a, k);
        tfc_rq_store4(&q, a0, a1, a2, a3, out + k, a->out_stride, a->out_offset, a->act_min, a->act_max);
    }
}

/* Dot product of one lhs row and one rhs row, both widened on the fly. */
static uint32_t mm_dot1(const mm_args *a, const int8_t *x, const int8_t *w, uint32_t acc)
{
    for (int32_t c = 0; c < a->cols4; c += 4)
    {
        const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c), wv = (uint32_t)tfc_read_s8x4(w + c);
        acc = __SMLAD(__SXTAB16(a->lo2, xv), __SXTAB16(a->ro2, wv), acc);
        acc = __SMLAD(tfc_sxtab16_ror8(a->lo2, xv), tfc_sxtab16_ror8(a->ro2, wv), acc);
    }
    for (int32_t c = a->cols4; c < a->cols; c++)
    {
        acc += (uint32_t)((x[c] + a->lhs_offset) * (w[c] + a->rhs_offset));
    }
    return acc;
}

#if TFC_ASM_LOOPS
/* One input block (LDR, two SXTAB16) against the same block of four weight rows (LDR, two
 * SXTB16, two SMLAD each): 23 instructions for 16 MACs. Rows 1 and 3 are read at [row, cols]. */
#define MM_ROW1_BLOCK_ASM                                                                                          \
    "ldr %[xe], [%[x]], #4\n\t"                                                                                    \
    "sxtab16 %[xo], %[lo2], %[xe], ror #8\n\t"                                                                     \
    "sxtab16 %[xe], %[lo2], %[xe]\n\t"                                                                             \
    "ldr %[wv], [%[w0], %[cols]]\n\t"                                                                              \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a1], %[xe], %[wv], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[xo], %[wo], %[a1]\n\t"                                                                         \
    "ldr %[wv], [%[w2], %[cols]]\n\t"                                                                              \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a3], %[xe], %[wv], %[a3]\n\t"                                                                         \
    "smlad %[a3], %[xo], %[wo], %[a3]\n\t"                                                                         \
    "ldr %[wv], [%[w2]], #4\n\t"                                                                                   \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a2], %[xe], %[wv], %[a2]\n\t"                                                                         \
    "smlad %[a2], %[xo], %[wo], %[a2]\n\t"                                                                         \
    "ldr %[wv], [%[w0]], #4\n\t"                                                                                   \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a0], %[xe], %[wv], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[xo], %[wo], %[a0]\n\t"

/* The symmetric-weight (rhs_offset 0) row-by-4-rows loop over n >= 1 blocks, written out: GCC
 * spilled the row pointers and offsets. The end lives on the stack, reloaded for the loop test
 * into a dead temporary once per two blocks. */
static void mm_row1_asm(const int8_t *x, const int8_t *w0, int32_t cols, int32_t n, uint32_t lo2, uint32_t *p0,
                        uint32_t *p1, uint32_t *p2, uint32_t *p3)
{
    uint32_t a0 = *p0, a1 = *p1, a2 = *p2, a3 = *p3;
    const int8_t *w2 = w0 + 2 * cols;
    const int8_t *const end = x + 4 * n;
    uint32_t xe, xo, wv, wo;
#define MM_ROW1_OPERANDS                                                                                           \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w0] "+r"(w0), [w2] "+r"(w2),       \
      [xe] "=&r"(xe), [xo] "=&r"(xo), [wv] "=&r"(wv), [wo] "=&r"(wo)                                               \
    : [cols] "r"(cols), [lo2] "r"(lo2), [end] "m"(end)                                                             \
    : "cc", "memory"
    if (n & 1)
    {
        __asm__ volatile(MM_ROW1_BLOCK_ASM MM_ROW1_OPERANDS);
    }
    if (n > 1)
    {
        __asm__ volatile("1:\n\t" MM_ROW1_BLOCK_ASM MM_ROW1_BLOCK_ASM "ldr %[xe], %[end]\n\t"
                         "cmp %[x], %[xe]\n\t"
                         "bne 1b" MM_ROW1_OPERANDS);
    }
#undef MM_ROW1_OPERANDS
    *p0 = a0;
    *p1 = a1;
    *p2 = a2;
    *p3 = a3;
}
#endif

/* Two weight rows against one input row, both widened on the fly: the input word is widened
 * once for the two rows (13 instructions per 8 MACs, as CMSIS-NN's vec_mat_mult). */
static void mm_dot2(const mm_args *a, const int8_t *x, const int8_t *w0, uint32_t *p0, uint32_t *p1)
{
    const int8_t *w1 = w0 + a->cols;
    const uint32_t lo2 = a->lo2, ro2 = a->ro2;
    uint32_t a0 = *p0, a1 = *p1;
    for (int32_t c = 0; c < a->cols4; c += 4)
    {
        const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c);
        const uint32_t xe = __SXTAB16(lo2, xv), xo = tfc_sxtab16_ror8(lo2, xv);
        uint32_t wv = (uint32_t)tfc_read_s8x4(w0 + c);
        a0 = __SMLAD(xo, tfc_sxtab16_ror8(ro2, wv), __SMLAD(xe, __SXTAB16(ro2, wv), a0));
        wv = (uint32_t)tfc_read_s8x4(w1 + c);
        a1 = __SMLAD(xo, tfc_sxtab16_ror8(ro2, wv), __SMLAD(xe, __SXTAB16(ro2, wv), a1));
    }
    for (int32_t c = a->cols4; c < a->cols; c++)
    {
        const int32_t xc = x[c] + a->lhs_offset;
        a0 += (uint32_t)(xc * (w0[c] + a->rhs_offset));
        a1 += (uint32_t)(xc * (w1[c] + a->rhs_offset));
    }
    *p0 = a0;
    *p1 = a1;
}

/* One lhs row (a fully connected layer's input vector) against four rhs rows at a time, then
 * two, then one: each input word is widened once for all the rows of a pass. A per-tensor
 * layer's requantization constants are made once. */
static void mm_row1(const mm_args *a, const int8_t *x, const int8_t *rhs, int32_t rhs_rows, int8_t *out)
{
    const int32_t cols = a->cols, out_off = a->out_offset, act_min = a->act_min, act_max = a->act_max;
    const int32_t *bias = a->bias;
    const tfc_rq q0 = mm_rq(a, 0);
    int32_t k = 0;
    for (; k + 3 < rhs_rows; k += 4)
    {
        const int8_t *w0 = rhs + k * cols;
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (bias)
        {
            a0 = (uint32_t)bias[k];
            a1 = (uint32_t)bias[k + 1];
            a2 = (uint32_t)bias[k + 2];
            a3 = (uint32_t)bias[k + 3];
        }
#if TFC_ASM_LOOPS
        if (a->rhs_offset == 0 && a->cols4 > 0)
        {
            mm_row1_asm(x, w0, cols, a->cols4 / 4, a->lo2, &a0, &a1, &a2, &a3);
        }
        else
#endif
        {
            const int8_t *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
            for (int32_t c = 0; c < a->cols4; c += 4)
            {
                const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c);
                const uint32_t xe = __SXTAB16(a->lo2, xv), xo = tfc_sxtab16_ror8(a->lo2, xv);
                uint32_t wv = (uint32_t)tfc_read_s8x4(w0 + c);
                a0 = __SMLAD(xo, tfc_sxtab16_ror8(a->ro2, wv), __SMLAD(xe, __SXTAB16(a->ro2, wv), a0));
                wv = (uint32_t)tfc_read_s8x4(w1 + c);
                a1 = __SMLAD(xo, tfc_sxtab16_ror8(a->ro2, wv), __SMLAD(xe, __SXTAB16(a->ro2, wv), a1));
                wv = (uint32_t)tfc_read_s8x4(w2 + c);
                a2 = __SMLAD(xo, tfc_sxtab16_ror8(a->ro2, wv), __SMLAD(xe, __SXTAB16(a->ro2, wv), a2));
                wv = (uint32_t)tfc_read_s8x4(w3 + c);
                a3 = __SMLAD(xo, tfc_sxtab16_ror8(a->ro2, wv), __SMLAD(xe, __SXTAB16(a->ro2, wv), a3));
            }
        }
        if (a->cols4 < cols)
        {
            const int8_t *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
            for (int32_t c = a->cols4; c < cols; c++)
            {
                const int32_t xc = x[c] + a->lhs_offset;
                a0 += (uint32_t)(xc * (w0[c] + a->rhs_offset));
                a1 += (uint32_t)(xc * (w1[c] + a->rhs_offset));
                a2 += (uint32_t)(xc * (w2[c] + a->rhs_offset));
                a3 += (uint32_t)(xc * (w3[c] + a->rhs_offset));
            }
        }
        if (!a->per_channel)
        {
            tfc_rq_store4(&q0, a0, a1, a2, a3, out + k, 1, out_off, act_min, act_max);
            continue;
        }
        const uint32_t acc[4] = {a0, a1, a2, a3};
        for (int32_t i = 0; i < 4; i++)
        {
            const tfc_rq q = mm_rq(a, k + i);
            out[k + i] = tfc_rq_s8(&q, acc[i], out_off, act_min, act_max);
        }
    }
    for (; k + 1 < rhs_rows; k += 2)
    {
        uint32_t a0 = bias ? (uint32_t)bias[k] : 0U, a1 = bias ? (uint32_t)bias[k + 1] : 0U;
        mm_dot2(a, x, rhs + k * cols, &a0, &a1);
        const tfc_rq q1 = a->per_channel ? mm_rq(a, k + 1) : q0;
        const tfc_rq q = a->per_channel ? mm_rq(a, k) : q0;
        out[k] = tfc_rq_s8(&q, a0, out_off, act_min, act_max);
        out[k + 1] = tfc_rq_s8(&q1, a1, out_off, act_min, act_max);
    }
    if (k < rhs_rows)
    {
        const tfc_rq q = a->per_channel ? mm_rq(a, k) : q0;
        const uint32_t acc = mm_dot1(a, x, rhs + k * cols, bias ? (uint32_t)bias[k] : 0U);
        out[k] = tfc_rq_s8(&q, acc, out_off, act_min, act_max);
    }
}

/* Dot products of the input row x with the four weight rows at w (rhs_offset 0) over the first
 * 4n columns, added to acc. */
static inline void vec_dot4_sym(const int8_t *x, const int8_t *w, int32_t cols, int32_t n, uint32_t lo2, uint32_t acc[4])
{
#if TFC_ASM_LOOPS
    mm_row1_asm(x, w, cols, n, lo2, &acc[0], &acc[1], &acc[2], &acc[3]);
#else
    for (int32_t c = 0; c < 4 * n; c += 4)
    {
        const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c);
        const uint32_t xe = __SXTAB16(lo2, xv), xo = tfc_sxtab16_ror8(lo2, xv);
        for (int32_t i = 0; i < 4; i++)
        {
            const uint32_t wv = (uint32_t)tfc_read_s8x4(w + i * cols + c);
            acc[i] = __SMLAD(xo, tfc_sxtb16_ror8(wv), __SMLAD(xe, __SXTB16(wv), acc[i]));
        }
    }
#endif
}

/* Dot products of the input row x with the two weight rows w0, w1 (rhs_offset 0) over the first
 * 4n columns (n >= 1), added to acc: each input word widened once for both rows, 13 instructions
 * per block and a compare-and-branch per two (GCC's loop took 16). */
static inline void vec_dot2_sym(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, uint32_t lo2,
                                uint32_t *p0, uint32_t *p1)
{
    uint32_t a0 = *p0, a1 = *p1;
#if defined(__ARM_FEATURE_SIMD32) && !defined(TFC_EMULATE_DSP)
    const int8_t *const end = x + 4 * n;
    uint32_t xe, xo, wv, wo;
#define VEC2_BLOCK_ASM                                                                                             \
    "ldr %[xe], [%[x]], #4\n\t"                                                                                    \
    "sxtab16 %[xo], %[lo2], %[xe], ror #8\n\t"                                                                     \
    "sxtab16 %[xe], %[lo2], %[xe]\n\t"                                                                             \
    "ldr %[wv], [%[w0]], #4\n\t"                                                                                   \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a0], %[xe], %[wv], %[a0]\n\t"                                                                         \
    "smlad %[a0], %[xo], %[wo], %[a0]\n\t"                                                                         \
    "ldr %[wv], [%[w1]], #4\n\t"                                                                                   \
    "sxtb16 %[wo], %[wv], ror #8\n\t"                                                                              \
    "sxtb16 %[wv], %[wv]\n\t"                                                                                      \
    "smlad %[a1], %[xe], %[wv], %[a1]\n\t"                                                                         \
    "smlad %[a1], %[xo], %[wo], %[a1]\n\t"
#define VEC2_OPERANDS                                                                                              \
    : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [xe] "=&r"(xe), [xo] "=&r"(xo),    \
      [wv] "=&r"(wv), [wo] "=&r"(wo)                                                                               \
    : [lo2] "r"(lo2), [end] "r"(end)                                                                               \
    : "cc", "memory"
    if (n & 1)
    {
        __asm__ volatile(VEC2_BLOCK_ASM VEC2_OPERANDS);
    }
    if (n > 1)
    {
        __asm__ volatile("1:\n\t" VEC2_BLOCK_ASM VEC2_BLOCK_ASM "cmp %[x], %[end]\n\t"
                         "bne 1b" VEC2_OPERANDS);
    }
#undef VEC2_OPERANDS
#undef VEC2_BLOCK_ASM
#else
    for (int32_t c = 0; c < 4 * n; c += 4)
    {
        const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c);
        const uint32_t xe = __SXTAB16(lo2, xv), xo = tfc_sxtab16_ror8(lo2, xv);
        uint32_t wv = (uint32_t)tfc_read_s8x4(w0 + c);
        a0 = __SMLAD(xo, tfc_sxtb16_ror8(wv), __SMLAD(xe, __SXTB16(wv), a0));
        wv = (uint32_t)tfc_read_s8x4(w1 + c);
        a1 = __SMLAD(xo, tfc_sxtb16_ror8(wv), __SMLAD(xe, __SXTB16(wv), a1));
    }
#endif
    *p0 = a0;
    *p1 = a1;
}

/* A batch-1, per-tensor product with symmetric weights (arm_fully_connected_s8 on a TFLite int8
 * model): a small function of its own, so the few values it needs stay in registers and a
 * small layer (str_ww's 32 -> 3) pays little around its dot products. Four weight rows per
 * pass, then two, then one; q holds the layer's requantization constants. */
static inline void vec_mat_sym(const int8_t *x, const int8_t *rhs, const int32_t *bias, int8_t *out, int32_t rows,
                               int32_t cols, int32_t lhs_offset, tfc_rq q, int32_t out_off, int32_t act_min,
                               int32_t act_max)
{
    const uint32_t lo2 = __PKHBT((uint32_t)lhs_offset, (uint32_t)lhs_offset, 16);
    const int32_t cols4 = cols & ~3;
    const int8_t *w = rhs;
    int32_t k = 0;
    for (; k + 3 < rows && cols4 > 0; k += 4, w += 4 * cols)
    {
        uint32_t acc[4] = {0U, 0U, 0U, 0U};
        if (bias)
        {
            for (int32_t i = 0; i < 4; i++)
            {
                acc[i] = (uint32_t)bias[k + i];
            }
        }
        vec_dot4_sym(x, w, cols, cols4 / 4, lo2, acc);
        for (int32_t c = cols4; c < cols; c++)
        {
            const int32_t xc = x[c] + lhs_offset;
            for (int32_t i = 0; i < 4; i++)
            {
                acc[i] += (uint32_t)(xc * w[i * cols + c]);
            }
        }
        tfc_rq_store4(&q, acc[0], acc[1], acc[2], acc[3], out + k, 1, out_off, act_min, act_max);
    }
    for (; k + 1 < rows; k += 2, w += 2 * cols)
    {
        uint32_t a0 = bias ? (uint32_t)bias[k] : 0U, a1 = bias ? (uint32_t)bias[k + 1] : 0U;
        const int8_t *w1 = w + cols;
        if (cols4 > 0)
        {
            vec_dot2_sym(x, w, w1, cols4 / 4, lo2, &a0, &a1);
        }
        for (int32_t c = cols4; c < cols; c++)
        {
            const int32_t xc = x[c] + lhs_offset;
            a0 += (uint32_t)(xc * w[c]);
            a1 += (uint32_t)(xc * w1[c]);
        }
        out[k] = tfc_rq_s8(&q, a0, out_off, act_min, act_max);
        out[k + 1] = tfc_rq_s8(&q, a1, out_off, act_min, act_max);
    }
    if (k < rows)
    {
        uint32_t a0 = bias ? (uint32_t)bias[k] : 0U;
        int32_t c = 0;
        for (; c < cols4; c += 4)
        {
            const uint32_t xv = (uint32_t)tfc_read_s8x4(x + c), wv = (uint32_t)tfc_read_s8x4(w + c);
            a0 = __SMLAD(tfc_sxtab16_ror8(lo2, xv), tfc_sxtb16_ror8(wv), __SMLAD(__SXTAB16(lo2, xv), __SXTB16(wv), a0));
        }
        for (; c < cols; c++)
        {
            a0 += (uint32_t)((x[c] + lhs_offset) * w[c]);
        }
        out[k] = tfc_rq_s8(&q, a0, out_off, act_min, act_max);
    }
}

/* Groups of four lhs rows, widened into a stack buffer sized to the rows (at most
 * TFC_MAT_MULT_STACK_COLS words); returns how many rows it did. A function of its own so a
 * batch-1 call (a fully connected layer) does not reserve that stack. */
static __attribute__((noinline)) int32_t mat_mult_rows4(const mm_args *a, const int8_t *lhs, const int8_t *rhs,
                                                        int8_t *out, int32_t lhs_rows, int32_t rhs_rows)
{
    uint64_t buf[a->cols4]; /* cols / 4 blocks x 4 rows; cols4 <= TFC_MAT_MULT_STACK_COLS */
    int32_t r = 0;
    uint32_t sums[4] = {0, 0, 0, 0};
    if (a->rhs_offset != 0)
    {
        for (; r + 3 < lhs_rows; r += 4)
        {
            widen_rows4_sums(lhs + r * a->cols, a->cols, a->cols4, a->lo2, buf, sums);
            mm_rows4(a, lhs + r * a->cols, buf, sums, rhs, rhs_rows, out + r * a->out_stride);
        }
        return r;
    }
    for (; r + 3 < lhs_rows; r += 4)
    {
        widen_rows4(lhs + r * a->cols, a->cols, a->cols4, a->lo2, buf);
        mm_rows4(a, lhs + r * a->cols, buf, sums, rhs, rhs_rows, out + r * a->out_stride);
    }
    return r;
}

/* Rows one at a time (batch-1 per-channel products, batch matmul rows, the rows left after the
 * groups of four): not inlined, so its state does not sit in the caller's frame under
 * mat_mult_rows4's buffer. */
static __attribute__((noinline)) void mat_mult_row1s(const mm_args *a, const int8_t *lhs, const int8_t *rhs,
                                                     int8_t *out, int32_t lhs_rows, int32_t rhs_rows)
{
    for (int32_t r = 0; r < lhs_rows; r++)
    {
        mm_row1(a, lhs + r * a->cols, rhs, rhs_rows, out + r * a->out_stride);
    }
}

static void mat_mult_dsp(const mm_args *a, const int8_t *lhs, const int8_t *rhs, int8_t *out, int32_t lhs_rows,
                         int32_t rhs_rows)
{
    int32_t r = 0;
    if (lhs_rows >= 4 && a->cols4 >= 4 && a->cols <= TFC_MAT_MULT_STACK_COLS)
    {
        r = mat_mult_rows4(a, lhs, rhs, out, lhs_rows, rhs_rows);
    }
    if (r < lhs_rows)
    {
        mat_mult_row1s(a, lhs + r * a->cols, rhs, out + r * a->out_stride, lhs_rows - r, rhs_rows);
    }
}
#endif /* TFC_NN_DSP */

int tfc_nn_fc_vec_sym_s8(const cmsis_nn_fc_params *fc,
                         const cmsis_nn_per_tensor_quant_params *quant,
                         const int8_t *lhs,
                         const int8_t *rhs,
                         const int32_t *bias,
                         int8_t *out,
                         int32_t rhs_rows,
                         int32_t cols)
{
#if TFC_NN_DSP
    if (fc->filter_offset == 0 && offset_fits_s16(fc->input_offset))
    {
        const int32_t act_max = fc->activation.max;
        const tfc_rq q = tfc_rq_make(quant->multiplier, quant->shift, fc->output_offset, act_max);
        vec_mat_sym(lhs, rhs, bias, out, rhs_rows, cols, fc->input_offset, q, fc->output_offset, fc->activation.min,
                    act_max);
        return 1;
    }
#else
    (void)fc, (void)quant, (void)lhs, (void)rhs, (void)bias, (void)out, (void)rhs_rows, (void)cols;
#endif
    return 0;
}

void tfc_nn_mat_mult_nt_t_s8(const int8_t *lhs,
                             const int8_t *rhs,
                             const int32_t *bias,
                             int8_t *out,
                             const int32_t *mult,
                             const int32_t *shift,
                             int32_t per_channel,
                             int32_t lhs_rows,
                             int32_t rhs_rows,
                             int32_t cols,
                             int32_t lhs_offset,
                             int32_t rhs_offset,
                             int32_t out_offset,
                             int32_t out_stride,
                             int32_t act_min,
                             int32_t act_max)
{
#if TFC_NN_DSP
    if (offset_fits_s16(lhs_offset) && offset_fits_s16(rhs_offset))
    {
        const mm_args a = {bias, mult, shift, per_channel, cols, cols & ~3, out_offset, out_stride, act_min, act_max,
                           __PKHBT((uint32_t)lhs_offset, (uint32_t)lhs_offset, 16),
                           __PKHBT((uint32_t)rhs_offset, (uint32_t)rhs_offset, 16), lhs_offset, rhs_offset,
                           /* A per-tensor call with < 4 rows makes its one set of constants itself. */
                           (per_channel || lhs_rows >= 4) &&
                               tfc_rq_all_right(mult, shift, per_channel ? rhs_rows : 1, out_offset, act_max)};
        mat_mult_dsp(&a, lhs, rhs, out, lhs_rows, rhs_rows);
        return;
    }
#endif
    for (int32_t r = 0; r < lhs_rows; r++)
    {
        for (int32_t k = 0; k < rhs_rows; k++)
        {
            out[r * out_stride + k] =
                dot_scalar(lhs + r * cols, rhs + k * cols, cols, lhs_offset, rhs_offset, bias ? (uint32_t)bias[k] : 0U,
                           per_channel ? mult[k] : mult[0], per_channel ? shift[k] : shift[0], out_offset, act_min,
                           act_max);
        }
    }
}
