/* test-ops.c - every fast kernel against its naive twin (or a double
 * precision formula) on random inputs of awkward sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "ops/gemm-kernels.h"
#include "ops/ops.h"
#include "test-util.h"

static float *
random_floats (size_t n, unsigned *seed)
{
  float *x = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    x[i] = ((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return x;
}

static const ClipGemmPath gemm_paths[] = {
  CLE_GEMM_AUTO, CLE_GEMM_C, CLE_GEMM_AVX2, CLE_GEMM_AVX512, CLE_GEMM_OPENBLAS,
};
#define N_GEMM_PATHS (int) (sizeof gemm_paths / sizeof gemm_paths[0])

/* Every gemm path against cle_linear_naive on one shape. w_offset shifts w
 * by that many floats off the allocation's alignment (checkpoints map
 * tensors at any 4-byte boundary). */
static void
test_linear (int n, int n_in, int n_out, int with_bias, int ldx, int ldy,
    int w_offset, int n_threads)
{
  unsigned seed = n * 31 + n_in * 7 + n_out;
  int lx = ldx ? ldx : n_in, ly = ldy ? ldy : n_out;
  float *x = random_floats ((size_t) n * lx, &seed);
  float *w_mem = random_floats ((size_t) n_out * n_in + w_offset, &seed);
  const float *w = w_mem + w_offset;
  float *b = random_floats (n_out, &seed);
  float *y = malloc ((size_t) n * ly * sizeof (float));
  float *y_ref = malloc ((size_t) n * ly * sizeof (float));
  /* Padding between rows (ldy > n_out) must stay untouched. */
  for (size_t i = 0; i < (size_t) n * ly; i++)
    y_ref[i] = 7.0f;
  cle_linear_naive (y_ref, x, w, with_bias ? b : NULL, n, n_in, n_out, ldx,
      ldy);
  for (int p = 0; p < N_GEMM_PATHS; p++) {
    char name[128];
    snprintf (name, sizeof name, "linear %-8s %3dx%-4d -> %-4d bias %d "
        "ld %d/%d w+%d %d threads", cle_gemm_path_name (gemm_paths[p]), n,
        n_in, n_out, with_bias, ldx, ldy, w_offset, n_threads);
    if (!cle_gemm_path_supported (gemm_paths[p])) {
      printf ("skip %s: the CPU lacks it\n", name);
      continue;
    }
    for (size_t i = 0; i < (size_t) n * ly; i++)
      y[i] = 7.0f;
    cle_linear_path (y, x, w, with_bias ? b : NULL, n, n_in, n_out, ldx, ldy,
        n_threads, gemm_paths[p]);
    test_check_close (name, y, y_ref, (size_t) n * ly, 1e-5, 0.9999999);
  }
  free (x);
  free (w_mem);
  free (b);
  free (y);
  free (y_ref);
}

static void
test_linear_shapes (void)
{
  static const int ns[] = { 1, 3, 50, 69, 197, 401 };
  static const int n_ins[] = { 31, 64, 768, 3072 };
  static const int n_outs[] = { 17, 64, 768 };
  /* Under valgrind (CLE_TEST_QUICK) the largest shapes would take hours. */
  const int quick = getenv ("CLE_TEST_QUICK") != NULL;
  int i = 0;
  printf ("cle_linear default path: %s\n",
      cle_gemm_path_name (cle_gemm_path_default ()));
  for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
    for (size_t c = 0; c < sizeof n_ins / sizeof n_ins[0]; c++)
      for (size_t d = 0; d < sizeof n_outs / sizeof n_outs[0]; d++, i++) {
        if (quick && (ns[a] > 50 || n_ins[c] > 768))
          continue;
        /* with bias and w off by a float, then neither */
        test_linear (ns[a], n_ins[c], n_outs[d], 1, 0, 0, 1, 1 + i % 3);
        test_linear (ns[a], n_ins[c], n_outs[d], 0, 0, 0, 0, 2 - i % 2);
      }
  /* row strides, with and without bias, odd thread counts */
  test_linear (9, 31, 17, 1, 40, 20, 1, 2);
  test_linear (50, 768, 64, 0, 800, 70, 1, 3);
  test_linear (3, 33, 65, 1, 33, 66, 0, 2);
  test_linear (197, 64, 17, 0, 70, 19, 1, 2);
  test_linear (1, 768, 512, 0, 0, 0, 0, 0);
  test_linear (64, 80, 72, 1, 0, 0, 1, 2);
  /* 8 or more rows below the last 16-row panel (the edge of ViT-B/32's
   * 200 rows a thread at batch 8): one block, blocks split by rows,
   * several k-chunks (added to y), strides */
  test_linear (29, 64, 17, 0, 70, 19, 0, 2);
  test_linear (200, 768, 64, 1, 0, 0, 1, 1);
  test_linear (120, 3072, 72, 1, 3100, 80, 1, 1);
  test_linear (312, 800, 40, 0, 0, 0, 0, 2);
}

