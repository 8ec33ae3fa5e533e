/* adapter-merge.h - merging LoRA, IA3 and DoRA into a loaded model's
 * weights, and PEFT's saved base tensors (internal, adapter.c's). */
#ifndef CLE_ADAPTER_MERGE_H
#define CLE_ADAPTER_MERGE_H

#include "adapter.h"
#include "safetensors.h"

enum { TEXT, VISION };          /* tower index */

/* The Linear modules an adapter may change. */
typedef enum { MOD_Q, MOD_K, MOD_V, MOD_O, MOD_FC1, MOD_FC2, N_LAYER_MOD,
  MOD_PROJ = N_LAYER_MOD,       /* text_projection / visual_projection */
} ClipAdapterModule;

/* The tensors of one adapted Linear, as the weights file holds them. */
typedef struct {
  int tower, layer;             /* layer -1: the tower's projection */
  ClipAdapterModule mod;
  char *module;                 /* "text_model.encoder.layers.0.self_attn.q_proj" */
  const ClipTensor *A, *B, *bB, *m, *l; /* lora_A, lora_B, lora_B.bias,
                                         * DoRA magnitude, IA3 vector */
} ClipAdapterDelta;

struct ClipModel;

/* Checks d's shapes (r from cfg or PEFT's patterns, the module's in/out)
 * and values, and merges it into fp32 copies of the module's weight and
 * bias that the model owns. */
int cle_adapter_merge (struct ClipModel *m, const ClipAdapterConfig *cfg,
    const ClipAdapterDelta *d, ClipError *err);

/* PEFT: t ("base_model.model.<name>", ".base_layer" allowed) replaces the
 * model's tensor of that name (shape checked by the caller). */
int cle_adapter_replace (struct ClipModel *m, const ClipTensor *t,
    ClipError *err);

/* The slot of a bound base tensor of a loaded tower, by checkpoint name,
 * or NULL. */
const float **cle_adapter_base_slot (struct ClipModel *m, const char *name);

/* "[4, 48]" into buf */
void cle_adapter_shape_string (char *buf, size_t size, int n_dim,
    const int64_t *shape);

#endif
