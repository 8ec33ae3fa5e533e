/* encoder.c - one pre-LayerNorm transformer block (HF CLIPEncoderLayer),
 * shared by both towers:
 *   x += out_proj(attention(q_proj(ln1(x)), k_proj(..), v_proj(..)))
 *   x += fc2(act(fc1(ln2(x)))) */
#include <string.h>

#include "adapter-runtime.h"
#include "context.h"
#include "encoder.h"
#include "ops/ops.h"

void
cle_encoder_linear (ClipContext *ctx, float *y, const float *x,
    const float *w, const ClipPackedWeight *packed, const float *b, int n,
    int n_in, int n_out)
{
  if (packed)
    cle_linear_quantized (&y, x, &packed, &b, 1, n, 0, 0, ctx->n_threads);
  else
    cle_linear (y, x, w, b, n, n_in, n_out, 0, 0, ctx->n_threads);
}

typedef struct
{
  float *x;
  const float *y;
  size_t n;
} AddJob;

static void
add_part (void *arg, int t, int T)
{
  const AddJob *job = arg;
  for (size_t i = job->n * t / T; i < job->n * (t + 1) / T; i++)
    job->x[i] += job->y[i];
}

static void
add_inplace (float *x, const float *y, size_t n, int n_threads)
{
  AddJob job = { x, y, n };
  cle_parallel (n >= 65536 ? n_threads : 1, add_part, &job);
}

/* x += h if add_h (the residual add of the block before), h =
 * LayerNorm(x) * g + b, then the n_proj projections of h (x, h: (n,
 * n_in)): for quantized weights in one pass over the rows, each row added
 * and normalized just before it is converted. */
static void
norm_then_linear_multi (ClipContext *ctx, float *const *y, float *h,
    float *x, int add_h, const float *g, const float *beta, float eps,
    const float *const *w, const ClipPackedWeight *const *packed,
    const float *const *b, int n_proj, int n, int n_in, int n_out)
{
  if (packed[0]) {
    const ClipRowPrepare prep = {
      .op = add_h ? CLE_PREPARE_ADD_LAYER_NORM : CLE_PREPARE_LAYER_NORM,
      .x = h, .src = x, .g = g, .b = beta, .eps = eps,
    };
    cle_linear_quantized_prepared (y, &prep, packed, b, n_proj, n,
        ctx->n_threads);
    return;
  }
  if (add_h)
    add_inplace (x, h, (size_t) n * n_in, ctx->n_threads);
  cle_layer_norm (h, x, g, beta, n, n_in, eps, ctx->n_threads);
  if (n_proj == 1)
    cle_linear (y[0], h, w[0], b[0], n, n_in, n_out, 0, 0, ctx->n_threads);
  else
    cle_linear_multi (y, h, w, b, n_proj, n, n_in, n_out, ctx->n_threads);
}

/* x = act(x), then y = x @ w^T + b (x: (n, n_in)); for quantized weights
 * in one pass, as above. */
static void
activate_then_linear (ClipContext *ctx, float *y, float *x,
    ClipActivation act, const float *w, const ClipPackedWeight *packed,
    const float *b, int n, int n_in, int n_out)
{
  if (packed) {
    const ClipRowPrepare prep = {
      .op = CLE_PREPARE_ACTIVATION, .x = x, .act = act,
    };
    cle_linear_quantized_prepared (&y, &prep, &packed, &b, 1, n,
        ctx->n_threads);
    return;
  }
  cle_activation (x, (size_t) n * n_in, act, ctx->n_threads);
  cle_linear (y, x, w, b, n, n_in, n_out, 0, 0, ctx->n_threads);
}

/* x += h, or a bottleneck adapter's x = BN(h, x) (x, h: (rows, D)) */
static void
residual (ClipContext *ctx, const ClipBottleneck *bn, float *x, float *h,
    int rows, int D)
{
  if (bn)
    cle_bottleneck_residual (bn, x, h, rows, ctx->adapter_scratch,
        ctx->n_threads);
  else
    add_inplace (x, h, (size_t) rows * D, ctx->n_threads);
}

/* x += h if add_h, then h = fc2(act(fc1(ln2(x)))), through ctx->mlp (x,
 * h: (rows, D)) */
static void
mlp (ClipContext *ctx, const ClipLayerWeights *w, const ClipTowerConfig *c,
    float *x, int add_h, int rows)
{
  const int D = c->width, M = c->mlp;
  const float *fc1_w[1] = { w->fc1_w }, *fc1_b[1] = { w->fc1_b };
  const ClipPackedWeight *fc1_p[1] = { w->fc1_p };
  float *const out[1] = { ctx->mlp };
  norm_then_linear_multi (ctx, out, ctx->h, x, add_h, w->ln2_w, w->ln2_b,
      c->eps, fc1_w, fc1_p, fc1_b, 1, rows, D, M);
  activate_then_linear (ctx, ctx->h, ctx->mlp, c->act, w->fc2_w, w->fc2_p,
      w->fc2_b, rows, M, D);
}

