/* encoder.h - the transformer block both towers share (internal). */
#ifndef CLE_ENCODER_H
#define CLE_ENCODER_H

#include "context.h"

/* Runs one layer on ctx->x: (rows, width), n_seq sequences described by
 * ctx->seq_start / ctx->seq_len; uses ctx->h, q, k, v, att, mlp as scratch. */
void cle_encoder_layer (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, int n_seq, int causal);

/* The same layer for the first token of each sequence (all of equal length
 * seq_len) only: what the vision tower's last layer needs for its class
 * token. The other rows of ctx->x are left stale. */
void cle_encoder_layer_first_token (ClipContext *ctx,
    const ClipLayerWeights *w, const ClipTowerConfig *c, int n_seq,
    int seq_len);

#endif