/* cle_linear_multi: each projection equals cle_linear_naive on its own. */
static void
test_linear_multi (int n, int n_in, int n_out, int n_threads)
{
  unsigned seed = 3 + n * 5 + n_out;
  float *x = random_floats ((size_t) n * n_in, &seed);
  float *y[3], *w[3], *b[3], *ref = malloc ((size_t) n * n_out * sizeof (float));
  for (int i = 0; i < 3; i++) {
    y[i] = malloc ((size_t) n * n_out * sizeof (float));
    w[i] = random_floats ((size_t) n_out * n_in + 1, &seed);
    b[i] = i == 1 ? NULL : random_floats (n_out, &seed);
  }
  const float *const wc[3] = { w[0] + 1, w[1], w[2] + 1 };
  const float *const bc[3] = { b[0], b[1], b[2] };
  cle_linear_multi (y, x, wc, bc, 3, n, n_in, n_out, n_threads);
  for (int i = 0; i < 3; i++) {
    char name[96];
    cle_linear_naive (ref, x, wc[i], bc[i], n, n_in, n_out, 0, 0);
    snprintf (name, sizeof name, "linear_multi [%d] %dx%d -> %d, %d threads",
        i, n, n_in, n_out, n_threads);
    test_check_close (name, y[i], ref, (size_t) n * n_out, 1e-5, 0.9999999);
    free (y[i]);
    free (w[i]);
    free (b[i]);
  }
  free (x);
  free (ref);
}

/* The attention products' kernels (GemmNN: y = x @ bm) against double
 * sums, on shapes across their tiles (6 rows, 64 columns in 4 vectors,
 * the last masked); the columns right of n in y's stride stay as they
 * were. */
static void
test_gemm_nn (void)
{
  static const int ms[] = { 1, 5, 6, 7, 13, 50 };
  static const int ks[] = { 1, 16, 64, 77 };
  static const int ns[] = { 1, 15, 16, 50, 64, 65, 130 };
  GemmNN kernels[3] = { cle_gemm_nn_c, NULL, NULL };
  const char *names[3] = { "c", "avx2", "avx512" };
#ifdef CLE_GEMM_HAVE_X86
  if (cle_gemm_path_supported (CLE_GEMM_AVX2))
    kernels[1] = cle_gemm_nn_avx2;
  if (cle_gemm_path_supported (CLE_GEMM_AVX512))
    kernels[2] = cle_gemm_nn_avx512;
#endif
  unsigned seed = 5;
  for (int kn = 0; kn < 3; kn++) {
    if (!kernels[kn])
      continue;
    double worst = 0.0;
    int ok = 1;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
      for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++)
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
          const int m = ms[a], k = ks[b], n = ns[c];
          const int ldx = k + 3, ldb = n + 2, ldy = n + 5;
          float *x = random_floats ((size_t) m * ldx, &seed);
          float *bm = random_floats ((size_t) k * ldb, &seed);
          float *y = malloc ((size_t) m * ldy * sizeof (float));
          for (size_t i = 0; i < (size_t) m * ldy; i++)
            y[i] = 7.0f;
          kernels[kn] (y, x, bm, m, k, n, ldx, ldb, ldy);
          for (int i = 0; i < m; i++)
            for (int j = 0; j < ldy; j++) {
              double want = 0.0, scale = 0.0;
              for (int t = 0; t < k; t++) {
                want += (double) x[i * ldx + t] * bm[t * ldb + j % ldb];
                scale += fabs ((double) x[i * ldx + t] * bm[t * ldb
                        + j % ldb]);
              }
              const float got = y[i * ldy + j];
              if (j >= n)
                ok = ok && got == 7.0f;
              else
                worst = fmax (worst, fabs (got - want) / (scale + 1e-30));
            }
          free (x);
          free (bm);
          free (y);
        }
    test_expect (ok && worst < 1e-6, "attention products (%s): max error "
        "%.3g of the sum of |terms|, columns past n untouched: %s",
        names[kn], worst, ok ? "yes" : "no");
  }
}

