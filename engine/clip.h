/*
 * clip.h - the public API of the gst-clip engine: Hugging Face CLIP checkpoints
 * loaded as published, run on the CPU (OpenBLAS + OpenMP). Plain C, no GLib.
 *
 * Usage (errors omitted for brevity; every call below returns CLE_OK or < 0):
 *
 *   ClipError err;
 *   ClipModel *model;
 *   ClipModelParams mp;
 *   cle_model_params_init (&mp);
 *   cle_model_load (&model, "/models/clip-vit-base-patch32", &mp, &err);
 *
 *   ClipContext *ctx;
 *   ClipContextParams cp;
 *   cle_context_params_init (&cp);
 *   cle_context_new (&ctx, model, &cp, &err);
 *
 *   ClipModelInfo info;
 *   cle_model_get_info (model, &info);
 *   float *text = malloc (2 * info.projection_dim * sizeof (float));
 *   const char *prompts[] = { "a photo of a dog", "a photo of a cat" };
 *   cle_encode_texts (ctx, prompts, 2, text, 2 * info.projection_dim, &err);
 *
 *   ClipFrame frame = { .format = CLE_PIXEL_RGB, .width = w, .height = h,
 *                       .planes = { rgb }, .strides = { 3 * w } };
 *   float image[512];
 *   cle_encode_frames (ctx, &frame, 1, image, info.projection_dim, &err);
 *
 *   float logits[2], probs[2];
 *   cle_model_score (model, image, text, 2, logits, probs, NULL, &err);
 *
 *   cle_context_free (ctx);
 *   cle_model_free (model);
 *
 * Threading: a ClipModel is read-only after load and may be shared by any number
 * of threads and contexts. A ClipContext holds the scratch memory of one caller
 * and must be used by one thread at a time.
 *
 * Ownership: every pointer argument is borrowed for the duration of the call
 * unless stated otherwise. Output buffers are the caller's, with their length
 * given in elements and checked.
 */
#ifndef CLIP_ENGINE_H
#define CLIP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CLE_BUILDING_ENGINE) && defined(__GNUC__)
#define CLE_API __attribute__ ((visibility ("default")))
#else
#define CLE_API
#endif

/* Status codes: 0 is success, every error is negative. */
#define CLE_STATUS_MAP(X)                                                     \
  X (OK, 0, "success")                                                        \
  X (ERROR_IO, -1, "file could not be opened or read")                        \
  X (ERROR_FORMAT, -2, "malformed file")                                      \
  X (ERROR_MODEL, -3, "model does not match its configuration")               \
  X (ERROR_INVALID_ARGUMENT, -4, "invalid argument")                          \
  X (ERROR_OUT_OF_MEMORY, -5, "out of memory")                                \
  X (ERROR_UNSUPPORTED, -6, "unsupported feature")

typedef enum {
#define CLE_STATUS_ENUM(name, value, text) CLE_##name = value,
  CLE_STATUS_MAP (CLE_STATUS_ENUM)
#undef CLE_STATUS_ENUM
} ClipStatus;

/* Filled by every fallible call when the caller passes one (NULL is allowed).
 * message names the file, tensor or value and both the expected and actual
 * values, e.g. "tensor 'vision_model.post_layernorm.weight': shape [512],
 * expected [768]". */
typedef struct {
  int code;
  char message[512];
} ClipError;

/* A short constant description of a status code. Never NULL. */
CLE_API const char *cle_status_string (int code);

/* ---------------------------------------------------------------- model -- */

typedef struct ClipModel ClipModel;

typedef enum {
  CLE_TOWER_VISION = 1 << 0,
  CLE_TOWER_TEXT = 1 << 1,
  CLE_TOWER_BOTH = CLE_TOWER_VISION | CLE_TOWER_TEXT,
} ClipTowers;

