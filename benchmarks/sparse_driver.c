/* Runs sparse (tfc_sparse_*) and dense (arm_convolve_s8 / arm_convolve_1x1_s8_fast /
 * arm_fully_connected_s8 / arm_depthwise_conv_s8_opt) int8 layers from a case file and writes their outputs one after another.
 * Built for the emulated Cortex-M7 (case k, 1 <= k <= 32, is instruction region k; the count
 * includes input widening) or for the host with -DTFC_HOST (stdio, no regions). Dense ops link
 * either tfc's runtime or the real CMSIS-NN. tfc/sparse/harness.py writes the file:
 *
 *   int32 count; per case: int32 header[24] =
 *     op (0 sparse conv, 1 sparse fc, 2 dense conv, 3 dense fc, 4 sparse depthwise, 5 dense depthwise),
 *     n, h, w, cin, out_h, out_w, cout,
 *     kh, kw, stride_h, stride_w, pad_top, pad_left, input_offset, output_offset, act_min, act_max,
 *     block, width, a, b, c, code (0: walk the streams; k: generated code tfc_bench_codes[k - 1])
 *   sparse: records [a bytes], skips [b], values [c], input [n*h*w*cin]
 *   sparse depthwise: records [a bytes], taps [b], input [n*h*w*cin]
 *   dense:  bias int32[cout], multiplier int32[cout], shift int32[cout], filter [cout*kh*kw*cin],
 *           input [n*h*w*cin]        (dense fc: multiplier[0] and shift[0] are used;
 *           dense depthwise: filter [kh*kw*cout], CMSIS-NN's [1, kh, kw, cout])
 *   each part padded to a multiple of 8 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "tfc_sparse.h"
#include "tfc_sparse_depthwise.h"

#ifdef TFC_HOST
#define TFC_REGION_BEGIN(id) ((void)0)
#define TFC_REGION_END(id) ((void)0)
static long tfc_read_file(const char *path, void *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}
static int tfc_write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    int ok = fwrite(buf, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}
#define BLOB_BYTES (8 * 1024 * 1024)
#define OUT_BYTES (4 * 1024 * 1024)
#define SCRATCH_BYTES (4 * 1024 * 1024)
#else
#include "tfc_target.h"
#define BLOB_BYTES (150 * 1024)
#define OUT_BYTES (40 * 1024)
#define SCRATCH_BYTES (72 * 1024)
#endif

#define PAD8(x) (((x) + 7u) & ~7u)

/* The generated per-layer code of the cases that use it (tfc/sparse/harness.py writes gen.c). */
extern const tfc_sparse_code *const tfc_bench_codes[];

static uint64_t blob[BLOB_BYTES / 8];
static int8_t outputs[OUT_BYTES];
static uint64_t scratch[SCRATCH_BYTES / 8];

typedef struct
{
    const int32_t *h;
    const uint8_t *parts;
    int8_t *out;
} case_t;

