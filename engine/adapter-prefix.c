/* adapter-prefix.c - prefix tuning of AdapterHub's adapters: the saved
 * parameters (the MLP form wte + control_trans, or the flat form that
 * eject_prefix_tuning leaves) turned once at load into per-layer keys and
 * values (n_head, P, d_head), which attention puts before every sequence.
 * Slots follow the layers that are not left out, counted per tower. */
#include <math.h>
#include <string.h>

#include "adapter-runtime.h"
#include "error.h"
#include "model.h"
#include "ops/ops.h"

static const char *const location[2] = { "clip_text_model_self_prefix",
  "clip_vision_model_self_prefix"
};

int
cle_prefix_add_key (GHashTable *keys, const char *name, const ClipTensor *t,
    const char *key)
{
  for (int tw = 0; tw < 2; tw++) {
    char *pre = g_strdup_printf ("prefix_tuning.prefix_tunings.%s.%s.", name,
        location[tw]);
    int hit = g_str_has_prefix (key, pre);
    char *param = hit ? g_strdup_printf ("%d %s", tw, key + strlen (pre))
        : NULL;
    g_free (pre);
    if (hit) {
      g_hash_table_insert (keys, param, (gpointer) t);
      return 1;
    }
  }
  return 0;
}

/* param of tower tw as float32 with shape (d0[, d1]), finite; NULL when
 * absent and not required. */
static int
take (GHashTable *keys, int tw, const char *param, int64_t d0, int64_t d1,
    int required, const char *path, float **out, ClipError *err)
{
  char *k = g_strdup_printf ("%d %s", tw, param);
  const ClipTensor *t = g_hash_table_lookup (keys, k);
  g_hash_table_remove (keys, k);
  g_free (k);
  *out = NULL;
  if (!t)
    return required ? cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': missing '...%s.%s'", path, location[tw], param) : CLE_OK;
  int n_dim = d1 < 0 ? 1 : 2;
  if (t->n_dim != n_dim || t->shape[0] != d0 || (d1 >= 0
          && t->shape[1] != d1)) {
    char want[64], got[64];
    g_snprintf (want, sizeof want, d1 < 0 ? "[%" G_GINT64_FORMAT "]"
        : "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", d0, d1);
    g_snprintf (got, sizeof got, t->n_dim == 1 ? "[%" G_GINT64_FORMAT "]"
        : "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", t->shape[0],
        t->n_dim > 1 ? t->shape[1] : 0);
    return cle_error_set (err, CLE_ERROR_MODEL,
        "adapter tensor '%s' in '%s': shape %s, expected %s; adapter made "
        "for another model?", t->name, path, t->n_dim <= 2 ? got : "(>2-d)",
        want);
  }
  float *v = g_new (float, MAX (t->n_elements, 1));
  cle_tensor_to_f32 (v, t);
  for (int64_t i = 0; i < t->n_elements; i++)
    if (!isfinite (v[i])) {
      g_free (v);
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s': non-finite value at index %"
          G_GINT64_FORMAT, t->name, path, i);
    }
  *out = v;
  return CLE_OK;
}

/* kv: (P, 2 n_t d) for one tower -> its layers' prefix keys and values */
static void
place (ClipModel *m, ClipLayerWeights *layers, const ClipTowerConfig *c,
    const int *slot, const float *kv, int P, int n_t)
{
  const int d = c->width, H = c->n_head, Dh = d / H;
  for (int i = 0; i < c->n_layer; i++) {
    if (slot[i] < 0)
      continue;
    const int j = slot[i];
    float *k = g_new (float, (size_t) H * P * Dh);
    float *v = g_new (float, (size_t) H * P * Dh);
    for (int h = 0; h < H; h++)
      for (int p = 0; p < P; p++) {
        const float *row = kv + (size_t) p * 2 * n_t * d;
        memcpy (k + ((size_t) h * P + p) * Dh,
            row + ((size_t) (2 * j) * H + h) * Dh, Dh * sizeof (float));
        memcpy (v + ((size_t) h * P + p) * Dh,
            row + ((size_t) (2 * j + 1) * H + h) * Dh, Dh * sizeof (float));
      }
    m->owned = g_renew (void *, m->owned, m->n_owned + 2);
    m->owned[m->n_owned++] = k;
    m->owned[m->n_owned++] = v;
    layers[i].prefix.n = P;
    layers[i].prefix.k = k;
    layers[i].prefix.v = v;
  }
}

