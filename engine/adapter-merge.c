/* adapter-merge.c - the merged methods applied to a loaded model's fp32
 * weights: LoRA, IA3 and DoRA of both libraries as each library's forward
 * computes them (not as their merge functions do), in double, into copies
 * the model owns; and PEFT's saved base tensors put in place. Shapes and
 * values are checked here, against the model's sizes. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "adapter-merge.h"
#include "error.h"
#include "model.h"
#include "tensor-names.h"

static const char *const tower_prefix[2] = { "text_model.", "vision_model." };
static const char *const tower_word[2] = { "text", "vision" };

/* ----------------------------------------------------------- shapes -- */

void
cle_adapter_shape_string (char *buf, size_t size, int n_dim, const int64_t *shape)
{
  size_t pos = g_snprintf (buf, size, "[");
  for (int i = 0; i < n_dim && pos < size; i++)
    pos += g_snprintf (buf + pos, size - pos, "%s%" G_GINT64_FORMAT,
        i ? ", " : "", shape[i]);
  if (pos < size)
    g_snprintf (buf + pos, size - pos, "]");
}

/* t has shape (d0[, d1]) (d1 < 0: 1-d); why says where the sizes come
 * from, e.g. "vision width 48". */
static int
check_shape (ClipError *err, const ClipTensor *t, int64_t d0, int64_t d1,
    const char *why)
{
  int n_dim = d1 < 0 ? 1 : 2;
  int64_t want[2] = { d0, d1 };
  int same = t->n_dim == n_dim;
  for (int i = 0; same && i < n_dim; i++)
    same = t->shape[i] == want[i];
  if (same)
    return CLE_OK;
  char got_s[96], want_s[96];
  cle_adapter_shape_string (got_s, sizeof got_s, t->n_dim, t->shape);
  cle_adapter_shape_string (want_s, sizeof want_s, n_dim, want);
  return cle_error_set (err, CLE_ERROR_MODEL,
      "adapter tensor '%s' in '%s': shape %s, expected %s (%s); adapter "
      "made for another model?", t->name, t->path, got_s, want_s, why);
}

/* The tensor as float32 (a new array), every value finite. */
static int
decode (ClipError *err, const ClipTensor *t, float **out)
{
  *out = NULL;
  if (t->dtype != CLE_DTYPE_F32 && t->dtype != CLE_DTYPE_F16
      && t->dtype != CLE_DTYPE_BF16 && t->dtype != CLE_DTYPE_F64)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "adapter tensor '%s' in '%s': dtype %s, expected F32, F16, BF16 or "
        "F64", t->name, t->path, cle_dtype_name (t->dtype));
  float *v = g_try_malloc (MAX (t->n_elements, 1) * sizeof (float));
  if (!v)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "adapter tensor '%s': cannot allocate %" G_GINT64_FORMAT " floats",
        t->name, t->n_elements);
  cle_tensor_to_f32 (v, t);
  for (int64_t i = 0; i < t->n_elements; i++)
    if (!isfinite (v[i])) {
      g_free (v);
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s': non-finite value at index %"
          G_GINT64_FORMAT, t->name, t->path, i);
    }
  *out = v;
  return CLE_OK;
}

/* ------------------------------------------------------ model slots -- */

static const ClipTowerConfig *
tower_config (const ClipModel *m, int tower)
{
  return tower == TEXT ? &m->config.text : &m->config.vision;
}

static ClipLayerWeights *
tower_layers (ClipModel *m, int tower)
{
  return tower == TEXT ? m->text.layers : m->vision.layers;
}

/* The weight and bias slots of a Linear and its (out, in). */
static void
linear_slots (ClipModel *m, int tower, int layer, ClipAdapterModule mod,
    const float ***w, const float ***b, int *n_out, int *n_in)
{
  const ClipTowerConfig *c = tower_config (m, tower);
  const int D = c->width, M = c->mlp;
  *b = NULL;
  if (layer < 0) {
    *w = tower == TEXT ? &m->text.proj : &m->vision.proj;
    *n_out = m->config.projection_dim;
    *n_in = D;
    return;
  }
  ClipLayerWeights *l = &tower_layers (m, tower)[layer];
  *n_out = mod == MOD_FC1 ? M : D;
  *n_in = mod == MOD_FC2 ? M : D;
  switch (mod) {
    case MOD_Q: *w = &l->q_w; *b = &l->q_b; break;
    case MOD_K: *w = &l->k_w; *b = &l->k_b; break;
    case MOD_V: *w = &l->v_w; *b = &l->v_b; break;
    case MOD_O: *w = &l->o_w; *b = &l->o_b; break;
    case MOD_FC1: *w = &l->fc1_w; *b = &l->fc1_b; break;
    default: *w = &l->fc2_w; *b = &l->fc2_b; break;
  }
}

