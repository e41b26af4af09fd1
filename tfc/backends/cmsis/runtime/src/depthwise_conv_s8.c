/*
 * tfc runtime: arm_depthwise_conv_s8 and arm_depthwise_conv_s8_opt, with the buffer size.
 *
 * Output channel oc = ic * ch_mult + m reads input channel ic; filter is [1, KH, KW, C_OUT].
 * acc = bias + sum over valid taps (x + input_offset) * w, modulo 2^32, then per-channel
 * requantization (TFLite Micro's reference DepthwiseConvPerChannel).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

typedef struct
{
    int32_t in_h, in_w, in_c, ch_mult;
    int32_t k_h, k_w, out_h, out_w, out_c;
    int32_t stride_y, stride_x, pad_y, pad_x, dil_y, dil_x;
} dw_geometry;

static void dw_geometry_init(dw_geometry *g, const cmsis_nn_dw_conv_params *p, const cmsis_nn_dims *input_dims,
                             const cmsis_nn_dims *filter_dims, const cmsis_nn_dims *output_dims)
{
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->in_c = input_dims->c;
    g->ch_mult = p->ch_mult;
    g->k_h = filter_dims->h;
    g->k_w = filter_dims->w;
    g->out_h = output_dims->h;
    g->out_w = output_dims->w;
    g->out_c = output_dims->c;
    g->stride_y = p->stride.h;
    g->stride_x = p->stride.w;
    g->pad_y = p->padding.h;
    g->pad_x = p->padding.w;
    g->dil_y = p->dilation.h;
    g->dil_x = p->dilation.w;
}

static void dw_portable(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                        const cmsis_nn_per_channel_quant_params *q, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    for (int32_t oy = 0; oy < g->out_h; oy++)
    {
        for (int32_t ox = 0; ox < g->out_w; ox++)
        {
            for (int32_t ic = 0; ic < g->in_c; ic++)
            {
                for (int32_t m = 0; m < g->ch_mult; m++)
                {
                    const int32_t oc = ic * g->ch_mult + m;
                    uint32_t acc = bias ? (uint32_t)bias[oc] : 0U;
                    for (int32_t ky = 0; ky < g->k_h; ky++)
                    {
                        const int32_t iy = oy * g->stride_y - g->pad_y + ky * g->dil_y;
                        if (iy < 0 || iy >= g->in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < g->k_w; kx++)
                        {
                            const int32_t ix = ox * g->stride_x - g->pad_x + kx * g->dil_x;
                            if (ix < 0 || ix >= g->in_w)
                            {
                                continue;
                            }
                            const int32_t x = input[(iy * g->in_w + ix) * g->in_c + ic] + p->input_offset;
                            acc += (uint32_t)(x * filter[(ky * g->k_w + kx) * g->out_c + oc]);
                        }
                    }
                    output[(oy * g->out_w + ox) * g->out_c + oc] =
                        tfc_requantize_to_s8((int32_t)acc, q->multiplier[oc], q->shift[oc], p->output_offset,
                                             p->activation.min, p->activation.max);
                }
            }
        }
    }
}

#if TFC_NN_DSP
/* ch_mult == 1: four channels per pass; one word load each of input and weights feeds four
 * 16x16 MACs (SMLABB/SMLATT on the even and odd byte pairs). Padded taps are skipped. */
