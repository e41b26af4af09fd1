/* Benchmark driver: runs the dense int8 layers of a case file through the CMSIS-NN API and
 * writes their outputs. The same source is linked against tfc's runtime or the real CMSIS-NN
 * (TFC_BENCH_CMSIS_NN=1), so both run identical calls; only the depthwise function differs:
 * each library's own choice for a 3x3, ch_mult 1 layer (see DW_FN).
 *
 * Every kernel call is instruction region (kind + 1), so each layer is counted on its own.
 *
 * Case file (int32 little-endian; each part padded to 4 bytes):
 *   int32 count; then per case
 *   int32 kind (0 conv, 1 conv 1x1, 2 depthwise, 3 fully connected, 4 depthwise via _opt,
 *         5 depthwise 3x3 on tfc_depthwise_3x3_wide_s8),
 *         in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride, pad_h, pad_w, input_offset,
 *         output_offset, act_min, act_max;
 *   int32 multiplier[out_c], shift[out_c], bias[out_c]; int8 input[]; int8 filter[]
 *   kind 5 only: int16 wide weights[12 out_c]; int32 channel records[4 out_c]
 *         (tfc.kernels.depthwise_wide.dw3_weights / dw3_channels; runs down the columns where
 *         out_h > out_w, as the compiler does)
 * Fully connected: in_c is the accumulation depth, out_c the outputs; multiplier[0]/shift[0].
 * Kind 5 on CMSIS-NN runs DW_FN (the same integers).
 */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "tfc_target.h"
#if !TFC_BENCH_CMSIS_NN
#include "tfc_kernels.h"
#endif

#if TFC_BENCH_CMSIS_NN
/* arm_depthwise_conv_wrapper_s8's choice on a DSP core for 3x3, pad <= 1, ch_mult 1. */
#define DW_FN arm_depthwise_conv_3x3_s8
#else
/* What tfc's lowering emits for a ch_mult 1 depthwise layer. */
#define DW_FN arm_depthwise_conv_s8_opt
#endif

enum { KIND_CONV, KIND_CONV_1X1, KIND_DW, KIND_FC, KIND_DW_OPT, KIND_DW_WIDE, KIND_COUNT };

#define PAD4(x) (((x) + 3u) & ~3u)

static int32_t blob[(160 * 1024) / 4];
static int8_t outputs[96 * 1024];
static uint64_t scratch[(8 * 1024) / 8]; /* 8-byte aligned, like tfc's arena (16) */

typedef struct
{
    int32_t kind, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride, pad_h, pad_w, input_offset, output_offset,
        act_min, act_max;
} case_header;

/* Runs one case; returns 0 or an exit code. Each branch brackets exactly one kernel call. */
#if !TFC_BENCH_CMSIS_NN
/* Kind 5 on tfc: the layer's geometry in run order (rows and columns swapped where out_h > out_w). */
static int run_wide(const case_header *h, const int16_t *wide, const int32_t *records, const int8_t *input, int8_t *out)
{
    const int t = h->out_h > h->out_w;
    const tfc_dw3_geometry d = {
        {t ? h->in_w : h->in_h, t ? h->in_h : h->in_w, h->in_c, 3, 3, t ? h->out_w : h->out_h, t ? h->out_h : h->out_w,
         h->out_c, h->stride, h->stride, t ? h->pad_w : h->pad_h, t ? h->pad_h : h->pad_w, h->input_offset,
         h->output_offset, h->act_min, h->act_max},
        t ? h->in_w * h->in_c : h->in_c, t ? h->in_c : h->in_w * h->in_c, t ? h->out_w * h->out_c : h->out_c,
        t ? h->out_c : h->out_w * h->out_c};
    if (tfc_depthwise_3x3_wide_s8_get_buffer_size(&d) > (int32_t)sizeof scratch) {
        return 20;
    }
    TFC_REGION_BEGIN(6);
    tfc_depthwise_3x3_wide_s8(&d, input, wide, (const tfc_conv_wide_channel *)(const void *)records, out, scratch);
    TFC_REGION_END(6);
    return 0;
}
#endif

