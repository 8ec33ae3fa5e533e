/* vector-math.h - helpers for loops the compiler vectorizes (internal to
 * ops/): per-ISA clones of a function, and an exp written in plain
 * arithmetic so that it vectorizes (libm's expf is a call per element). */
#ifndef CLE_VECTOR_MATH_H
#define CLE_VECTOR_MATH_H

#include <stdint.h>
#include <string.h>

/* -O2 in GCC 12 vectorizes only loops that need no epilogue; the files
 * that include this want their loops vectorized whatever the build type. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

/* On x86-64 an AVX-512 and an AVX2 clone are picked at load time. */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute (target_clones)
#define CLE_CLONES __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#endif
#endif
#ifndef CLE_CLONES
#define CLE_CLONES
#endif

/* e^x within 2 ulp of expf for x in [-87.3, 88.7] (clamped outside, so
 * never inf or NaN): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
 * n ln2 is exact), e^r by its degree-6 Taylor polynomial (remainder below
 * 2^-26), 2^n put in the exponent bits. */
static inline float
cle_exp (float x)
{
  x = x < -87.3f ? -87.3f : x > 88.7f ? 88.7f : x;
  /* round to nearest by the 1.5 * 2^23 trick (no lrint call) */
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = ((int32_t) n + 127) << 23;
  float scale;
  memcpy (&scale, &bits, sizeof scale);
  return p * scale;
}

#endif
