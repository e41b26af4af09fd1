/*
 * tfc runtime: in-place ReLU and ReLU6 on raw int8 values (CMSIS-NN arm_relu_q7 / arm_relu6_s8).
 * SPDX-License-Identifier: Apache-2.0
 */
#include "arm_nnfunctions.h"

void arm_relu_q7(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
    {
        data[i] = data[i] > 0 ? data[i] : 0;
    }
}

void arm_relu6_s8(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
    {
        const int8_t x = data[i] > 0 ? data[i] : 0;
        data[i] = x < 6 ? x : 6;
    }
}
