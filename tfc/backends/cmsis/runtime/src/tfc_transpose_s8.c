/*
 * tfc runtime: tfc_transpose_s8, a rank-4 permutation of int8 data.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "tfc_kernels.h"

/* dst[j][i] = src[i][j] for an int8 matrix of rows x cols. NCHW <-> NHWC is this per image: the
 * model's boundary transposes cost 5 instructions a byte on the M7 element by element, tiles of
 * 4 x 4 (four word loads, eight shift/mask/pack steps, four word stores) about 2. */
static void tp_matrix(const int8_t *src, int8_t *dst, int32_t rows, int32_t cols)
{
    int32_t i = 0, j;
    for (; i + 4 <= rows; i += 4)
    {
        for (j = 0; j + 4 <= cols; j += 4)
        {
            uint32_t a, b, c, d;
            memcpy(&a, src + i * cols + j, 4);
            memcpy(&b, src + (i + 1) * cols + j, 4);
            memcpy(&c, src + (i + 2) * cols + j, 4);
            memcpy(&d, src + (i + 3) * cols + j, 4);
            /* bytes (little-endian) a0 b0 a2 b2 / a1 b1 a3 b3, the same for c and d */
            const uint32_t ab02 = (a & 0x00FF00FFU) | ((b & 0x00FF00FFU) << 8);
            const uint32_t ab13 = ((a >> 8) & 0x00FF00FFU) | (b & 0xFF00FF00U);
            const uint32_t cd02 = (c & 0x00FF00FFU) | ((d & 0x00FF00FFU) << 8);
            const uint32_t cd13 = ((c >> 8) & 0x00FF00FFU) | (d & 0xFF00FF00U);
            const uint32_t col0 = (ab02 & 0xFFFFU) | (cd02 << 16);
            const uint32_t col1 = (ab13 & 0xFFFFU) | (cd13 << 16);
            const uint32_t col2 = (ab02 >> 16) | (cd02 & 0xFFFF0000U);
            const uint32_t col3 = (ab13 >> 16) | (cd13 & 0xFFFF0000U);
            memcpy(dst + j * rows + i, &col0, 4);
            memcpy(dst + (j + 1) * rows + i, &col1, 4);
            memcpy(dst + (j + 2) * rows + i, &col2, 4);
            memcpy(dst + (j + 3) * rows + i, &col3, 4);
        }
        for (; j < cols; j++)
        {
            for (int32_t k = i; k < i + 4; k++)
            {
                dst[j * rows + k] = src[k * cols + j];
            }
        }
    }
    for (; i < rows; i++)
    {
        for (j = 0; j < cols; j++)
        {
            dst[j * rows + i] = src[i * cols + j];
        }
    }
}

/* run bytes from src to dst, two words per step while they last. */
static void copy_run(const int8_t *src, int8_t *dst, int32_t run)
{
    int32_t k = 0;
    for (; k + 8 <= run; k += 8)
    {
        uint32_t a, b;
        memcpy(&a, src + k, 4);
        memcpy(&b, src + k + 4, 4);
        memcpy(dst + k, &a, 4);
        memcpy(dst + k + 4, &b, 4);
    }
    for (; k < run; k++)
    {
        dst[k] = src[k];
    }
}

/* A permutation of the three outer axes, the last one fixed: whole rows of dims[3] bytes. */
static void copy_rows(const int8_t *input, int8_t *output, const int32_t dims[4], const int32_t perm[4])
{
    const int32_t run = dims[3];
    const int32_t in_stride[3] = { dims[1] * dims[2] * run, dims[2] * run, run };
    const int32_t s0 = in_stride[perm[0]], s1 = in_stride[perm[1]], s2 = in_stride[perm[2]];
    const int32_t d0 = dims[perm[0]], d1 = dims[perm[1]], d2 = dims[perm[2]];
    for (int32_t i0 = 0; i0 < d0; i0++)
    {
        for (int32_t i1 = 0; i1 < d1; i1++)
        {
            const int8_t *src = input + i0 * s0 + i1 * s1;
            for (int32_t i2 = 0; i2 < d2; i2++, output += run)
            {
                copy_run(src + i2 * s2, output, run);
            }
        }
    }
}

void tfc_transpose_s8(const int8_t *input, int8_t *output, const int32_t dims[4], const int32_t perm[4])
{
    /* A matrix transpose per outer index: the lowering merges NCHW <-> NHWC ([C][HW] <-> [HW][C])
     * and every other two-group permutation into this form. */
    if (perm[0] == 0 && perm[1] == 1 && perm[2] == 3 && perm[3] == 2)
    {
        const int32_t rows = dims[2], cols = dims[3];
        for (int32_t n = 0; n < dims[0] * dims[1]; n++)
        {
            tp_matrix(input + n * rows * cols, output + n * rows * cols, rows, cols);
        }
        return;
    }
    /* The last axis stays last (attention's head split and merge, [T][H][D] <-> [H][T][D]): rows
     * of dims[3] bytes move whole, a word at a time (about 1 instruction a byte on the M7 where
     * the element walk below takes 5). */
    if (perm[3] == 3)
    {
        copy_rows(input, output, dims, perm);
        return;
    }
    /* Input strides, then the stride of each output axis in the input. */
    int32_t in_stride[4];
    int32_t stride[4];
    int32_t out_dims[4];
    int32_t a, i0, i1, i2, i3;
    in_stride[3] = 1;
    for (a = 2; a >= 0; a--)
    {
        in_stride[a] = in_stride[a + 1] * dims[a + 1];
    }
    for (a = 0; a < 4; a++)
    {
        stride[a] = in_stride[perm[a]];
        out_dims[a] = dims[perm[a]];
    }
    for (i0 = 0; i0 < out_dims[0]; i0++)
    {
        for (i1 = 0; i1 < out_dims[1]; i1++)
        {
            for (i2 = 0; i2 < out_dims[2]; i2++)
            {
                const int8_t *src = input + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
                for (i3 = 0; i3 < out_dims[3]; i3++)
                {
                    *output++ = src[i3 * stride[3]];
                }
            }
        }
    }
}
