/* context.c - the per-caller state and the public encode calls: argument
 * checks, batching into chunks of the preallocated size, and the hook that
 * records hidden states for the parity tests. Batches of images are split
 * between per-thread lanes when each gets two or more. */
#include <string.h>

#include "adapter-runtime.h"
#include "context.h"
#include "error.h"
#include "ops/ops.h"

void
cle_context_params_init (ClipContextParams *params)
{
  params->n_threads = 0;
  params->max_batch_images = 8;
  params->max_batch_texts = 64;
}

void
cle_context_free (ClipContext *ctx)
{
  if (!ctx)
    return;
  g_free (ctx->x);
  g_free (ctx->h);
  g_free (ctx->q);
  g_free (ctx->k);
  g_free (ctx->v);
  g_free (ctx->att);
  g_free (ctx->mlp);
  g_free (ctx->patches);
  g_free (ctx->attn_scratch);
  g_free (ctx->adapter_scratch);
  g_free (ctx->pixels);
  g_free (ctx->seq_start);
  g_free (ctx->seq_len);
  g_free (ctx->first_query);
  g_free (ctx->row_of);
  g_free (ctx->pool_start);
  g_free (ctx->pool_len);
  g_free (ctx->pooled);
  if (ctx->preprocess)
    cle_preprocess_scratch_free (ctx->preprocess);
  if (ctx->states)
    g_hash_table_destroy (ctx->states);
  for (int t = 0; t < ctx->n_lanes; t++)
    cle_context_free (ctx->lanes[t]);
  g_free (ctx->lanes);
  g_free (ctx);
}

/* The longest prefix (prefix tuning) of a tower's layers. */
static int
max_prefix (const ClipLayerWeights *layers, int n_layer)
{
  int n = 0;
  for (int i = 0; i < n_layer; i++)
    n = MAX (n, layers[i].prefix.n);
  return n;
}

/* Scratch floats the bottleneck adapters of a tower's layers need. */
static size_t
cle_adapter_scratch (const ClipModel *model, const ClipLayerWeights *layers,
    int n_layer, size_t rows)
{
  size_t n = 0;
  for (int i = 0; model->adapter && i < n_layer; i++) {
    if (layers[i].bn_mh)
      n = MAX (n, cle_bottleneck_scratch (layers[i].bn_mh, rows));
    if (layers[i].bn_out)
      n = MAX (n, cle_bottleneck_scratch (layers[i].bn_out, rows));
  }
  return n;
}

static float *
alloc_floats (size_t n, int *ok)
{
  float *p = g_try_malloc (MAX (n, 1) * sizeof (float));
  if (!p)
    *ok = 0;
  return p;
}

/* A context for the given towers of the model, its scratch sized for
 * them; NULL when memory is short (act, mlp: the floats it needed). */
