/* activation.c - the MLP activations CLIP checkpoints use: quick_gelu
 * (x * sigmoid(1.702 x), OpenAI's) and gelu (exact, with erf). */
#include <math.h>

#include "ops.h"
#include "vector-math.h"

typedef struct
{
  float *x;
  size_t n;
  ClipActivation act;
} ActivationJob;

/* Thread t's share; quick_gelu vectorized (cle_exp): the MLP of every
 * OpenAI checkpoint. */
CLE_CLONES static void
activation_part (void *arg, int t, int T)
{
  const ActivationJob *job = arg;
  float *x = job->x;
  const size_t i0 = job->n * t / T, i1 = job->n * (t + 1) / T;
  if (job->act == CLE_ACT_QUICK_GELU) {
    for (size_t i = i0; i < i1; i++)
      x[i] = x[i] / (1.0f + cle_exp (-1.702f * x[i]));
  } else {
    for (size_t i = i0; i < i1; i++)
      x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
  }
}

void
cle_activation (float *x, size_t n, ClipActivation act, int n_threads)
{
  ActivationJob job = { x, n, act };
  cle_parallel (n >= 16384 ? n_threads : 1, activation_part, &job);
}
