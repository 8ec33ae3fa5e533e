/* context.h - per-caller state (internal): scratch memory allocated once for
 * the largest batch, and the recorded hidden states of the debugging hook. */
#ifndef CLE_CONTEXT_H
#define CLE_CONTEXT_H

#include <glib.h>

#include "model.h"
#include "preprocess.h"

struct ClipContext {
  const ClipModel *model;
  int n_threads;                /* resolved: never 0 */
  int max_images, max_texts;

  /* Activations, sized for the larger of the two towers' batches. */
  float *x, *h, *q, *k, *v, *att;       /* (rows, width) */
  float *mlp;                   /* (rows, mlp width) */
  float *patches;               /* (n_patch, C*P*P) of one image */
  float *attn_scratch;
  float *adapter_scratch;       /* bottleneck adapters (adapter-runtime.h) */
  float *pixels;                /* (max_images, 3, S, S) for encode_frames */
  /* Per sequence of a batch: its positions (see ClipSequences). */
  int *seq_start, *seq_len, *first_query;
  int *row_of;                  /* per position: its row of x */
  /* The sequences whose pooled row is their own, and those rows. */
  int *pool_start, *pool_len;
  int *pooled;
  ClipPreprocessScratch *preprocess;

  /* Vision-only contexts, one thread each, that share batches of at least
   * two images per thread (context.c); NULL with one thread. */
  struct ClipContext **lanes;
  int n_lanes;

  int keep_states;
  int recording;                /* keep_states, and this is the first chunk */
  GHashTable *states;           /* name -> GArray of float */
};

/* Records n floats under name when keep_states is on. */
void cle_context_keep (ClipContext *ctx, const char *name, const float *data,
    size_t n);

/* The towers' forward passes on at most max_images / max_texts items. */
void cle_vision_forward (ClipContext *ctx, const float *pixel_values,
    int n_images, float *embeds);
void cle_text_forward (ClipContext *ctx, const int32_t *const *ids,
    const int *n_ids, int n_texts, float *embeds);

/* order[0..n) = the prompts' indices in lexicographic order of their ids
 * (len[s] of prompt s), which brings prompts that begin alike together. */
void cle_text_sort (const int32_t *const *ids, const int *len, int n,
    int *order);

#endif