static void
test_attention (int n_seq, int n_head, int d_head, int causal, int max_len)
{
  unsigned seed = 99 + n_seq * 3 + causal;
  int starts[16], lens[16], rows = 0;
  for (int s = 0; s < n_seq; s++) {
    starts[s] = rows;
    lens[s] = 1 + (s * 13 + 5) % max_len;
    rows += lens[s];
  }
  size_t n = (size_t) rows * n_head * d_head;
  float *q = random_floats (n, &seed), *k = random_floats (n, &seed);
  float *v = random_floats (n, &seed);
  float *out = calloc (n, sizeof (float)), *ref = calloc (n, sizeof (float));
  float *scratch = malloc (cle_attention_scratch_size (max_len, d_head, 2)
      * sizeof (float));
  const ClipSequences seqs = { n_seq, starts, lens, NULL, NULL };
  cle_attention (out, q, k, v, &seqs, n_head, d_head, causal, scratch, 2);
  cle_attention_naive (ref, q, k, v, starts, lens, n_seq, n_head, d_head,
      causal);
  char name[96];
  snprintf (name, sizeof name, "attention %d seqs %d heads x %d causal %d",
      n_seq, n_head, d_head, causal);
  test_check_close (name, out, ref, n, 1e-5, 0.9999999);
  free (q);
  free (k);
  free (v);
  free (out);
  free (ref);
  free (scratch);
}

/* rows[p] = src[row_of[p]] for p < n: the positions of a shared layout
 * written out one row each. */
static float *
expand_rows (const float *src, const int *row_of, int n, int d)
{
  float *out = malloc ((size_t) n * d * sizeof (float));
  for (int p = 0; p < n; p++)
    memcpy (out + (size_t) p * d, src + (size_t) row_of[p] * d,
        d * sizeof (float));
  return out;
}

/* Causal attention of prompts that share prefixes (each shares a random
 * prefix of the one before it, duplicates included), against the naive
 * attention of the same prompts written out without sharing: every
 * position's output (the rows its owner computed) and the pooled query of
 * each prompt's last position. */
static void
test_attention_shared (int n_seq, int n_head, int d_head)
{
  const int d = n_head * d_head;
  unsigned seed = 1234 + n_seq;
  int starts[64], lens[64], first[64], row_of[64 * 40], pos = 0, rows = 0;
  for (int s = 0; s < n_seq; s++) {
    seed = seed * 1103515245u + 12345u;
    lens[s] = 1 + (seed >> 8) % 30;
    int shared = 0;
    if (s > 0) {
      seed = seed * 1103515245u + 12345u;
      shared = MIN ((int) ((seed >> 8) % (lens[s - 1] + 1)), lens[s]);
      if (s % 7 == 3) {         /* a duplicate of the one before */
        lens[s] = lens[s - 1];
        shared = lens[s];
      }
    }
    starts[s] = pos;
    first[s] = shared;
    for (int i = 0; i < lens[s]; i++)
      row_of[pos + i] = i < shared ? row_of[starts[s - 1] + i] : rows++;
    pos += lens[s];
  }
  float *q = random_floats ((size_t) rows * d, &seed);
  float *k = random_floats ((size_t) rows * d, &seed);
  float *v = random_floats ((size_t) rows * d, &seed);
  float *out = calloc ((size_t) rows * d, sizeof (float));
  float *scratch = malloc (cle_attention_scratch_size (64, 64, 2)
      * sizeof (float));
  const ClipSequences seqs = { n_seq, starts, lens, row_of, first };
  cle_attention (out, q, k, v, &seqs, n_head, d_head, 1, scratch, 2);

  float *qe = expand_rows (q, row_of, pos, d);
  float *ke = expand_rows (k, row_of, pos, d);
  float *ve = expand_rows (v, row_of, pos, d);
  float *ref = calloc ((size_t) pos * d, sizeof (float));
  cle_attention_naive (ref, qe, ke, ve, starts, lens, n_seq, n_head, d_head,
      1);
  float *got = expand_rows (out, row_of, pos, d);
  char name[96];
  snprintf (name, sizeof name, "attention, %d prompts sharing prefixes "
      "(%d rows for %d positions)", n_seq, rows, pos);
  test_check_close (name, got, ref, (size_t) pos * d, 1e-5, 0.9999999);

  /* the pooled form: one query per prompt, its last position */
  int last[64];
  for (int s = 0; s < n_seq; s++)
    last[s] = row_of[starts[s] + lens[s] - 1];
  float *qp = expand_rows (q, last, n_seq, d);
  float *pooled = calloc ((size_t) n_seq * d, sizeof (float));
  const ClipSequences all = { n_seq, starts, lens, row_of, NULL };
  cle_attention_pooled (pooled, qp, k, v, &all, n_head, d_head, scratch, 2);
  for (int s = 0; s < n_seq; s++)
    last[s] = starts[s] + lens[s] - 1;
  float *ref_pooled = expand_rows (ref, last, n_seq, d);
  snprintf (name, sizeof name, "pooled attention, %d prompts sharing "
      "prefixes", n_seq);
  test_check_close (name, pooled, ref_pooled, (size_t) n_seq * d, 1e-5,
      0.9999999);
  free (q);
  free (k);
  free (v);
  free (out);
  free (scratch);
  free (qe);
  free (ke);
  free (ve);
  free (ref);
  free (got);
  free (qp);
  free (pooled);
  free (ref_pooled);
}

