/* test-text-cache.c - the on-disk text-embedding cache: a restart encodes
 * nothing, hits equal fresh encodes bit for bit, a torn tail is dropped, the
 * fingerprint separates models, a foreign file is refused, threads
 * appending at once all read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "clip.h"
#include "test-util.h"

static const char *prompts[] = { "a photo of a cat", "a photo of a dog",
  "a diagram", "", "Café crème brûlée" };
#define N_PROMPTS 5
#define P 32

static char *
only_file (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name = d ? g_dir_read_name (d) : NULL;
  char *path = name ? g_build_filename (dir, name, NULL) : NULL;
  if (d)
    g_dir_close (d);
  return path;
}

/* Threads of one process appending to one cache file at once, each
 * through its own ClipTextCache and context (the cache is per thread, the
 * file shared): every record lands whole and reads back. */
#define N_CACHE_THREADS 4
#define N_OWN 6

typedef struct {
  const ClipModel *model;
  const char *dir;
  int t, n_errors;
} CacheJob;

static gpointer
cache_thread (gpointer data)
{
  CacheJob *job = data;
  ClipContextParams cp;
  ClipContext *ctx = NULL;
  ClipTextCache *cache = NULL;
  ClipError err;
  float got[(N_PROMPTS + N_OWN) * P];
  const char *texts[N_PROMPTS + N_OWN];
  char *own[N_OWN];

  for (int i = 0; i < N_PROMPTS; i++)
    texts[i] = prompts[i];
  for (int i = 0; i < N_OWN; i++)
    texts[N_PROMPTS + i] = own[i] = g_strdup_printf ("thread %d, prompt %d",
        job->t, i);
  cle_context_params_init (&cp);
  cp.n_threads = 2;
  if (cle_context_new (&ctx, job->model, &cp, &err) != CLE_OK
      || cle_text_cache_open (&cache, job->model, job->dir, &err) != CLE_OK)
    job->n_errors++;
  /* twice: the second time from the cache of this thread or another's */
  for (int r = 0; r < 2 && !job->n_errors; r++)
    if (cle_encode_texts_cached (ctx, cache, texts, N_PROMPTS + N_OWN, got,
            (N_PROMPTS + N_OWN) * P, NULL, &err) != CLE_OK)
      job->n_errors++;
  if (cache)
    cle_text_cache_free (cache);
  if (ctx)
    cle_context_free (ctx);
  for (int i = 0; i < N_OWN; i++)
    g_free (own[i]);
  return NULL;
}

static void
concurrent_appends (const ClipModel *model, ClipContext *ctx)
{
  char *dir = g_dir_make_tmp ("cle-text-cache-XXXXXX", NULL);
  CacheJob jobs[N_CACHE_THREADS];
  GThread *threads[N_CACHE_THREADS];
  int n_errors = 0;
  for (int t = 0; t < N_CACHE_THREADS; t++) {
    jobs[t] = (CacheJob) { model, dir, t, 0 };
    threads[t] = g_thread_new ("cache", cache_thread, &jobs[t]);
  }
  for (int t = 0; t < N_CACHE_THREADS; t++) {
    g_thread_join (threads[t]);
    n_errors += jobs[t].n_errors;
  }

  /* everything reads back, equal to a fresh encode */
  ClipTextCache *cache = NULL;
  ClipError err;
  int n_texts = N_PROMPTS + N_CACHE_THREADS * N_OWN, n_encoded = -1;
  const char **texts = g_new (const char *, n_texts);
  char **owned = g_new0 (char *, n_texts);
  for (int i = 0; i < n_texts; i++)
    texts[i] = i < N_PROMPTS ? prompts[i] : (owned[i] = g_strdup_printf
        ("thread %d, prompt %d", (i - N_PROMPTS) / N_OWN,
            (i - N_PROMPTS) % N_OWN));
  float *cached = g_new (float, (size_t) n_texts * P);
  float *fresh = g_new (float, (size_t) n_texts * P);
  int r = cle_text_cache_open (&cache, model, dir, &err);
  int size = r == CLE_OK ? cle_text_cache_size (cache) : -1;
  if (r == CLE_OK)
    r = cle_encode_texts_cached (ctx, cache, texts, n_texts, cached,
        (size_t) n_texts * P, &n_encoded, &err);
  if (r == CLE_OK)
    r = cle_encode_texts (ctx, texts, n_texts, fresh, (size_t) n_texts * P,
        &err);
  /* fresh encodes batch the prompts otherwise: equal to rounding */
  TestCompare c = test_compare (cached, fresh, (size_t) n_texts * P);
  test_expect (n_errors == 0 && r == CLE_OK && size == n_texts
      && n_encoded == 0 && c.max_abs_diff <= 1e-6 * c.max_abs_ref,
      "%d threads appending at once: %d errors, %d of %d prompts cached, "
      "%d encoded again, max|d| = %.3g of max|ref| from fresh encodes",
      N_CACHE_THREADS, n_errors, size, n_texts, n_encoded,
      c.max_abs_ref > 0 ? c.max_abs_diff / c.max_abs_ref : 0.0);
  if (cache)
    cle_text_cache_free (cache);

  for (int i = 0; i < n_texts; i++)
    g_free (owned[i]);
  g_free (owned);
  g_free (texts);
  g_free (cached);
  g_free (fresh);
  test_remove_dir (dir);
  g_free (dir);
}

