/* text.c - the text tower (HF CLIPTextTransformer + text_projection). Each
 * prompt is computed only up to its pooled (end) token: the mask is causal,
 * so later positions cannot change it. For the same reason a position
 * depends only on the tokens up to it, so prompts that begin alike (the
 * "a photo of a" of a template) share those rows: each prompt shares the
 * prefix it has in common with the one before it (context.c sorts them so
 * that alike prompts follow each other), and only its remaining tokens get
 * rows of their own. */
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

typedef struct
{
  const int32_t *const *ids;
  const int *len;
} Prompts;

/* Lexicographic order of the prompts' ids. */
static gint
compare_prompts (gconstpointer a, gconstpointer b, gpointer data)
{
  const Prompts *p = data;
  const int s = *(const int *) a, t = *(const int *) b;
  const int n = MIN (p->len[s], p->len[t]);
  for (int i = 0; i < n; i++)
    if (p->ids[s][i] != p->ids[t][i])
      return p->ids[s][i] < p->ids[t][i] ? -1 : 1;
  return p->len[s] - p->len[t];
}

void
cle_text_sort (const int32_t *const *ids, const int *len, int n, int *order)
{
  const Prompts prompts = { ids, len };
  for (int s = 0; s < n; s++)
    order[s] = s;
  g_qsort_with_data (order, n, sizeof (int), compare_prompts,
      (gpointer) & prompts);
}

static int
common_prefix (const int32_t *a, int len_a, const int32_t *b, int len_b)
{
  int n = 0;
  while (n < len_a && n < len_b && a[n] == b[n])
    n++;
  return n;
}

/* Lays the batch out in ctx: positions, the rows they map to, the token +
 * position embedding of each row in ctx->x, and the *n_pool sequences that
 * own their pooled row. Returns the number of rows; the first prompt's are
 * rows 0..len-1 (the recorded hidden states). */
static int
layout (ClipContext *ctx, const int32_t *const *ids, const int *n_ids,
    int n_texts, int *n_pool)
{
  const ClipTowerConfig *c = &ctx->model->config.text;
  const ClipTextWeights *w = &ctx->model->text;
  const int D = c->width;
  int positions = 0;
  for (int s = 0; s < n_texts; s++) {
    ctx->seq_start[s] = positions;
    ctx->seq_len[s] = pool_index (c, ids[s], n_ids[s]) + 1;
    positions += ctx->seq_len[s];
  }

  int rows = 0;
  for (int s = 0; s < n_texts; s++) {
    const int len = ctx->seq_len[s];
    int *row_of = ctx->row_of + ctx->seq_start[s];
    int shared = 0;
    if (s > 0) {
      shared = common_prefix (ids[s - 1], ctx->seq_len[s - 1], ids[s], len);
      memcpy (row_of, ctx->row_of + ctx->seq_start[s - 1],
          shared * sizeof (int));
    }
    ctx->first_query[s] = shared;
    for (int i = shared; i < len; i++) {
      row_of[i] = rows;
      float *xr = ctx->x + (size_t) rows++ * D;
      const float *tok = w->tok_emb + (size_t) ids[s][i] * D;
      const float *pos = w->pos_emb + (size_t) i * D;
      for (int j = 0; j < D; j++)
        xr[j] = tok[j] + pos[j];
    }
  }

  /* A prompt whose end row is shared is a duplicate of an earlier one. */
  int n = 0;
  for (int s = 0; s < n_texts; s++)
    if (ctx->first_query[s] < ctx->seq_len[s]) {
      ctx->pool_start[n] = ctx->seq_start[s];
      ctx->pool_len[n] = ctx->seq_len[s];
      ctx->pooled[n++] = ctx->row_of[ctx->seq_start[s] + ctx->seq_len[s] - 1];
    }
  *n_pool = n;
  return rows;
}

void
cle_text_forward (ClipContext *ctx, const int32_t *const *ids,
    const int *n_ids, int n_texts, float *embeds)
{
  const ClipModel *m = ctx->model;
  const ClipTowerConfig *c = &m->config.text;
  const ClipTextWeights *w = &m->text;
  const int D = c->width, nt = ctx->n_threads;

  /* x: (rows, D) = token + position embeddings */
  int n_pool;
  const int rows = layout (ctx, ids, n_ids, n_texts, &n_pool);
  const size_t first = (size_t) ctx->seq_len[0] * D;
  cle_context_keep (ctx, "text_hidden_0", ctx->x, first);

  const ClipSequences seqs = { n_texts, ctx->seq_start, ctx->seq_len,
    ctx->row_of, ctx->first_query
  };
  const ClipSequences pool_seqs = { n_pool, ctx->pool_start, ctx->pool_len,
    ctx->row_of, NULL
  };
  for (int l = 0; l < c->n_layer; l++) {
    /* Only the end tokens of the last layer are pooled (unless hidden
     * states are being recorded). */
    if (l == c->n_layer - 1 && !ctx->recording) {
      cle_encoder_layer_pooled (ctx, &w->layers[l], c, rows, &pool_seqs,
          ctx->pooled);
      break;
    }
    cle_encoder_layer (ctx, &w->layers[l], c, rows, &seqs, 1);
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
    cle_layer_norm (ctx->h + (size_t) s * D, ctx->x
        + (size_t) ctx->row_of[ctx->seq_start[s] + ctx->seq_len[s] - 1] * D,
        w->final_ln_w, w->final_ln_b, 1, D, c->eps, 1);
  cle_context_keep (ctx, "text_pooled", ctx->h, D);
  cle_linear (embeds, ctx->h, w->proj, NULL, n_texts, D,
      m->config.projection_dim, 0, 0, nt);
}
