/* tfc_ort_requantize_s8: int8 -> int8 onto another grid with onnxruntime's arithmetic
 * (DequantizeLinear, the float op, QuantizeLinear): out = to_s8(dequantized[in + 128] / out_scale)
 * clamped to [lo, hi] (the int8 range less the offset, and the op's own clamp), rounded half to
 * even. Reads each byte before writing it, so in place is allowed. */
#include "tfc_ort_kernels.h"

void tfc_ort_requantize_s8(const int8_t *input,
                           int8_t *output,
                           int32_t size,
                           const float *dequantized,
                           float out_scale,
                           float lo,
                           float hi,
                           int32_t out_offset)
{
    for (int32_t i = 0; i < size; i++)
    {
        output[i] = tfc_ort_to_s8(dequantized[input[i] + 128] / out_scale, lo, hi, out_offset);
    }
}
