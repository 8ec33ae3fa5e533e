/* f16.c - IEEE half precision: conversion to and from float, and the dot
 * products of float16 rows with one float query (exact search). The fast
 * paths widen with F16C (vcvtph2ps) and sum in float with FMA; the plain C
 * twins define the results. Sums are float, in a fixed order per path, so
 * paths may differ in the last bits, never more. */
#include <immintrin.h>
#include <string.h>

#include "f16.h"
#include "clip.h"

/* ------------------------------------------------------------ plain C -- */

float
cle_f16_to_f32_one (uint16_t h)
{
  const uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  float f;

  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);    /* inf, nan */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    /* subnormal: normalize */
    exp = 113;
    while (!(mant & 0x400)) {
      mant <<= 1;
      exp--;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  memcpy (&f, &bits, 4);
  return f;
}

/* Round to nearest even, as vcvtps2ph with _MM_FROUND_TO_NEAREST_INT and
 * numpy's astype(float16). */
uint16_t
cle_f32_to_f16_one (float f)
{
  uint32_t x;
  memcpy (&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t ax = x & 0x7fffffff;

  if (ax >= 0x7f800000)         /* inf, nan (kept a nan) */
    return sign | 0x7c00 | (ax > 0x7f800000 ? 0x200 | ((ax >> 13) & 0x3ff) : 0);
  if (ax >= 0x477ff000)         /* rounds to >= 65520: inf */
    return sign | 0x7c00;
  if (ax < 0x38800000) {        /* below 2^-14: subnormal or zero */
    if (ax < 0x33000000)        /* below half the smallest subnormal */
      return sign;
    const uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    const int shift = 126 - e;  /* 14..24 */
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
      r++;
    return sign | r;
  }
  uint32_t r = ((ax - 0x38000000) >> 13);       /* rebias 127 -> 15 */
  const uint32_t rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
    r++;
  return sign | r;
}

void
cle_f32_to_f16_naive (uint16_t *out, const float *in, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = cle_f32_to_f16_one (in[i]);
}

/* scores[i] = rows[i] . q, rows: (n, dim) float16, q: (dim) */
void
cle_dot_f16_naive (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim)
{
  for (size_t i = 0; i < n; i++) {
    const uint16_t *r = rows + i * (size_t) dim;
    float s = 0;
    for (int j = 0; j < dim; j++)
      s += cle_f16_to_f32_one (r[j]) * q[j];
    scores[i] = s;
  }
}

/* ------------------------------------------------------------ x86-64 -- */

#if defined(__x86_64__)
__attribute__ ((target ("avx512f")))
static void
dot_f16_avx512 (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim)
{
  const int d16 = dim & ~15;
  size_t i = 0;

  /* four rows at a time: four independent FMA chains, and q's loads shared */
  for (; i + 4 <= n; i += 4) {
    const uint16_t *r = rows + i * (size_t) dim;
    __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < d16; j += 16) {
      const __m512 qv = _mm512_loadu_ps (q + j);
      a0 = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_loadu_si256 ((const
                      __m256i *) (r + j))), qv, a0);
      a1 = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_loadu_si256 ((const
                      __m256i *) (r + dim + j))), qv, a1);
      a2 = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_loadu_si256 ((const
                      __m256i *) (r + 2 * dim + j))), qv, a2);
      a3 = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_loadu_si256 ((const
                      __m256i *) (r + 3 * dim + j))), qv, a3);
    }
    float s[4] = { _mm512_reduce_add_ps (a0), _mm512_reduce_add_ps (a1),
      _mm512_reduce_add_ps (a2), _mm512_reduce_add_ps (a3)
    };
    for (int j = d16; j < dim; j++)
      for (int k = 0; k < 4; k++)
        s[k] += cle_f16_to_f32_one (r[k * dim + j]) * q[j];
    memcpy (scores + i, s, sizeof s);
  }
  for (; i < n; i++) {
    const uint16_t *r = rows + i * (size_t) dim;
    __m512 a = _mm512_setzero_ps ();
    for (int j = 0; j < d16; j += 16)
      a = _mm512_fmadd_ps (_mm512_cvtph_ps (_mm256_loadu_si256 ((const
                      __m256i *) (r + j))), _mm512_loadu_ps (q + j), a);
    float s = _mm512_reduce_add_ps (a);
    for (int j = d16; j < dim; j++)
      s += cle_f16_to_f32_one (r[j]) * q[j];
    scores[i] = s;
  }
}

