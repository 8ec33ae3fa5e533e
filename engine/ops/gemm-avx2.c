/* gemm-avx2.c - AVX2+FMA block of y = x @ w^T + b in the dot-product
 * ("NT") form: both operands run along k, so w is read in place and never
 * packed. Built for baseline x86-64 with per-function target attributes;
 * gemm.c picks at run time. */
#include "gemm-kernels.h"

#ifdef CLE_GEMM_HAVE_X86

#include <immintrin.h>

/* Blocking: a KC-long slice of 4 rows of w (12 KB) stays in L1 while the
 * MC x KC slice of x (450 KB) streams from L2, MR256 rows at a time. */
#define KC 768
#define MC 150

/* Pins a loaded vector in a register: without it GCC folds the load into
 * every FMA that uses it (a memory operand each), which multiplies the
 * loads by the tile size and makes the kernel load-bound. */
#define PIN(v) __asm__ ("" : "+v" (v))

static inline int
imin (int a, int b)
{
  return a < b ? a : b;
}

/* Splits k into chunks of at most KC, equal up to a multiple of 16. */
static inline int
chunk_k (int k)
{
  int n_chunk = (k + KC - 1) / KC;
  int kc = (k + n_chunk - 1) / n_chunk;
  return imin ((kc + 15) & ~15, k);
}

#define MR256 3
#define ATTR256 __attribute__ ((target ("avx2,fma")))
#define INLINE256 static inline __attribute__ ((always_inline, \
      target ("avx2,fma")))

INLINE256 __m128
hsum4_256 (__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
  __m256 t = _mm256_hadd_ps (_mm256_hadd_ps (a0, a1), _mm256_hadd_ps (a2,
          a3));
  return _mm_add_ps (_mm256_castps256_ps128 (t), _mm256_extractf128_ps (t,
          1));
}

/* Lanes [0, n) all ones: the maskload mask for a k tail of n < 8. */
INLINE256 __m256i
tail_mask_256 (int n)
{
  const __m256i lane = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n), lane);
}

/* As tile512_x4 with 8 lanes: 12 accumulators + 4 w in 16 registers. */
INLINE256 void
tile256_x4 (int mr, float *y, const float *x, const float *w,
    const float *b, int kc, int ldx, int ldw, int ldy, int first)
{
  __m256 s[MR256][4];
  const float *w0 = w, *w1 = w + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm256_setzero_ps ();
  int k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 v0 = _mm256_loadu_ps (w0 + k), v1 = _mm256_loadu_ps (w1 + k);
    __m256 v2 = _mm256_loadu_ps (w2 + k), v3 = _mm256_loadu_ps (w3 + k);
    PIN (v0);
    PIN (v1);
    PIN (v2);
    PIN (v3);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      __m256 a = _mm256_loadu_ps (x + (size_t) r * ldx + k);
      s[r][0] = _mm256_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm256_fmadd_ps (a, v1, s[r][1]);
      s[r][2] = _mm256_fmadd_ps (a, v2, s[r][2]);
      s[r][3] = _mm256_fmadd_ps (a, v3, s[r][3]);
    }
  }
  if (k < kc) {
    const __m256i mk = tail_mask_256 (kc - k);
    __m256 v0 = _mm256_maskload_ps (w0 + k, mk);
    __m256 v1 = _mm256_maskload_ps (w1 + k, mk);
    __m256 v2 = _mm256_maskload_ps (w2 + k, mk);
    __m256 v3 = _mm256_maskload_ps (w3 + k, mk);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      __m256 a = _mm256_maskload_ps (x + (size_t) r * ldx + k, mk);
      s[r][0] = _mm256_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm256_fmadd_ps (a, v1, s[r][1]);
      s[r][2] = _mm256_fmadd_ps (a, v2, s[r][2]);
      s[r][3] = _mm256_fmadd_ps (a, v3, s[r][3]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    float *yr = y + (size_t) r * ldy;
    __m128 t = hsum4_256 (s[r][0], s[r][1], s[r][2], s[r][3]);
    if (!first)
      t = _mm_add_ps (t, _mm_loadu_ps (yr));
    else if (b)
      t = _mm_add_ps (t, _mm_loadu_ps (b));
    _mm_storeu_ps (yr, t);
  }
}

INLINE256 void
tile256_x1 (int mr, float *y, const float *x, const float *w,
    const float *b, int kc, int ldx, int ldy, int first)
{
  __m256 s[MR256];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r] = _mm256_setzero_ps ();
  for (int k = 0; k < kc; k += 8) {
    const __m256i mk = tail_mask_256 (kc - k);
    __m256 v = _mm256_maskload_ps (w + k, mk);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      s[r] = _mm256_fmadd_ps (_mm256_maskload_ps (x + (size_t) r * ldx + k,
              mk), v, s[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    __m128 h = _mm_add_ps (_mm256_castps256_ps128 (s[r]),
        _mm256_extractf128_ps (s[r], 1));
    h = _mm_add_ps (h, _mm_movehl_ps (h, h));
    h = _mm_add_ss (h, _mm_movehdup_ps (h));
    float t = _mm_cvtss_f32 (h);
    float *yr = y + (size_t) r * ldy;
    *yr = first ? t + (b ? *b : 0.0f) : *yr + t;
  }
}

#define DISPATCH_MR3(mr, call) \
  switch (mr) { \
    case 3: call (3); break; \
    case 2: call (2); break; \
    default: call (1); break; \
  }

ATTR256 void
cle_gemm_nt_avx2 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy)
{
  const int kc_max = chunk_k (k);
  for (int k0 = 0; k0 < k; k0 += kc_max) {
    const int kc = imin (kc_max, k - k0), first = k0 == 0;
    for (int i0 = 0; i0 < m; i0 += MC) {
      const int i1 = imin (i0 + MC, m);
      for (int j = 0; j < n; j += 4) {
        const int nr = imin (4, n - j);
        const float *wj = w + (size_t) j * ldw + k0;
        const float *bj = b ? b + j : NULL;
        for (int i = i0; i < i1; i += MR256) {
          const int mr = imin (MR256, i1 - i);
          float *yij = y + (size_t) i * ldy + j;
          const float *xi = x + (size_t) i * ldx + k0;
          if (nr == 4) {
#define TILE4(R) tile256_x4 (R, yij, xi, wj, bj, kc, ldx, ldw, ldy, first)
            DISPATCH_MR3 (mr, TILE4);
#undef TILE4
          } else {
            for (int c = 0; c < nr; c++) {
#define TILE1(R) tile256_x1 (R, yij + c, xi, wj + (size_t) c * ldw, \
    bj ? bj + c : NULL, kc, ldx, ldy, first)
              DISPATCH_MR3 (mr, TILE1);
#undef TILE1
            }
          }
        }
      }
    }
  }
}

#endif /* CLE_GEMM_HAVE_X86 */