static ClipContext *
context_alloc (const ClipModel *model, const ClipContextParams *params,
    unsigned towers, size_t *act_out, size_t *mlp_out)
{
  ClipContext *ctx = g_new0 (ClipContext, 1);
  ctx->model = model;
  ctx->n_threads = cle_threads_resolve (params->n_threads);
  ctx->max_images = params->max_batch_images;
  ctx->max_texts = params->max_batch_texts;

  /* Size every buffer for the larger of the two towers' batches. */
  const ClipConfig *c = &model->config;
  size_t act = 0, mlp = 0, patches = 0, pixels = 0, adapter = 0;
  int max_len = 1, max_seq = 1, max_d_head = 1;
  size_t max_positions = 1;
  if (towers & CLE_TOWER_VISION) {
    const ClipTowerConfig *v = &c->vision;
    int G = v->image_size / v->patch_size, T = G * G + 1;
    size_t rows = (size_t) ctx->max_images * T;
    act = MAX (act, rows * v->width);
    mlp = MAX (mlp, rows * v->mlp);
    adapter = MAX (adapter, cle_adapter_scratch (model, model->vision.layers,
            v->n_layer, rows));
    patches = (size_t) G * G * v->n_channels * v->patch_size * v->patch_size;
    pixels = (size_t) ctx->max_images * 3 * v->image_size * v->image_size;
    max_len = MAX (max_len, T + max_prefix (model->vision.layers,
            v->n_layer));
    max_d_head = MAX (max_d_head, v->width / v->n_head);
    max_seq = MAX (max_seq, ctx->max_images);
  }
  if (towers & CLE_TOWER_TEXT) {
    const ClipTowerConfig *t = &c->text;
    size_t rows = (size_t) ctx->max_texts * t->context_length;
    act = MAX (act, rows * t->width);
    mlp = MAX (mlp, rows * t->mlp);
    adapter = MAX (adapter, cle_adapter_scratch (model, model->text.layers,
            t->n_layer, rows));
    max_len = MAX (max_len, t->context_length
        + max_prefix (model->text.layers, t->n_layer));
    max_d_head = MAX (max_d_head, t->width / t->n_head);
    max_seq = MAX (max_seq, ctx->max_texts);
    max_positions = rows;
  }
  /* The projection's input (n, D) and output live in h; make room. */
  act = MAX (act, (size_t) max_seq * c->projection_dim);

  int ok = 1;
  ctx->x = alloc_floats (act, &ok);
  ctx->h = alloc_floats (act, &ok);
  ctx->q = alloc_floats (act, &ok);
  ctx->k = alloc_floats (act, &ok);
  ctx->v = alloc_floats (act, &ok);
  ctx->att = alloc_floats (act, &ok);
  ctx->mlp = alloc_floats (mlp, &ok);
  ctx->patches = alloc_floats (patches, &ok);
  ctx->pixels = alloc_floats (pixels, &ok);
  ctx->adapter_scratch = adapter ? alloc_floats (adapter, &ok) : NULL;
  ctx->attn_scratch = alloc_floats (cle_attention_scratch_size (max_len,
          max_d_head, ctx->n_threads), &ok);
  ctx->seq_start = g_try_new (int, max_seq);
  ctx->seq_len = g_try_new (int, max_seq);
  ctx->first_query = g_try_new (int, max_seq);
  ctx->row_of = g_try_new (int, max_positions);
  ctx->pool_start = g_try_new (int, max_seq);
  ctx->pool_len = g_try_new (int, max_seq);
  ctx->pooled = g_try_new (int, max_seq);
  ctx->preprocess = cle_preprocess_scratch_new ();
  *act_out = act;
  *mlp_out = mlp;
  if (!ok || !ctx->seq_start || !ctx->seq_len || !ctx->first_query
      || !ctx->row_of || !ctx->pool_start || !ctx->pool_len
      || !ctx->pooled || !ctx->preprocess) {
    cle_context_free (ctx);
    return NULL;
  }
  return ctx;
}

int
cle_context_new (ClipContext **out, const ClipModel *model,
    const ClipContextParams *params, ClipError *err)
{
  cle_error_clear (err);
  if (!out || !model)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_context_new: out and model must not be NULL");
  *out = NULL;
  ClipContextParams defaults;
  if (!params) {
    cle_context_params_init (&defaults);
    params = &defaults;
  }
  if (params->n_threads < 0 || params->max_batch_images < 1
      || params->max_batch_texts < 1 || params->max_batch_images > 4096
      || params->max_batch_texts > 65536)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "context params: n_threads %d (>= 0), max_batch_images %d (1..4096), "
        "max_batch_texts %d (1..65536)", params->n_threads,
        params->max_batch_images, params->max_batch_texts);

  size_t act = 0, mlp = 0;
  ClipContext *ctx = context_alloc (model, params, model->config.towers, &act,
      &mlp);
  /* Batches of images run as one single-threaded forward pass per thread,
   * each on its share of the images (preprocessing included): no barrier
   * per operation. ViT-B/32 batch 8 on 2 threads: fp32 +2%, bf16 +12%,
   * int8 +6-14%, 1080p frames +3%, against splitting every product. */
  if (ctx && (model->config.towers & CLE_TOWER_VISION) && ctx->n_threads > 1
      && ctx->max_images >= 2 * ctx->n_threads) {
    ClipContextParams lane = *params;
    lane.n_threads = 1;
    lane.max_batch_images = (ctx->max_images + ctx->n_threads - 1)
        / ctx->n_threads;
    ctx->lanes = g_new0 (ClipContext *, ctx->n_threads);
    ctx->n_lanes = ctx->n_threads;
    /* a lane that cannot be made reports its own sizes */
    for (int t = 0; ctx && t < ctx->n_lanes; t++) {
      ctx->lanes[t] = context_alloc (model, &lane, CLE_TOWER_VISION, &act,
          &mlp);
      if (!ctx->lanes[t]) {
        cle_context_free (ctx);
        ctx = NULL;
      }
    }
  }
  if (!ctx)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "cannot allocate the context's scratch memory (%zu + %zu floats per "
        "buffer)", act, mlp);
  ctx->states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) g_array_unref);
  *out = ctx;
  return CLE_OK;
}

