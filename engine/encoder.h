/* encoder.h - the transformer block both towers share (internal). */
#ifndef CLE_ENCODER_H
#define CLE_ENCODER_H

#include "context.h"
#include "ops/ops.h"

/* y = x @ w^T + b (y: (n, n_out), x: (n, n_in), dense) in the model's
 * precision: packed, its converted copy of w, when the model has one. */
void cle_encoder_linear (ClipContext *ctx, float *y, const float *x,
    const float *w, const ClipPackedWeight *packed, const float *b, int n,
    int n_in, int n_out);

/* Runs one layer on ctx->x: (rows, width), the rows of the sequences seqs;
 * uses ctx->h, q, k, v, att, mlp as scratch. */
void cle_encoder_layer (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, const ClipSequences *seqs,
    int causal);

/* The same layer for one row of each sequence only, pooled[s] (a row of
 * ctx->x, distinct for each s): what the last layer of a tower needs for
 * its pooled token (the vision class token, the text end token, which is
 * last in its sequence). The other rows of ctx->x are left stale. */
void cle_encoder_layer_pooled (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, const ClipSequences *seqs,
    const int *pooled);

#endif
