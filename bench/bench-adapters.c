/* bench-adapters.c - the per-image cost of adapters as CPU time, which a
 * shared machine disturbs far less than wall time: the model without an
 * adapter and with each adapter given, one thread (the engine then runs on
 * the calling thread, so CLOCK_THREAD_CPUTIME_ID is the work), in
 * interleaved rounds; per configuration the median CPU ms per call of the
 * vision tower (batch 1) and the text tower (batch of distinct 10-token
 * prompts), the load time, and the change against no adapter. Checks
 * nothing: the parity of every method is test-adapter's job.
 *
 *   [PRECISION=bf16|int8] build/bench/bench-adapters MODEL ROUNDS CALLS ADAPTER_DIR...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"

static double
now_ms (clockid_t clock)
{
  struct timespec ts;
  clock_gettime (clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int
compare (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, compare);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int
main (int argc, char **argv)
{
  if (argc < 4) {
    fprintf (stderr, "usage: %s MODEL ROUNDS CALLS [ADAPTER_DIR...]\n",
        argv[0]);
    return 2;
  }
  const char *model_dir = argv[1];
  const int rounds = atoi (argv[2]), calls = atoi (argv[3]);
  const int n_cfg = argc - 3;   /* none + each adapter */
  const int n_texts = 16;
  double *vis = calloc ((size_t) n_cfg * rounds * calls, sizeof (double));
  double *txt = calloc ((size_t) n_cfg * rounds * calls, sizeof (double));
  double *load = calloc ((size_t) n_cfg * rounds, sizeof (double));
  for (int r = 0; r < rounds; r++)
    for (int c = 0; c < n_cfg; c++) {
      ClipModelParams mp;
      cle_model_params_init (&mp);
      mp.adapter_dir = c ? argv[3 + c] : NULL;
      if (getenv ("PRECISION")
          && !cle_precision_from_string (getenv ("PRECISION"), &mp.precision)) {
        fprintf (stderr, "PRECISION: fp32, bf16 or int8\n");
        return 2;
      }
      ClipModel *model;
      ClipContext *ctx;
      ClipError err;
      double t0 = now_ms (CLOCK_MONOTONIC);
      if (cle_model_load (&model, model_dir, &mp, &err)) {
        fprintf (stderr, "%s\n", err.message);
        return 1;
      }
      load[c * rounds + r] = now_ms (CLOCK_MONOTONIC) - t0;
      ClipContextParams cp;
      cle_context_params_init (&cp);
      cp.n_threads = 1;
      cp.max_batch_images = 1;
      cp.max_batch_texts = n_texts;
      cle_context_new (&ctx, model, &cp, &err);
      ClipModelInfo info;
      cle_model_get_info (model, &info);
      const int S = info.image_size, P = info.projection_dim;
      float *px = malloc ((size_t) 3 * S * S * sizeof (float));
      for (int i = 0; i < 3 * S * S; i++)
        px[i] = (float) ((i * 7919) % 1000) / 500.0f - 1.0f;
      float *emb = malloc ((size_t) n_texts * P * sizeof (float));
      /* distinct 10-token prompts (8 tokens between start and end) */
      int32_t ids[16][10];
      const int32_t *idp[16];
      int n_ids[16];
      for (int t = 0; t < n_texts; t++) {
        ids[t][0] = 49406;
        for (int k = 1; k < 9; k++)
          ids[t][k] = 320 + (t * 31 + k * 17) % 4000;
        ids[t][9] = 49407;
        idp[t] = ids[t];
        n_ids[t] = 10;
      }
      cle_encode_images (ctx, px, 1, emb, P, &err);   /* warm-up */
      for (int k = 0; k < calls; k++) {
        double c0 = now_ms (CLOCK_THREAD_CPUTIME_ID);
        cle_encode_images (ctx, px, 1, emb, P, &err);
        vis[(c * rounds + r) * calls + k] = now_ms (CLOCK_THREAD_CPUTIME_ID)
            - c0;
        c0 = now_ms (CLOCK_THREAD_CPUTIME_ID);
        cle_encode_token_ids (ctx, idp, n_ids, n_texts, emb,
            (size_t) n_texts * P, &err);
        txt[(c * rounds + r) * calls + k] = now_ms (CLOCK_THREAD_CPUTIME_ID)
            - c0;
      }
      fprintf (stderr, "round %d: %s done\n", r + 1, c ? argv[3 + c]
          : "no adapter");
      free (px);
      free (emb);
      cle_context_free (ctx);
      cle_model_free (model);
    }
  printf ("| adapter | vision, batch 1: CPU ms/image | text, %d prompts of "
      "10 tokens: CPU ms/call | load ms |\n|---|---|---|---|\n", n_texts);
  double base_v = 0, base_t = 0;
  for (int c = 0; c < n_cfg; c++) {
    double v = median (vis + (size_t) c * rounds * calls, rounds * calls);
    double t = median (txt + (size_t) c * rounds * calls, rounds * calls);
    double l = median (load + (size_t) c * rounds, rounds);
    if (!c) {
      base_v = v;
      base_t = t;
    }
    printf ("| %s | %.2f (%+.1f%%) | %.2f (%+.1f%%) | %.0f |\n",
        c ? argv[3 + c] : "none", v, 100 * (v / base_v - 1), t,
        100 * (t / base_t - 1), l);
  }
  free (vis);
  free (txt);
  free (load);
  return 0;
}
