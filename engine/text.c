/* text.c - the text tower (HF CLIPTextTransformer + text_projection). Each
 * prompt is computed only up to its pooled (end) token: the mask is causal,
 * so later positions cannot change it. Prompts are packed row after row. */
#include <string.h>

#include "context.h"
#include "encoder.h"
#include "ops/ops.h"

/* HF's pooling: legacy configs (eos_token_id == 2) take argmax(ids), the
 * first end token; others the first position equal to eos_token_id (0 if
 * there is none, as torch's argmax of an all-false mask). */
static int
pool_index (const ClipTowerConfig *c, const int32_t *ids, int n)
{
  int best = 0;
  for (int i = 0; i < n; i++) {
    if (c->pool_at_argmax) {
      if (ids[i] > ids[best])
        best = i;
    } else if (ids[i] == c->eos_token_id) {
      return i;
    }
  }
  return best;
}

void
cle_text_forward (ClipContext *ctx, const int32_t *const *ids,
    const int *n_ids, int n_texts, float *embeds)
{
  const ClipModel *m = ctx->model;
  const ClipTowerConfig *c = &m->config.text;
  const ClipTextWeights *w = &m->text;
  const int D = c->width, nt = ctx->n_threads;

  /* x: (sum of lengths, D) = token + position embeddings */
  int rows = 0;
  for (int s = 0; s < n_texts; s++) {
    int len = pool_index (c, ids[s], n_ids[s]) + 1;
    ctx->seq_start[s] = rows;
    ctx->seq_len[s] = len;
    for (int i = 0; i < len; i++) {
      float *xi = ctx->x + (size_t) (rows + i) * D;
      const float *tok = w->tok_emb + (size_t) ids[s][i] * D;
      const float *pos = w->pos_emb + (size_t) i * D;
      for (int j = 0; j < D; j++)
        xi[j] = tok[j] + pos[j];
    }
    rows += len;
  }
  const size_t first = (size_t) ctx->seq_len[0] * D;
  cle_context_keep (ctx, "text_hidden_0", ctx->x, first);

  /* the end tokens: the last row of each prompt */
  int *pooled = ctx->pooled;
  for (int s = 0; s < n_texts; s++)
    pooled[s] = ctx->seq_start[s] + ctx->seq_len[s] - 1;
  for (int l = 0; l < c->n_layer; l++) {
    /* Only the end tokens of the last layer are pooled (unless hidden
     * states are being recorded). */
    if (l == c->n_layer - 1 && !ctx->recording) {
      cle_encoder_layer_pooled (ctx, &w->layers[l], c, rows, n_texts,
          pooled);
      break;
    }
    cle_encoder_layer (ctx, &w->layers[l], c, rows, n_texts, 1);
    char name[32];
    g_snprintf (name, sizeof name, "text_hidden_%d", l + 1);
    cle_context_keep (ctx, name, ctx->x, first);
  }

  if (ctx->recording) {
    cle_layer_norm (ctx->h, ctx->x, w->final_ln_w, w->final_ln_b,
        ctx->seq_len[0], D, c->eps, nt);
    cle_context_keep (ctx, "text_last_hidden_state", ctx->h, first);
  }
  /* pooled: (n_texts, D) = final_layer_norm of each end token */
  for (int s = 0; s < n_texts; s++)
    cle_layer_norm (ctx->h + (size_t) s * D,
        ctx->x + (size_t) (ctx->seq_start[s] + ctx->seq_len[s] - 1) * D,
        w->final_ln_w, w->final_ln_b, 1, D, c->eps, 1);
  cle_context_keep (ctx, "text_pooled", ctx->h, D);
  cle_linear (embeds, ctx->h, w->proj, NULL, n_texts, D,
      m->config.projection_dim, 0, 0, nt);
}
