/*
 * tfc runtime: arm_avgpool_s8 and arm_max_pool_s8 (TFLite Micro's reference int8 pooling:
 * only taps inside the input count; the average rounds half away from zero).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"
#include "tfc_nn_dsp.h"
#include "tfc_nn_support.h"

int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
#if TFC_NN_DSP
    /* CMSIS-NN's DSP rule: one int32 accumulator per channel. */
    return ch_src * (int32_t)sizeof(int32_t);
#else
    (void)ch_src;
    return 0;
#endif
}

/* The window of output (oy, ox) clipped to the input: [y0, y1) x [x0, x1). */
typedef struct
{
    int32_t y0, y1, x0, x1;
} pool_window;

static pool_window clip_window(const cmsis_nn_pool_params *p, const cmsis_nn_dims *in, const cmsis_nn_dims *f,
                               int32_t oy, int32_t ox)
{
    pool_window w;
    const int32_t iy = oy * p->stride.h - p->padding.h;
    const int32_t ix = ox * p->stride.w - p->padding.w;
    w.y0 = TFC_MAX(iy, 0);
    w.y1 = TFC_MIN(iy + f->h, in->h);
    w.x0 = TFC_MAX(ix, 0);
    w.x1 = TFC_MIN(ix + f->w, in->w);
    return w;
}

/* C division truncates toward zero, so adding +-count/2 first rounds half away from zero. */
static int8_t average(int32_t sum, int32_t count, const cmsis_nn_activation *act)
{
    const int32_t half = count / 2;
    const int32_t avg = sum > 0 ? (sum + half) / count : (sum - half) / count;
    return (int8_t)tfc_clamp(avg, act->min, act->max);
}

arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx,
                                   const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output_data)
{
    const int32_t C = input_dims->c;
    if (input_dims->n < 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    /* With the scratch buffer, sum whole pixels (all channels, contiguous) per tap; without it,
     * one channel at a time. */
    int32_t *acc = (ctx != NULL && ctx->buf != NULL && ctx->size >= C * (int32_t)sizeof(int32_t))
        ? (int32_t *)ctx->buf
        : NULL;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + b * input_dims->h * input_dims->w * C;
        int8_t *out_b = output_data + b * output_dims->h * output_dims->w * C;
        for (int32_t oy = 0; oy < output_dims->h; oy++)
        {
            for (int32_t ox = 0; ox < output_dims->w; ox++)
            {
                const pool_window w = clip_window(pool_params, input_dims, filter_dims, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                if (w.y1 <= w.y0 || w.x1 <= w.x0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR; /* empty window: no average exists */
                }
                int8_t *out = out_b + (oy * output_dims->w + ox) * C;
                if (acc != NULL)
                {
                    memset(acc, 0, (size_t)C * sizeof(int32_t));
                    for (int32_t y = w.y0; y < w.y1; y++)
                    {
                        for (int32_t x = w.x0; x < w.x1; x++)
                        {
                            const int8_t *px = in + (y * input_dims->w + x) * C;
                            for (int32_t c = 0; c < C; c++)
                            {
                                acc[c] += px[c];
                            }
                        }
                    }
                    for (int32_t c = 0; c < C; c++)
                    {
                        out[c] = average(acc[c], count, &pool_params->activation);
                    }
                    continue;
                }
                for (int32_t c = 0; c < C; c++)
                {
                    int32_t sum = 0;
                    for (int32_t y = w.y0; y < w.y1; y++)
                    {
                        for (int32_t x = w.x0; x < w.x1; x++)
                        {
                            sum += in[(y * input_dims->w + x) * C + c];
                        }
                    }
                    out[c] = average(sum, count, &pool_params->activation);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx;
    const int32_t C = input_dims->c;
    if (input_dims->n < 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + b * input_dims->h * input_dims->w * C;
        int8_t *out_b = output_data + b * output_dims->h * output_dims->w * C;
        for (int32_t oy = 0; oy < output_dims->h; oy++)
        {
            for (int32_t ox = 0; ox < output_dims->w; ox++)
            {
                const pool_window w = clip_window(pool_params, input_dims, filter_dims, oy, ox);
                int8_t *out = out_b + (oy * output_dims->w + ox) * C;
                /* Pixel-major: the running maximum is updated over contiguous channels. */
                memset(out, (int)(uint8_t)INT8_MIN, (size_t)C);
                for (int32_t y = w.y0; y < w.y1; y++)
                {
                    for (int32_t x = w.x0; x < w.x1; x++)
                    {
                        const int8_t *px = in + (y * input_dims->w + x) * C;
                        for (int32_t c = 0; c < C; c++)
                        {
                            out[c] = px[c] > out[c] ? px[c] : out[c];
                        }
                    }
                }
                for (int32_t c = 0; c < C; c++)
                {
                    out[c] = (int8_t)tfc_clamp(out[c], pool_params->activation.min, pool_params->activation.max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
