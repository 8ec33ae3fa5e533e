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
 * Usage: bench-gemm [SECONDS per measurement, default 0.4] [SHAPE filter] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "ops/ops.h"

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
      for (int t = 1; t <= 2; t++) {
        if (paths[p] == CLE_GEMM_OPENBLAS)
          openblas_set_num_threads (t);
        static double times[4096], cpu[4096];
        int n_times = 0, c = 0;
        double t_end = now () + seconds;
        do {
          const float *w = pool + (size_t) c * w_len + W_OFFSET;
          c = (c + 1) % n_copies;
          double t0 = now (), c0 = clock_s (CLOCK_THREAD_CPUTIME_ID);
          cle_linear_path (y, x, w, b, sh->m, sh->k, sh->n, 0, 0, t,
              paths[p]);
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
      printf ("%-14s %5d %5d %5d %-9s %8.1f %8.1f %8.1f %8.1f %8.1f\n",
          sh->name, sh->m, sh->k, sh->n, cle_gemm_path_name (paths[p]),
          gflops[0], gflops[1], gflops[2], gflops[3], gflops[4]);
      fflush (stdout);
    }
    free (pool);
    free (x);
    free (b);
    free (y);
    free (ref);
  }
  return failed;
}
