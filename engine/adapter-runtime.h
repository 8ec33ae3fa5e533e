/* adapter-runtime.h - bottleneck adapters at run time (internal): the
 * blocks built at load from an adapters file, and the residual step of an
 * encoder layer that runs them. */
#ifndef CLE_ADAPTER_RUNTIME_H
#define CLE_ADAPTER_RUNTIME_H

#include <glib.h>

#include "adapter.h"
#include "safetensors.h"

/* One site (after attention: "mh", after the MLP: "output") of one layer:
 * A(u) = s * (up(act(down(LNb(u)))) + up_b), then the config's flags. */
typedef struct ClipBottleneck ClipBottleneck;

struct ClipModel;

/* The table add_key fills: "<tower> <layer> <site>" -> {param: tensor}. */
GHashTable *cle_bottleneck_keys_new (void);

/* Files one key, rest = "attention_adapters.adapters.<name>.<param>" or
 * "output_adapters...."; returns 0 when it is not a bottleneck parameter. */
int cle_bottleneck_add_key (GHashTable *keys, const char *name,
    const ClipTensor *t, int tower, int layer, const char *rest);

/* Checks the keys against cfg (sites, leave_out, reduction_factor, shapes,
 * finite values) and builds the blocks of the loaded towers into
 * *blocks, pointed at by the model's ClipLayerWeights (bn_mh, bn_out).
 * n_text: the text tower's layer count (global ids). */
int cle_bottleneck_build (ClipBottleneck **blocks, int *n_blocks,
    struct ClipModel *m, const ClipAdapterConfig *cfg, GHashTable *keys,
    int n_text, const int *loaded, const char *path, ClipError *err);

void cle_bottleneck_free (ClipBottleneck *blocks, int n_blocks);

/* Scratch floats cle_bottleneck_residual needs for rows rows. */
size_t cle_bottleneck_scratch (const ClipBottleneck *b, int rows);

/* x = BN(h, x): the residual step of a layer site, rows rows of width d
 * (x: residual in, output out; h: the sub-block output, overwritten). */
void cle_bottleneck_residual (const ClipBottleneck *b, float *x, float *h,
    int rows, float *scratch, int n_threads);

/* adapters' activation functions, by the config's resolved name. */
float cle_adapter_activation (ClipAdapterActivation act, float x);

/* Prefix tuning (adapter-prefix.c). add_key files a top-level key
 * "prefix_tuning.prefix_tunings.<name>.<location>.<param>" (returns 0 when
 * it is not one); build checks them against cfg (prefix_length,
 * bottleneck_size, the layers not left out per tower) and sets the prefix
 * keys and values of the loaded towers' layers (memory owned by m). */
int cle_prefix_add_key (GHashTable *keys, const char *name,
    const ClipTensor *t, const char *key);
int cle_prefix_build (struct ClipModel *m, const ClipAdapterConfig *cfg,
    GHashTable *keys, int n_text, const int *loaded, const char *path,
    ClipError *err);

#endif