/* The slot of any bound base tensor, by checkpoint name, or NULL. */
const float **
cle_adapter_base_slot (ClipModel *m, const char *name)
{
  for (int t = 0; t < 2; t++) {
    if (!(m->config.towers & (t == TEXT ? CLE_TOWER_TEXT : CLE_TOWER_VISION)))
      continue;
    char *layers = g_strconcat (tower_prefix[t], "encoder.layers.", NULL);
    int hit = g_str_has_prefix (name, layers);
    const char *rest = name + strlen (layers);
    g_free (layers);
    if (!hit)
      continue;
    char *end;
    long i = strtol (rest, &end, 10);
    if (end == rest || *end != '.' || i < 0
        || i >= tower_config (m, t)->n_layer)
      return NULL;
    ClipLayerWeights *l = &tower_layers (m, t)[i];
#define CLE_SLOT(field, suffix, d0, d1) \
    if (strcmp (end + 1, suffix) == 0) return &l->field;
    CLE_LAYER_TENSORS (CLE_SLOT)
#undef CLE_SLOT
    return NULL;
  }
  const struct {
    unsigned tower;
    const char *name;
    const float **slot;
  } globals[] = {
    { CLE_TOWER_VISION, CLE_NAME_VISUAL_PROJECTION, &m->vision.proj },
    { CLE_TOWER_VISION, CLE_NAME_CLASS_EMBEDDING, &m->vision.class_emb },
    { CLE_TOWER_VISION, CLE_NAME_PATCH_EMBEDDING, &m->vision.patch_w },
    { CLE_TOWER_VISION, CLE_NAME_VISION_POSITIONS, &m->vision.pos_emb },
    { CLE_TOWER_VISION, CLE_NAME_PRE_LN ".weight", &m->vision.pre_ln_w },
    { CLE_TOWER_VISION, CLE_NAME_PRE_LN ".bias", &m->vision.pre_ln_b },
    { CLE_TOWER_VISION, CLE_NAME_POST_LN ".weight", &m->vision.post_ln_w },
    { CLE_TOWER_VISION, CLE_NAME_POST_LN ".bias", &m->vision.post_ln_b },
    { CLE_TOWER_TEXT, CLE_NAME_TEXT_PROJECTION, &m->text.proj },
    { CLE_TOWER_TEXT, CLE_NAME_TOKEN_EMBEDDING, &m->text.tok_emb },
    { CLE_TOWER_TEXT, CLE_NAME_TEXT_POSITIONS, &m->text.pos_emb },
    { CLE_TOWER_TEXT, CLE_NAME_FINAL_LN ".weight", &m->text.final_ln_w },
    { CLE_TOWER_TEXT, CLE_NAME_FINAL_LN ".bias", &m->text.final_ln_b },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (globals); i++)
    if ((m->config.towers & globals[i].tower)
        && strcmp (globals[i].name, name) == 0)
      return globals[i].slot;
  return NULL;
}

/* A float32 copy of *slot that the model owns; *slot points at it. */
static float *
own_copy (ClipModel *m, const float **slot, size_t n)
{
  float *copy = g_try_malloc (MAX (n, 1) * sizeof (float));
  if (!copy)
    return NULL;
  memcpy (copy, *slot, n * sizeof (float));
  m->owned = g_renew (void *, m->owned, m->n_owned + 1);
  m->owned[m->n_owned++] = copy;
  *slot = copy;
  return copy;
}

/* PEFT's rank_pattern / alpha_pattern: the first key that matches. */
static double
pattern_value (const ClipAdapterPatterns *p, const char *module,
    double fallback)
{
  for (int i = 0; i < p->n; i++) {
    char *one[2] = { p->keys[i], NULL };
    if (cle_adapter_name_matches (module, one, NULL))
      return p->values[i];
  }
  return fallback;
}

/* ------------------------------------------------------------ merge -- */

/* Shapes checked, then the Linear's weight (and bias) replaced by merged
 * copies; math in double, as each library's forward (docs/adapters.md). */
