/* safetensors.h - the safetensors file format only: memory-mapped files, the
 * JSON header, tensor lookup, sharded checkpoints. Knows nothing of CLIP. */
#ifndef CLE_SAFETENSORS_H
#define CLE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

#define CLE_SAFETENSORS_MAX_DIMS 8

typedef enum {
  CLE_DTYPE_F32, CLE_DTYPE_F16, CLE_DTYPE_BF16, CLE_DTYPE_F64,
  CLE_DTYPE_I64, CLE_DTYPE_I32, CLE_DTYPE_I16, CLE_DTYPE_I8,
  CLE_DTYPE_U8, CLE_DTYPE_BOOL,
} ClipDtype;

typedef struct {
  const char *name;
  ClipDtype dtype;
  int n_dim;
  int64_t shape[CLE_SAFETENSORS_MAX_DIMS];
  int64_t n_elements;
  const void *data;             /* inside the mapping; may be unaligned */
  size_t n_bytes;
  const char *path;             /* the file it lives in */
} ClipTensor;

typedef struct ClipSafetensors ClipSafetensors;

/* Opens one .safetensors file, or, when path ends in ".index.json", a sharded
 * checkpoint (cle_safetensors_open_index with safetensors shards).
 * The whole header is validated: dtypes, shapes, offsets inside the data and
 * not overlapping. Errors name the file and the tensor. */
int cle_safetensors_open (ClipSafetensors **out, const char *path,
    ClipError *err);
void cle_safetensors_free (ClipSafetensors *st);

/* Opens one shard as a set of its own (cle_safetensors_open,
 * cle_torch_zip_open). */
typedef int (*ClipShardOpen) (ClipSafetensors **out, const char *path,
    ClipError *err);

/* A sharded checkpoint as Hugging Face writes it: an index
 * (model.safetensors.index.json, pytorch_model.bin.index.json) whose
 * "weight_map" maps each tensor name to a shard file in the index's
 * directory, every shard opened with open_shard (NULL: safetensors). All
 * the tensors of all the shards make one set. CLE_ERROR_FORMAT for a shard
 * name with a folder in it or "..", a tensor listed in the index but not in
 * the shard it names, a tensor in two shards; a shard's own errors as its
 * opener gives them (CLE_ERROR_IO naming a missing one). */
int cle_safetensors_open_index (ClipSafetensors **out, const char *index_path,
    ClipShardOpen open_shard, ClipError *err);

/* NULL when absent. The tensor lives as long as st. */
const ClipTensor *cle_safetensors_find (const ClipSafetensors *st,
    const char *name);

/* Every tensor, sorted by name, in a new array of n pointers (g_free it;
 * the tensors live as long as st). */
const ClipTensor **cle_safetensors_list (const ClipSafetensors *st, int *n);

/* For other containers of tensors (torch-zip.c): an empty set, a mapped
 * file it keeps alive (it takes the reference), and a tensor added under
 * name (copied) whose fields the caller fills in; a name added twice is the
 * same tensor. path is the file the tensor lives in (copied). */
ClipSafetensors *cle_safetensors_new (void);
void cle_safetensors_keep_mapping (ClipSafetensors *st, void *mapped_file);
/* ... or a g_malloc'ed buffer it frees (tensors decompressed from a zip). */
void cle_safetensors_keep_buffer (ClipSafetensors *st, void *buffer);
ClipTensor *cle_safetensors_add (ClipSafetensors *st, const char *name,
    const char *path);

/* "F32", "F16", ... */
const char *cle_dtype_name (ClipDtype dtype);
size_t cle_dtype_size (ClipDtype dtype);

/* Decodes n elements of a floating tensor (F32/F16/BF16/F64) to float32.
 * Exact for F16/BF16 (every value is representable). */
void cle_tensor_to_f32 (float *out, const ClipTensor *t);

#endif
