/* gemm-avx2.c - AVX2+FMA blocks of y = x @ w^T + b with w read in place
 * (never packed): the dot-product ("NT") form, where both operands run
 * along k, and the packed form, where 8-row panels of x (small, packed per
 * call) are multiplied by broadcast elements of w; as gemm-avx512.c with
 * half the width and half the registers. Built for baseline x86-64 with
 * per-function target attributes; gemm.c picks at run time. */
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

/* One k-chunk of the dot form: y (=|+=) x w^T over kc, rows [0, m) and
 * columns [0, n), 4 columns by MR256 rows at a time. */
ATTR256 static void
dot_chunk (float *y, const float *x, const float *w, const float *b, int m,
    int kc, int n, int ldx, int ldw, int ldy, int first)
{
  for (int j = 0; j < n; j += 4) {
    const int nr = imin (4, n - j);
    const float *wj = w + (size_t) j * ldw;
    const float *bj = b ? b + j : NULL;
    for (int i = 0; i < m; i += MR256) {
      const int mr = imin (MR256, m - i);
      float *yij = y + (size_t) i * ldy + j;
      const float *xi = x + (size_t) i * ldx;
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

ATTR256 void
cle_gemm_nt_avx2 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy)
{
  const int kc_max = chunk_k (k);
  for (int k0 = 0; k0 < k; k0 += kc_max)
    for (int i0 = 0; i0 < m; i0 += MC)
      dot_chunk (y + (size_t) i0 * ldy, x + (size_t) i0 * ldx + k0, w + k0,
          b, imin (MC, m - i0), imin (kc_max, k - k0), n, ldx, ldw, ldy,
          k0 == 0);
}

/* ------------------------------------------------------- packed form -- */

/* Panels of x: ap[p][k][r] = x[8 p + r][k]; gemm.c does the blocking. */
#define NRP 4                   /* columns (rows of w) per tile */

/* In place: r[i] <- column i of the 8 x 8 block whose rows are r[]. */
INLINE256 void
transpose8 (__m256 r[8])
{
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps (r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps (r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i] = _mm256_shuffle_ps (t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps (t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps (t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps (t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  /* u[4q + c] holds column c (low half) and 4 + c (high half) of rows
   * 4q..4q+3 */
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps (u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps (u[c], u[4 + c], 0x31);
  }
}

ATTR256 void
cle_gemm_pack_avx2 (float *ap, const float *x, int ldx, int k, int p0,
    int p1)
{
  for (int p = p0; p < p1; p++) {
    const float *xp = x + (size_t) p * 8 * ldx;
    float *out = ap + (size_t) p * 8 * k;
    for (int k0 = 0; k0 < k; k0 += 8) {
      const int kn = imin (8, k - k0);
      const __m256i mk = tail_mask_256 (kn);
      __m256 r[8];
      for (int i = 0; i < 8; i++)
        r[i] = _mm256_maskload_ps (xp + (size_t) i * ldx + k0, mk);
      transpose8 (r);
      for (int i = 0; i < kn; i++)
        _mm256_store_ps (out + (size_t) (k0 + i) * 8, r[i]);
    }
  }
}

/* y[8 v + r][c] (=|+=) sum over kc of ap_v[kk][r] * w[c][kk] for v < mv
 * (a constant after inlining), r < 8, c < 4: 12 accumulators, 3 panel
 * vectors and a broadcast element of w: all 16 registers. Meanwhile the 4
 * rows of w_next (unless NULL) are fetched into L2, as in
 * gemm-avx512.c. */
INLINE256 void
tile_packed (int mv, float *y, const float *ap, size_t ld_panel,
    const float *w, const float *b, int kc, int ldw, int ldy, int first,
    const float *w_next)
{
  __m256 s[3][NRP];
#pragma GCC unroll 8
  for (int v = 0; v < mv; v++)
#pragma GCC unroll 8
    for (int c = 0; c < NRP; c++)
      s[v][c] = _mm256_setzero_ps ();
  for (int k0 = 0; k0 < kc; k0 += 16) {
    cle_gemm_prefetch_rows (w_next, NRP, ldw, k0);
    const int k1 = imin (kc, k0 + 16);
#pragma GCC unroll 4
    for (int k = k0; k < k1; k++) {
      __m256 a[3];
#pragma GCC unroll 8
      for (int v = 0; v < mv; v++) {
        a[v] = _mm256_load_ps (ap + v * ld_panel + (size_t) k * 8);
        PIN (a[v]);
      }
#pragma GCC unroll 8
      for (int c = 0; c < NRP; c++) {
        const __m256 e = _mm256_broadcast_ss (w + (size_t) c * ldw + k);
#pragma GCC unroll 8
        for (int v = 0; v < mv; v++)
          s[v][c] = _mm256_fmadd_ps (a[v], e, s[v][c]);
      }
    }
  }
  /* s[v][c] is a column of y: rows of 4 are the 4 x 4 transposes of the
   * low and high halves. */
  const __m128 bias = first && b ? _mm_loadu_ps (b) : _mm_setzero_ps ();
#pragma GCC unroll 8
  for (int v = 0; v < mv; v++) {
    __m256 t0 = _mm256_unpacklo_ps (s[v][0], s[v][1]);
    __m256 t1 = _mm256_unpackhi_ps (s[v][0], s[v][1]);
    __m256 t2 = _mm256_unpacklo_ps (s[v][2], s[v][3]);
    __m256 t3 = _mm256_unpackhi_ps (s[v][2], s[v][3]);
    __m256 r[4];
    r[0] = _mm256_shuffle_ps (t0, t2, 0x44);
    r[1] = _mm256_shuffle_ps (t0, t2, 0xee);
    r[2] = _mm256_shuffle_ps (t1, t3, 0x44);
    r[3] = _mm256_shuffle_ps (t1, t3, 0xee);
    for (int i = 0; i < 8; i++) {
      float *yr = y + (size_t) (8 * v + i) * ldy;
      __m128 t = i < 4 ? _mm256_castps256_ps128 (r[i])
          : _mm256_extractf128_ps (r[i - 4], 1);
      t = _mm_add_ps (t, first ? bias : _mm_loadu_ps (yr));
      _mm_storeu_ps (yr, t);
    }
  }
}

ATTR256 void
cle_gemm_packed_avx2 (float *y, const float *ap, size_t ld_panel,
    const float *x, const float *w, const float *b, int m, int kc, int n,
    int ldx, int ldw, int ldy, int first)
{
  const int n_panel = m / 8, n4 = n / NRP * NRP, m8 = n_panel * 8;
  for (int j = 0; j < n4; j += NRP) {
    const float *wj = w + (size_t) j * ldw;
    const float *bj = b ? b + j : NULL;
    for (int p = 0; p < n_panel; p += 3) {
      float *yij = y + (size_t) p * 8 * ldy + j;
      const float *a = ap + p * ld_panel;
      /* the first tile of a block of w fetches the next block */
      const float *w_next = p == 0 && j + NRP < n4 ? wj + (size_t) NRP * ldw
          : NULL;
      switch (imin (3, n_panel - p)) {
        case 3:
          tile_packed (3, yij, a, ld_panel, wj, bj, kc, ldw, ldy, first,
              w_next);
          break;
        case 2:
          tile_packed (2, yij, a, ld_panel, wj, bj, kc, ldw, ldy, first,
              w_next);
          break;
        default:
          tile_packed (1, yij, a, ld_panel, wj, bj, kc, ldw, ldy, first,
              w_next);
          break;
      }
    }
    /* the rows below the last panel while this block of w is cached */
    if (m > m8)
      dot_chunk (y + (size_t) m8 * ldy + j, x + (size_t) m8 * ldx, wj, bj,
          m - m8, kc, NRP, ldx, ldw, ldy, first);
  }
  /* the columns right of the last tile */
  if (n > n4)
    dot_chunk (y + n4, x, w + (size_t) n4 * ldw, b ? b + n4 : NULL, m, kc,
        n - n4, ldx, ldw, ldy, first);
}

/* ------------------------------------------------- broadcast (NN) form -- */

#define MR_NN256 6              /* 12 sums + 2 of bm + 1 of x: 15 of 16 */

/* Rows [0, mr) of y by 16 columns (2 vectors, lanes past n masked off),
 * as gemm-avx512.c's tile_nn. */
INLINE256 void
tile_nn256 (int mr, float *y, const float *x, const float *bm, int k,
    int ldx, int ldb, int ldy, __m256i mask0, __m256i mask1)
{
  __m256 s[MR_NN256][2];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r][0] = s[r][1] = _mm256_setzero_ps ();
  for (int t = 0; t < k; t++) {
    const float *bt = bm + (size_t) t * ldb;
    __m256 v0 = _mm256_maskload_ps (bt, mask0);
    __m256 v1 = _mm256_maskload_ps (bt + 8, mask1);
    PIN (v0);
    PIN (v1);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m256 a = _mm256_broadcast_ss (x + (size_t) r * ldx + t);
      s[r][0] = _mm256_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm256_fmadd_ps (a, v1, s[r][1]);
    }
  }
  /* written out, as in tile_nn */
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    float *yr = y + (size_t) r * ldy;
    _mm256_maskstore_ps (yr, mask0, s[r][0]);
    _mm256_maskstore_ps (yr + 8, mask1, s[r][1]);
  }
}

ATTR256 void
cle_gemm_nn_avx2 (float *y, const float *x, const float *bm, int m, int k,
    int n, int ldx, int ldb, int ldy)
{
  for (int j0 = 0; j0 < n; j0 += 16) {
    const __m256i mask0 = tail_mask_256 (imin (8, n - j0));
    const __m256i mask1 = tail_mask_256 (n - j0 - 8);
    for (int i = 0; i < m; i += MR_NN256) {
      float *yi = y + (size_t) i * ldy + j0;
      const float *xi = x + (size_t) i * ldx;
#define TILE_NN(R) tile_nn256 (R, yi, xi, bm + j0, k, ldx, ldb, ldy, mask0, \
    mask1)
      CLE_DISPATCH_ROWS6 (imin (MR_NN256, m - i), TILE_NN);
#undef TILE_NN
    }
  }
}

#endif /* CLE_GEMM_HAVE_X86 */
