/* test-search.c - the float16 conversions against their exact definitions,
 * every dot-product path against the plain C one, and cle_search_f16
 * against a naive full sort, over odd dims, odd block splits and threads;
 * then the model fingerprint: stable, and changed by one weight byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "clip.h"
#include "ops/f16.h"
#include "test-util.h"

static float
frand (unsigned *s)
{
  *s = *s * 1103515245u + 12345u;
  return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void
test_conversions (void)
{
  /* every half value survives the round trip, and the plain converter
   * agrees with the F16C one on random floats and edge cases */
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = cle_f16_to_f32_one (h);
    uint16_t back = cle_f32_to_f16_one (f);
    if (back != h && !(isnan (f) && (back & 0x7c00) == 0x7c00))
      bad++;
  }
  test_expect (bad == 0, "f16 -> f32 -> f16 round trip: %d of 65536 differ",
      bad);

  enum { N = 100000 };
  float *x = malloc (N * sizeof *x);
  uint16_t *a = malloc (N * 2), *b = malloc (N * 2);
  unsigned s = 7;
  for (int i = 0; i < N; i++)
    x[i] = frand (&s) * powf (2.0f, (int) (frand (&s) * 40));
  const float edges[] = { 0.0f, -0.0f, 65504.0f, 65520.0f, 65519.0f,
    5.96e-8f, 2.98e-8f, 2.99e-8f, 6.1e-5f, 1e-10f, -1e9f, 1.0f + 1.0f / 2048
  };
  memcpy (x, edges, sizeof edges);
  cle_f32_to_f16_naive (a, x, N);
  cle_f32_to_f16 (b, x, N);
  bad = 0;
  for (int i = 0; i < N; i++)
    bad += a[i] != b[i];
  test_expect (bad == 0, "f32 -> f16: plain C and the fast path differ in "
      "%d of %d", bad, N);
  test_expect (a[3] == 0x7c00 && a[2] == 0x7bff && a[4] == 0x7bff,
      "f32 -> f16 overflow: 65504 -> %04x, 65520 -> %04x", a[2], a[3]);
  free (x);
  free (a);
  free (b);
}

static void
test_dot_paths (void)
{
  const int dims[] = { 1, 7, 16, 33, 64, 512, 768 };
  unsigned s = 11;
  for (size_t d = 0; d < G_N_ELEMENTS (dims); d++) {
    const int dim = dims[d], n = 37;
    uint16_t *rows = malloc ((size_t) n * dim * 2 + 2);
    float *q = malloc (dim * sizeof *q), *rf = malloc ((size_t) n * dim * 4);
    float ref[37], got[37];
    for (int i = 0; i < n * dim; i++)
      rf[i] = frand (&s);
    /* odd address: the kernels must not need alignment */
    uint16_t *r = rows + 1;
    cle_f32_to_f16 (r, rf, (size_t) n * dim);
    for (int j = 0; j < dim; j++)
      q[j] = frand (&s);
    cle_dot_f16_naive (ref, r, q, n, dim);
    for (int p = CLE_DOT_C; p <= CLE_DOT_AVX512; p++) {
      if (!cle_dot_f16_path_supported (p)) {
        printf ("dot path %d: not on this CPU, skipped\n", p);
        continue;
      }
      cle_dot_f16_path (got, r, q, n, dim, p);
      char name[64];
      snprintf (name, sizeof name, "dot f16 path %d dim %d", p, dim);
      test_expect (test_check_close (name, got, ref, n, 1e-5, 0.999999),
          "%s", name);
    }
    free (rows);
    free (q);
    free (rf);
  }
}

