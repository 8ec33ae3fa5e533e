/* gemm-avx512.c - AVX-512F blocks of y = x @ w^T + b with w read in place
 * (never packed): the dot-product ("NT") form, where both operands run
 * along k, and the packed form, where 16-row panels of x (small, packed per
 * call) are multiplied by broadcast elements of w. Built for baseline
 * x86-64 with per-function target attributes; gemm.c picks at run time. */
#include "gemm-kernels.h"

#ifdef CLE_GEMM_HAVE_X86

#include <immintrin.h>

#define ATTR512 __attribute__ ((target ("avx512f")))
#define INLINE512 static inline __attribute__ ((always_inline, \
      target ("avx512f")))

/* Pins a loaded vector in a register: without it GCC folds the load into
 * every FMA that uses it (a memory operand each), which multiplies the
 * loads by the tile size and makes the kernel load-bound. */
#define PIN(v) __asm__ ("" : "+v" (v))

static inline int
imin (int a, int b)
{
  return a < b ? a : b;
}

/* --------------------------------------------------- dot-product form -- */

/* Blocking: a KC-long slice of 4 rows of w (12 KB) stays in L1 while the
 * MC x KC slice of x (480 KB) streams from L2, MR512 rows at a time. Used
 * alone for m < 16 and for the edges of the packed form. */
#define KC 768
#define MC 160
#define MR512 5

/* Splits k into chunks of at most KC, equal up to a multiple of 16. */
static inline int
chunk_k (int k)
{
  int n_chunk = (k + KC - 1) / KC;
  int kc = (k + n_chunk - 1) / n_chunk;
  return imin ((kc + 15) & ~15, k);
}

/* [sum(a0), sum(a1), sum(a2), sum(a3)]: halves, then quarters, then the
 * four lanes of each quarter. */
INLINE512 __m128
hsum4_512 (__m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
  __m512 u01 = _mm512_add_ps (_mm512_shuffle_f32x4 (a0, a1, 0x44),
      _mm512_shuffle_f32x4 (a0, a1, 0xee));
  __m512 u23 = _mm512_add_ps (_mm512_shuffle_f32x4 (a2, a3, 0x44),
      _mm512_shuffle_f32x4 (a2, a3, 0xee));
  /* quarter q of v holds four partial sums of a_q */
  __m512 v = _mm512_add_ps (_mm512_shuffle_f32x4 (u01, u23, 0x88),
      _mm512_shuffle_f32x4 (u01, u23, 0xdd));
  v = _mm512_add_ps (v, _mm512_shuffle_ps (v, v, 0x4e));
  v = _mm512_add_ps (v, _mm512_shuffle_ps (v, v, 0xb1));
  const __m512i pick = _mm512_setr_epi32 (0, 4, 8, 12, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps128 (_mm512_permutexvar_ps (pick, v));
}

/* y[r][0..3] (=|+=) sum over kc of x[r][:] * w[0..3][:], r < mr (a constant
 * after inlining, so s[][] lives in registers: 20 accumulators + 4 w). */
INLINE512 void
tile512_x4 (int mr, float *y, const float *x, const float *w,
    const float *b, int kc, int ldx, int ldw, int ldy, int first)
{
  __m512 s[MR512][4];
  const float *w0 = w, *w1 = w + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm512_setzero_ps ();
  int k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 v0 = _mm512_loadu_ps (w0 + k), v1 = _mm512_loadu_ps (w1 + k);
    __m512 v2 = _mm512_loadu_ps (w2 + k), v3 = _mm512_loadu_ps (w3 + k);
    PIN (v0);
    PIN (v1);
    PIN (v2);
    PIN (v3);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      __m512 a = _mm512_loadu_ps (x + (size_t) r * ldx + k);
      PIN (a);
      s[r][0] = _mm512_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm512_fmadd_ps (a, v1, s[r][1]);
      s[r][2] = _mm512_fmadd_ps (a, v2, s[r][2]);
      s[r][3] = _mm512_fmadd_ps (a, v3, s[r][3]);
    }
  }
  if (k < kc) {
    /* masked-off lanes are neither read nor faulted on */
    const __mmask16 mk = (__mmask16) ((1u << (kc - k)) - 1);
    __m512 v0 = _mm512_maskz_loadu_ps (mk, w0 + k);
    __m512 v1 = _mm512_maskz_loadu_ps (mk, w1 + k);
    __m512 v2 = _mm512_maskz_loadu_ps (mk, w2 + k);
    __m512 v3 = _mm512_maskz_loadu_ps (mk, w3 + k);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      __m512 a = _mm512_maskz_loadu_ps (mk, x + (size_t) r * ldx + k);
      s[r][0] = _mm512_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm512_fmadd_ps (a, v1, s[r][1]);
      s[r][2] = _mm512_fmadd_ps (a, v2, s[r][2]);
      s[r][3] = _mm512_fmadd_ps (a, v3, s[r][3]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    float *yr = y + (size_t) r * ldy;
    __m128 t = hsum4_512 (s[r][0], s[r][1], s[r][2], s[r][3]);
    if (!first)
      t = _mm_add_ps (t, _mm_loadu_ps (yr));
    else if (b)
      t = _mm_add_ps (t, _mm_loadu_ps (b));
    _mm_storeu_ps (yr, t);
  }
}