int
cle_prefix_build (ClipModel *m, const ClipAdapterConfig *cfg,
    GHashTable *keys, int n_text, const int *loaded, const char *path,
    ClipError *err)
{
  const ClipTowerConfig *tc[2] = { &m->config.text, &m->config.vision };
  ClipLayerWeights *layers[2] = { m->text.layers, m->vision.layers };
  const char *word[2] = { "text", "vision" };
  const int P = cfg->prefix_length, bs = cfg->bottleneck_size;
  int code = CLE_OK;
  for (int tw = 0; tw < 2 && !code; tw++) {
    if (!loaded[tw] || (cfg->ids == CLE_ADAPTER_IDS_TEXT && tw == 1)
        || (cfg->ids == CLE_ADAPTER_IDS_VISION && tw == 0))
      continue;
    const ClipTowerConfig *c = tc[tw];
    const int d = c->width;
    /* slots: the layers not left out, in order */
    int *slot = g_new (int, MAX (c->n_layer, 1)), n_t = 0;
    for (int i = 0; i < c->n_layer; i++) {
      int id = cfg->ids == CLE_ADAPTER_IDS_GLOBAL && tw == 1 ? n_text + i : i;
      int out = 0;
      for (int j = 0; j < cfg->n_leave_out; j++)
        out |= cfg->leave_out[j] == id;
      slot[i] = out ? -1 : n_t++;
    }
    const int64_t n_kv = (int64_t) 2 * n_t * d;
    float *flat = NULL, *wte = NULL, *w1 = NULL, *b1 = NULL, *w2 = NULL;
    float *b2 = NULL;
    char *flat_key = g_strdup_printf ("%d control_trans", tw);
    const int is_flat = g_hash_table_contains (keys, flat_key);
    g_free (flat_key);
    /* decided by the keys: an ejected prefix says "flat": false but holds
     * the flat vector */
    if (n_t == 0) {
      code = CLE_OK;
    } else if (is_flat) {
      code = take (keys, tw, "control_trans", P * n_kv, -1, 1, path, &flat,
          err);
    } else {
      if (!(code = take (keys, tw, "wte.weight", P, d, 1, path, &wte, err))
          && !(code = take (keys, tw, "control_trans.0.weight", bs, d, 1,
                  path, &w1, err))
          && !(code = take (keys, tw, "control_trans.0.bias", bs, -1, 1, path,
                  &b1, err))
          && !(code = take (keys, tw, "control_trans.2.weight", n_kv, bs, 1,
                  path, &w2, err)))
        code = take (keys, tw, "control_trans.2.bias", n_kv, -1, 1, path, &b2,
            err);
      if (code && strstr (err ? err->message : "", "control_trans.2"))
        g_snprintf (err->message + strlen (err->message),
            sizeof err->message - strlen (err->message),
            " (2 x %d %s layers not left out x width %d)", n_t, word[tw], d);
      if (!code) {
        /* KV = W2 act(W1 E + b1) + b2, once: (P, bs), then (P, n_kv) */
        float *hid = g_new (float, (size_t) P * bs);
        flat = g_new (float, (size_t) P * n_kv);
        cle_linear (hid, wte, w1, b1, P, d, bs, 0, 0, 1);
        for (size_t i = 0; i < (size_t) P * bs; i++)
          hid[i] = cle_adapter_activation (cfg->act, hid[i]);
        cle_linear (flat, hid, w2, b2, P, bs, n_kv, 0, 0, 1);
        g_free (hid);
      }
    }
    if (!code && n_t)
      place (m, layers[tw], c, slot, flat, P, n_t);
    g_free (flat);
    g_free (wte);
    g_free (w1);
    g_free (b1);
    g_free (w2);
    g_free (b2);
    g_free (slot);
  }
  /* nothing else: a prefix for a tower all of whose layers are left out,
   * or keys of another form */
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, keys);
  while (!code && g_hash_table_iter_next (&it, &key, &value)) {
    int tw = ((const char *) key)[0] - '0';
    if (loaded[tw])
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s' is not used by this prefix-tuning "
          "config (every %s layer left out, or both the MLP and the flat "
          "form saved)", ((const ClipTensor *) value)->name, path, word[tw]);
  }
  return code;
}
