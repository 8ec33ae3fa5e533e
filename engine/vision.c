/* vision.c - the vision tower (HF CLIPVisionTransformer + visual_projection):
 * patch embedding as one GEMM over im2col rows, class token, positions,
 * pre-LayerNorm, encoder layers, post-LayerNorm of the class token,
 * projection. Input is already preprocessed pixel values. */
#include <string.h>

#include "context.h"
#include "encoder.h"
#include "ops/ops.h"

/* patches: (G*G, C*P*P), rows in raster order of the patch grid, columns in
 * the conv kernel's (c, ky, kx) order. pixels: (C, S, S). */
static void
im2col (float *patches, const float *pixels, int C, int S, int P)
{
  const int G = S / P, K = C * P * P;
  for (int gy = 0; gy < G; gy++)
    for (int gx = 0; gx < G; gx++) {
      float *row = patches + (size_t) (gy * G + gx) * K;
      for (int c = 0; c < C; c++)
        for (int ky = 0; ky < P; ky++)
          memcpy (row + (c * P + ky) * P,
              pixels + ((size_t) c * S + gy * P + ky) * S + gx * P,
              P * sizeof (float));
    }
}

void
cle_vision_forward (ClipContext *ctx, const float *pixel_values,
    int n_images, float *embeds)
{
  const ClipModel *m = ctx->model;
  const ClipTowerConfig *c = &m->config.vision;
  const ClipVisionWeights *w = &m->vision;
  const int S = c->image_size, P = c->patch_size, C = c->n_channels;
  const int D = c->width, N = (S / P) * (S / P), T = N + 1;
  const int K = C * P * P, nt = ctx->n_threads;
  const int rows = n_images * T;

  /* x: (n_images * T, D): class token, then one row per patch */
  for (int b = 0; b < n_images; b++) {
    float *xb = ctx->x + (size_t) b * T * D;
    im2col (ctx->patches, pixel_values + (size_t) b * C * S * S, C, S, P);
    cle_encoder_linear (ctx, xb + D, ctx->patches, w->patch_w, w->patch_p,
        NULL, N, K, D);
    memcpy (xb, w->class_emb, D * sizeof (float));
    for (size_t i = 0; i < (size_t) T * D; i++)
      xb[i] += w->pos_emb[i];
    ctx->seq_start[b] = b * T;
    ctx->seq_len[b] = T;
  }
  cle_context_keep (ctx, "vision_embeddings", ctx->x, (size_t) T * D);
  cle_layer_norm (ctx->x, ctx->x, w->pre_ln_w, w->pre_ln_b, rows, D, c->eps,
      nt);
  cle_context_keep (ctx, "vision_hidden_0", ctx->x, (size_t) T * D);

  const ClipSequences seqs = { n_images, ctx->seq_start, ctx->seq_len,
    NULL, NULL
  };
  for (int l = 0; l < c->n_layer; l++) {
    /* Only the class token of the last layer is pooled: skip the others'
     * queries and MLP (unless hidden states are being recorded). */
    if (l == c->n_layer - 1 && !ctx->recording) {
      cle_encoder_layer_pooled (ctx, &w->layers[l], c, rows, &seqs,
          ctx->seq_start);
      break;
    }
    cle_encoder_layer (ctx, &w->layers[l], c, rows, &seqs, 0);
    char name[32];
    g_snprintf (name, sizeof name, "vision_hidden_%d", l + 1);
    cle_context_keep (ctx, name, ctx->x, (size_t) T * D);
  }

  /* pooled: (n_images, D) = post_layernorm of each class token */
  for (int b = 0; b < n_images; b++)
    cle_layer_norm (ctx->h + (size_t) b * D, ctx->x + (size_t) b * T * D,
        w->post_ln_w, w->post_ln_b, 1, D, c->eps, 1);
  cle_context_keep (ctx, "vision_pooled", ctx->h, D);
  cle_linear (embeds, ctx->h, w->proj, NULL, n_images, D,
      m->config.projection_dim, 0, 0, nt);
}