static arm_cmsis_nn_status run_case(const case_t *c)
{
    const int32_t *h = c->h;
    const cmsis_nn_dims in = {h[1], h[2], h[3], h[4]}, out = {h[1], h[5], h[6], h[7]};
    const cmsis_nn_activation act = {h[16], h[17]};
    cmsis_nn_context ctx = {scratch, (int32_t)sizeof scratch};
    const uint8_t *p = c->parts;
    if (h[0] == 4)
    {
        const tfc_sparse_dw_channel *rec = (const tfc_sparse_dw_channel *)p;
        const uint8_t *taps = p + PAD8((uint32_t)h[20]);
        const int8_t *luts = (const int8_t *)(taps + PAD8((uint32_t)h[21]));
        const int8_t *input = luts + PAD8((uint32_t)h[22]);
        tfc_sparse_dw_weights w = {.channels = h[7], .kh = h[8], .kw = h[9], .input_offset = h[14],
                                   .output_offset = h[15], .activation = act, .records = rec, .taps = taps,
                                   .luts = h[22] > 0 ? luts : NULL};
        cmsis_nn_dw_conv_params dp = {.input_offset = h[14], .output_offset = h[15], .ch_mult = 1,
                                      .stride = {h[11], h[10]}, .padding = {h[13], h[12]}, .dilation = {1, 1},
                                      .activation = act};
        return tfc_sparse_depthwise_conv_s8(&ctx, &dp, &in, input, &w, &out, c->out);
    }
    if (h[0] <= 1)
    {
        const tfc_sparse_row *rec = (const tfc_sparse_row *)p;
        const uint8_t *skips = p + PAD8((uint32_t)h[20]);
        const int8_t *values = (const int8_t *)(skips + PAD8((uint32_t)h[21]));
        const int8_t *input = values + PAD8((uint32_t)h[22]);
        tfc_sparse_weights w = {.rows = h[7], .block = h[18], .kh = h[8], .kw = h[9], .cin = h[4], .width = h[19],
                                .output_offset = h[15], .activation = act, .records = rec, .skips = skips,
                                .values = values, .code = h[23] > 0 ? tfc_bench_codes[h[23] - 1] : NULL};
        if (w.code == NULL && !tfc_sparse_brle_bind(&w))
        {
            return ARM_CMSIS_NN_ARG_ERROR;
        }
        if (h[0] == 0)
        {
            cmsis_nn_conv_params cp = {.input_offset = h[14], .output_offset = h[15], .stride = {h[11], h[10]},
                                       .padding = {h[13], h[12]}, .dilation = {1, 1}, .activation = act};
            return tfc_sparse_convolve_s8(&ctx, &cp, &in, input, &w, &out, c->out);
        }
        cmsis_nn_fc_params fp = {.input_offset = h[14], .filter_offset = 0, .output_offset = h[15], .activation = act};
        const cmsis_nn_dims fin = {h[1] * h[2] * h[3], 1, 1, h[4]}, fout = {h[1] * h[2] * h[3], 1, 1, h[7]};
        return tfc_sparse_fully_connected_s8(&ctx, &fp, &fin, input, &w, &fout, c->out);
    }
    const int32_t cout = h[7];
    int32_t *bias = (int32_t *)p;
    int32_t *mult = bias + PAD8((uint32_t)cout * 4) / 4;
    int32_t *shift = mult + PAD8((uint32_t)cout * 4) / 4;
    const int8_t *filter = (const int8_t *)(shift + PAD8((uint32_t)cout * 4) / 4);
    const int8_t *input = filter + PAD8((uint32_t)(cout * h[8] * h[9] * (h[0] == 5 ? 1 : h[4])));
    const cmsis_nn_dims fdims = {cout, h[8], h[9], h[4]}, bdims = {1, 1, 1, cout};
    if (h[0] == 5)
    {
        cmsis_nn_dw_conv_params dp = {.input_offset = h[14], .output_offset = h[15], .ch_mult = 1,
                                      .stride = {h[11], h[10]}, .padding = {h[13], h[12]}, .dilation = {1, 1},
                                      .activation = act};
        cmsis_nn_per_channel_quant_params q = {mult, shift};
        const cmsis_nn_dims dw_filter = {1, h[8], h[9], cout};
        return arm_depthwise_conv_s8_opt(&ctx, &dp, &q, &in, input, &dw_filter, filter, &bdims, bias, &out, c->out);
    }
    if (h[0] == 2)
    {
        cmsis_nn_conv_params cp = {.input_offset = h[14], .output_offset = h[15], .stride = {h[11], h[10]},
                                   .padding = {h[13], h[12]}, .dilation = {1, 1}, .activation = act};
        cmsis_nn_per_channel_quant_params q = {mult, shift};
        if (h[8] == 1 && h[9] == 1 && h[10] == 1 && h[11] == 1 && h[12] == 0 && h[13] == 0 && h[4] % 4 == 0)
        {
            return arm_convolve_1x1_s8_fast(&ctx, &cp, &q, &in, input, &fdims, filter, &bdims, bias, &out, c->out);
        }
        const cmsis_nn_dims up = {1, 1, 1, 1};
        return arm_convolve_s8(&ctx, &cp, &q, &in, input, &fdims, filter, &bdims, bias, &up, &out, c->out);
    }
    cmsis_nn_fc_params fp = {.input_offset = h[14], .filter_offset = 0, .output_offset = h[15], .activation = act};
    cmsis_nn_per_tensor_quant_params q = {mult[0], shift[0]};
    const cmsis_nn_dims fin = {h[1] * h[2] * h[3], 1, 1, h[4]}, fout = {h[1] * h[2] * h[3], 1, 1, cout};
    const cmsis_nn_dims ffc = {h[4], 1, 1, cout};
    return arm_fully_connected_s8(&ctx, &fp, &q, &fin, input, &ffc, filter, &bdims, bias, &fout, c->out);
}

static uint32_t case_bytes(const int32_t *h)
{
    const uint32_t input = PAD8((uint32_t)(h[1] * h[2] * h[3] * h[4]));
    if (h[0] <= 1 || h[0] == 4)
    {
        return PAD8((uint32_t)h[20]) + PAD8((uint32_t)h[21]) + PAD8((uint32_t)h[22]) + input;
    }
    return 3 * PAD8((uint32_t)h[7] * 4) + PAD8((uint32_t)(h[7] * h[8] * h[9] * (h[0] == 5 ? 1 : h[4]))) + input;
}

#define REGION(k)                   \
    case k:                         \
        TFC_REGION_BEGIN(k);        \
        status = run_case(&c);      \
        TFC_REGION_END(k);          \
        break;

int main(int argc, char **argv)
{
    if (argc != 3)
    {
        return 10;
    }
    long size = tfc_read_file(argv[1], blob, sizeof blob);
    if (size < 8 || (size_t)size == sizeof blob)
    {
        return 11;
    }
    const uint8_t *p = (const uint8_t *)blob;
    const int32_t count = *(const int32_t *)p;
    p += 8;
    size_t used = 0;
    for (int32_t i = 0; i < count; i++)
    {
        case_t c = {(const int32_t *)p, p + 24 * 4, outputs + used};
        p = c.parts + case_bytes(c.h);
        const int32_t *h = c.h;
        const size_t n_out = (size_t)(h[1] * h[5] * h[6] * h[7]);
        if (p > (const uint8_t *)blob + size || used + n_out > sizeof outputs)
        {
            return 12;
        }
        arm_cmsis_nn_status status = ARM_CMSIS_NN_FAILURE;
        switch (i + 1)
        {
            REGION(1) REGION(2) REGION(3) REGION(4) REGION(5) REGION(6) REGION(7) REGION(8)
            REGION(9) REGION(10) REGION(11) REGION(12) REGION(13) REGION(14) REGION(15) REGION(16)
            REGION(17) REGION(18) REGION(19) REGION(20) REGION(21) REGION(22) REGION(23) REGION(24)
            REGION(25) REGION(26) REGION(27) REGION(28) REGION(29) REGION(30) REGION(31) REGION(32)
        default:
            status = run_case(&c);
        }
        if (status != ARM_CMSIS_NN_SUCCESS)
        {
            printf("case %ld: status %d\n", (long)i, (int)status);
            return 13;
        }
        used += n_out;
    }
    return tfc_write_file(argv[2], outputs, used) == 0 ? 0 : 14;
}