const ClipModel *
cle_context_get_model (const ClipContext *ctx)
{
  return ctx ? ctx->model : NULL;
}

int
cle_context_set_keep_states (ClipContext *ctx, int keep)
{
  if (!ctx)
    return CLE_ERROR_INVALID_ARGUMENT;
  ctx->keep_states = keep != 0;
  return CLE_OK;
}

void
cle_context_keep (ClipContext *ctx, const char *name, const float *data,
    size_t n)
{
  if (!ctx->recording)
    return;
  GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (float), n);
  g_array_append_vals (a, data, n);
  g_hash_table_replace (ctx->states, g_strdup (name), a);
}

int
cle_context_get_state (ClipContext *ctx, const char *name, float *out,
    size_t n_out, ClipError *err)
{
  GArray *a = ctx && name ? g_hash_table_lookup (ctx->states, name) : NULL;
  if (!a)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "state '%s' was not recorded (cle_context_set_keep_states)",
        name ? name : "(null)");
  size_t n = MIN (n_out, a->len);
  memcpy (out, a->data, n * sizeof (float));
  return (int) n;
}

static int
need_tower (const ClipContext *ctx, unsigned tower, ClipError *err)
{
  if (!(ctx->model->config.towers & tower))
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "model '%s' was loaded without its %s tower", ctx->model->dir,
        tower == CLE_TOWER_VISION ? "vision" : "text");
  return CLE_OK;
}

static int
check_output (size_t n_embeds, int n, int dim, ClipError *err)
{
  if (n_embeds < (size_t) n * dim)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "output holds %zu floats, %d embeddings of %d need %zu", n_embeds, n,
        dim, (size_t) n * dim);
  return CLE_OK;
}

int
cle_preprocess (ClipContext *ctx, const ClipFrame *frame, float *pixel_values,
    size_t n_pixel_values, uint8_t *crop_rgb, ClipError *err)
{
  cle_error_clear (err);
  if (!ctx || !frame || !pixel_values)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_preprocess: ctx, frame and pixel_values must not be NULL");
  int code = need_tower (ctx, CLE_TOWER_VISION, err);
  if (code)
    return code;
  const ClipPreprocessConfig *p = &ctx->model->preprocess;
  size_t need = (size_t) 3 * ctx->model->config.vision.image_size
      * ctx->model->config.vision.image_size;
  if (n_pixel_values < need)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "pixel_values holds %zu floats, %zu needed", n_pixel_values, need);
  return cle_preprocess_frame (ctx->preprocess, p, frame, pixel_values,
      crop_rgb, err);
}

/* n frames into c->pixels, one image after another; the status of the
 * first that fails, if one does. */
static int
preprocess_frames (ClipContext *c, const ClipFrame *frames, int n,
    ClipError *err)
{
  const int S = c->model->config.vision.image_size;
  const size_t per_image = (size_t) 3 * S * S;
  for (int i = 0; i < n; i++) {
    int code = cle_preprocess_frame (c->preprocess, &c->model->preprocess,
        &frames[i], c->pixels + i * per_image, NULL, err);
    if (code)
      return code;
  }
  return CLE_OK;
}

/* A chunk of images through the lanes: lane l takes images [n l / L,
 * n (l + 1) / L), preprocesses them (frames) and runs the tower on them,
 * single-threaded, on a thread of its own. */
typedef struct
{
  ClipContext *ctx;
  const float *pixel_values;    /* images, or */
  const ClipFrame *frames;      /* frames to preprocess */
  int n;
  float *embeds;
  int *status;                  /* per lane */
  ClipError *errors;            /* per lane */
} LaneJob;

