/* model.c - loads a Hugging Face CLIP directory: config, weights bound to
 * their places with every name, dtype and shape checked, tokenizer and
 * preprocessing config. F32 weights are used in place from the mapping;
 * F16/BF16 are decoded once to float32. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "adapter.h"
#include "error.h"
#include "model.h"
#include "tensor-names.h"
#include "torch-zip.h"

static void
format_shape (char *buf, size_t size, int n_dim, const int64_t *shape)
{
  size_t pos = snprintf (buf, size, "[");
  for (int i = 0; i < n_dim && pos < size; i++)
    pos += snprintf (buf + pos, size - pos, "%s%" G_GINT64_FORMAT,
        i ? ", " : "", shape[i]);
  if (pos < size)
    snprintf (buf + pos, size - pos, "]");
}

/* Finds a tensor, checks its shape (n_dim dims of want) and gives a float32
 * pointer to its data. */
static int
bind (ClipModel *m, const char *name, int n_dim, const int64_t *want,
    const float **out, ClipError *err)
{
  const ClipTensor *t = cle_safetensors_find (m->weights, name);
  if (!t)
    return cle_error_set (err, CLE_ERROR_MODEL,
        "tensor '%s' is missing from the checkpoint in '%s'", name, m->dir);
  int same = t->n_dim == n_dim;
  for (int i = 0; same && i < n_dim; i++)
    same = t->shape[i] == want[i];
  if (!same) {
    char got_s[128], want_s[128];
    format_shape (got_s, sizeof got_s, t->n_dim, t->shape);
    format_shape (want_s, sizeof want_s, n_dim, want);
    return cle_error_set (err, CLE_ERROR_MODEL,
        "tensor '%s': shape %s, expected %s (from config.json)", name, got_s,
        want_s);
  }
  if (t->dtype != CLE_DTYPE_F32 && t->dtype != CLE_DTYPE_F16
      && t->dtype != CLE_DTYPE_BF16 && t->dtype != CLE_DTYPE_F64)
    return cle_error_set (err, CLE_ERROR_MODEL,
        "tensor '%s': dtype %s, expected F32, F16 or BF16", name,
        cle_dtype_name (t->dtype));
  if (!m->dtype[0])
    g_strlcpy (m->dtype, cle_dtype_name (t->dtype), sizeof m->dtype);

  if (t->dtype == CLE_DTYPE_F32 && ((uintptr_t) t->data % 4) == 0
      && G_BYTE_ORDER == G_LITTLE_ENDIAN) {
    *out = t->data;
    return CLE_OK;
  }
  /* Decoded copies are checked for NaN/Inf here, where every value passes
   * through anyway; mapped F32 weights are not read at load. */
  float *copy = g_try_malloc (MAX (t->n_elements, 1) * sizeof (float));
  if (!copy)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "tensor '%s': cannot allocate %" G_GINT64_FORMAT " floats", name,
        t->n_elements);
  m->owned = g_renew (void *, m->owned, m->n_owned + 1);
  m->owned[m->n_owned++] = copy;
  cle_tensor_to_f32 (copy, t);
  for (int64_t i = 0; i < t->n_elements; i++)
    if (!isfinite (copy[i]))
      return cle_error_set (err, CLE_ERROR_MODEL,
          "tensor '%s': element %" G_GINT64_FORMAT " is %s", name, i,
          isnan (copy[i]) ? "NaN" : "infinite");
  *out = copy;
  return CLE_OK;
}

static int
bind1 (ClipModel *m, const char *name, int64_t d0, const float **out,
    ClipError *err)
{
  int64_t shape[1] = { d0 };
  return bind (m, name, 1, shape, out, err);
}

static int
bind2 (ClipModel *m, const char *name, int64_t d0, int64_t d1,
    const float **out, ClipError *err)
{
  int64_t shape[2] = { d0, d1 };
  return bind (m, name, 2, shape, out, err);
}

