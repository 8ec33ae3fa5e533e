/* gemm.c - torch.nn.Linear: our own kernels (gemm-avx512.c, gemm-avx2.c,
 * plain C here) with the weights read in place and one OpenMP split over
 * output columns, or OpenBLAS sgemm. Picks the path once per process from
 * the CPU (and CLE_GEMM). Never packs or copies w; blocks of x are packed
 * into a per-thread buffer (442 KB, cle_thread_buffer). */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gemm-kernels.h"
#include "ops.h"

static const char *const path_names[] = {
  [CLE_GEMM_AUTO] = "auto",
  [CLE_GEMM_C] = "c",
  [CLE_GEMM_AVX2] = "avx2",
  [CLE_GEMM_AVX512] = "avx512",
  [CLE_GEMM_OPENBLAS] = "openblas",
};

const char *
cle_gemm_path_name (ClipGemmPath path)
{
  if ((unsigned) path >= sizeof path_names / sizeof path_names[0])
    return "unknown";
  return path_names[path];
}

int
cle_gemm_path_supported (ClipGemmPath path)
{
  switch (path) {
    case CLE_GEMM_AUTO:
    case CLE_GEMM_C:
    case CLE_GEMM_OPENBLAS:
      return 1;
#ifdef CLE_GEMM_HAVE_X86
    case CLE_GEMM_AVX2:
      return __builtin_cpu_supports ("avx2")
          && __builtin_cpu_supports ("fma");
    case CLE_GEMM_AVX512:
      return __builtin_cpu_supports ("avx512f");
#endif
    default:
      return 0;
  }
}

static ClipGemmPath
path_detect (void)
{
  const char *env = getenv ("CLE_GEMM");
  if (env && *env) {
    for (int p = CLE_GEMM_C; p <= CLE_GEMM_OPENBLAS; p++)
      if (strcmp (env, path_names[p]) == 0 && cle_gemm_path_supported (p))
        return p;
  }
  if (cle_gemm_path_supported (CLE_GEMM_AVX512))
    return CLE_GEMM_AVX512;
  if (cle_gemm_path_supported (CLE_GEMM_AVX2))
    return CLE_GEMM_AVX2;
  return CLE_GEMM_C;
}

/* Resolved once; a race only computes the same value twice. */
ClipGemmPath
cle_gemm_path_default (void)
{
  static int resolved = -1;
  int p = __atomic_load_n (&resolved, __ATOMIC_RELAXED);
  if (p < 0) {
    p = path_detect ();
    __atomic_store_n (&resolved, p, __ATOMIC_RELAXED);
  }
  return p;
}

/* Plain C (GNU vector extension: SSE2 on any x86-64, whatever the target
 * has elsewhere): 2 rows of x by 4 rows of w, 4 lanes along k. */
typedef float v4sf __attribute__ ((vector_size (16)));

static inline v4sf
load4 (const float *p)
{
  v4sf v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline float
hsum4 (v4sf v)
{
  return (v[0] + v[2]) + (v[1] + v[3]);
}

static void
tile_c (int mr, int nr, float *y, const float *x, const float *w,
    const float *b, int k, int ldx, int ldw, int ldy)
{
  v4sf s[2][4] = { { { 0 } } };
  float t[2][4] = { { 0 } };
  int kk = 0;
  if (mr == 2 && nr == 4) {
    for (; kk + 4 <= k; kk += 4)
      for (int r = 0; r < 2; r++) {
        v4sf a = load4 (x + (size_t) r * ldx + kk);
        for (int c = 0; c < 4; c++)
          s[r][c] += a * load4 (w + (size_t) c * ldw + kk);
      }
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) {
      float acc = hsum4 (s[r][c]);
      for (int q = kk; q < k; q++)
        acc += x[(size_t) r * ldx + q] * w[(size_t) c * ldw + q];
      t[r][c] = acc;
    }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++)
      y[(size_t) r * ldy + c] = t[r][c] + (b ? b[c] : 0.0f);
}

void
cle_gemm_nt_c (float *y, const float *x, const float *w, const float *b,
    int m, int k, int n, int ldx, int ldw, int ldy)
{
  for (int j = 0; j < n; j += 4)
    for (int i = 0; i < m; i += 2)
      tile_c (m - i < 2 ? m - i : 2, n - j < 4 ? n - j : 4,
          y + (size_t) i * ldy + j, x + (size_t) i * ldx,
          w + (size_t) j * ldw, b ? b + j : NULL, k, ldx, ldw, ldy);
}

static void
linear_openblas (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy)
{
  /* The bias goes in first so sgemm adds the product to it (beta = 1). */
  float beta = 0.0f;
  if (b) {
    for (int i = 0; i < n; i++)
      memcpy (y + (size_t) i * ldy, b, n_out * sizeof (float));
    beta = 1.0f;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n_out, n_in, 1.0f,
      x, ldx, w, n_in, beta, y, ldy);
}

