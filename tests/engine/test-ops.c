/* test-ops.c - every fast kernel against its naive twin (or a double
 * precision formula) on random inputs of awkward sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

static void
test_linear (int n, int n_in, int n_out, int with_bias, int ldx, int ldy)
{
  unsigned seed = n * 31 + n_in * 7 + n_out;
  int lx = ldx ? ldx : n_in, ly = ldy ? ldy : n_out;
  float *x = random_floats ((size_t) n * lx, &seed);
  float *w = random_floats ((size_t) n_out * n_in, &seed);
  float *b = random_floats (n_out, &seed);
  float *y = calloc ((size_t) n * ly, sizeof (float));
  float *y_ref = calloc ((size_t) n * ly, sizeof (float));
  cle_linear (y, x, w, with_bias ? b : NULL, n, n_in, n_out, ldx, ldy);
  cle_linear_naive (y_ref, x, w, with_bias ? b : NULL, n, n_in, n_out, ldx,
      ldy);
  char name[96];
  snprintf (name, sizeof name, "linear %dx%d -> %d bias %d ld %d/%d", n, n_in,
      n_out, with_bias, ldx, ldy);
  test_check_close (name, y, y_ref, (size_t) n * ly, 1e-5, 0.9999999);
  free (x);
  free (w);
  free (b);
  free (y);
  free (y_ref);
}

static void
test_attention (int n_seq, int n_head, int d_head, int causal)
{
  unsigned seed = 99 + n_seq * 3 + causal;
  int starts[16], lens[16], rows = 0;
  for (int s = 0; s < n_seq; s++) {
    starts[s] = rows;
    lens[s] = 1 + (s * 13 + 5) % 50;
    rows += lens[s];
  }
  size_t n = (size_t) rows * n_head * d_head;
  float *q = random_floats (n, &seed), *k = random_floats (n, &seed);
  float *v = random_floats (n, &seed);
  float *out = calloc (n, sizeof (float)), *ref = calloc (n, sizeof (float));
  float *scratch = malloc (cle_attention_scratch_size (64, 2) * sizeof (float));
  cle_attention (out, q, k, v, starts, lens, n_seq, n_head, d_head, causal,
      scratch, 2);
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

int
main (void)
{
  test_linear (1, 64, 32, 1, 0, 0);
  test_linear (50, 768, 96, 1, 0, 0);
  test_linear (7, 33, 65, 0, 0, 0);
  test_linear (9, 31, 17, 1, 40, 20);
  test_attention (1, 4, 16, 0);
  test_attention (5, 3, 16, 0);
  test_attention (7, 8, 8, 1);
  test_layer_norm (1, 64);
  test_layer_norm (37, 768);
  test_activation (CLE_ACT_QUICK_GELU, "quick_gelu");
  test_activation (CLE_ACT_GELU, "gelu");
  return test_finish ();
}