static int
bind_layers (ClipModel *m, const char *prefix, const ClipTowerConfig *c,
    ClipLayerWeights **out, ClipError *err)
{
  const int64_t D = c->width, M = c->mlp;
  ClipLayerWeights *layers = g_new0 (ClipLayerWeights, MAX (c->n_layer, 1));
  *out = layers;
  char name[256];
  int code = CLE_OK;
  for (int i = 0; i < c->n_layer && code == CLE_OK; i++) {
#define CLE_BIND_LAYER_TENSOR(field, suffix, d0, d1)                          \
    if (code == CLE_OK) {                                                     \
      snprintf (name, sizeof name, "%sencoder.layers.%d.%s", prefix, i,      \
          suffix);                                                            \
      code = (d1) ? bind2 (m, name, d0, d1, &layers[i].field, err)           \
          : bind1 (m, name, d0, &layers[i].field, err);                       \
    }
    CLE_LAYER_TENSORS (CLE_BIND_LAYER_TENSOR)
#undef CLE_BIND_LAYER_TENSOR
  }
  return code;
}

static int
bind_vision (ClipModel *m, ClipError *err)
{
  const ClipTowerConfig *c = &m->config.vision;
  ClipVisionWeights *w = &m->vision;
  const int64_t D = c->width, P = c->patch_size;
  const int64_t n_pos = 1 + (int64_t) (c->image_size / P) * (c->image_size / P);
  int64_t patch_shape[4] = { D, c->n_channels, P, P };
  int code;
  if ((code = bind (m, CLE_NAME_PATCH_EMBEDDING, 4, patch_shape, &w->patch_w,
              err))
      || (code = bind1 (m, CLE_NAME_CLASS_EMBEDDING, D, &w->class_emb, err))
      || (code = bind2 (m, CLE_NAME_VISION_POSITIONS, n_pos, D, &w->pos_emb,
              err))
      || (code = bind1 (m, CLE_NAME_PRE_LN ".weight", D, &w->pre_ln_w, err))
      || (code = bind1 (m, CLE_NAME_PRE_LN ".bias", D, &w->pre_ln_b, err))
      || (code = bind1 (m, CLE_NAME_POST_LN ".weight", D, &w->post_ln_w, err))
      || (code = bind1 (m, CLE_NAME_POST_LN ".bias", D, &w->post_ln_b, err))
      || (code = bind2 (m, CLE_NAME_VISUAL_PROJECTION,
              m->config.projection_dim, D, &w->proj, err)))
    return code;
  return bind_layers (m, CLE_VISION_PREFIX, c, &w->layers, err);
}

static int
bind_text (ClipModel *m, ClipError *err)
{
  const ClipTowerConfig *c = &m->config.text;
  ClipTextWeights *w = &m->text;
  const int64_t D = c->width;
  int code;
  if ((code = bind2 (m, CLE_NAME_TOKEN_EMBEDDING, c->vocab_size, D,
              &w->tok_emb, err))
      || (code = bind2 (m, CLE_NAME_TEXT_POSITIONS, c->context_length, D,
              &w->pos_emb, err))
      || (code = bind1 (m, CLE_NAME_FINAL_LN ".weight", D, &w->final_ln_w,
              err))
      || (code = bind1 (m, CLE_NAME_FINAL_LN ".bias", D, &w->final_ln_b,
              err))
      || (code = bind2 (m, CLE_NAME_TEXT_PROJECTION, m->config.projection_dim,
              D, &w->proj, err)))
    return code;
  return bind_layers (m, CLE_TEXT_PREFIX, c, &w->layers, err);
}

