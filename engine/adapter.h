/* adapter.h - adapters of AdapterHub's `adapters` (1.2) and PEFT (0.20) on
 * a loaded model (internal): their adapter_config.json, the weights read,
 * checked and merged at load (LoRA, IA3, DoRA, PEFT overrides), and the
 * run-time blocks of bottleneck adapters. The formats and the exact math are
 * in docs/adapters.md. */
#ifndef CLE_ADAPTER_H
#define CLE_ADAPTER_H

#include "clip.h"

typedef enum {
  CLE_ADAPTER_LIB_ADAPTERS,     /* AdapterHub adapters: save_adapter */
  CLE_ADAPTER_LIB_PEFT,         /* PEFT: save_pretrained */
} ClipAdapterLibrary;

typedef enum {
  CLE_ADAPTER_BOTTLENECK,
  CLE_ADAPTER_LORA,
  CLE_ADAPTER_IA3,
  CLE_ADAPTER_DORA,
  CLE_ADAPTER_PREFIX,
} ClipAdapterMethod;

/* How adapters' layer ids (leave_out, reduction_factor keys) count. */
typedef enum {
  CLE_ADAPTER_IDS_GLOBAL,       /* CLIPModel: text 0..Lt-1, vision Lt.. */
  CLE_ADAPTER_IDS_TEXT,         /* CLIPTextModel*: text layers from 0 */
  CLE_ADAPTER_IDS_VISION,       /* CLIPVisionModel*: vision layers from 0 */
  CLE_ADAPTER_IDS_PER_TOWER,    /* PEFT: layers.N of each tower */
} ClipAdapterIds;

/* Activations of bottleneck adapters (adapters' Activation_Function_Class). */
typedef enum {
  CLE_ADAPTER_ACT_RELU, CLE_ADAPTER_ACT_SILU, CLE_ADAPTER_ACT_GELU,
  CLE_ADAPTER_ACT_GELU_TANH, CLE_ADAPTER_ACT_QUICK_GELU, CLE_ADAPTER_ACT_TANH,
  CLE_ADAPTER_ACT_SIGMOID, CLE_ADAPTER_ACT_LINEAR, CLE_ADAPTER_ACT_LEAKY_RELU,
  CLE_ADAPTER_ACT_RELU6, CLE_ADAPTER_ACT_MISH,
} ClipAdapterActivation;

typedef enum {
  CLE_ADAPTER_SCALING_FIXED,    /* a number */
  CLE_ADAPTER_SCALING_LEARNED,  /* tensor 'scaling' [1] */
  CLE_ADAPTER_SCALING_CHANNEL,  /* tensor 'scaling' [d] */
} ClipAdapterScaling;

/* A PEFT {pattern: value} dict, in file order. */
typedef struct {
  char **keys;
  double *values;
  int n;
} ClipAdapterPatterns;

/* adapter_config.json, parsed and checked. */
typedef struct {
  char *path;                   /* of adapter_config.json */
  char *name;                   /* the adapter's name ("default" for PEFT) */
  char *model_class;            /* as saved, or NULL */
  ClipAdapterLibrary library;
  ClipAdapterMethod method;
  ClipAdapterIds ids;
  int *leave_out, n_leave_out;  /* adapters: ids without an adapter */

  /* LoRA / IA3 / DoRA of adapters */
  int r;
  double alpha;                 /* after the version fix */
  int selfattn, intermediate, output;   /* sites */
  int attn_q, attn_k, attn_v;   /* attn_matrices */

  /* PEFT */
  char **targets;               /* list targets, or NULL */
  char *target_regex;           /* a string target_modules (fullmatch) */
  char **exclude;               /* list, or NULL */
  char *exclude_regex;
  char **feedforward;           /* IA3 feedforward_modules (list) */
  char *feedforward_regex;
  int *layers_to_transform, n_layers_to_transform;      /* -1: all */
  ClipAdapterPatterns rank_pattern, alpha_pattern;
  double lora_alpha;
  int use_rslora, lora_bias, use_dora;
  char *bias;                   /* "none", "all", "lora_only" */
  char **modules_to_save;

  /* bottleneck */
  int mh_adapter, output_adapter, is_parallel;
  int original_ln_before, original_ln_after, residual_before_ln;
  int adapter_residual_before_ln, ln_before, ln_after;
  ClipAdapterActivation act;
  ClipAdapterScaling scaling_kind;
  double scaling;
  double reduction_factor;      /* when a number */
  ClipAdapterPatterns reduction_map;    /* when a mapping: "id"/"default" */

  /* prefix tuning */
  int prefix_length, bottleneck_size, flat;
} ClipAdapterConfig;

/* Reads dir/adapter_config.json of either library into cfg (cleared first;
 * release with cle_adapter_config_clear). Unknown or unsupported methods and
 * options are CLE_ERROR_UNSUPPORTED naming them. */
int cle_adapter_config_load (ClipAdapterConfig *cfg, const char *dir,
    ClipError *err);
void cle_adapter_config_clear (ClipAdapterConfig *cfg);

/* "lora", "ia3", ... */
const char *cle_adapter_method_name (ClipAdapterMethod method);

/* PEFT's matching of a module name (relative to CLIPModel, e.g.
 * "vision_model.encoder.layers.3.mlp.fc1") against a list (name equal to an
 * entry or ending in "." + entry) or a regex (full match). */
int cle_adapter_name_matches (const char *name, char *const *list,
    const char *regex);

typedef struct ClipAdapter ClipAdapter;
struct ClipModel;

/* Loads the adapter in dir and applies it to m, whose fp32 weights are
 * bound and not yet converted: merged methods change (copies of) the
 * weights, bottleneck adapters become run-time blocks of the layers. On
 * error m is unchanged apart from copies it owns, and err names the file,
 * tensor, expected and actual values. */
int cle_adapter_apply (struct ClipModel *m, const char *dir, ClipError *err);
void cle_adapter_free (ClipAdapter *adapter);

/* sha256 of the adapter's config and weight files (for the text cache). */
const char *cle_adapter_fingerprint (const ClipAdapter *adapter);
/* "lora (adapters 'name')" */
const char *cle_adapter_description (const ClipAdapter *adapter);

#endif