void
cle_encoder_layer (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, const ClipSequences *seqs,
    int causal)
{
  const int D = c->width, nt = ctx->n_threads;

  /* x: (rows, D) -> h = ln1(x) -> q, k, v: (rows, D) */
  float *const qkv[3] = { ctx->q, ctx->k, ctx->v };
  const float *const qkv_w[3] = { w->q_w, w->k_w, w->v_w };
  const ClipPackedWeight *const qkv_p[3] = { w->q_p, w->k_p, w->v_p };
  const float *const qkv_b[3] = { w->q_b, w->k_b, w->v_b };
  norm_then_linear_multi (ctx, qkv, ctx->h, ctx->x, 0, w->ln1_w, w->ln1_b,
      c->eps, qkv_w, qkv_p, qkv_b, 3, rows, D, D);
  if (w->prefix.n)
    cle_attention_prefix (ctx->att, ctx->q, ctx->k, ctx->v, seqs, &w->prefix,
        c->n_head, D / c->n_head, causal, 0, ctx->attn_scratch, nt);
  else
    cle_attention (ctx->att, ctx->q, ctx->k, ctx->v, seqs, c->n_head,
        D / c->n_head, causal, ctx->attn_scratch, nt);
  cle_encoder_linear (ctx, ctx->h, ctx->att, w->o_w, w->o_p, w->o_b, rows, D,
      D);
  /* x += h (a bottleneck adapter's residual on its own), h = ln2(x) ->
   * mlp: (rows, M) -> h: (rows, D) */
  if (w->bn_mh)
    residual (ctx, w->bn_mh, ctx->x, ctx->h, rows, D);
  mlp (ctx, w, c, ctx->x, !w->bn_mh, rows);
  residual (ctx, w->bn_out, ctx->x, ctx->h, rows, D);
}

/* rows pooled[s] of src into row s of dst */
static void
gather_rows (float *dst, const float *src, const int *pooled, int n_seq,
    int D)
{
  for (int s = 0; s < n_seq; s++)
    memcpy (dst + (size_t) s * D, src + (size_t) pooled[s] * D,
        D * sizeof (float));
}

/* rows pooled[s] of x += row s of h, or through a bottleneck adapter with
 * the rows gathered into r: (n_seq, D) (its content is lost) */
static void
add_rows (ClipContext *ctx, const ClipBottleneck *bn, float *x, float *h,
    float *r, const int *pooled, int n_seq, int D)
{
  if (bn) {
    gather_rows (r, x, pooled, n_seq, D);
    cle_bottleneck_residual (bn, r, h, n_seq, ctx->adapter_scratch,
        ctx->n_threads);
    for (int s = 0; s < n_seq; s++)
      memcpy (x + (size_t) pooled[s] * D, r + (size_t) s * D,
          D * sizeof (float));
    return;
  }
  for (int s = 0; s < n_seq; s++)
    add_inplace (x + (size_t) pooled[s] * D, h + (size_t) s * D, D, 1);
}

void
cle_encoder_layer_pooled (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, const ClipSequences *seqs,
    const int *pooled)
{
  const int D = c->width, nt = ctx->n_threads;
  const int n_seq = seqs->n_seq;

  /* Keys and values of every token; the query of the pooled ones only.
   * From q on, (n_seq, D) buffers: q, att (the gathered rows, then the
   * attention output), h. */
  float *const kv[2] = { ctx->k, ctx->v };
  const float *const kv_w[2] = { w->k_w, w->v_w };
  const ClipPackedWeight *const kv_p[2] = { w->k_p, w->v_p };
  const float *const kv_b[2] = { w->k_b, w->v_b };
  norm_then_linear_multi (ctx, kv, ctx->h, ctx->x, 0, w->ln1_w, w->ln1_b,
      c->eps, kv_w, kv_p, kv_b, 2, rows, D, D);
  gather_rows (ctx->att, ctx->h, pooled, n_seq, D);
  cle_encoder_linear (ctx, ctx->q, ctx->att, w->q_w, w->q_p, w->q_b, n_seq,
      D, D);
  if (w->prefix.n)
    cle_attention_prefix (ctx->att, ctx->q, ctx->k, ctx->v, seqs, &w->prefix,
        c->n_head, D / c->n_head, 0, 1, ctx->attn_scratch, nt);
  else
    cle_attention_pooled (ctx->att, ctx->q, ctx->k, ctx->v, seqs, c->n_head,
        D / c->n_head, ctx->attn_scratch, nt);
  cle_encoder_linear (ctx, ctx->h, ctx->att, w->o_w, w->o_p, w->o_b, n_seq,
      D, D);
  add_rows (ctx, w->bn_mh, ctx->x, ctx->h, ctx->att, pooled, n_seq, D);

  gather_rows (ctx->att, ctx->x, pooled, n_seq, D);
  mlp (ctx, w, c, ctx->att, 0, n_seq);
  add_rows (ctx, w->bn_out, ctx->x, ctx->h, ctx->att, pooled, n_seq, D);
}