int
main (void)
{
  char *model_dir = test_data_path ("tiny-clip");
  char *dir = g_dir_make_tmp ("cle-text-cache-XXXXXX", NULL);
  ClipModel *model;
  ClipContext *ctx;
  ClipError err;
  cle_model_load (&model, model_dir, NULL, &err);
  cle_context_new (&ctx, model, NULL, &err);
  float fresh[N_PROMPTS * P], got[N_PROMPTS * P];
  cle_encode_texts (ctx, prompts, N_PROMPTS, fresh, N_PROMPTS * P, &err);

  ClipTextCache *cache;
  int n_encoded = -1;
  int r = cle_text_cache_open (&cache, model, dir, &err);
  test_expect (r == CLE_OK && cle_text_cache_size (cache) == 0,
      "a new cache is empty (%s)", r ? err.message : "ok");
  r = cle_encode_texts_cached (ctx, cache, prompts, N_PROMPTS, got,
      N_PROMPTS * P, &n_encoded, &err);
  test_expect (r == CLE_OK && n_encoded == N_PROMPTS
      && memcmp (got, fresh, sizeof got) == 0,
      "first run encodes all %d prompts, same as uncached", n_encoded);
  cle_text_cache_free (cache);

  /* A restart: nothing is encoded, the values are identical. */
  cle_text_cache_open (&cache, model, dir, &err);
  memset (got, 0, sizeof got);
  r = cle_encode_texts_cached (ctx, cache, prompts, N_PROMPTS, got,
      N_PROMPTS * P, &n_encoded, &err);
  test_expect (r == CLE_OK && n_encoded == 0 && cle_text_cache_size (cache)
      == N_PROMPTS && memcmp (got, fresh, sizeof got) == 0,
      "after a restart: %d encoded, %d cached, bit-identical", n_encoded,
      cle_text_cache_size (cache));
  const char *mixed[] = { "a photo of a dog", "a new prompt" };
  r = cle_encode_texts_cached (ctx, cache, mixed, 2, got, 2 * P, &n_encoded,
      &err);
  test_expect (r == CLE_OK && n_encoded == 1 && memcmp (got, fresh + P,
          P * sizeof (float)) == 0, "one hit and one miss: 1 encoded");
  cle_text_cache_free (cache);

  /* A crash mid-append leaves a torn record: it is dropped, the rest kept,
   * and later appends still read back. */
  char *path = only_file (dir);
  gsize size;
  char *bytes;
  g_file_get_contents (path, &bytes, &size, NULL);
  g_file_set_contents (path, bytes, size - 7, NULL);
  g_free (bytes);
  r = cle_text_cache_open (&cache, model, dir, &err);
  test_expect (r == CLE_OK && cle_text_cache_size (cache) == N_PROMPTS,
      "a torn last record is dropped: %d entries", cle_text_cache_size (cache));
  cle_encode_texts_cached (ctx, cache, mixed, 2, got, 2 * P, &n_encoded,
      &err);
  cle_text_cache_free (cache);
  cle_text_cache_open (&cache, model, dir, &err);
  test_expect (cle_text_cache_size (cache) == N_PROMPTS + 1,
      "appends after the cut read back: %d entries",
      cle_text_cache_size (cache));
  cle_text_cache_free (cache);

  /* Another model never shares the file. */
  char *other_dir = test_data_path ("gen/f32-gelu");
  ClipModel *other;
  cle_model_load (&other, other_dir, NULL, &err);
  cle_text_cache_open (&cache, other, dir, &err);
  test_expect (cle_text_cache_size (cache) == 0,
      "another model starts with an empty cache of its own");
  cle_text_cache_free (cache);
  cle_model_free (other);
  g_free (other_dir);

  /* The same model in bf16 gives other embeddings: a cache of its own;
   * unless no bf16 kernel beats fp32 on this CPU (kernel.c), when bf16 runs
   * the fp32 kernel on the fp32 weights and shares fp32's cache. */
  ClipModelParams mp;
  ClipModelInfo info;
  cle_model_params_init (&mp);
  mp.precision = CLE_PRECISION_BF16;
  cle_model_load (&other, model_dir, &mp, &err);
  cle_model_get_info (other, &info);
  cle_text_cache_open (&cache, other, dir, &err);
  if (g_str_has_suffix (info.kernel, "-fp32"))
    test_expect (cle_text_cache_size (cache) > 0,
        "bf16 on the %s kernel shares fp32's cache", info.kernel);
  else
    test_expect (cle_text_cache_size (cache) == 0,
        "the same model in bf16 (%s) starts with an empty cache of its own",
        info.kernel);
  cle_text_cache_free (cache);
  cle_model_free (other);

  /* A file that is not a cache is refused with its name. */
  g_file_set_contents (path, "not a cache at all, no", -1, NULL);
  r = cle_text_cache_open (&cache, model, dir, &err);
  test_expect (r == CLE_ERROR_FORMAT && strstr (err.message, path)
      && cache == NULL, "a foreign file: %s", err.message);

  g_free (path);
  concurrent_appends (model, ctx);
  cle_context_free (ctx);
  cle_model_free (model);
  test_remove_dir (dir);
  g_free (dir);
  g_free (model_dir);
  return test_finish ();
}