typedef void (*GemmPack) (float *ap, const float *x, int ldx, int k, int p0,
    int p1);
typedef void (*GemmPacked) (float *y, const float *ap, size_t ld_panel,
    const float *x, const float *w, const float *b, int m, int kc, int n,
    int ldx, int ldw, int ldy, int first);

/* Cache blocking of the packed form: a KC_PACKED x 8 slice of w (24 KB)
 * stays in L1/L2 while a block of at most MC_PACKED rows of packed x
 * (442 KB) comes from L2. The blocks of a product get the same number of
 * panels: each block reads all of w, so a small last block reads it for
 * little work (ViT-B/32's 200 rows per lane as 96 + 104 instead of
 * 144 + 48 + 8, with linear_part's single pass: +1.5%). Measured on Zen 5:
 * KC 768 beats 512 and 256; MC 96 to 240 within the noise. */
#define KC_PACKED 768
#define MC_PACKED 144

typedef struct
{
  float *const *y;
  const float *x;
  const float *const *w;
  const float *const *b;
  int n_proj, n, n_in, n_out, ldx, ldy;
  GemmPack pack;
  GemmPacked packed;
  int panel;
  /* the split (linear_run) */
  GemmNT block;
  int by_rows, n_panel, n_total;
} LinearJob;

static inline int
imin (int a, int b)
{
  return a < b ? a : b;
}

/* Output columns are numbered across the projections in blocks of 8;
 * [q, q1) of them starting in projection *i at columns [*j0, *j1). Returns
 * the number of blocks covered. */
static inline int
segment (const LinearJob *job, int q, int q1, int *i, int *j0, int *j1)
{
  const int n_blocks = (job->n_out + 7) / 8;
  const int blk0 = q % n_blocks, blk1 = imin (n_blocks, blk0 + (q1 - q));
  *i = q / n_blocks;
  *j0 = blk0 * 8;
  *j1 = blk1 == n_blocks ? job->n_out : blk1 * 8;
  return blk1 - blk0;
}

/* Rows [r0, r1) by column blocks [q0, q1): x is packed block by block
 * (the same number of panels each, at most MC_PACKED rows, by KC_PACKED
 * columns) into this thread's scratch, and each packed block serves all of
 * the thread's columns. */
static void
run_packed (const LinearJob *job, float *scratch, int r0, int r1, int q0,
    int q1)
{
  const int P = job->panel;
  const int n_panel = (r1 - r0 + P - 1) / P, max_panel = MC_PACKED / P;
  const int n_block = (n_panel + max_panel - 1) / max_panel;
  for (int blk = 0; blk < n_block; blk++) {
    const int b0 = r0 + n_panel * blk / n_block * P;
    const int rows = imin (r1, r0 + n_panel * (blk + 1) / n_block * P) - b0;
    for (int k0 = 0; k0 < job->n_in; k0 += KC_PACKED) {
      const int kc = imin (KC_PACKED, job->n_in - k0);
      const float *xb = job->x + (size_t) b0 * job->ldx + k0;
      job->pack (scratch, xb, job->ldx, kc, 0, rows / P);
      for (int q = q0, i, j0, j1; q < q1;) {
        q += segment (job, q, q1, &i, &j0, &j1);
        job->packed (job->y[i] + (size_t) b0 * job->ldy + j0, scratch,
            (size_t) P * kc, xb, job->w[i] + (size_t) j0 * job->n_in + k0,
            job->b[i] ? job->b[i] + j0 : NULL, rows, kc, j1 - j0, job->ldx,
            job->n_in, job->ldy, k0 == 0);
      }
    }
  }
}

/* Thread t's share of the product (see linear_run). */
static void
linear_part (void *arg, int t, int T)
{
  const LinearJob *job = arg;
  const int n = job->n, n_total = job->n_total, n_panel = job->n_panel;
  float *scratch = n_panel ? cle_thread_buffer (CLE_BUFFER_GEMM_PACK,
      (size_t) MC_PACKED * KC_PACKED * sizeof (float)) : NULL;
  if (scratch && job->by_rows && T > 1) {
    /* the same number of whole panels each, then the rest (fewer than T
     * panels and the rows below the last) by columns; one thread takes
     * all, so that the rows below the last panel come with its tiles,
     * while each block of w is in L1, instead of reading w again */
    const int per = n_panel / T * job->panel, rest = per * T;
    run_packed (job, scratch, per * t, per * (t + 1), 0, n_total);
    if (rest < n)
      run_packed (job, scratch, rest, n, (int) ((long) n_total * t / T),
          (int) ((long) n_total * (t + 1) / T));
  } else if (scratch)
    run_packed (job, scratch, 0, n, (int) ((long) n_total * t / T),
        (int) ((long) n_total * (t + 1) / T));
  else {
    const int q1 = (int) ((long) n_total * (t + 1) / T);
    for (int q = (int) ((long) n_total * t / T), i, j0, j1; q < q1;) {
      q += segment (job, q, q1, &i, &j0, &j1);
      job->block (job->y[i] + j0, job->x, job->w[i] + (size_t) j0
          * job->n_in, job->b[i] ? job->b[i] + j0 : NULL, n, job->n_in,
          j1 - j0, job->ldx, job->n_in, job->ldy);
    }
  }
}

