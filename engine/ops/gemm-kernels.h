/* gemm-kernels.h - the per-ISA blocks behind cle_linear (internal to ops/).
 * Each computes one thread's share, single-threaded:
 *   y[i][j] = b[j] + sum_k x[i][k] * w[j][k]   (i < m, j < n)
 * y: (m, n) stride ldy  x: (m, k) stride ldx  w: (n, k) stride ldw
 * b: (n) or NULL. w is read in place (any 4-byte alignment), never packed. */
#ifndef CLE_GEMM_KERNELS_H
#define CLE_GEMM_KERNELS_H

#include <stddef.h>

void cle_gemm_nt_c (float *y, const float *x, const float *w, const float *b,
    int m, int k, int n, int ldx, int ldw, int ldy);
typedef void (*GemmNT) (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy);

/* The other form, for attention's small products (scores from keys in
 * columns, outputs from values in rows): y = x @ bm, no bias.
 * y: (m, n) stride ldy  x: (m, k) stride ldx  bm: (k, n) stride ldb.
 * Each output is one running sum over k in order. */
typedef void (*GemmNN) (float *y, const float *x, const float *bm, int m,
    int k, int n, int ldx, int ldb, int ldy);
/* Plain C with per-ISA clones (in attention.c, its user). */
void cle_gemm_nn_c (float *y, const float *x, const float *bm, int m, int k,
    int n, int ldx, int ldb, int ldy);

/* mr in [1, 6] -> call (R) with R a constant, so that a register-blocked
 * tile of R rows keeps its sums in registers (the broadcast kernels). */
#define CLE_DISPATCH_ROWS6(mr, call) \
  switch (mr) { \
    case 6: call (6); break; \
    case 5: call (5); break; \
    case 4: call (4); break; \
    case 3: call (3); break; \
    case 2: call (2); break; \
    default: call (1); break; \
  }

#if defined(__x86_64__) || defined(__i386__)
#define CLE_GEMM_HAVE_X86 1
void cle_gemm_nn_avx512 (float *y, const float *x, const float *bm, int m,
    int k, int n, int ldx, int ldb, int ldy);
void cle_gemm_nn_avx2 (float *y, const float *x, const float *bm, int m,
    int k, int n, int ldx, int ldb, int ldy);
/* dst[t * ld + j] = rows[j][t] for j < n, t < d: rows gathered and
 * transposed (attention's keys), 16 x 16 blocks in registers. */
void cle_gather_transposed_avx512 (float *dst, int ld,
    const float *const *rows, int n, int d);
/* Compiled with target attributes: call only when the CPU has the ISA. */
void cle_gemm_nt_avx2 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy);
void cle_gemm_nt_avx512 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy);

/* The packed form, one k-chunk of kc (first: y = b + sum, else y += sum)
 * for one block of m rows: the first P * (m / P) rows come from ap as
 * P-row panels (P = 16 for AVX-512, 8 for AVX2), panel p at ap + p *
 * ld_panel holding ap[p][kk][r] = x[P p + r][kk] (64-byte aligned); the
 * rows below the last panel come from x itself. x and w point at the
 * chunk's first column. cle_gemm_pack_* writes panels [p0, p1) of x's k
 * columns with ld_panel = P * k. */
void cle_gemm_pack_avx512 (float *ap, const float *x, int ldx, int k, int p0,
    int p1);
void cle_gemm_packed_avx512 (float *y, const float *ap, size_t ld_panel,
    const float *x, const float *w, const float *b, int m, int kc, int n,
    int ldx, int ldw, int ldy, int first);
void cle_gemm_pack_avx2 (float *ap, const float *x, int ldx, int k, int p0,
    int p1);
void cle_gemm_packed_avx2 (float *y, const float *ap, size_t ld_panel,
    const float *x, const float *w, const float *b, int m, int kc, int n,
    int ldx, int ldw, int ldy, int first);

#include <xmmintrin.h>

/* Fetches into L2 the cache line at column k of each of the n_rows rows of
 * w (ldw apart), unless w is NULL. A packed tile calls it every 16 steps of
 * k with the next tile's rows of w: they come from memory while it
 * computes, where the hardware prefetchers follow that many strided rows
 * too late. Always inlined: called, GCC would see a function without side
 * effects and drop the call. */
static inline __attribute__ ((always_inline)) void
cle_gemm_prefetch_rows (const float *w, int n_rows, int ldw, int k)
{
  if (w)
    for (int r = 0; r < n_rows; r++)
      _mm_prefetch ((const char *) (w + (size_t) r * ldw + k), _MM_HINT_T1);
}
#endif

#endif