static void dw_dsp_mult1(const dw_geometry *g, const cmsis_nn_dw_conv_params *p,
                         const cmsis_nn_per_channel_quant_params *q, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, int8_t *output)
{
    const uint32_t off2 = __PKHBT((uint32_t)p->input_offset, (uint32_t)p->input_offset, 16);
    const int32_t C = g->in_c;
    const int32_t act_min = p->activation.min, act_max = p->activation.max, out_off = p->output_offset;
    for (int32_t oy = 0; oy < g->out_h; oy++)
    {
        const int32_t iy0 = oy * g->stride_y - g->pad_y;
        for (int32_t ox = 0; ox < g->out_w; ox++)
        {
            const int32_t ix0 = ox * g->stride_x - g->pad_x;
            int8_t *out = output + (oy * g->out_w + ox) * C;
            int32_t c = 0;
            for (; c + 3 < C; c += 4)
            {
                int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
                int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
                for (int32_t ky = 0; ky < g->k_h; ky++)
                {
                    const int32_t iy = iy0 + ky * g->dil_y;
                    if (iy < 0 || iy >= g->in_h)
                    {
                        continue;
                    }
                    for (int32_t kx = 0; kx < g->k_w; kx++)
                    {
                        const int32_t ix = ix0 + kx * g->dil_x;
                        if (ix < 0 || ix >= g->in_w)
                        {
                            continue;
                        }
                        const uint32_t x = (uint32_t)tfc_read_s8x4(input + (iy * g->in_w + ix) * C + c);
                        const uint32_t w = (uint32_t)tfc_read_s8x4(filter + (ky * g->k_w + kx) * C + c);
                        const int32_t xe = (int32_t)__SXTAB16(off2, x), xo = (int32_t)__SXTAB16(off2, __ROR(x, 8));
                        const int32_t we = (int32_t)__SXTB16(w), wo = (int32_t)__SXTB16_RORn(w, 8);
                        a0 = __SMLABB(xe, we, a0);
                        a2 = __SMLATT(xe, we, a2);
                        a1 = __SMLABB(xo, wo, a1);
                        a3 = __SMLATT(xo, wo, a3);
                    }
                }
                out[c] = tfc_requantize_to_s8(a0, q->multiplier[c], q->shift[c], out_off, act_min, act_max);
                out[c + 1] = tfc_requantize_to_s8(a1, q->multiplier[c + 1], q->shift[c + 1], out_off, act_min, act_max);
                out[c + 2] = tfc_requantize_to_s8(a2, q->multiplier[c + 2], q->shift[c + 2], out_off, act_min, act_max);
                out[c + 3] = tfc_requantize_to_s8(a3, q->multiplier[c + 3], q->shift[c + 3], out_off, act_min, act_max);
            }
            for (; c < C; c++)
            {
                uint32_t acc = bias ? (uint32_t)bias[c] : 0U;
                for (int32_t ky = 0; ky < g->k_h; ky++)
                {
                    const int32_t iy = iy0 + ky * g->dil_y;
                    for (int32_t kx = 0; kx < g->k_w && iy >= 0 && iy < g->in_h; kx++)
                    {
                        const int32_t ix = ix0 + kx * g->dil_x;
                        if (ix >= 0 && ix < g->in_w)
                        {
                            const int32_t x = input[(iy * g->in_w + ix) * C + c] + p->input_offset;
                            acc += (uint32_t)(x * filter[(ky * g->k_w + kx) * C + c]);
                        }
                    }
                }
                out[c] = tfc_requantize_to_s8((int32_t)acc, q->multiplier[c], q->shift[c], out_off, act_min, act_max);
            }
        }
    }
}
#endif /* TFC_NN_DSP */

/* Runs every batch through the DSP core when it applies, else the portable loop. */
static void dw_run(const cmsis_nn_dw_conv_params *p, const cmsis_nn_per_channel_quant_params *q,
                   const cmsis_nn_dims *input_dims, const int8_t *input, const cmsis_nn_dims *filter_dims,
                   const int8_t *filter, const int32_t *bias, const cmsis_nn_dims *output_dims, int8_t *output)
{
    dw_geometry g;
    dw_geometry_init(&g, p, input_dims, filter_dims, output_dims);
    const int32_t in_batch = g.in_h * g.in_w * g.in_c;
    const int32_t out_batch = g.out_h * g.out_w * g.out_c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
#if TFC_NN_DSP
        if (g.ch_mult == 1 && p->input_offset >= -32640 && p->input_offset <= 32640)
        {
            dw_dsp_mult1(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
            continue;
        }
#endif
        dw_portable(&g, p, q, input + b * in_batch, filter, bias, output + b * out_batch);
    }
}

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)bias_dims;
    if (dw_conv_params->ch_mult < 1 || output_dims->c != input_dims->c * dw_conv_params->ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    dw_run(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims,
           output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_s8_opt(const cmsis_nn_context *ctx,
                                              const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)bias_dims;
    if (input_dims->c != output_dims->c || dw_conv_params->ch_mult != 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    dw_run(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data, output_dims,
           output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_depthwise_conv_s8_opt_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
#if TFC_NN_DSP
    /* CMSIS-NN's DSP rule: one int16 im2col patch of all channels. */
    return input_dims->c * filter_dims->w * filter_dims->h * (int32_t)sizeof(int16_t);
#else
    (void)input_dims;
    (void)filter_dims;
    return 0;
#endif
}