int
cle_adapter_merge (ClipModel *model, const ClipAdapterConfig *cfg,
    const ClipAdapterDelta *d, ClipError *err)
{
  const float **w_slot, **b_slot;
  int n_out, n_in, code;
  linear_slots (model, d->tower, d->layer, d->mod, &w_slot, &b_slot, &n_out,
      &n_in);
  const int peft = cfg->library == CLE_ADAPTER_LIB_PEFT;
  char why[96];
  g_snprintf (why, sizeof why, "%s width %d%s", tower_word[d->tower],
      tower_config (model, d->tower)->width, d->mod == MOD_FC1
      || d->mod == MOD_FC2 ? ", MLP width from config.json" : "");
  if (d->bB && !b_slot)
    return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "adapter tensor '%s': a LoRA bias (lora_bias) on %s, which has no "
        "bias in CLIP, is not supported", d->bB->name, d->module);
  float *A = NULL, *B = NULL, *bB = NULL, *mag = NULL, *l = NULL;
  int r = 0;
  double s = 0;
  if (cfg->method == CLE_ADAPTER_IA3) {
    int ff = peft && cle_adapter_name_matches (d->module, cfg->feedforward,
        cfg->feedforward_regex);
    if ((code = check_shape (err, d->l, ff ? 1 : n_out, ff ? n_in : 1, why))
        || (code = decode (err, d->l, &l)))
      return code;
    float *w = own_copy (model, w_slot, (size_t) n_out * n_in);
    float *b = b_slot && !ff ? own_copy (model, b_slot, n_out) : NULL;
    const double alpha = peft ? 1.0 : cfg->alpha;
    for (int o = 0; o < n_out; o++)
      for (int i = 0; i < n_in; i++)
        w[(size_t) o * n_in + i] *= ff ? l[i] : alpha * l[o];
    for (int o = 0; b && o < n_out; o++)
      b[o] *= alpha * l[o];
    g_free (l);
    return CLE_OK;
  }
  if (peft) {
    r = (int) pattern_value (&cfg->rank_pattern, d->module, cfg->r);
    double alpha = pattern_value (&cfg->alpha_pattern, d->module,
        cfg->lora_alpha);
    s = cfg->use_rslora ? alpha / sqrt (r) : alpha / r;
  } else {
    r = cfg->r;
    s = cfg->alpha / r;
  }
  if ((code = check_shape (err, d->A, r, n_in, why))
      || (code = check_shape (err, d->B, n_out, r, why))
      || (d->m && (code = check_shape (err, d->m, n_out, peft ? -1 : 1, why)))
      || (d->bB && (code = check_shape (err, d->bB, n_out, -1, why)))
      || (code = decode (err, d->A, &A)) || (code = decode (err, d->B, &B))
      || (d->m && (code = decode (err, d->m, &mag)))
      || (d->bB && (code = decode (err, d->bB, &bB)))) {
    g_free (A);
    g_free (B);
    g_free (mag);
    return code;
  }
  float *w = own_copy (model, w_slot, (size_t) n_out * n_in);
  float *b = b_slot && (mag || bB) ? own_copy (model, b_slot, n_out) : NULL;
  double *row = g_new (double, n_in);
  code = CLE_OK;
  for (int o = 0; o < n_out && code == CLE_OK; o++) {
    /* row = (B A)[o, :] */
    memset (row, 0, n_in * sizeof (double));
    for (int k = 0; k < r; k++) {
      const double c = B[(size_t) o * r + k];
      const float *a = A + (size_t) k * n_in;
      for (int i = 0; i < n_in; i++)
        row[i] += c * a[i];
    }
    float *wo = w + (size_t) o * n_in;
    double c = 1.0;
    if (mag) {
      /* DoRA: adapters' norm is of W + BA (unscaled), PEFT's of W + sBA;
       * adapters scales the bias as well, PEFT leaves it outside. */
      const double ns = peft ? s : 1.0;
      double norm = 0;
      for (int i = 0; i < n_in; i++) {
        double v = wo[i] + ns * row[i];
        norm += v * v;
      }
      norm = sqrt (norm);
      if (!(norm > 0))
        code = cle_error_set (err, CLE_ERROR_FORMAT,
            "adapter tensor '%s': DoRA row %d of %s has norm 0", d->m->name,
            o, d->module);
      c = mag[o] / norm;
      if (!peft && b)
        b[o] *= c;
    }
    for (int i = 0; i < n_in; i++)
      wo[i] = c * (wo[i] + s * row[i]);
    if (bB)
      b[o] += s * bB[o];
  }
  g_free (row);
  g_free (A);
  g_free (B);
  g_free (mag);
  g_free (bB);
  return code;
}

int
cle_adapter_replace (ClipModel *model, const ClipTensor *t, ClipError *err)
{
  const char *name = t->name + strlen ("base_model.model.");
  char *base = g_strdup (name);
  char *bl = strstr (base, ".base_layer.");
  if (bl)
    memmove (bl, bl + strlen (".base_layer"), strlen (bl + strlen
            (".base_layer")) + 1);
  const float **slot = cle_adapter_base_slot (model, base);
  g_free (base);
  float *v;
  int code = decode (err, t, &v);
  if (code)
    return code;
  float *dst = own_copy (model, slot, t->n_elements);
  memcpy (dst, v, t->n_elements * sizeof (float));
  g_free (v);
  return CLE_OK;
}

