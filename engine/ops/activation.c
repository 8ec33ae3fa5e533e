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

/* quick_gelu vectorized (cle_exp): the MLP of every OpenAI checkpoint.
 * Static clones behind a plain function (norm.c says why). */
CLE_CLONES static void
activation_range (float *x, size_t i0, size_t i1, ClipActivation act)
{
  if (act == CLE_ACT_QUICK_GELU) {
    for (size_t i = i0; i < i1; i++)
      x[i] = x[i] / (1.0f + cle_exp (-1.702f * x[i]));
  } else {
    for (size_t i = i0; i < i1; i++)
      x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
  }
}

void
cle_activation_range (float *x, size_t i0, size_t i1, ClipActivation act)
{
  activation_range (x, i0, i1, act);
}

/* Thread t's share. */
static void
activation_part (void *arg, int t, int T)
{
  const ActivationJob *job = arg;
  activation_range (job->x, job->n * t / T, job->n * (t + 1) / T, job->act);
}

void
cle_activation (float *x, size_t n, ClipActivation act, int n_threads)
{
  ActivationJob job = { x, n, act };
  cle_parallel (n >= 16384 ? n_threads : 1, activation_part, &job);
}
