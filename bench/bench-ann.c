/* bench-ann.c - the approximate index (FAISS IVF + 8-bit scalar quantizer,
 * ann-faiss.h) against the exact search (cle_search_f16) on N unit rows:
 * recall@10 and ms per query at several nprobe, and the build time. Two
 * kinds of rows: uniform random (no structure: IVF's worst case) and
 * clustered (CLUSTERS centres, rows near them: frames of scenes are so).
 * Usage: bench-ann [N [DIM [QUERIES]]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ann-faiss.h"
#include "clip.h"

#define CLUSTERS 2000
#define RERANK 100

static int
by_score (const void *pa, const void *pb)
{
  const ClipSearchHit *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* a normal deviate (Box-Muller) from a xorshift state */
static float
gauss (unsigned *s)
{
  double u[2];
  for (int i = 0; i < 2; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    u[i] = (*s + 1.0) / 4294967297.0;
  }
  return sqrt (-2 * log (u[0])) * cos (2 * M_PI * u[1]);
}

static void
unit (float *v, int dim)
{
  double n = 0;
  for (int j = 0; j < dim; j++)
    n += v[j] * v[j];
  for (int j = 0; j < dim; j++)
    v[j] /= sqrt (n);
}

/* row = centre + noise (clustered) or noise alone, made unit */
static void
make_rows (uint16_t *rows, size_t n, int dim, const float *centres,
    float spread, unsigned *s)
{
  float *v = malloc (dim * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    const float *c = centres ?
        centres + (size_t) ((i * 2654435761u) % CLUSTERS) * dim : NULL;
    for (int j = 0; j < dim; j++)
      v[j] = (c ? c[j] : 0) + spread * gauss (s);
    unit (v, dim);
    cle_f32_to_f16 (rows + i * dim, v, dim);
  }
  free (v);
}

static void
run (const char *kind, uint16_t *rows, size_t n, int dim, int n_q,
    const float *centres, unsigned *s)
{
  char path[] = "/tmp/bench-ann-XXXXXX", err[256];
  ClipRowBlock block = { rows, n };
  ClipSearchHit exact[10], approx[10];
  const int nprobes[] = { 1, 4, 16, 64 };
  float *q = malloc (dim * sizeof *q);
  ClipAnn *ann;
  int fd = mkstemp (path);

  close (fd);
  double t0 = now_s ();
  if (clip_ann_build (path, &block, 1, dim, 0, 0, err, sizeof err) < 0
      || clip_ann_open (&ann, path, err, sizeof err) < 0) {
    fprintf (stderr, "bench-ann: %s\n", err);
    exit (1);
  }
  printf ("%s: %zu x %d rows, IVF%d,SQ8 built in %.1f s\n", kind, n, dim,
      clip_ann_nlist (ann), now_s () - t0);

  double t_exact = 0, t_ann[4] = { 0 }, recall[4] = { 0 };
  double t_rr[4] = { 0 }, recall_rr[4] = { 0 };
  ClipSearchHit cand[RERANK];
  for (int r = 0; r < n_q; r++) {
    /* a query near a row's centre (clustered) or anywhere (random) */
    const float *c = centres ? centres + (size_t) (r % CLUSTERS) * dim : NULL;
    for (int j = 0; j < dim; j++)
      q[j] = (c ? c[j] : 0) + (c ? 0.5f : 1.0f) * gauss (s) / sqrtf (dim);
    unit (q, dim);
    t0 = now_s ();
    cle_search_f16 (exact, 10, &block, 1, dim, q, 2, NULL);
    t_exact += now_s () - t0;
    for (int p = 0; p < 4; p++) {
      t0 = now_s ();
      int m = clip_ann_search (ann, q, 10, nprobes[p], approx);
      t_ann[p] += now_s () - t0;
      int found = 0;
      for (int i = 0; i < 10; i++)
        for (int k = 0; k < m; k++)
          found += approx[k].row == exact[i].row;
      recall[p] += found / 10.0;

      /* the same with the 10 best of RERANK candidates scored again
       * exactly on their float16 rows (clip-tool search --ann does so) */
      t0 = now_s ();
      m = clip_ann_search (ann, q, RERANK, nprobes[p], cand);
      for (int k = 0; k < m; k++) {
        ClipRowBlock one = { rows + cand[k].row * dim, 1 };
        ClipSearchHit h;
        cle_search_f16 (&h, 1, &one, 1, dim, q, 1, NULL);
        cand[k].score = h.score;
      }
      qsort (cand, m, sizeof *cand, by_score);
      t_rr[p] += now_s () - t0;
      found = 0;
      for (int i = 0; i < 10; i++)
        for (int k = 0; k < m && k < 10; k++)
          found += cand[k].row == exact[i].row;
      recall_rr[p] += found / 10.0;
    }
  }
  printf ("  exact (2 threads): %.2f ms/query\n", 1e3 * t_exact / n_q);
  for (int p = 0; p < 4; p++)
    printf ("  nprobe %3d: recall@10 %.3f, %.3f ms/query, %.1fx the exact "
        "search's speed\n", nprobes[p], recall[p] / n_q,
        1e3 * t_ann[p] / n_q, t_exact / t_ann[p]);
  for (int p = 0; p < 4; p++)
    printf ("  nprobe %3d + exact re-rank of %d: recall@10 %.3f, %.3f "
        "ms/query, %.1fx\n", nprobes[p], RERANK, recall_rr[p] / n_q,
        1e3 * t_rr[p] / n_q, t_exact / t_rr[p]);
  clip_ann_free (ann);
  unlink (path);
  free (q);
}

int
main (int argc, char **argv)
{
  const size_t n = argc > 1 ? strtoull (argv[1], NULL, 10) : 1000000;
  const int dim = argc > 2 ? atoi (argv[2]) : 512;
  const int n_q = argc > 3 ? atoi (argv[3]) : 100;
  uint16_t *rows = malloc (n * dim * 2);
  float *centres = malloc ((size_t) CLUSTERS * dim * sizeof *centres);
  unsigned s = 2024;

  for (size_t i = 0; i < (size_t) CLUSTERS * dim; i++)
    centres[i] = gauss (&s) / sqrtf (dim);
  make_rows (rows, n, dim, centres, 0.7f / sqrtf (dim), &s);
  run ("clustered", rows, n, dim, n_q, centres, &s);
  make_rows (rows, n, dim, NULL, 1.0f, &s);
  run ("random", rows, n, dim, n_q, NULL, &s);
  free (rows);
  free (centres);
  return 0;
}