__attribute__ ((target ("avx2,fma,f16c")))
static inline float
hsum256 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v),
      _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

__attribute__ ((target ("avx2,fma,f16c")))
static void
dot_f16_avx2 (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim)
{
  const int d8 = dim & ~7;

  for (size_t i = 0; i < n; i++) {
    const uint16_t *r = rows + i * (size_t) dim;
    __m256 a0 = _mm256_setzero_ps (), a1 = a0;
    int j = 0;
    for (; j + 16 <= d8; j += 16) {
      a0 = _mm256_fmadd_ps (_mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i
                      *) (r + j))), _mm256_loadu_ps (q + j), a0);
      a1 = _mm256_fmadd_ps (_mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i
                      *) (r + j + 8))), _mm256_loadu_ps (q + j + 8), a1);
    }
    for (; j < d8; j += 8)
      a0 = _mm256_fmadd_ps (_mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i
                      *) (r + j))), _mm256_loadu_ps (q + j), a0);
    float s = hsum256 (_mm256_add_ps (a0, a1));
    for (; j < dim; j++)
      s += cle_f16_to_f32_one (r[j]) * q[j];
    scores[i] = s;
  }
}

__attribute__ ((target ("avx2,f16c")))
static void
f32_to_f16_f16c (uint16_t *out, const float *in, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128 ((__m128i *) (out + i),
        _mm256_cvtps_ph (_mm256_loadu_ps (in + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    out[i] = cle_f32_to_f16_one (in[i]);
}
#endif

/* ------------------------------------------------------------ dispatch -- */

#if defined(__x86_64__)
#include <cpuid.h>

/* CPUID.1:ECX.F16C[bit 29]: clang 14's __builtin_cpu_supports does not know
 * "f16c", so ask the CPU directly. */
static int
cpu_has_f16c (void)
{
  unsigned int a, b, c, d;

  return __get_cpuid (1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

ClipDotPath
cle_dot_f16_path_default (void)
{
#if defined(__x86_64__)
  if (__builtin_cpu_supports ("avx512f"))
    return CLE_DOT_AVX512;
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")
      && cpu_has_f16c ())
    return CLE_DOT_AVX2;
#endif
  return CLE_DOT_C;
}

int
cle_dot_f16_path_supported (ClipDotPath path)
{
  switch (path) {
    case CLE_DOT_C:
      return 1;
#if defined(__x86_64__)
    case CLE_DOT_AVX2:
      return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")
          && cpu_has_f16c ();
    case CLE_DOT_AVX512:
      return __builtin_cpu_supports ("avx512f");
#endif
    default:
      return 0;
  }
}

void
cle_dot_f16_path (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim, ClipDotPath path)
{
  switch (path) {
#if defined(__x86_64__)
    case CLE_DOT_AVX512:
      dot_f16_avx512 (scores, rows, q, n, dim);
      return;
    case CLE_DOT_AVX2:
      dot_f16_avx2 (scores, rows, q, n, dim);
      return;
#endif
    default:
      cle_dot_f16_naive (scores, rows, q, n, dim);
      return;
  }
}

void
cle_dot_f16 (float *scores, const uint16_t *rows, const float *q, size_t n,
    int dim)
{
  static int path = -1;
  int p = __atomic_load_n (&path, __ATOMIC_RELAXED);
  if (p < 0) {
    p = cle_dot_f16_path_default ();
    __atomic_store_n (&path, p, __ATOMIC_RELAXED);
  }
  cle_dot_f16_path (scores, rows, q, n, dim, (ClipDotPath) p);
}

void
cle_f32_to_f16 (uint16_t *out, const float *in, size_t n)
{
#if defined(__x86_64__)
  if (__builtin_cpu_supports ("avx2") && cpu_has_f16c ()) {
    f32_to_f16_f16c (out, in, n);
    return;
  }
#endif
  cle_f32_to_f16_naive (out, in, n);
}

void
cle_f16_to_f32 (float *out, const uint16_t *in, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = cle_f16_to_f32_one (in[i]);
}
