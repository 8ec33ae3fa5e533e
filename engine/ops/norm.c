/* norm.c - LayerNorm over the last dimension (torch.nn.LayerNorm), with the
 * mean and variance accumulated in double: in 16 interleaved partial sums
 * (element j into sum j % 16), an order fixed by the code, so the loops
 * vectorize and the result is the same on every path. */
#include <math.h>

#include "ops.h"
#include "vector-math.h"

#define LANES 16

/* sum of (x[j] - shift)^power, power 1 or 2 */
static inline double
lane_sum (const float *x, int d, double shift, int power)
{
  double acc[LANES] = { 0 };
  int j = 0;
  for (; j + LANES <= d; j += LANES)
    for (int l = 0; l < LANES; l++) {
      const double c = x[j + l] - shift;
      acc[l] += power == 1 ? c : c * c;
    }
  for (int l = 0; j + l < d; l++) {
    const double c = x[j + l] - shift;
    acc[l] += power == 1 ? c : c * c;
  }
  double sum = 0.0;
  for (int l = 0; l < LANES; l++)
    sum += acc[l];
  return sum;
}

typedef struct
{
  float *y;
  const float *x, *g, *b;
  int n, d;
  float eps;
} NormJob;

/* Clones of a static function, called through the plain one below: clang
 * 14 emits the dispatcher of target_clones only for calls in their own
 * file, so other files could not link against the clones. */
CLE_CLONES static void
layer_norm_rows (float *y, const float *x, const float *g, const float *b,
    int r0, int r1, int d, float eps)
{
  for (int i = r0; i < r1; i++) {
    const float *xi = x + (size_t) i * d;
    float *yi = y + (size_t) i * d;
    const double mean = lane_sum (xi, d, 0.0, 1) / d;
    const double var = lane_sum (xi, d, mean, 2) / d;
    const double inv = 1.0 / sqrt (var + eps);
    for (int j = 0; j < d; j++)
      yi[j] = (float) ((xi[j] - mean) * inv) * g[j] + b[j];
  }
}

void
cle_layer_norm_rows (float *y, const float *x, const float *g,
    const float *b, int r0, int r1, int d, float eps)
{
  layer_norm_rows (y, x, g, b, r0, r1, d, eps);
}

static void
layer_norm_part (void *arg, int t, int T)
{
  const NormJob *job = arg;
  layer_norm_rows (job->y, job->x, job->g, job->b, job->n * t / T,
      job->n * (t + 1) / T, job->d, job->eps);
}

void
cle_layer_norm (float *y, const float *x, const float *g, const float *b,
    int n, int d, float eps, int n_threads)
{
  NormJob job = { y, x, g, b, n, d, eps };
  cle_parallel (n >= 8 ? n_threads : 1, layer_norm_part, &job);
}
