/* norm.c - LayerNorm over the last dimension (torch.nn.LayerNorm), with the
 * mean and variance accumulated in double. */
#include <math.h>

#include "ops.h"

void
cle_layer_norm (float *y, const float *x, const float *g, const float *b,
    int n, int d, float eps, int n_threads)
{
  int nt = cle_threads_resolve (n_threads);
#pragma omp parallel for num_threads(nt) if (n >= 8) schedule(static)
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t) i * d;
    float *yi = y + (size_t) i * d;
    double sum = 0.0;
    for (int j = 0; j < d; j++)
      sum += xi[j];
    double mean = sum / d, var = 0.0;
    for (int j = 0; j < d; j++) {
      double c = xi[j] - mean;
      var += c * c;
    }
    double inv = 1.0 / sqrt (var / d + eps);
    for (int j = 0; j < d; j++)
      yi[j] = (float) ((xi[j] - mean) * inv) * g[j] + b[j];
  }
}