/* The arithmetic of the towers' matrix products (every Linear layer and the
 * patch embedding; attention, LayerNorm and the projections stay fp32).
 * Lower precisions convert the weights once at load and the activations per
 * call; they are faster and their embeddings differ slightly from the
 * reference (measured in test-quantized and docs/benchmarks.md). They ask
 * for speed, never for less of it: where no kernel of theirs beats fp32 on
 * the CPU (timed once per process at the first load), the model runs its
 * products in fp32 instead, with no converted copy. ClipModelInfo.kernel
 * names the kernel that runs. */
typedef enum {
  CLE_PRECISION_FP32,           /* as the reference */
  CLE_PRECISION_BF16,           /* bf16 operands, fp32 sums (AMX-BF16 or
                                 * AVX512_BF16) */
  CLE_PRECISION_INT8,           /* int8 per-column weights, per-row dynamic
                                 * activations, int32 sums (AMX-INT8 or
                                 * AVX512_VNNI) */
} ClipPrecision;

/* "fp32", "bf16", "int8" -> *out; returns 0 for anything else. */
CLE_API int cle_precision_from_string (const char *name, ClipPrecision *out);

typedef struct {
  /* Towers to load (default CLE_TOWER_BOTH). A tower that is not loaded is
   * never read from disk; a checkpoint with one tower only (e.g.
   * CLIPVisionModelWithProjection) must be loaded with that tower only. */
  unsigned towers;
  /* Default CLE_PRECISION_FP32. On a CPU without the instructions named
   * above, or where they are slower than fp32, the products run in fp32.
   * The environment variable CLE_KERNEL forces a kernel (for tests and
   * benchmarks): a comma-separated list of the names ClipModelInfo.kernel
   * gives, or "fp32"; the first that fits the precision wins. A name this
   * CPU cannot run, or no kernel's at all, fails the load
   * (CLE_ERROR_UNSUPPORTED, CLE_ERROR_INVALID_ARGUMENT). */
  ClipPrecision precision;
  /* An adapter directory to apply at load (default NULL: none), as
   * AdapterHub's adapters save_adapter() or PEFT's save_pretrained() write
   * it: adapter_config.json and adapter.safetensors,
   * adapter_model.safetensors, pytorch_adapter.bin or adapter_model.bin.
   * LoRA, IA3 and DoRA are merged into the weights (no cost per frame),
   * bottleneck adapters run in every layer they adapt. Applied before the
   * precision conversion. Unsupported methods (Compacter, gating, ReFT,
   * Vera, fusion, prefix tuning, ...) and adapters that do not fit the
   * model fail the load with an error naming the file, the tensor and the
   * values. The text-cache fingerprint covers the adapter. Details and
   * the exact semantics: docs/adapters.md. */
  const char *adapter_dir;
} ClipModelParams;

/* Fills params with the defaults documented in ClipModelParams. */
CLE_API void cle_model_params_init (ClipModelParams *params);

/* Loads a Hugging Face CLIP model directory: config.json, model.safetensors
 * (or model.safetensors.index.json and its shards), vocab.json + merges.txt
 * (text tower), preprocessor_config.json (vision tower; defaults to the
 * OpenAI values when absent). Checkpoints published only as
 * pytorch_model.bin (torch.save's zip format), single or sharded
 * (pytorch_model.bin.index.json), load too: the files are read, never
 * executed. Every tensor is checked against the config.
 * On success *out owns the model (free with cle_model_free). On error *out is
 * NULL and err says which file, tensor or value is wrong. */
CLE_API int cle_model_load (ClipModel **out, const char *dir,
    const ClipModelParams *params, ClipError *err);

CLE_API void cle_model_free (ClipModel *model);

