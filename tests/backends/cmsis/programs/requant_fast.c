/* Applies the runtime's fast requantization (tfc_nn_requant.h) to every record of argv[1] and
 * writes two bytes per record to argv[2]: the int8 output and the mode tfc_rq_make chose.
 * Built for the host with -DTFC_EMULATE_DSP and for the Cortex-M7 (real SMMLAR, QADD, SSAT).
 * Record: int32 acc, multiplier, shift, out_offset, act_min, act_max (little-endian). */
#include <stdio.h>
#include <stdlib.h>

#include "tfc_nn_requant.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        return 10;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        return 11;
    }
    int32_t r[6];
    while (fread(r, sizeof r, 1, in) == 1) {
        const tfc_rq q = tfc_rq_make(r[1], r[2], r[3], r[5]);
        /* The full-range clamp (SSAT) is what the kernels use when the range is all of int8. */
        const int32_t v = tfc_rq_apply(&q, r[0]);
        const int8_t y = (int8_t)(r[4] == -128 && r[5] == 127 ? tfc_rq_out_full(v, r[3])
                                                                : tfc_rq_out(v, r[3], r[4], r[5]));
        const uint8_t bytes[2] = {(uint8_t)y, (uint8_t)q.mode};
        if (fwrite(bytes, 1, 2, out) != 2) {
            return 12;
        }
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 13;
}