static int run_case(const case_header *h, int32_t *mult, int32_t *shift, const int32_t *bias, const int8_t *input,
                    const int8_t *filter, int8_t *out)
{
    const cmsis_nn_dims in_dims = {1, h->in_h, h->in_w, h->in_c};
    const cmsis_nn_dims out_dims = {1, h->out_h, h->out_w, h->out_c};
    const cmsis_nn_dims bias_dims = {1, 1, 1, h->out_c};
    const cmsis_nn_per_channel_quant_params quant = {mult, shift};
    const cmsis_nn_activation act = {h->act_min, h->act_max};
    arm_cmsis_nn_status status = ARM_CMSIS_NN_ARG_ERROR;
    if (h->kind == KIND_CONV || h->kind == KIND_CONV_1X1) {
        const cmsis_nn_conv_params conv = {h->input_offset, h->output_offset, {h->stride, h->stride},
                                           {h->pad_w, h->pad_h}, {1, 1}, act};
        const cmsis_nn_dims filter_dims = {h->out_c, h->k_h, h->k_w, h->in_c};
        const int32_t need = h->kind == KIND_CONV ? arm_convolve_s8_get_buffer_size(&in_dims, &filter_dims)
                                                  : arm_convolve_1x1_s8_fast_get_buffer_size(&in_dims);
        if (need > (int32_t)sizeof scratch) {
            return 20;
        }
        const cmsis_nn_context ctx = {scratch, need};
        if (h->kind == KIND_CONV) {
            TFC_REGION_BEGIN(1);
            status = arm_convolve_s8(&ctx, &conv, &quant, &in_dims, input, &filter_dims, filter, &bias_dims, bias,
                                     NULL, &out_dims, out);
            TFC_REGION_END(1);
        } else {
            TFC_REGION_BEGIN(2);
            status = arm_convolve_1x1_s8_fast(&ctx, &conv, &quant, &in_dims, input, &filter_dims, filter,
                                              &bias_dims, bias, &out_dims, out);
            TFC_REGION_END(2);
        }
    } else if (h->kind == KIND_DW_WIDE) {
        const int8_t *const wide = filter + PAD4((uint32_t)(9 * h->out_c));
#if TFC_BENCH_CMSIS_NN
        const cmsis_nn_dw_conv_params dw = {h->input_offset, h->output_offset, 1, {h->stride, h->stride},
                                            {h->pad_w, h->pad_h}, {1, 1}, act};
        const cmsis_nn_dims filter_dims = {1, 3, 3, h->out_c};
        const int32_t need = arm_depthwise_conv_s8_opt_get_buffer_size(&in_dims, &filter_dims);
        if (need > (int32_t)sizeof scratch) {
            return 20;
        }
        const cmsis_nn_context ctx = {scratch, need};
        (void)wide;
        TFC_REGION_BEGIN(6);
        status = DW_FN(&ctx, &dw, &quant, &in_dims, input, &filter_dims, filter, &bias_dims, bias, &out_dims, out);
        TFC_REGION_END(6);
#else
        return run_wide(h, (const int16_t *)(const void *)wide,
                        (const int32_t *)(const void *)(wide + 24 * h->out_c), input, out);
#endif
    } else if (h->kind == KIND_DW || h->kind == KIND_DW_OPT) {
        const cmsis_nn_dw_conv_params dw = {h->input_offset, h->output_offset, 1, {h->stride, h->stride},
                                            {h->pad_w, h->pad_h}, {1, 1}, act};
        const cmsis_nn_dims filter_dims = {1, h->k_h, h->k_w, h->out_c};
        const int32_t need = arm_depthwise_conv_s8_opt_get_buffer_size(&in_dims, &filter_dims);
        if (need > (int32_t)sizeof scratch) {
            return 20;
        }
        const cmsis_nn_context ctx = {scratch, need};
        if (h->kind == KIND_DW) {
            TFC_REGION_BEGIN(3);
            status = DW_FN(&ctx, &dw, &quant, &in_dims, input, &filter_dims, filter, &bias_dims, bias, &out_dims,
                           out);
            TFC_REGION_END(3);
        } else {
            TFC_REGION_BEGIN(5);
            status = arm_depthwise_conv_s8_opt(&ctx, &dw, &quant, &in_dims, input, &filter_dims, filter,
                                               &bias_dims, bias, &out_dims, out);
            TFC_REGION_END(5);
        }
    } else if (h->kind == KIND_FC) {
        const cmsis_nn_fc_params fc = {h->input_offset, 0, h->output_offset, act};
        const cmsis_nn_per_tensor_quant_params q = {mult[0], shift[0]};
        const cmsis_nn_dims fc_in = {1, 1, 1, h->in_c}, fc_filter = {h->in_c, 1, 1, h->out_c};
        const cmsis_nn_dims fc_out = {1, 1, 1, h->out_c};
        const int32_t need = arm_fully_connected_s8_get_buffer_size(&fc_filter);
        if (need != 0) {
            return 21; /* a kernel-sum buffer is an MVE-only feature */
        }
        const cmsis_nn_context ctx = {NULL, 0};
        TFC_REGION_BEGIN(4);
        status = arm_fully_connected_s8(&ctx, &fc, &q, &fc_in, input, &fc_filter, filter, &bias_dims, bias, &fc_out,
                                        out);
        TFC_REGION_END(4);
    }
    return status == ARM_CMSIS_NN_SUCCESS ? 0 : 13;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        return 10;
    }
    const long size = tfc_read_file(argv[1], blob, sizeof blob);
    if (size < 4 || (size_t)size == sizeof blob) {
        return 11; /* missing, or possibly cut short by the buffer */
    }
    const uint8_t *p = (const uint8_t *)blob;
    const uint8_t *end = p + size;
    const int32_t count = *(const int32_t *)p;
    p += 4;
    size_t out_used = 0;
    for (int32_t i = 0; i < count; i++) {
        const case_header *h = (const case_header *)p;
        if (p + sizeof *h > end || h->kind < 0 || h->kind >= KIND_COUNT) {
            return 15;
        }
        int32_t *mult = (int32_t *)(h + 1);
        int32_t *shift = mult + h->out_c;
        const int32_t *bias = shift + h->out_c;
        const uint32_t in_size = (uint32_t)(h->in_h * h->in_w * h->in_c);
        const uint32_t filter_size =
            (uint32_t)(h->kind == KIND_DW || h->kind == KIND_DW_OPT || h->kind == KIND_DW_WIDE
                           ? h->k_h * h->k_w * h->out_c
                           : h->out_c * h->k_h * h->k_w * h->in_c);
        const int8_t *input = (const int8_t *)(bias + h->out_c);
        const int8_t *filter = input + PAD4(in_size);
        p = (const uint8_t *)(filter + PAD4(filter_size));
        if (h->kind == KIND_DW_WIDE) {
            p += 24 * h->out_c + 16 * h->out_c; /* the wide weights and the channel records */
        }
        const size_t out_size = (size_t)(h->out_h * h->out_w * h->out_c);
        if (p > end) {
            return 15; /* the case runs past the end of the file */
        }
        if (out_used + out_size > sizeof outputs) {
            return 12;
        }
        const int rc = run_case(h, mult, shift, bias, input, filter, outputs + out_used);
        if (rc != 0) {
            return rc;
        }
        out_used += out_size;
    }
    return tfc_write_file(argv[2], outputs, out_used) == 0 ? 0 : 14;
}
