/* Benchmark driver: runs the elementwise int8 cases of a case file through the CMSIS-NN API
 * (arm_elementwise_add_s8 / arm_elementwise_mul_s8) and writes their outputs. The same source is
 * linked against tfc's runtime or the real CMSIS-NN, so both run identical calls.
 *
 * Every kernel call is instruction region (kind + 1): add 1, mul 2.
 *
 * Case file (int32 little-endian; each part padded to 4 bytes):
 *   int32 count; then per case
 *   int32 kind (0 add, 1 mul), n, in_place (0 separate output, 1 output overwrites input 1,
 *         2 input 2), misalign (0..3: the buffers start that many bytes past a word),
 *         input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult, input_2_shift,
 *         left_shift, out_offset, out_mult, out_shift, act_min, act_max
 *         (mul ignores the input multipliers, shifts and left_shift);
 *   int8 input_1[n]; int8 input_2[n]
 * Output file: the n output bytes of each case, back to back.
 */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "tfc_target.h"

enum { KIND_ADD, KIND_MUL, KIND_COUNT };

#define PAD4(x) (((x) + 3u) & ~3u)

static int32_t blob[(120 * 1024) / 4];
static int8_t outputs[64 * 1024];
/* Word-aligned like tfc's arena; the extra word lets a case start them unaligned. */
static int32_t in1_buf[(16 * 1024) / 4 + 1], in2_buf[(16 * 1024) / 4 + 1], out_buf[(16 * 1024) / 4 + 1];

typedef struct
{
    int32_t kind, n, in_place, misalign, in1_offset, in1_mult, in1_shift, in2_offset, in2_mult, in2_shift, left_shift,
        out_offset, out_mult, out_shift, act_min, act_max;
} case_header;

/* Runs one case into `out`; returns 0 or an exit code. Each branch brackets one kernel call. */
static int run_case(const case_header *h, const int8_t *a, const int8_t *b, int8_t *out)
{
    if (h->n < 0 || h->n > (int32_t)sizeof in1_buf - 4 || h->misalign < 0 || h->misalign > 3)
    {
        return 3;
    }
    int8_t *x1 = (int8_t *)in1_buf + h->misalign, *x2 = (int8_t *)in2_buf + h->misalign;
    int8_t *y = (int8_t *)out_buf + h->misalign;
    memcpy(x1, a, (size_t)h->n);
    memcpy(x2, b, (size_t)h->n);
    y = h->in_place == 1 ? x1 : (h->in_place == 2 ? x2 : y);
    arm_cmsis_nn_status status = ARM_CMSIS_NN_ARG_ERROR;
    if (h->kind == KIND_ADD)
    {
        TFC_REGION_BEGIN(KIND_ADD + 1);
        status = arm_elementwise_add_s8(x1, x2, h->in1_offset, h->in1_mult, h->in1_shift, h->in2_offset,
                                        h->in2_mult, h->in2_shift, h->left_shift, y, h->out_offset, h->out_mult,
                                        h->out_shift, h->act_min, h->act_max, h->n);
        TFC_REGION_END(KIND_ADD + 1);
    }
    else if (h->kind == KIND_MUL)
    {
        TFC_REGION_BEGIN(KIND_MUL + 1);
        status = arm_elementwise_mul_s8(x1, x2, h->in1_offset, h->in2_offset, y, h->out_offset, h->out_mult,
                                        h->out_shift, h->act_min, h->act_max, h->n);
        TFC_REGION_END(KIND_MUL + 1);
    }
    memcpy(out, y, (size_t)h->n);
    return status == ARM_CMSIS_NN_SUCCESS ? 0 : 4;
}

int main(int argc, char **argv)
{
    if (argc != 3)
    {
        return 2;
    }
    const long got = tfc_read_file(argv[1], blob, sizeof blob);
    if (got < 4)
    {
        return 2;
    }
    const uint8_t *p = (const uint8_t *)blob, *end = p + got;
    int32_t count;
    memcpy(&count, p, 4);
    p += 4;
    size_t written = 0;
    for (int32_t i = 0; i < count; i++)
    {
        case_header h;
        if ((size_t)(end - p) < sizeof h)
        {
            return 5;
        }
        memcpy(&h, p, sizeof h);
        p += sizeof h;
        if (h.n < 0 || (size_t)(end - p) < 2 * PAD4((size_t)h.n) || written + (size_t)h.n > sizeof outputs)
        {
            return 5;
        }
        const int8_t *a = (const int8_t *)p;
        const int8_t *b = (const int8_t *)(p + PAD4((size_t)h.n));
        p += 2 * PAD4((size_t)h.n);
        const int rc = run_case(&h, a, b, outputs + written);
        if (rc != 0)
        {
            return rc;
        }
        written += (size_t)h.n;
    }
    return tfc_write_file(argv[2], outputs, written) == 0 ? 0 : 6;
}