static void
lane_part (void *arg, int t, int T)
{
  const LaneJob *job = arg;
  ClipContext *ctx = job->ctx;
  const int L = ctx->n_lanes, P = ctx->model->config.projection_dim;
  const int S = ctx->model->config.vision.image_size;
  const size_t per_image = (size_t) 3 * S * S;
  /* fewer threads than lanes (a worker could not be made): several each */
  for (int l = t; l < L; l += T) {
    ClipContext *lane = ctx->lanes[l];
    const int i0 = job->n * l / L, i1 = job->n * (l + 1) / L;
    const float *pixels = job->pixel_values ? job->pixel_values
        + (size_t) i0 * per_image : lane->pixels;
    if (job->frames)
      job->status[l] = preprocess_frames (lane, job->frames + i0, i1 - i0,
          &job->errors[l]);
    if (!job->status[l])
      cle_vision_forward (lane, pixels, i1 - i0,
          job->embeds + (size_t) i0 * P);
  }
}

/* Whether a chunk of n images goes through the lanes. */
static int
use_lanes (const ClipContext *ctx, int n)
{
  return ctx->n_lanes > 0 && n >= 2 * ctx->n_lanes && !ctx->recording;
}

static int
run_lanes (ClipContext *ctx, const float *pixel_values,
    const ClipFrame *frames, int n, float *embeds, ClipError *err)
{
  int status[ctx->n_lanes];
  ClipError errors[ctx->n_lanes];
  memset (status, 0, sizeof status);
  memset (errors, 0, sizeof errors);
  LaneJob job = { ctx, pixel_values, frames, n, embeds, status, errors };
  cle_parallel (ctx->n_threads, lane_part, &job);
  /* the first lane that failed holds the first bad frame */
  for (int l = 0; l < ctx->n_lanes; l++)
    if (status[l]) {
      if (err)
        *err = errors[l];
      return status[l];
    }
  return CLE_OK;
}