typedef struct {
  unsigned towers;              /* the towers loaded */
  int projection_dim;           /* length of every embedding */
  float logit_scale;            /* exp(logit_scale tensor) */
  int has_logit_scale;          /* 0: single-tower checkpoint, 100 assumed */
  /* vision */
  int image_size, patch_size, width_vision, n_layer_vision, n_head_vision;
  int mlp_vision;
  /* text */
  int context_length, width_text, n_layer_text, n_head_text, mlp_text;
  int vocab_size;
  /* preprocessing */
  int resize_shortest_edge;     /* resize target of the short side */
  int crop_width, crop_height;  /* == image_size for published models */
  float image_mean[3], image_std[3];
  const char *weights_dtype;    /* "F32", "F16" or "BF16" (the first tensor's) */
  ClipPrecision precision;      /* as loaded */
  size_t quantized_bytes;       /* memory of the converted weights */
  /* The adapter applied at load, e.g. "lora (adapters 'name')", or NULL;
   * valid while the model lives. */
  const char *adapter;
  /* The kernel that runs the towers' matrix products, a static string:
   * "amx-bf16", "avx512-bf16", "c-bf16", "amx-int8", "avx512-int8",
   * "c-int8", or the fp32 one ("avx512-fp32", "avx2-fp32", "c-fp32",
   * "openblas-fp32"), also at a reduced precision that runs in fp32 on
   * this CPU (quantized_bytes is then 0). */
  const char *kernel;
} ClipModelInfo;

CLE_API int cle_model_get_info (const ClipModel *model, ClipModelInfo *info);

/* Tokenizes text like CLIPTokenizer: ids[0] is the start token, then the BPE
 * tokens, then the end token, truncated to the context length as
 * ids[:context_length-1] + [end]. Returns the number of ids (2 ..
 * context_length) or a negative status; like snprintf, only the first
 * max_ids of them are written when the return value exceeds max_ids. Text
 * must be valid UTF-8. */
CLE_API int cle_tokenize (const ClipModel *model, const char *text,
    int32_t *ids, int max_ids, ClipError *err);

/* The prompt template of zero-shot classification when none is given: "{}"
 * stands for the label ("a photo of a {}." + "dog" -> "a photo of a dog.").
 * The clipclassify element and clip-tool classify both use it. */
#define CLE_DEFAULT_TEMPLATE "a photo of a {}."

/* Cosine similarity of one image embedding with n_text text embeddings, the
 * logits (exp(logit_scale) * cosine) and their softmax. Any of logits, probs,
 * cosines may be NULL; each has n_text elements. Embeddings need not be
 * normalized. */
CLE_API int cle_model_score (const ClipModel *model, const float *image_embed,
    const float *text_embeds, int n_text, float *logits, float *probs,
    float *cosines, ClipError *err);

/* ---------------------------------------------------------------- frames -- */

typedef enum {
  CLE_PIXEL_RGB, CLE_PIXEL_BGR,
  CLE_PIXEL_RGBA, CLE_PIXEL_BGRA, CLE_PIXEL_ARGB, CLE_PIXEL_ABGR,
  CLE_PIXEL_RGBX, CLE_PIXEL_BGRX, CLE_PIXEL_XRGB, CLE_PIXEL_XBGR,
  CLE_PIXEL_GRAY8,
  CLE_PIXEL_I420,               /* planes: Y, U, V; chroma halved both ways */
  CLE_PIXEL_NV12,               /* planes: Y, interleaved UV */
} ClipPixelFormat;

typedef enum {
  CLE_MATRIX_BT601,
  CLE_MATRIX_BT709,
} ClipColorMatrix;

typedef enum {
  CLE_RANGE_LIMITED,            /* Y 16..235, UV 16..240 */
  CLE_RANGE_FULL,
} ClipColorRange;

/* A borrowed view of one video frame. Packed formats use planes[0] and
 * strides[0]; strides are in bytes and may exceed the row size. matrix and
 * range apply to I420/NV12 only. Odd widths/heights are allowed for I420/NV12
 * (chroma size rounds up). */
typedef struct {
  ClipPixelFormat format;
  int width, height;
  const uint8_t *planes[3];
  int strides[3];
  ClipColorMatrix matrix;
  ClipColorRange range;
} ClipFrame;

