/* Runs arm_fully_connected_s8 on every case of the host file given as argv[1] and writes the
 * outputs, one after another, to argv[2]. The kernel calls are instruction region 1 (region ids
 * are compile-time constants, so the cases' counts add up).
 *
 * File: int32 case count, then per case (little-endian, each part padded to 4 bytes):
 *   int32 n, depth, out_c, input_offset, filter_offset, output_offset, multiplier, shift,
 *         act_min, act_max, has_bias; int32 bias[out_c]; int8 input[n * depth];
 *   int8 filter[out_c * depth]
 */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "tfc_target.h"

#define PAD4(x) (((x) + 3u) & ~3u)

static int32_t blob[(192 * 1024) / 4];
static int8_t outputs[16 * 1024];

int main(int argc, char **argv)
{
    if (argc != 3) {
        return 10;
    }
    long size = tfc_read_file(argv[1], blob, sizeof blob);
    if (size < 4 || (size_t)size == sizeof blob) {
        return 11; /* missing, or possibly cut short by the buffer */
    }
    const uint8_t *p = (const uint8_t *)blob;
    int32_t count = *(const int32_t *)p;
    p += 4;
    size_t out_used = 0;
    for (int32_t i = 0; i < count; i++) {
        const int32_t *h = (const int32_t *)p;
        int32_t n = h[0], depth = h[1], out_c = h[2];
        cmsis_nn_fc_params fc = {.input_offset = h[3], .filter_offset = h[4], .output_offset = h[5],
                                 .activation = {.min = h[8], .max = h[9]}};
        cmsis_nn_per_tensor_quant_params quant = {.multiplier = h[6], .shift = h[7]};
        const int32_t *bias = h + 11;
        const int8_t *input = (const int8_t *)(bias + out_c);
        const int8_t *filter = input + PAD4((uint32_t)(n * depth));
        p = (const uint8_t *)(filter + PAD4((uint32_t)(out_c * depth)));
        if (p > (const uint8_t *)blob + size) {
            return 15; /* the case runs past the end of the file */
        }
        if (out_used + (size_t)(n * out_c) > sizeof outputs) {
            return 12;
        }
        cmsis_nn_context ctx = {.buf = NULL, .size = 0};
        cmsis_nn_dims input_dims = {n, 1, 1, depth}, filter_dims = {depth, 1, 1, out_c};
        cmsis_nn_dims bias_dims = {1, 1, 1, out_c}, output_dims = {n, 1, 1, out_c};
        TFC_REGION_BEGIN(1);
        arm_cmsis_nn_status status = arm_fully_connected_s8(&ctx, &fc, &quant, &input_dims, input, &filter_dims,
                                                            filter, &bias_dims, h[10] ? bias : NULL, &output_dims,
                                                            outputs + out_used);
        TFC_REGION_END(1);
        if (status != ARM_CMSIS_NN_SUCCESS) {
            return 13;
        }
        out_used += (size_t)(n * out_c);
    }
    return tfc_write_file(argv[2], outputs, out_used) == 0 ? 0 : 14;
}
