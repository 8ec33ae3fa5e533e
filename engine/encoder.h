/* encoder.h - the transformer block both towers share (internal). */
#ifndef CLE_ENCODER_H
#define CLE_ENCODER_H

#include "context.h"

/* Runs one layer on ctx->x: (rows, width), n_seq sequences described by
 * ctx->seq_start / ctx->seq_len; uses ctx->h, q, k, v, att, mlp as scratch. */
void cle_encoder_layer (ClipContext *ctx, const ClipLayerWeights *w,
    const ClipTowerConfig *c, int rows, int n_seq, int causal);

#endif