/* --------------------------------------------------------------- context -- */

typedef struct ClipContext ClipContext;

typedef struct {
  /* OpenMP threads used by this context's calls; 0 (default) = the OpenMP
   * default (all cores unless OMP_NUM_THREADS says otherwise). */
  int n_threads;
  /* Largest batch of images per call (default 8); scratch memory is
   * allocated once for it. Larger calls are processed in chunks. A chunk
   * with at least two images per thread is shared out by images, one
   * single-threaded pass per thread (scratch for that is allocated too). */
  int max_batch_images;
  /* Largest batch of prompts per forward pass (default 64). A call with
   * more is sorted first, so that prompts that begin alike share a pass:
   * their common first tokens are computed once. */
  int max_batch_texts;
} ClipContextParams;

CLE_API void cle_context_params_init (ClipContextParams *params);

/* Creates the per-caller state of a model: all scratch memory is allocated
 * here, none per call. The model must outlive the context. */
CLE_API int cle_context_new (ClipContext **out, const ClipModel *model,
    const ClipContextParams *params, ClipError *err);

CLE_API void cle_context_free (ClipContext *ctx);

/* The model a context was created for. */
CLE_API const ClipModel *cle_context_get_model (const ClipContext *ctx);

/* Preprocesses one frame as CLIPImageProcessor does (shortest-edge resize with
 * Pillow's BICUBIC, center crop, rescale, normalize). pixel_values receives
 * 3 * crop_height * crop_width floats in CHW order (n_pixel_values is its
 * length). crop_rgb, if not NULL, receives the resized and cropped uint8 RGB
 * image, crop_height * crop_width * 3 bytes. */
CLE_API int cle_preprocess (ClipContext *ctx, const ClipFrame *frame,
    float *pixel_values, size_t n_pixel_values, uint8_t *crop_rgb,
    ClipError *err);

/* Image embeddings (get_image_features: projected, not normalized) of
 * n_images preprocessed images, pixel_values (n_images, 3, S, S). embeds
 * receives (n_images, projection_dim) floats; n_embeds is its length. */
CLE_API int cle_encode_images (ClipContext *ctx, const float *pixel_values,
    int n_images, float *embeds, size_t n_embeds, ClipError *err);

/* Preprocess + encode n_frames frames. */
CLE_API int cle_encode_frames (ClipContext *ctx, const ClipFrame *frames,
    int n_frames, float *embeds, size_t n_embeds, ClipError *err);

/* Text embeddings (get_text_features) of n_texts UTF-8 prompts, into
 * (n_texts, projection_dim) floats. */
CLE_API int cle_encode_texts (ClipContext *ctx, const char *const *texts,
    int n_texts, float *embeds, size_t n_embeds, ClipError *err);

/* The same from token ids as cle_tokenize returns them. ids[i] has n_ids[i]
 * ids (2 .. context_length). */
CLE_API int cle_encode_token_ids (ClipContext *ctx, const int32_t *const *ids,
    const int *n_ids, int n_texts, float *embeds, size_t n_embeds,
    ClipError *err);

/* An on-disk cache of text embeddings keyed by a fingerprint of the model's
 * text tower and tokenizer and by the prompt, so that a restart with the same
 * prompts encodes nothing. One file per model in dir (created if needed);
 * several processes may share it (appends are locked; a record torn by a
 * crash is dropped at the next open). Free with cle_text_cache_free. The
 * cache must be used from one thread at a time. */
typedef struct ClipTextCache ClipTextCache;

CLE_API int cle_text_cache_open (ClipTextCache **out, const ClipModel *model,
    const char *dir, ClipError *err);
CLE_API void cle_text_cache_free (ClipTextCache *cache);
/* Number of prompts the cache holds. */
CLE_API int cle_text_cache_size (const ClipTextCache *cache);

