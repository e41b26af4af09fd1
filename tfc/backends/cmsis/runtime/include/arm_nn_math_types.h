/*
 * tfc runtime: integer limits and compiler helpers shared by the kernels.
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ARM_NN_MATH_TYPES_H
#define ARM_NN_MATH_TYPES_H

#include <limits.h>
#include <stdint.h>
#include <string.h>

#ifndef NN_Q31_MAX
#define NN_Q31_MAX ((int32_t)0x7FFFFFFFL)
#endif
#ifndef NN_Q31_MIN
#define NN_Q31_MIN ((int32_t)0x80000000L)
#endif
#ifndef NN_Q7_MAX
#define NN_Q7_MAX ((int8_t)0x7F)
#endif
#ifndef NN_Q7_MIN
#define NN_Q7_MIN ((int8_t)0x80)
#endif

#ifndef __STATIC_FORCEINLINE
#if defined(__GNUC__) || defined(__clang__)
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#else
#define __STATIC_FORCEINLINE static inline
#endif
#endif

#endif /* ARM_NN_MATH_TYPES_H */
