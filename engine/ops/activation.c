/* activation.c - the MLP activations CLIP checkpoints use: quick_gelu
 * (x * sigmoid(1.702 x), OpenAI's) and gelu (exact, with erf). */
#include <math.h>

#include "ops.h"
#include "vector-math.h"

/* quick_gelu, vectorized (cle_exp): the MLP of every OpenAI checkpoint. */
CLE_CLONES static void
quick_gelu (float *x, size_t n, int nt)
{
#pragma omp parallel for num_threads(nt) if (n >= 16384) schedule(static)
  for (size_t i = 0; i < n; i++)
    x[i] = x[i] / (1.0f + cle_exp (-1.702f * x[i]));
}

void
cle_activation (float *x, size_t n, ClipActivation act, int n_threads)
{
  int nt = cle_threads_resolve (n_threads);
  if (act == CLE_ACT_QUICK_GELU) {
    quick_gelu (x, n, nt);
  } else {
#pragma omp parallel for num_threads(nt) if (n >= 16384) schedule(static)
    for (size_t i = 0; i < n; i++)
      x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
  }
}
