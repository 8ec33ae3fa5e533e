/* bench-gemm.c - GFLOP/s of cle_linear per path at the ViT-B/32 shapes,
 * 1 and 2 threads. Each path's result is first checked against
 * cle_linear_naive. The weights rotate through copies that together exceed
 * the last-level cache and sit 24 bytes off a cache line, as a mapped
 * checkpoint's do, so w comes from memory as in a forward pass.
 * The machine is shared, so besides the median wall time per call it
 * reports the best call, and for 1 thread the median CPU time of the
 * calling thread (which time spent descheduled does not inflate). The
 * OpenBLAS path ignores n_threads, so this program (not the engine) sets
 * OpenBLAS's own thread count to 1 and 2 around those measurements.
 * The bf16 and int8 rows are cle_linear_quantized on weights converted as
 * at model load (copies rotating through 64 MB), checked against fp32
 * within 1% (bf16) and 3% (int8) of max|y|.
 * Usage: bench-gemm [SECONDS per measurement, default 0.4] [SHAPE filter] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "ops/ops.h"
#include "ops/quantized.h"

#define POOL_BYTES ((size_t) 256 << 20)
#define W_OFFSET 6              /* floats: 24 bytes, as in the checkpoints */

typedef struct
{
  const char *name;
  int m, k, n;
} Shape;

static const Shape shapes[] = {
  {"qkvo b1", 50, 768, 768},
  {"fc1 b1", 50, 768, 3072},
  {"fc2 b1", 50, 3072, 768},
  {"patch", 49, 3072, 768},
  {"qkvo b8", 400, 768, 768},
  {"fc1 b8", 400, 768, 3072},
  {"fc2 b8", 400, 3072, 768},
  {"text-fc1 8x77", 616, 512, 2048},
};

static const ClipGemmPath paths[] = {
  CLE_GEMM_AVX512, CLE_GEMM_AVX2, CLE_GEMM_C, CLE_GEMM_OPENBLAS,
};