/* cle_encode_texts, with prompts found in cache copied instead of encoded
 * and new ones added to it. cache may be NULL (then it is cle_encode_texts).
 * *n_encoded (optional) receives how many prompts were actually encoded. */
CLE_API int cle_encode_texts_cached (ClipContext *ctx, ClipTextCache *cache,
    const char *const *texts, int n_texts, float *embeds, size_t n_embeds,
    int *n_encoded, ClipError *err);

/* Debugging hook for the parity tests. With keep != 0, later calls record
 * the hidden states of their first item (a copy per layer, so slower).
 * Names, as in HF's outputs: "vision_embeddings" (class + patch + position
 * embeddings), "vision_hidden_<i>" (hidden_states[i]; 0 is after
 * pre_layrnorm), "vision_pooled"; "text_hidden_<i>" (0 is token + position
 * embeddings), "text_last_hidden_state", "text_pooled". get_state writes at
 * most n_out floats and returns how many it wrote, or a negative status when
 * the state was not recorded. */
CLE_API int cle_context_set_keep_states (ClipContext *ctx, int keep);
CLE_API int cle_context_get_state (ClipContext *ctx, const char *name,
    float *out, size_t n_out, ClipError *err);

/* ----------------------------------------------------------- fingerprint -- */

/* A fingerprint of a model directory, as 64 hex digits (SHA-256) plus NUL
 * in out (n_out >= 65): over config.json, the tokenizer files
 * (vocab.json, merges.txt) and preprocessor_config.json whole, and for each
 * weight file (*.safetensors in name order, else pytorch_model*.bin) its
 * size, its first MiB (the
 * header and the first tensors) and 64 evenly spaced 4 KiB samples. Both
 * towers are covered; the precision a model is loaded at is not (an index
 * made at bf16 is searched with the fp32 text tower). The same checkpoint in
 * two places gives the same fingerprint; another checkpoint, or the same one
 * trained further, practically never does. Reads about 1.3 MB per weight
 * file, never the whole of it. Errors: CLE_ERROR_IO naming the file. */
CLE_API int cle_model_dir_fingerprint (const char *dir, char *out,
    size_t n_out, ClipError *err);

/* cle_model_dir_fingerprint of the directory model was loaded from, and of
 * its adapter when one was applied (an adapter changes every embedding). */
CLE_API int cle_model_fingerprint (const ClipModel *model, char *out,
    size_t n_out, ClipError *err);

/* --------------------------------------------------------------- search -- */

/* IEEE half precision, the storage of index rows: round to nearest even
 * (as numpy's astype(float16)), and back. n elements each. */
CLE_API void cle_f32_to_f16 (uint16_t *out, const float *in, size_t n);
CLE_API void cle_f16_to_f32 (float *out, const uint16_t *in, size_t n);

/* n_rows rows of dim float16 values, row after row (an .npy shard's data,
 * mapped in place; any 2-byte alignment). Borrowed. */
typedef struct {
  const uint16_t *rows;
  size_t n_rows;
} ClipRowBlock;

typedef struct {
  size_t row;                   /* over all blocks, in order, from 0 */
  float score;                  /* the row's dot product with the query */
} ClipSearchHit;

/* Exact search: the dot product of query (dim floats; normalize it for
 * cosines of unit rows) with every row of n_blocks blocks, and the k best
 * in hits (k elements), best first, equal scores by row. Returns the number
 * of hits written, min (k, all rows), or a negative status. Rows are split
 * over n_threads threads (0: the OpenMP default) of the engine's own pool;
 * each runs the best kernel the CPU has (AVX-512F, AVX2+F16C, plain C).
 * It reads each row once: the time is that of reading the rows from memory.
 * Thread-safe: any number of searches may run at once. */
CLE_API int cle_search_f16 (ClipSearchHit *hits, int k,
    const ClipRowBlock *blocks, int n_blocks, int dim, const float *query,
    int n_threads, ClipError *err);

#ifdef __cplusplus
}
#endif
#endif /* CLIP_ENGINE_H */