static void
test_layer_norm (int n, int d)
{
  unsigned seed = 7 + d;
  float *x = random_floats ((size_t) n * d, &seed);
  float *g = random_floats (d, &seed), *b = random_floats (d, &seed);
  float *y = malloc ((size_t) n * d * sizeof (float));
  float *ref = malloc ((size_t) n * d * sizeof (float));
  for (int i = 0; i < n; i++) {
    double mean = 0, var = 0;
    for (int j = 0; j < d; j++)
      mean += x[i * d + j];
    mean /= d;
    for (int j = 0; j < d; j++)
      var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
    var /= d;
    for (int j = 0; j < d; j++)
      ref[i * d + j] = (float) ((x[i * d + j] - mean) / sqrt (var + 1e-5)
          * g[j] + b[j]);
  }
  cle_layer_norm (y, x, g, b, n, d, 1e-5f, 2);
  char name[64];
  snprintf (name, sizeof name, "layer_norm %dx%d", n, d);
  test_check_close (name, y, ref, (size_t) n * d, 1e-6, 0.9999999);
  /* In place gives the same. */
  cle_layer_norm (x, x, g, b, n, d, 1e-5f, 2);
  test_check_close ("  in place", x, y, (size_t) n * d, 0, 1);
  free (x);
  free (g);
  free (b);
  free (y);
  free (ref);
}

static void
test_activation (ClipActivation act, const char *name)
{
  unsigned seed = 5;
  size_t n = 40000;
  float *x = random_floats (n, &seed);
  float *ref = malloc (n * sizeof (float));
  for (size_t i = 0; i < n; i++) {
    double v = x[i] * 8.0;
    x[i] = (float) v;
    ref[i] = act == CLE_ACT_GELU ? 0.5 * v * (1 + erf (v / sqrt (2.0)))
        : v / (1 + exp (-1.702 * v));
  }
  cle_activation (x, n, act, 2);
  test_check_close (name, x, ref, n, 1e-6, 0.9999999);
  free (x);
  free (ref);
}

/* cle_parallel: every t of [0, T) runs once per call, T as asked, over
 * many calls in a row (a lost wake-up would hang or skip one), from two
 * threads at once (each has its own workers) and with a pause between
 * calls long enough for the workers to fall asleep. */
typedef struct
{
  int calls[8];
  int T_seen;
} ParallelCount;

static void
count_part (void *arg, int t, int T)
{
  ParallelCount *c = arg;
  __atomic_add_fetch (&c->calls[t], 1, __ATOMIC_RELAXED);
  __atomic_store_n (&c->T_seen, T, __ATOMIC_RELAXED);
}

static void *
parallel_rounds (void *arg)
{
  int *bad = arg;
  for (int round = 0; round < 20000; round++) {
    const int T = 1 + round % 4;
    ParallelCount c = { { 0 }, 0 };
    cle_parallel (T, count_part, &c);
    int ok = c.T_seen == T;
    for (int t = 0; t < 8; t++)
      ok &= c.calls[t] == (t < T);
    if (!ok)
      __atomic_add_fetch (bad, 1, __ATOMIC_RELAXED);
    if (round % 5000 == 0)
      g_usleep (2000);          /* workers go to sleep */
  }
  return NULL;
}

static void
test_parallel (void)
{
  int bad = 0;
  GThread *other = g_thread_new ("parallel", parallel_rounds, &bad);
  parallel_rounds (&bad);
  g_thread_join (other);
  test_expect (bad == 0, "cle_parallel: 2 threads x 20,000 calls of 1-4 "
      "threads, each part run once: %d bad calls", bad);
}

int
main (void)
{
  test_parallel ();
  test_linear_shapes ();
  test_linear_multi (50, 768, 768, 2);
  test_linear_multi (3, 64, 40, 3);
  test_linear_multi (77, 96, 17, 1);
  test_linear_multi (300, 96, 40, 2);
  test_gemm_nn ();
  test_attention (1, 4, 16, 0, 50);
  test_attention (5, 3, 16, 0, 50);
  test_attention (7, 8, 8, 1, 50);
  /* ViT-B's heads over more keys than one tile's 64 columns; d_head 80
   * (ViT-H) takes two */
  test_attention (3, 2, 64, 0, 150);
  test_attention (3, 2, 80, 1, 100);
  test_attention_shared (1, 2, 8);
  test_attention_shared (40, 4, 16);
  test_layer_norm (1, 64);
  test_layer_norm (37, 768);
  test_activation (CLE_ACT_QUICK_GELU, "quick_gelu");
  test_activation (CLE_ACT_GELU, "gelu");
  return test_finish ();
}