/* One column of w: the right edge when n % 4 != 0. */
INLINE512 void
tile512_x1 (int mr, float *y, const float *x, const float *w,
    const float *b, int kc, int ldx, int ldy, int first)
{
  __m512 s[MR512];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r] = _mm512_setzero_ps ();
  for (int k = 0; k < kc; k += 16) {
    const __mmask16 mk = kc - k >= 16 ? (__mmask16) 0xffff
        : (__mmask16) ((1u << (kc - k)) - 1);
    __m512 v = _mm512_maskz_loadu_ps (mk, w + k);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      s[r] = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (mk,
              x + (size_t) r * ldx + k), v, s[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    float t = _mm512_reduce_add_ps (s[r]);
    float *yr = y + (size_t) r * ldy;
    *yr = first ? t + (b ? *b : 0.0f) : *yr + t;
  }
}

/* mr in [1, MR512] -> a tile with that many rows as a constant. */
#define DISPATCH_MR(mr, call) \
  switch (mr) { \
    case 5: call (5); break; \
    case 4: call (4); break; \
    case 3: call (3); break; \
    case 2: call (2); break; \
    default: call (1); break; \
  }

/* One k-chunk of the dot form: y (=|+=) x w^T over kc, rows [0, m) and
 * columns [0, n), 4 columns by MR512 rows at a time. */
ATTR512 static void
dot_chunk (float *y, const float *x, const float *w, const float *b, int m,
    int kc, int n, int ldx, int ldw, int ldy, int first)
{
  for (int j = 0; j < n; j += 4) {
    const int nr = imin (4, n - j);
    const float *wj = w + (size_t) j * ldw;
    const float *bj = b ? b + j : NULL;
    for (int i = 0; i < m; i += MR512) {
      const int mr = imin (MR512, m - i);
      float *yij = y + (size_t) i * ldy + j;
      const float *xi = x + (size_t) i * ldx;
      if (nr == 4) {
#define TILE4(R) tile512_x4 (R, yij, xi, wj, bj, kc, ldx, ldw, ldy, first)
        DISPATCH_MR (mr, TILE4);
#undef TILE4
      } else {
        for (int c = 0; c < nr; c++) {
#define TILE1(R) tile512_x1 (R, yij + c, xi, wj + (size_t) c * ldw, \
    bj ? bj + c : NULL, kc, ldx, ldy, first)
          DISPATCH_MR (mr, TILE1);
#undef TILE1
        }
      }
    }
  }
}

ATTR512 void
cle_gemm_nt_avx512 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy)
{
  const int kc_max = chunk_k (k);
  for (int k0 = 0; k0 < k; k0 += kc_max)
    for (int i0 = 0; i0 < m; i0 += MC)
      dot_chunk (y + (size_t) i0 * ldy, x + (size_t) i0 * ldx + k0, w + k0,
          b, imin (MC, m - i0), imin (kc_max, k - k0), n, ldx, ldw, ldy,
          k0 == 0);
}

/* ------------------------------------------------- broadcast (NN) form -- */

#define MR_NN 6                 /* rows a tile: 24 sums + 4 of bm + 1 of x */

/* Rows [0, mr) of y by 64 columns (4 vectors, lanes past n masked off):
 * per step of k, 4 vectors of bm's row and mr broadcast x[r][t]. */
