/* score.c - CLIP's zero-shot scores: cosine similarity, logits
 * (exp(logit_scale) * cosine, as logits_per_image) and their softmax,
 * accumulated in double. */
#include <math.h>

#include <glib.h>

#include "error.h"
#include "model.h"

static double
norm (const float *x, int n)
{
  double s = 0.0;
  for (int i = 0; i < n; i++)
    s += (double) x[i] * x[i];
  return sqrt (s);
}

int
cle_model_score (const ClipModel *m, const float *image_embed,
    const float *text_embeds, int n_text, float *logits, float *probs,
    float *cosines, ClipError *err)
{
  cle_error_clear (err);
  if (!m || !image_embed || !text_embeds || n_text < 1)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_model_score: NULL argument or n_text %d < 1", n_text);
  const int P = m->config.projection_dim;
  const double scale = exp ((double) m->logit_scale);
  double image_norm = norm (image_embed, P), max = -INFINITY;
  /* The logits go through probs (when asked for) so nothing is allocated per
   * frame; the softmax is computed from them in double. */
  for (int t = 0; t < n_text; t++) {
    const float *e = text_embeds + (size_t) t * P;
    double dot = 0.0, denom = image_norm * norm (e, P);
    for (int i = 0; i < P; i++)
      dot += (double) image_embed[i] * e[i];
    double cosine = denom > 0.0 ? dot / denom : 0.0;
    double z = scale * cosine;
    max = MAX (max, z);
    if (cosines)
      cosines[t] = (float) cosine;
    if (logits)
      logits[t] = (float) z;
    if (probs)
      probs[t] = (float) z;
  }
  if (probs) {
    double sum = 0.0;
    for (int t = 0; t < n_text; t++)
      sum += exp ((double) probs[t] - max);
    for (int t = 0; t < n_text; t++)
      probs[t] = (float) (exp ((double) probs[t] - max) / sum);
  }
  return CLE_OK;
}