static int
bind_logit_scale (ClipModel *m, ClipError *err)
{
  const ClipTensor *t = cle_safetensors_find (m->weights,
      CLE_NAME_LOGIT_SCALE);
  if (!t) {
    if (m->config.towers == CLE_TOWER_BOTH)
      return cle_error_set (err, CLE_ERROR_MODEL,
          "tensor '%s' is missing from the checkpoint in '%s'",
          CLE_NAME_LOGIT_SCALE, m->dir);
    m->logit_scale = logf (100.0f);     /* single tower: CLIP's usual value */
    return CLE_OK;
  }
  if (t->n_elements != 1 || t->n_dim > 1)
    return cle_error_set (err, CLE_ERROR_MODEL,
        "tensor '%s': %d dimensions with %" G_GINT64_FORMAT " elements, "
        "expected a scalar", CLE_NAME_LOGIT_SCALE, t->n_dim, t->n_elements);
  const float *v;
  int64_t shape[1] = { 1 };
  int code = t->n_dim == 0 ? bind (m, CLE_NAME_LOGIT_SCALE, 0, shape, &v, err)
      : bind (m, CLE_NAME_LOGIT_SCALE, 1, shape, &v, err);
  if (code)
    return code;
  if (!isfinite (*v) || *v > 20.0f)
    return cle_error_set (err, CLE_ERROR_MODEL,
        "tensor '%s' is %g, expected a finite value <= 20", 
        CLE_NAME_LOGIT_SCALE, *v);
  m->logit_scale = *v;
  m->has_logit_scale = 1;
  return CLE_OK;
}

/* The first of these in the directory, in transformers' order: safetensors
 * before pickles (pytorch_model.bin is the only file of older Hugging Face
 * repositories and many fine-tunes), one file before a sharded index. */
static int
open_weights (ClipModel *m, ClipError *err)
{
  static const struct {
    const char *name;
    int (*open) (ClipSafetensors **, const char *, ClipError *);
    ClipShardOpen shard;
  } files[] = {
    { "model.safetensors", cle_safetensors_open, NULL },
    { "model.safetensors.index.json", NULL, NULL },
    { "pytorch_model.bin", cle_torch_zip_open, NULL },
    { "pytorch_model.bin.index.json", NULL, cle_torch_zip_open },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++) {
    char *path = g_build_filename (m->dir, files[i].name, NULL);
    int found = g_file_test (path, G_FILE_TEST_EXISTS), code = CLE_OK;
    if (found)
      code = files[i].open ? files[i].open (&m->weights, path, err)
          : cle_safetensors_open_index (&m->weights, path, files[i].shard,
          err);
    g_free (path);
    if (found)
      return code;
  }
  return cle_error_set (err, CLE_ERROR_IO, "'%s': no model.safetensors, "
      "model.safetensors.index.json, pytorch_model.bin or "
      "pytorch_model.bin.index.json", m->dir);
}

void
cle_model_params_init (ClipModelParams *params)
{
  params->towers = CLE_TOWER_BOTH;
  params->precision = CLE_PRECISION_FP32;
  params->adapter_dir = NULL;
}

void
cle_model_free (ClipModel *m)
{
  if (!m)
    return;
  for (int i = 0; i < m->n_packed; i++)
    cle_packed_weight_clear (&m->packed[i]);
  g_free (m->packed);
  cle_adapter_free (m->adapter);
  for (int i = 0; i < m->n_owned; i++)
    g_free (m->owned[i]);
  g_free (m->owned);
  g_free (m->vision.layers);
  g_free (m->text.layers);
  cle_tokenizer_free (m->tokenizer);
  cle_safetensors_free (m->weights);
  g_free (m->dir);
  g_free (m);
}

/* One weight into the next slot of m->packed. */
static int
convert_one (ClipModel *m, const float *w, int n_out, int n_in,
    const ClipPackedWeight **out, const char *what, ClipError *err)
{
  ClipPackedWeight *pw = &m->packed[m->n_packed];
  if (cle_packed_weight_init (pw, w, n_out, n_in, m->precision, m->kernel, 0)
      != CLE_OK)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "cannot allocate the %s copy of %s (%d x %d)",
        cle_precision_name (m->precision), what, n_out, n_in);
  m->n_packed++;
  *out = pw;
  return CLE_OK;
}