INLINE512 void
tile_nn (int mr, float *y, const float *x, const float *bm, int k, int ldx,
    int ldb, int ldy, const __mmask16 mask[4])
{
  __m512 s[MR_NN][4];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    s[r][0] = s[r][1] = s[r][2] = s[r][3] = _mm512_setzero_ps ();
  for (int t = 0; t < k; t++) {
    const float *bt = bm + (size_t) t * ldb;
    __m512 v0 = _mm512_maskz_loadu_ps (mask[0], bt);
    __m512 v1 = _mm512_maskz_loadu_ps (mask[1], bt + 16);
    __m512 v2 = _mm512_maskz_loadu_ps (mask[2], bt + 32);
    __m512 v3 = _mm512_maskz_loadu_ps (mask[3], bt + 48);
    PIN (v0);
    PIN (v1);
    PIN (v2);
    PIN (v3);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512 a = _mm512_set1_ps (x[(size_t) r * ldx + t]);
      s[r][0] = _mm512_fmadd_ps (a, v0, s[r][0]);
      s[r][1] = _mm512_fmadd_ps (a, v1, s[r][1]);
      s[r][2] = _mm512_fmadd_ps (a, v2, s[r][2]);
      s[r][3] = _mm512_fmadd_ps (a, v3, s[r][3]);
    }
  }
  /* written out: a loop over c would keep s in memory (GCC stores every
   * sum on each step of k) */
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    float *yr = y + (size_t) r * ldy;
    _mm512_mask_storeu_ps (yr, mask[0], s[r][0]);
    _mm512_mask_storeu_ps (yr + 16, mask[1], s[r][1]);
    _mm512_mask_storeu_ps (yr + 32, mask[2], s[r][2]);
    _mm512_mask_storeu_ps (yr + 48, mask[3], s[r][3]);
  }
}

ATTR512 void
cle_gemm_nn_avx512 (float *y, const float *x, const float *bm, int m, int k,
    int n, int ldx, int ldb, int ldy)
{
  for (int j0 = 0; j0 < n; j0 += 64) {
    __mmask16 mask[4];
    for (int c = 0; c < 4; c++) {
      const int lanes = n - j0 - 16 * c;
      mask[c] = lanes >= 16 ? (__mmask16) 0xffff : lanes <= 0 ? 0
          : (__mmask16) ((1u << lanes) - 1);
    }
    for (int i = 0; i < m; i += MR_NN) {
      float *yi = y + (size_t) i * ldy + j0;
      const float *xi = x + (size_t) i * ldx;
#define TILE_NN(R) tile_nn (R, yi, xi, bm + j0, k, ldx, ldb, ldy, mask)
      CLE_DISPATCH_ROWS6 (imin (MR_NN, m - i), TILE_NN);
#undef TILE_NN
    }
  }
}

/* -------------------------------------------- gathered transposition -- */

/* Forward: transpose16 is defined with the packed form below. */
INLINE512 void transpose16 (__m512 r[16]);