static double
clock_s (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double
now (void)
{
  return clock_s (CLOCK_MONOTONIC);
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
fill (float *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

/* max|got - ref| / max|ref| */
static double
rel_diff (const float *got, const float *ref, size_t n)
{
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    d = fmax (d, fabs ((double) got[i] - ref[i]));
    r = fmax (r, fabs ((double) ref[i]));
  }
  return r > 0 ? d / r : d;
}

/* One product to time: an fp32 path over the rotating pool, or (packed
 * set) a quantized one over rotating converted copies. */
typedef struct
{
  ClipGemmPath path;
  float *y;
  const float *x, *pool;
  size_t w_len;
  int n_copies;
  const float *b;
  const Shape *sh;
  const ClipPackedWeight *packed;
  int n_packed;
} Call;

static void
call_once (const Call *c, int copy, int t)
{
  if (c->packed) {
    const ClipPackedWeight *w = &c->packed[copy % c->n_packed];
    float *y = c->y;
    cle_linear_quantized (&y, c->x, &w, &c->b, 1, c->sh->m, 0, 0, t);
    return;
  }
  cle_linear_path (c->y, c->x, c->pool + (size_t) (copy % c->n_copies)
      * c->w_len + W_OFFSET, c->b, c->sh->m, c->sh->k, c->sh->n, 0, 0, t,
      c->path);
}

/* gflops[0..2]: 1 thread median, best, CPU; [3..4]: 2 threads. */
static void
measure (double gflops[5], double flop, double seconds, const Call *call)
{
  for (int t = 1; t <= 2; t++) {
    if (!call->packed && call->path == CLE_GEMM_OPENBLAS)
      openblas_set_num_threads (t);
    static double times[4096], cpu[4096];
    int n_times = 0, c = 0;
    double t_end = now () + seconds;
    do {
      c++;
      double t0 = now (), c0 = clock_s (CLOCK_THREAD_CPUTIME_ID);
      call_once (call, c, t);
      cpu[n_times] = clock_s (CLOCK_THREAD_CPUTIME_ID) - c0;
      times[n_times++] = now () - t0;
    } while ((now () < t_end || n_times < 5) && n_times < 4096);
    qsort (times, n_times, sizeof times[0], compare_double);
    qsort (cpu, n_times, sizeof cpu[0], compare_double);
    double *g = gflops + (t == 1 ? 0 : 3);
    g[0] = flop / times[n_times / 2] * 1e-9;
    g[1] = flop / times[0] * 1e-9;
    if (t == 1)
      g[2] = flop / cpu[n_times / 2] * 1e-9;
  }
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? atof (argv[1]) : 0.4;
  const char *filter = argc > 2 ? argv[2] : NULL;
  const char *coretype = getenv ("OPENBLAS_CORETYPE");
  int failed = 0;

  printf ("# OPENBLAS_CORETYPE=%s, default path %s, %.2f s per cell, "
      "median GFLOP/s\n", coretype ? coretype : "(unset)",
      cle_gemm_path_name (cle_gemm_path_default ()), seconds);
  printf ("%-14s %5s %5s %5s %-9s %8s %8s %8s %8s %8s\n", "shape", "m", "k",
      "n", "path", "1t", "1t best", "1t cpu", "2t", "2t best");
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const Shape *sh = &shapes[s];
    if (filter && !strstr (sh->name, filter))
      continue;
    const size_t w_len = (size_t) sh->n * sh->k + 16;
    const int n_copies = (int) (POOL_BYTES / (w_len * sizeof (float))) + 1;
    float *pool = aligned_alloc (64, (size_t) n_copies * w_len * sizeof (float));
    float *x = malloc ((size_t) sh->m * sh->k * sizeof (float));
    float *b = malloc ((size_t) sh->n * sizeof (float));
    float *y = malloc ((size_t) sh->m * sh->n * sizeof (float));
    float *ref = malloc ((size_t) sh->m * sh->n * sizeof (float));
    fill (pool, w_len, 1);
    for (int c = 1; c < n_copies; c++)
      memcpy (pool + c * w_len, pool, w_len * sizeof (float));
    fill (x, (size_t) sh->m * sh->k, 2);
    fill (b, sh->n, 3);
    cle_linear_naive (ref, x, pool + W_OFFSET, b, sh->m, sh->k, sh->n, 0, 0);
    const double flop = 2.0 * sh->m * sh->k * sh->n;

    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
      if (!cle_gemm_path_supported (paths[p]))
        continue;
      double gflops[5];
      cle_linear_path (y, x, pool + W_OFFSET, b, sh->m, sh->k, sh->n, 0, 0,
          2, paths[p]);
      double err = rel_diff (y, ref, (size_t) sh->m * sh->n);
      if (err > 1e-5) {
        printf ("FAIL %s %s: max|d| %.3g of max|ref|\n", sh->name,
            cle_gemm_path_name (paths[p]), err);
        failed = 1;
      }
      measure (gflops, flop, seconds, &(Call) { paths[p], y, x, pool, w_len,
            n_copies, b, sh, NULL, 0 });
      printf ("%-14s %5d %5d %5d %-9s %8.1f %8.1f %8.1f %8.1f %8.1f\n",
          sh->name, sh->m, sh->k, sh->n, cle_gemm_path_name (paths[p]),
          gflops[0], gflops[1], gflops[2], gflops[3], gflops[4]);
      fflush (stdout);
    }
    for (int prec = CLE_PRECISION_BF16; prec <= CLE_PRECISION_INT8; prec++) {
      for (int kernel = CLE_KERNEL_AVX512; kernel <= CLE_KERNEL_AMX;
          kernel++) {
        if (!cle_kernel_supported (kernel, prec))
          continue;
        ClipPackedWeight packed[64];
        const size_t bytes = (size_t) sh->n * sh->k
            * (prec == CLE_PRECISION_INT8 ? 1 : 2);
        int n_packed = (int) (((size_t) 64 << 20) / bytes) + 1;
        n_packed = n_packed > 64 ? 64 : n_packed;
        for (int c = 0; c < n_packed; c++)
          cle_packed_weight_init (&packed[c], pool + W_OFFSET, sh->n, sh->k,
              prec, kernel, 2);
        const Call call = { CLE_GEMM_AUTO, y, x, pool, w_len, n_copies, b, sh,
          packed, n_packed
        };
        call_once (&call, 0, 2);
        double err = rel_diff (y, ref, (size_t) sh->m * sh->n);
        if (err > (prec == CLE_PRECISION_INT8 ? 0.03 : 0.01)) {
          printf ("FAIL %s %s: max|d| %.3g of max|ref|\n", sh->name,
              cle_kernel_name (kernel, prec), err);
          failed = 1;
        }
        double gflops[5];
        measure (gflops, flop, seconds, &call);
        printf ("%-14s %5d %5d %5d %-9s %8.1f %8.1f %8.1f %8.1f %8.1f\n",
            sh->name, sh->m, sh->k, sh->n, cle_kernel_name (kernel, prec),
            gflops[0], gflops[1], gflops[2], gflops[3], gflops[4]);
        fflush (stdout);
        for (int c = 0; c < n_packed; c++)
          cle_packed_weight_clear (&packed[c]);
      }
    }
    free (pool);
    free (x);
    free (b);
    free (y);
    free (ref);
  }
  return failed;
}