/* y[i] = x @ w[i]^T + b[i] for i < n_proj, sharing x. */
static void
linear_run (float *const *y, const float *x, const float *const *w,
    const float *const *b, int n_proj, int n, int n_in, int n_out, int ldx,
    int ldy, int n_threads, ClipGemmPath path)
{
  if (ldx == 0)
    ldx = n_in;
  if (ldy == 0)
    ldy = n_out;
  if (n <= 0 || n_out <= 0)
    return;
  if (path == CLE_GEMM_AUTO)
    path = cle_gemm_path_default ();

  LinearJob job = { y, x, w, b, n_proj, n, n_in, n_out, ldx, ldy,
    NULL, NULL, 0, NULL, 0, 0, 0
  };
  GemmNT block = cle_gemm_nt_c;
  switch (path) {
    case CLE_GEMM_OPENBLAS:
      /* OpenBLAS runs its own pthreads pool here, not ours. */
      for (int i = 0; i < n_proj; i++)
        linear_openblas (y[i], x, w[i], b[i], n, n_in, n_out, ldx, ldy);
      return;
#ifdef CLE_GEMM_HAVE_X86
    case CLE_GEMM_AVX512:
      block = cle_gemm_nt_avx512;
      job.pack = cle_gemm_pack_avx512;
      job.packed = cle_gemm_packed_avx512;
      job.panel = 16;
      break;
    case CLE_GEMM_AVX2:
      block = cle_gemm_nt_avx2;
      job.pack = cle_gemm_pack_avx2;
      job.packed = cle_gemm_packed_avx2;
      job.panel = 8;
      break;
#endif
    default:
      break;
  }

  /* How the threads share the work (tiny products stay on the calling
   * thread), with no synchronisation but the region's end:
   * - rows, when every thread gets at least MC_PACKED: each packs
   *   its own rows and reads all of w, which each block reuses as many
   *   times as it has rows. Threads get the same number of whole panels;
   *   the rest (400 rows of ViT-B/32 at batch 8 are 25 panels) is shared
   *   by columns, which made batch 8 5% faster than one more panel for one;
   * - otherwise columns (of all projections, in blocks of 8): each thread
   *   packs all of x (small then: fewer than n_threads * MC_PACKED rows)
   *   and reads its own rows of w once. Packing x twice costs ~1% of the
   *   product; sharing one packing would cost a barrier, which on a
   *   loaded machine waits for a descheduled thread.
   * Without a packed form (plain C, or fewer rows than a panel), columns
   * with the dot-product kernels. */
  const int nt = cle_threads_resolve (n_threads);
  const double flops = 2.0 * n * n_in * n_out * n_proj;
  const int n_total = (n_out + 7) / 8 * n_proj;
  const int n_panel = job.panel ? n / job.panel : 0;
  const int by_rows = n_panel && n >= nt * MC_PACKED;
  const int use = flops < 2e5 ? 1 : by_rows || nt < n_total ? nt : n_total;
  job.block = block;
  job.by_rows = by_rows;
  job.n_panel = n_panel;
  job.n_total = n_total;
  cle_parallel (use, linear_part, &job);
}

void
cle_linear_path (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy, int n_threads,
    ClipGemmPath path)
{
  linear_run (&y, x, &w, &b, 1, n, n_in, n_out, ldx, ldy, n_threads, path);
}

void
cle_linear (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy, int n_threads)
{
  linear_run (&y, x, &w, &b, 1, n, n_in, n_out, ldx, ldy, n_threads,
      CLE_GEMM_AUTO);
}

void
cle_linear_multi (float *const *y, const float *x, const float *const *w,
    const float *const *b, int n_proj, int n, int n_in, int n_out,
    int n_threads)
{
  linear_run (y, x, w, b, n_proj, n, n_in, n_out, 0, 0, n_threads,
      CLE_GEMM_AUTO);
}

void
cle_linear_naive (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy)
{
  if (ldx == 0)
    ldx = n_in;
  if (ldy == 0)
    ldy = n_out;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < n_out; o++) {
      double acc = b ? b[o] : 0.0;
      for (int k = 0; k < n_in; k++)
        acc += (double) x[(size_t) i * ldx + k] * w[(size_t) o * n_in + k];
      y[(size_t) i * ldy + o] = (float) acc;
    }
}