ATTR512 void
cle_gather_transposed_avx512 (float *dst, int ld, const float *const *rows,
    int n, int d)
{
  for (int j0 = 0; j0 < n; j0 += 16) {
    const int nj = imin (16, n - j0);
    const __mmask16 mj = (__mmask16) ((1u << nj) - 1);
    for (int t0 = 0; t0 < d; t0 += 16) {
      const int nt = imin (16, d - t0);
      const __mmask16 mt = (__mmask16) ((1u << nt) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = i < nj ? _mm512_maskz_loadu_ps (mt, rows[j0 + i] + t0)
            : _mm512_setzero_ps ();
      transpose16 (r);
      for (int i = 0; i < nt; i++)
        _mm512_mask_storeu_ps (dst + (size_t) (t0 + i) * ld + j0, mj, r[i]);
    }
  }
}

/* ------------------------------------------------------- packed form -- */

/* Panels of x: ap[p][k][r] = x[16 p + r][k], so a panel column is one
 * vector. gemm.c does the cache blocking: it calls the packed kernel once
 * per k-chunk and block of rows. */
#define NRP 8                   /* columns (rows of w) per tile */


/* In place: r[i] <- column i of the 16 x 16 block whose rows are r[]. */
INLINE512 void
transpose16 (__m512 r[16])
{
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps (r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps (r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_shuffle_ps (t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps (t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2] = _mm512_shuffle_ps (t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps (t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  /* r[4q + c] now holds, in each 128-bit quarter l, column 4l + c of rows
   * 4q..4q+3; gather the quarters. */
  for (int c = 0; c < 4; c++) {
    t[c] = _mm512_shuffle_f32x4 (r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4 (r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_f32x4 (r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4 (r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm512_shuffle_f32x4 (t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4 (t[c], t[8 + c], 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4 (t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4 (t[4 + c], t[12 + c], 0xdd);
  }
}

ATTR512 void
cle_gemm_pack_avx512 (float *ap, const float *x, int ldx, int k, int p0,
    int p1)
{
  for (int p = p0; p < p1; p++) {
    const float *xp = x + (size_t) p * 16 * ldx;
    float *out = ap + (size_t) p * 16 * k;
    for (int k0 = 0; k0 < k; k0 += 16) {
      const int kn = imin (16, k - k0);
      const __mmask16 mk = (__mmask16) ((1u << kn) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = _mm512_maskz_loadu_ps (mk, xp + (size_t) i * ldx + k0);
      transpose16 (r);
      for (int i = 0; i < kn; i++)
        _mm512_store_ps (out + (size_t) (k0 + i) * 16, r[i]);
    }
  }
}

/* y[16 v + r][c] (=|+=) sum over kc of ap_v[kk][r] * w[c][kk] for v < mv
 * (a constant after inlining), r < 16, c < 8: 24 accumulators, 3 panel
 * vectors and a broadcast element of w per step. Meanwhile the 8 rows of
 * w_next (unless NULL) are fetched into L2: the weights come from memory,
 * and the hardware prefetchers follow 8 strided rows too late (ViT-B/32
 * batch 8 ran 5.6% faster with this; into L1 instead, 4.7%). */
INLINE512 void
tile_packed (int mv, float *y, const float *ap, size_t ld_panel,
    const float *w, const float *b, int kc, int ldw, int ldy, int first,
    const float *w_next)
{
  __m512 s[3][NRP];
#pragma GCC unroll 8
  for (int v = 0; v < mv; v++)
#pragma GCC unroll 8
    for (int c = 0; c < NRP; c++)
      s[v][c] = _mm512_setzero_ps ();
  for (int k0 = 0; k0 < kc; k0 += 16) {
    cle_gemm_prefetch_rows (w_next, NRP, ldw, k0);
    const int k1 = imin (kc, k0 + 16);
#pragma GCC unroll 4
    for (int k = k0; k < k1; k++) {
      __m512 a[3];
#pragma GCC unroll 8
      for (int v = 0; v < mv; v++) {
        a[v] = _mm512_load_ps (ap + v * ld_panel + (size_t) k * 16);
        PIN (a[v]);
      }
#pragma GCC unroll 8
      for (int c = 0; c < NRP; c++) {
        const __m512 e = _mm512_set1_ps (w[(size_t) c * ldw + k]);
#pragma GCC unroll 8
        for (int v = 0; v < mv; v++)
          s[v][c] = _mm512_fmadd_ps (a[v], e, s[v][c]);
      }
    }
  }
  /* s[v][c] is a column of y: transpose to rows of 8. */
  const __m256 bias = first && b ? _mm256_loadu_ps (b) : _mm256_setzero_ps ();
#pragma GCC unroll 8
  for (int v = 0; v < mv; v++) {
    __m512 r[16];
    for (int c = 0; c < NRP; c++)
      r[c] = s[v][c];
    for (int c = NRP; c < 16; c++)
      r[c] = _mm512_setzero_ps ();
    transpose16 (r);
    for (int i = 0; i < 16; i++) {
      float *yr = y + (size_t) (16 * v + i) * ldy;
      __m256 t = _mm512_castps512_ps256 (r[i]);
      t = _mm256_add_ps (t, first ? bias : _mm256_loadu_ps (yr));
      _mm256_storeu_ps (yr, t);
    }
  }
}

ATTR512 void
cle_gemm_packed_avx512 (float *y, const float *ap, size_t ld_panel,
    const float *x, const float *w, const float *b, int m, int kc, int n,
    int ldx, int ldw, int ldy, int first)
{
  const int n_panel = m / 16, n8 = n / NRP * NRP, m16 = n_panel * 16;
  for (int j = 0; j < n8; j += NRP) {
    const float *wj = w + (size_t) j * ldw;
    const float *bj = b ? b + j : NULL;
    for (int p = 0, mv; p < n_panel; p += mv) {
      float *yij = y + (size_t) p * 16 * ldy + j;
      const float *a = ap + p * ld_panel;
      /* the first tile of a block of w fetches the next block */
      const float *w_next = p == 0 && j + NRP < n8 ? wj + (size_t) NRP * ldw
          : NULL;
      /* in threes, but 4 left as 2 + 2: one panel alone is load-bound */
      mv = n_panel - p == 4 ? 2 : imin (3, n_panel - p);
      switch (mv) {
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
    if (m > m16)
      dot_chunk (y + (size_t) m16 * ldy + j, x + (size_t) m16 * ldx, wj, bj,
          m - m16, kc, NRP, ldx, ldw, ldy, first);
  }
  /* the columns right of the last tile */
  if (n > n8)
    dot_chunk (y + n8, x, w + (size_t) n8 * ldw, b ? b + n8 : NULL, m, kc,
        n - n8, ldx, ldw, ldy, first);
}

#endif /* CLE_GEMM_HAVE_X86 */
