/* bench-search.c - exact search speed over an index of random unit rows
 * (default 1,000,000 x 512 float16, 1.02 GB): ms per query on 1 and 2
 * threads, the GB/s that is, and the machine's own read bandwidth measured
 * the same way (a vectorized sum over the same bytes), since a scan is
 * memory-bound. Checks the top 10 against the plain C kernel first.
 * Usage: bench-search [N_ROWS [DIM [QUERIES]]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"
#include "ops/f16.h"
#include "ops/ops.h"

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned
next (unsigned *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static void
random_unit (float *v, int dim, unsigned *s)
{
  double n = 0;
  for (int j = 0; j < dim; j++) {
    v[j] = (next (s) & 0xffff) / 32768.0f - 1.0f;
    n += v[j] * v[j];
  }
  for (int j = 0; j < dim; j++)
    v[j] /= sqrt (n);
}

/* the read-bandwidth reference: every byte loaded once, 64 B at a time */
typedef struct
{
  const uint64_t *data;
  size_t n;
  uint64_t sums[64];
} ReadJob;

static void
read_range (void *arg, int t, int T)
{
  ReadJob *job = arg;
  size_t lo = job->n * t / T / 8 * 8, hi = job->n * (t + 1) / T / 8 * 8;
  uint64_t a[8] = { 0 };
  for (size_t i = lo; i < hi; i += 8)
    for (int k = 0; k < 8; k++)
      a[k] ^= job->data[i + k];
  job->sums[t] = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

static double
median (double *v, int n)
{
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[n / 2];
}

int
main (int argc, char **argv)
{
  const size_t n = argc > 1 ? strtoull (argv[1], NULL, 10) : 1000000;
  const int dim = argc > 2 ? atoi (argv[2]) : 512;
  const int n_q = argc > 3 ? atoi (argv[3]) : 20;
  const size_t bytes = n * dim * 2;
  uint16_t *rows = aligned_alloc (64, (bytes + 63) / 64 * 64);
  float *v = malloc (dim * sizeof *v), *q = malloc (dim * sizeof *q);
  ClipSearchHit hits[10], ref[10];
  unsigned s = 12345;
  int status = 0;

  if (!rows || !v || !q) {
    fprintf (stderr, "bench-search: no memory for %zu bytes\n", bytes);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    random_unit (v, dim, &s);
    cle_f32_to_f16 (rows + i * dim, v, dim);
  }
  random_unit (q, dim, &s);
  ClipRowBlock block = { rows, n };

  /* correctness first: the top 10 of the plain C kernel, by a full pass */
  {
    float *scores = malloc (n * sizeof *scores);
    cle_dot_f16_naive (scores, rows, q, n, dim);
    for (int k = 0; k < 10; k++) {
      size_t best = 0;
      for (size_t i = 1; i < n; i++)
        if (scores[i] > scores[best])
          best = i;
      ref[k] = (ClipSearchHit) { best, scores[best] };
      scores[best] = -INFINITY;
    }
    free (scores);
    cle_search_f16 (hits, 10, &block, 1, dim, q, 2, NULL);
    for (int k = 0; k < 10; k++)
      if (hits[k].row != ref[k].row || fabsf (hits[k].score - ref[k].score)
          > 1e-5f) {
        fprintf (stderr, "bench-search: hit %d is row %zu (%.6f), the plain "
            "C kernel's is %zu (%.6f)\n", k, hits[k].row, hits[k].score,
            ref[k].row, ref[k].score);
        status = 1;
      }
    printf ("check: top 10 as the plain C kernel's: %s\n",
        status ? "NO" : "yes");
  }

  printf ("rows %zu x %d float16 = %.3f GB, kernel %s\n", n, dim, bytes / 1e9,
      cle_dot_f16_path_default () == CLE_DOT_AVX512 ? "avx512"
      : cle_dot_f16_path_default () == CLE_DOT_AVX2 ? "avx2+f16c" : "c");
  for (int threads = 1; threads <= 2; threads++) {
    double t_read[64], t_search[64];
    ReadJob job = { (const uint64_t *) rows, bytes / 8, { 0 } };
    int reps = n_q < 64 ? n_q : 64;
    /* interleaved, so both see the same machine state */
    for (int r = 0; r < reps; r++) {
      double t0 = now_s ();
      cle_parallel (threads, read_range, &job);
      t_read[r] = now_s () - t0;
      random_unit (q, dim, &s);
      t0 = now_s ();
      cle_search_f16 (hits, 10, &block, 1, dim, q, threads, NULL);
      t_search[r] = now_s () - t0;
    }
    double tr = median (t_read, reps), ts = median (t_search, reps);
    printf ("threads %d: search %.2f ms/query (%.1f GB/s), read-only scan "
        "%.2f ms (%.1f GB/s): search at %.0f%% of read bandwidth [median of "
        "%d]\n", threads, ts * 1e3, bytes / ts / 1e9, tr * 1e3,
        bytes / tr / 1e9, 100 * tr / ts, reps);
  }
  free (rows);
  free (v);
  free (q);
  return status;
}