int
cle_encode_images (ClipContext *ctx, const float *pixel_values, int n_images,
    float *embeds, size_t n_embeds, ClipError *err)
{
  cle_error_clear (err);
  if (!ctx || (!pixel_values && n_images > 0) || !embeds || n_images < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_encode_images: NULL argument or negative count");
  int code = need_tower (ctx, CLE_TOWER_VISION, err);
  const int P = ctx->model->config.projection_dim;
  const int S = ctx->model->config.vision.image_size;
  if (code || (code = check_output (n_embeds, n_images, P, err)))
    return code;
  for (int done = 0; done < n_images; done += ctx->max_images) {
    int n = MIN (ctx->max_images, n_images - done);
    ctx->recording = ctx->keep_states && done == 0;
    const float *pixels = pixel_values + (size_t) done * 3 * S * S;
    if (use_lanes (ctx, n))
      run_lanes (ctx, pixels, NULL, n, embeds + (size_t) done * P, NULL);
    else
      cle_vision_forward (ctx, pixels, n, embeds + (size_t) done * P);
  }
  return CLE_OK;
}

int
cle_encode_frames (ClipContext *ctx, const ClipFrame *frames, int n_frames,
    float *embeds, size_t n_embeds, ClipError *err)
{
  cle_error_clear (err);
  if (!ctx || (!frames && n_frames > 0) || !embeds || n_frames < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_encode_frames: NULL argument or negative count");
  int code = need_tower (ctx, CLE_TOWER_VISION, err);
  const int P = ctx->model->config.projection_dim;
  if (code || (code = check_output (n_embeds, n_frames, P, err)))
    return code;
  for (int done = 0; done < n_frames; done += ctx->max_images) {
    int n = MIN (ctx->max_images, n_frames - done);
    ctx->recording = ctx->keep_states && done == 0;
    if (use_lanes (ctx, n)) {
      code = run_lanes (ctx, NULL, frames + done, n,
          embeds + (size_t) done * P, err);
      if (code)
        return code;
      continue;
    }
    code = preprocess_frames (ctx, frames + done, n, err);
    if (code)
      return code;
    cle_vision_forward (ctx, ctx->pixels, n, embeds + (size_t) done * P);
  }
  return CLE_OK;
}

int
cle_encode_token_ids (ClipContext *ctx, const int32_t *const *ids,
    const int *n_ids, int n_texts, float *embeds, size_t n_embeds,
    ClipError *err)
{
  cle_error_clear (err);
  if (!ctx || ((!ids || !n_ids) && n_texts > 0) || !embeds || n_texts < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_encode_token_ids: NULL argument or negative count");
  int code = need_tower (ctx, CLE_TOWER_TEXT, err);
  const ClipTowerConfig *c = &ctx->model->config.text;
  const int P = ctx->model->config.projection_dim;
  if (code || (code = check_output (n_embeds, n_texts, P, err)))
    return code;
  for (int s = 0; s < n_texts; s++) {
    if (!ids[s] || n_ids[s] < 1 || n_ids[s] > c->context_length)
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "prompt %d has %d token ids, expected 1..%d", s, n_ids[s],
          c->context_length);
    for (int i = 0; i < n_ids[s]; i++)
      if (ids[s][i] < 0 || ids[s][i] >= c->vocab_size)
        return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
            "prompt %d: token id %d at position %d is outside 0..%d", s,
            ids[s][i], i, c->vocab_size - 1);
  }
  /* A chunk shares the rows of prompts that begin alike (text.c) with the
   * prompt before: sorted, those (one template's) follow each other, in
   * the same chunk. Hidden states are recorded for prompt 0, so then the
   * order stays as given. */
  int *order = g_new (int, MAX (n_texts, 1));
  const int32_t **chunk_ids = g_new (const int32_t *, ctx->max_texts);
  int *chunk_n = g_new (int, ctx->max_texts);
  float *chunk_embeds = g_new (float, (size_t) ctx->max_texts * P);
  if (ctx->keep_states)
    for (int s = 0; s < n_texts; s++)
      order[s] = s;
  else
    cle_text_sort (ids, n_ids, n_texts, order);
  for (int done = 0; done < n_texts; done += ctx->max_texts) {
    int n = MIN (ctx->max_texts, n_texts - done);
    ctx->recording = ctx->keep_states && done == 0;
    for (int i = 0; i < n; i++) {
      chunk_ids[i] = ids[order[done + i]];
      chunk_n[i] = n_ids[order[done + i]];
    }
    cle_text_forward (ctx, chunk_ids, chunk_n, n, chunk_embeds);
    for (int i = 0; i < n; i++)
      memcpy (embeds + (size_t) order[done + i] * P,
          chunk_embeds + (size_t) i * P, P * sizeof (float));
  }
  g_free (order);
  g_free (chunk_ids);
  g_free (chunk_n);
  g_free (chunk_embeds);
  return CLE_OK;
}

int
cle_encode_texts (ClipContext *ctx, const char *const *texts, int n_texts,
    float *embeds, size_t n_embeds, ClipError *err)
{
  cle_error_clear (err);
  if (!ctx || (!texts && n_texts > 0) || !embeds || n_texts < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_encode_texts: NULL argument or negative count");
  int code = need_tower (ctx, CLE_TOWER_TEXT, err);
  const int L = ctx->model->config.text.context_length;
  const int P = ctx->model->config.projection_dim;
  if (code || (code = check_output (n_embeds, n_texts, P, err)))
    return code;
  /* Tokenize all prompts first (their ids end to end, ~10 per prompt), so
   * that one call sees them all and can sort them across chunks. */
  int32_t *one = g_new (int32_t, L);
  GArray *all = g_array_new (FALSE, FALSE, sizeof (int32_t));
  size_t *offset = g_new (size_t, MAX (n_texts, 1));
  int *n_ids = g_new (int, MAX (n_texts, 1));
  for (int i = 0; i < n_texts && code == CLE_OK; i++) {
    if (!texts[i]) {
      code = cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "prompt %d is NULL", i);
      break;
    }
    int r = cle_tokenize (ctx->model, texts[i], one, L, err);
    if (r < 0) {
      code = r;
      break;
    }
    offset[i] = all->len;
    n_ids[i] = r;
    g_array_append_vals (all, one, r);
  }
  if (code == CLE_OK) {
    const int32_t **ids = g_new (const int32_t *, MAX (n_texts, 1));
    for (int i = 0; i < n_texts; i++)
      ids[i] = (const int32_t *) (void *) all->data + offset[i];
    code = cle_encode_token_ids (ctx, ids, n_ids, n_texts, embeds, n_embeds,
        err);
    g_free (ids);
  }
  g_free (one);
  g_array_free (all, TRUE);
  g_free (offset);
  g_free (n_ids);
  return code;
}