static int
by_score (const void *pa, const void *pb)
{
  const ClipSearchHit *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

static void
test_search (void)
{
  const int dim = 40;
  const size_t n = 300000;
  unsigned s = 5;
  uint16_t *rows = malloc (n * dim * 2);
  float q[40], *scores = malloc (n * sizeof *scores);
  ClipSearchHit *all = malloc (n * sizeof *all), hits[100];
  for (size_t i = 0; i < n * dim; i++)
    rows[i] = cle_f32_to_f16_one (frand (&s));
  /* a few exact ties, to check their order */
  memcpy (rows + 1000 * dim, rows + 7 * dim, dim * 2);
  for (int j = 0; j < dim; j++)
    q[j] = frand (&s);
  cle_dot_f16 (scores, rows, q, n, dim);
  for (size_t i = 0; i < n; i++)
    all[i] = (ClipSearchHit) { i, scores[i] };
  qsort (all, n, sizeof *all, by_score);

  /* the same rows as one block and as uneven blocks, on 1-3 threads */
  const size_t cuts[] = { 0, 1, 4095, 150001, 299999, n };
  ClipRowBlock blocks[5];
  for (int b = 0; b < 5; b++)
    blocks[b] = (ClipRowBlock) { rows + cuts[b] * dim, cuts[b + 1] - cuts[b] };
  ClipRowBlock one = { rows, n };
  const int ks[] = { 1, 10, 100 };
  for (int threads = 1; threads <= 3; threads++)
    for (size_t ki = 0; ki < G_N_ELEMENTS (ks); ki++)
      for (int split = 0; split < 2; split++) {
        ClipError err = { 0 };
        int k = ks[ki];
        int got = cle_search_f16 (hits, k, split ? blocks : &one,
            split ? 5 : 1, dim, q, threads, &err);
        int same = got == k;
        for (int i = 0; same && i < k; i++)
          same = hits[i].row == all[i].row && hits[i].score == all[i].score;
        test_expect (same, "search k %d, %d threads, %s: %d hits, %s", k,
            threads, split ? "5 blocks" : "1 block", got,
            same ? "as the full sort" : "NOT as the full sort");
      }

  /* fewer rows than k; no rows; bad arguments */
  ClipRowBlock few = { rows, 3 };
  test_expect (cle_search_f16 (hits, 10, &few, 1, dim, q, 2, NULL) == 3,
      "search of 3 rows with k 10 returns 3");
  test_expect (cle_search_f16 (hits, 10, &few, 0, dim, q, 2, NULL) == 0,
      "search of no blocks returns 0");
  ClipError err = { 0 };
  test_expect (cle_search_f16 (hits, 0, &few, 1, dim, q, 2, &err)
      == CLE_ERROR_INVALID_ARGUMENT && err.message[0],
      "k 0 is refused: %s", err.message);
  free (rows);
  free (scores);
  free (all);
}

static void
copy_file (const char *from, const char *to)
{
  size_t size;
  void *data = test_read_file (from, &size);
  g_file_set_contents (to, data, size, NULL);
  free (data);
}

static void
test_fingerprint (void)
{
  char *model = test_data_path ("tiny-clip");
  char a[65], b[65], c[65];
  ClipError err = { 0 };
  test_expect (cle_model_dir_fingerprint (model, a, sizeof a, &err) == 0,
      "fingerprint of tiny-clip: %s", err.message);
  test_expect (cle_model_dir_fingerprint (model, b, sizeof b, &err) == 0
      && strcmp (a, b) == 0 && strlen (a) == 64, "fingerprint is stable: %s",
      a);

  /* a copy is the same model; one weight byte changed is another (a byte
   * at the end of the file, which is always sampled: the fingerprint
   * samples, since a retrained checkpoint differs everywhere) */
  char *dir = g_dir_make_tmp ("fingerprint-XXXXXX", NULL);
  const char *names[] = { "config.json", "vocab.json", "merges.txt",
    "model.safetensors", "preprocessor_config.json"
  };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++) {
    char *from = g_build_filename (model, names[i], NULL);
    char *to = g_build_filename (dir, names[i], NULL);
    if (g_file_test (from, G_FILE_TEST_EXISTS))
      copy_file (from, to);
    g_free (from);
    g_free (to);
  }
  test_expect (cle_model_dir_fingerprint (dir, c, sizeof c, &err) == 0
      && strcmp (a, c) == 0, "a copy has the same fingerprint");
  char *w = g_build_filename (dir, "model.safetensors", NULL);
  size_t size;
  unsigned char *data = test_read_file (w, &size);
  data[size - 3] ^= 1;
  g_file_set_contents (w, (char *) data, size, NULL);
  free (data);
  test_expect (cle_model_dir_fingerprint (dir, c, sizeof c, &err) == 0
      && strcmp (a, c) != 0, "one weight byte changed: another fingerprint");
  test_expect (cle_model_dir_fingerprint ("/nonexistent", c, sizeof c,
          &err) == CLE_ERROR_IO, "missing dir: %s", err.message);
  g_free (w);
  test_remove_dir (dir);
  g_free (dir);
  free (model);
}

int
main (void)
{
  test_conversions ();
  test_dot_paths ();
  test_search ();
  test_fingerprint ();
  return test_finish ();
}