static int
convert_layers (ClipModel *m, ClipLayerWeights *layers,
    const ClipTowerConfig *c, const char *tower, ClipError *err)
{
  const int D = c->width, M = c->mlp;
  int code = CLE_OK;
  for (int i = 0; i < c->n_layer && code == CLE_OK; i++) {
    ClipLayerWeights *l = &layers[i];
    char what[64];
    g_snprintf (what, sizeof what, "%s layer %d", tower, i);
    if ((code = convert_one (m, l->q_w, D, D, &l->q_p, what, err))
        || (code = convert_one (m, l->k_w, D, D, &l->k_p, what, err))
        || (code = convert_one (m, l->v_w, D, D, &l->v_p, what, err))
        || (code = convert_one (m, l->o_w, D, D, &l->o_p, what, err))
        || (code = convert_one (m, l->fc1_w, M, D, &l->fc1_p, what, err)))
      break;
    code = convert_one (m, l->fc2_w, D, M, &l->fc2_p, what, err);
  }
  return code;
}

/* The Linear weights of the loaded towers (6 per layer, and the patch
 * embedding) into the model's precision. */
static int
convert_weights (ClipModel *m, ClipPrecision precision, ClipError *err)
{
  const ClipConfig *c = &m->config;
  int n = 0;
  if (c->towers & CLE_TOWER_VISION)
    n += 6 * c->vision.n_layer + 1;
  if (c->towers & CLE_TOWER_TEXT)
    n += 6 * c->text.n_layer;
  m->packed = g_new0 (ClipPackedWeight, MAX (n, 1));
  int code = CLE_OK;
  if (c->towers & CLE_TOWER_VISION) {
    const ClipTowerConfig *v = &c->vision;
    code = convert_one (m, m->vision.patch_w, v->width,
        v->n_channels * v->patch_size * v->patch_size, &m->vision.patch_p,
        "the patch embedding", err);
    if (code == CLE_OK)
      code = convert_layers (m, m->vision.layers, v, "vision", err);
  }
  if (code == CLE_OK && (c->towers & CLE_TOWER_TEXT))
    code = convert_layers (m, m->text.layers, &c->text, "text", err);
  return code;
}

int
cle_model_load (ClipModel **out, const char *dir,
    const ClipModelParams *params, ClipError *err)
{
  cle_error_clear (err);
  if (!out || !dir)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_model_load: out and dir must not be NULL");
  *out = NULL;
  ClipModelParams defaults;
  if (!params) {
    cle_model_params_init (&defaults);
    params = &defaults;
  }
  unsigned towers = params->towers & CLE_TOWER_BOTH;
  if (!towers)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "towers is %u, expected CLE_TOWER_VISION, _TEXT or _BOTH",
        params->towers);
  if ((unsigned) params->precision > CLE_PRECISION_INT8)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "precision is %d, expected CLE_PRECISION_FP32, _BF16 or _INT8",
        (int) params->precision);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return cle_error_set (err, CLE_ERROR_IO,
        "model directory '%s' does not exist or is not a directory", dir);

  ClipModel *m = g_new0 (ClipModel, 1);
  m->dir = g_strdup (dir);
  char *config = g_build_filename (dir, "config.json", NULL);
  int code = cle_config_load (&m->config, config, towers, err);
  g_free (config);
  if (code == CLE_OK)
    code = open_weights (m, err);
  if (code == CLE_OK && (towers & CLE_TOWER_VISION))
    code = bind_vision (m, err);
  if (code == CLE_OK && (towers & CLE_TOWER_TEXT))
    code = bind_text (m, err);
  if (code == CLE_OK)
    code = bind_logit_scale (m, err);
  /* merged into fp32 copies, before any conversion */
  if (code == CLE_OK && params->adapter_dir && params->adapter_dir[0])
    code = cle_adapter_apply (m, params->adapter_dir, err);
  /* the kernel that runs the products; fp32 at a reduced precision where
   * that is not faster here: then the weights stay as they are */
  m->precision = params->precision;
  if (code == CLE_OK)
    code = cle_kernel_choose (&m->kernel, params->precision, err);
  if (code == CLE_OK && m->kernel != CLE_KERNEL_FP32)
    code = convert_weights (m, params->precision, err);

  if (code == CLE_OK && (towers & CLE_TOWER_TEXT)) {
    char *vocab = g_build_filename (dir, "vocab.json", NULL);
    char *merges = g_build_filename (dir, "merges.txt", NULL);
    code = cle_tokenizer_load (&m->tokenizer, vocab, merges, err);
    if (code == CLE_OK
        && cle_tokenizer_vocab_size (m->tokenizer) > m->config.text.vocab_size)
      code = cle_error_set (err, CLE_ERROR_MODEL,
          "'%s' has %d tokens, more than the model's vocab_size %d", vocab,
          cle_tokenizer_vocab_size (m->tokenizer), m->config.text.vocab_size);
    g_free (vocab);
    g_free (merges);
  }
  if (code == CLE_OK && (towers & CLE_TOWER_VISION)) {
    char *path = g_build_filename (dir, "preprocessor_config.json", NULL);
    int S = m->config.vision.image_size;
    code = cle_preprocess_config_load (&m->preprocess, path, S, err);
    /* The tower needs S x S input whatever the processor is told to do. */
    if (code == CLE_OK) {
      ClipPreprocessConfig *p = &m->preprocess;
      int out_h = p->do_center_crop ? p->crop_height : p->resize_height;
      int out_w = p->do_center_crop ? p->crop_width : p->resize_width;
      if (out_h != S || out_w != S)
        code = cle_error_set (err, CLE_ERROR_MODEL,
            "'%s': preprocessing gives %dx%d images, the vision tower takes "
            "%dx%d (image_size in config.json)", path, out_w, out_h, S, S);
    }
    g_free (path);
  }
  if (code != CLE_OK) {
    cle_model_free (m);
    return code;
  }
  *out = m;
  return CLE_OK;
}

