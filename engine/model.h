/* model.h - the loaded model (internal): hyper-parameters from config.json,
 * weight pointers bound and shape-checked at load, tokenizer, preprocessing. */
#ifndef CLE_MODEL_H
#define CLE_MODEL_H

#include "clip.h"
#include "ops/quantized.h"
#include "preprocess.h"
#include "safetensors.h"
#include "tokenizer.h"

typedef enum {
  CLE_ACT_QUICK_GELU,           /* x * sigmoid(1.702 x), OpenAI's */
  CLE_ACT_GELU,                 /* exact erf GELU */
} ClipActivation;

/* One tower's hyper-parameters (CLIPVisionConfig / CLIPTextConfig). */
typedef struct {
  int width, n_layer, n_head, mlp;
  float eps;
  ClipActivation act;
  /* vision */
  int image_size, patch_size, n_channels;
  /* text */
  int vocab_size, context_length, eos_token_id;
  int pool_at_argmax;           /* legacy eos_token_id == 2 configs */
} ClipTowerConfig;

typedef struct {
  unsigned towers;
  int projection_dim;
  ClipTowerConfig vision, text;
} ClipConfig;

/* Keys and values that precede every sequence in a layer's attention
 * (adapters' prefix tuning): n positions, k and v: (n_head, n, d_head);
 * every query sees them all. */
typedef struct
{
  int n;
  const float *k, *v;
} ClipPrefix;

/* Weights of one pre-LayerNorm transformer block. Linear weights are
 * (out, in) row-major as PyTorch stores them; sgemm reads them transposed. */
typedef struct {
  const float *ln1_w, *ln1_b;           /* (D) */
  const float *q_w, *k_w, *v_w, *o_w;   /* (D, D) */
  const float *q_b, *k_b, *v_b, *o_b;   /* (D) */
  const float *ln2_w, *ln2_b;           /* (D) */
  const float *fc1_w, *fc1_b;           /* (M, D), (M) */
  const float *fc2_w, *fc2_b;           /* (D, M), (D) */
  /* The same Linear weights converted for a bf16/int8 model, else NULL. */
  const ClipPackedWeight *q_p, *k_p, *v_p, *o_p, *fc1_p, *fc2_p;
  /* Bottleneck adapters replacing x + h after attention and after the MLP
   * (adapter-runtime.h), else NULL. */
  const struct ClipBottleneck *bn_mh, *bn_out;
  /* Prefix-tuning keys and values (n 0: none), computed at load. */
  ClipPrefix prefix;
} ClipLayerWeights;

typedef struct {
  const float *patch_w;         /* (D, C*P*P): the conv kernel as a matrix */
  const ClipPackedWeight *patch_p;      /* converted, or NULL */
  const float *class_emb;       /* (D) */
  const float *pos_emb;         /* (1 + (S/P)^2, D) */
  const float *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;     /* (D) */
  const float *proj;            /* (projection_dim, D) */
  ClipLayerWeights *layers;     /* n_layer */
} ClipVisionWeights;

typedef struct {
  const float *tok_emb;         /* (vocab, D) */
  const float *pos_emb;         /* (context_length, D) */
  const float *final_ln_w, *final_ln_b;  /* (D) */
  const float *proj;            /* (projection_dim, D) */
  ClipLayerWeights *layers;
} ClipTextWeights;

struct ClipModel {
  char *dir;
  ClipConfig config;
  float logit_scale;            /* the trained tensor, before exp */
  int has_logit_scale;
  ClipVisionWeights vision;
  ClipTextWeights text;
  ClipTokenizer *tokenizer;     /* text tower only */
  ClipPreprocessConfig preprocess;
  ClipSafetensors *weights;
  void **owned;                 /* float32 copies of F16/BF16/unaligned data */
  int n_owned;
  char dtype[8];
  ClipPrecision precision;
  ClipKernel kernel;            /* runs the products (CLE_KERNEL_FP32: no
                                 * converted weights, whatever precision) */
  ClipPackedWeight *packed;     /* n_packed weights converted at load */
  int n_packed;
  struct ClipAdapter *adapter;  /* applied at load, or NULL */
};

/* config.json -> ClipConfig, for the towers asked; errors name the file and
 * the key. Also reads the single-tower configs of
 * CLIPVisionModelWithProjection / CLIPTextModelWithProjection. */
int cle_config_load (ClipConfig *cfg, const char *path, unsigned towers,
    ClipError *err);

/* preprocessor_config.json -> ClipPreprocessConfig; a missing file gives
 * the OpenAI defaults for image_size. */
int cle_preprocess_config_load (ClipPreprocessConfig *cfg, const char *path,
    int image_size, ClipError *err);

#endif