int
cle_model_get_info (const ClipModel *m, ClipModelInfo *info)
{
  if (!m || !info)
    return CLE_ERROR_INVALID_ARGUMENT;
  memset (info, 0, sizeof *info);
  const ClipConfig *c = &m->config;
  info->towers = c->towers;
  info->projection_dim = c->projection_dim;
  info->logit_scale = expf (m->logit_scale);
  info->has_logit_scale = m->has_logit_scale;
  if (c->towers & CLE_TOWER_VISION) {
    info->image_size = c->vision.image_size;
    info->patch_size = c->vision.patch_size;
    info->width_vision = c->vision.width;
    info->n_layer_vision = c->vision.n_layer;
    info->n_head_vision = c->vision.n_head;
    info->mlp_vision = c->vision.mlp;
    info->resize_shortest_edge = m->preprocess.resize_shortest_edge;
    info->crop_width = c->vision.image_size;
    info->crop_height = c->vision.image_size;
    memcpy (info->image_mean, m->preprocess.mean, sizeof info->image_mean);
    memcpy (info->image_std, m->preprocess.std, sizeof info->image_std);
  }
  if (c->towers & CLE_TOWER_TEXT) {
    info->context_length = c->text.context_length;
    info->width_text = c->text.width;
    info->n_layer_text = c->text.n_layer;
    info->n_head_text = c->text.n_head;
    info->mlp_text = c->text.mlp;
    info->vocab_size = c->text.vocab_size;
  }
  info->weights_dtype = m->dtype;
  info->adapter = cle_adapter_description (m->adapter);
  info->precision = m->precision;
  info->kernel = cle_kernel_name (m->kernel, m->precision);
  for (int i = 0; i < m->n_packed; i++)
    info->quantized_bytes += cle_packed_weight_bytes (&m->packed[i]);
  return CLE_OK;
}

int
cle_tokenize (const ClipModel *m, const char *text, int32_t *ids,
    int max_ids, ClipError *err)
{
  if (!m || !text || (!ids && max_ids > 0) || max_ids < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_tokenize: model and text must not be NULL");
  if (!m->tokenizer)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "model '%s' was loaded without its text tower", m->dir);
  return cle_tokenizer_encode (m->tokenizer, text, -1,
      m->config.text.context_length, ids, max_ids, err);
}
