/* adapter-bottleneck.c - bottleneck adapters of AdapterHub's adapters at run
 * time: the blocks built from the saved tensors (checked against the
 * config: sites, leave_out, reduction_factor by layer id, shapes) and the
 * residual step that replaces x + h in an encoder layer, sequential or
 * parallel, with every flag of the library's Adapter/ParallelAdapter. Kept
 * in fp32 whatever the model's precision. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter-runtime.h"
#include "error.h"
#include "model.h"
#include "ops/ops.h"

#define LN_EPS 1e-5f            /* nn.LayerNorm's default, as adapters uses */

struct ClipBottleneck {
  int d, m;
  int parallel, olb, ola, rbl, arbl;
  ClipAdapterActivation act;
  float *lnb_w, *lnb_b;         /* (d) or NULL */
  float *down_w, *down_b;       /* (m, d), (m) */
  float *up_w, *up_b;           /* (d, m), (d) */
  float *lna_w, *lna_b;         /* (d) or NULL */
  float s;                      /* fixed or learned scaling */
  float *s_channel;             /* (d) or NULL */
};

static const char *const site_name[2] = { "attention_adapters",
  "output_adapters"
};

GHashTable *
cle_bottleneck_keys_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) g_hash_table_unref);
}

int
cle_bottleneck_add_key (GHashTable *keys, const char *name,
    const ClipTensor *t, int tower, int layer, const char *rest)
{
  for (int s = 0; s < 2; s++) {
    char *pre = g_strdup_printf ("%s.adapters.%s.", site_name[s], name);
    int hit = g_str_has_prefix (rest, pre);
    const char *param = rest + strlen (pre);
    g_free (pre);
    if (!hit)
      continue;
    char *site = g_strdup_printf ("%d %d %d", tower, layer, s);
    GHashTable *params = g_hash_table_lookup (keys, site);
    if (!params) {
      params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (keys, site, params);
    } else {
      g_free (site);
    }
    g_hash_table_insert (params, g_strdup (param), (gpointer) t);
    return 1;
  }
  return 0;
}

void
cle_bottleneck_free (ClipBottleneck *blocks, int n_blocks)
{
  for (int i = 0; blocks && i < n_blocks; i++) {
    ClipBottleneck *b = &blocks[i];
    float *all[] = { b->lnb_w, b->lnb_b, b->down_w, b->down_b, b->up_w,
      b->up_b, b->lna_w, b->lna_b, b->s_channel
    };
    for (size_t k = 0; k < G_N_ELEMENTS (all); k++)
      g_free (all[k]);
  }
  g_free (blocks);
}

typedef struct {
  GHashTable *params;
  GHashTable *used;
  const char *path, *prefix;    /* for messages */
  ClipError *err;
} Site;

/* Takes param with the given shape (d1 < 0: 1-d) as float32, finite. */
static int
take (Site *s, const char *param, int required, int64_t d0, int64_t d1,
    float **out)
{
  *out = NULL;
  const ClipTensor *t = g_hash_table_lookup (s->params, param);
  if (!t) {
    if (!required)
      return CLE_OK;
    return cle_error_set (s->err, CLE_ERROR_FORMAT,
        "'%s': missing '%s%s'", s->path, s->prefix, param);
  }
  g_hash_table_add (s->used, g_strdup (param));
  int n_dim = d1 < 0 ? 1 : 2;
  if (t->n_dim != n_dim || t->shape[0] != d0 || (d1 >= 0
          && t->shape[1] != d1)) {
    char want[64];
    if (d1 < 0)
      g_snprintf (want, sizeof want, "[%" G_GINT64_FORMAT "]", d0);
    else
      g_snprintf (want, sizeof want, "[%" G_GINT64_FORMAT ", %"
          G_GINT64_FORMAT "]", d0, d1);
    return cle_error_set (s->err, CLE_ERROR_MODEL,
        "adapter tensor '%s' in '%s': shape [%" G_GINT64_FORMAT "%s%s], "
        "expected %s; adapter made for another model?", t->name, s->path,
        t->shape[0], t->n_dim > 1 ? ", ..." : "", t->n_dim == 0 ? "?" : "",
        want);
  }
  if (t->dtype != CLE_DTYPE_F32 && t->dtype != CLE_DTYPE_F16
      && t->dtype != CLE_DTYPE_BF16 && t->dtype != CLE_DTYPE_F64)
    return cle_error_set (s->err, CLE_ERROR_FORMAT,
        "adapter tensor '%s': dtype %s, expected a float type", t->name,
        cle_dtype_name (t->dtype));
  float *v = g_new (float, MAX (t->n_elements, 1));
  cle_tensor_to_f32 (v, t);
  for (int64_t i = 0; i < t->n_elements; i++)
    if (!isfinite (v[i])) {
      g_free (v);
      return cle_error_set (s->err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s': non-finite value at index %"
          G_GINT64_FORMAT, t->name, s->path, i);
    }
  *out = v;
  return CLE_OK;
}

/* reduction_factor for a layer id: a number, or the mapping's entry for
 * str(id), else its "default". */
static int
reduction_factor (const ClipAdapterConfig *cfg, int id, double *rf,
    ClipError *err)
{
  if (!cfg->reduction_map.n) {
    *rf = cfg->reduction_factor;
    return CLE_OK;
  }
  char key[16];
  g_snprintf (key, sizeof key, "%d", id);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < cfg->reduction_map.n; i++)
      if (strcmp (cfg->reduction_map.keys[i], pass ? "default" : key) == 0) {
        *rf = cfg->reduction_map.values[i];
        return CLE_OK;
      }
  return cle_error_set (err, CLE_ERROR_FORMAT,
      "'%s': reduction_factor has no entry for layer %d and no \"default\"",
      cfg->path, id);
}

static int
build_site (ClipBottleneck *b, const ClipAdapterConfig *cfg, int d, int id,
    Site *s)
{
  double rf = 0;
  int code = reduction_factor (cfg, id, &rf, s->err);
  if (code)
    return code;
  b->d = d;
  b->m = MAX (1, (int) floor (d / rf));
  b->parallel = cfg->is_parallel;
  b->olb = cfg->original_ln_before;
  b->ola = cfg->original_ln_after;
  b->rbl = cfg->residual_before_ln;
  b->arbl = cfg->adapter_residual_before_ln;
  b->act = cfg->act;
  b->s = cfg->scaling;
  const char *down = cfg->ln_before ? "adapter_down.1." : "adapter_down.0.";
  char *dw = g_strconcat (down, "weight", NULL);
  char *db = g_strconcat (down, "bias", NULL);
  float *learned = NULL;
  if (!code && cfg->ln_before) {
    /* adapter_down.0 is the LayerNorm, duplicated as adapter_norm_before */
    float *dup_w = NULL, *dup_b = NULL;
    code = take (s, "adapter_down.0.weight", 1, d, -1, &b->lnb_w);
    if (!code)
      code = take (s, "adapter_down.0.bias", 1, d, -1, &b->lnb_b);
    if (!code)
      code = take (s, "adapter_norm_before.weight", 0, d, -1, &dup_w);
    if (!code)
      code = take (s, "adapter_norm_before.bias", 0, d, -1, &dup_b);
    if (!code && ((dup_w && memcmp (dup_w, b->lnb_w, d * sizeof (float)))
            || (dup_b && memcmp (dup_b, b->lnb_b, d * sizeof (float)))))
      code = cle_error_set (s->err, CLE_ERROR_FORMAT,
          "'%s': '%sadapter_norm_before' differs from 'adapter_down.0', "
          "which it duplicates", s->path, s->prefix);
    g_free (dup_w);
    g_free (dup_b);
  }
  if (!code) {
    /* m comes from the tensor; it must be what reduction_factor gives */
    const ClipTensor *t = g_hash_table_lookup (s->params, dw);
    if (t && t->n_dim == 2 && t->shape[1] == d && t->shape[0] != b->m)
      code = cle_error_set (s->err, CLE_ERROR_MODEL,
          "adapter tensor '%s': %" G_GINT64_FORMAT " rows, expected %d = "
          "max(1, %d // reduction_factor %g) for layer id %d", t->name,
          t->shape[0], b->m, d, rf, id);
  }
  if (!code)
    code = take (s, dw, 1, b->m, d, &b->down_w);
  if (!code)
    code = take (s, db, 1, b->m, -1, &b->down_b);
  if (!code)
    code = take (s, "adapter_up.weight", 1, d, b->m, &b->up_w);
  if (!code)
    code = take (s, "adapter_up.bias", 1, d, -1, &b->up_b);
  if (!code && cfg->ln_after)
    code = take (s, "adapter_norm_after.weight", 1, d, -1, &b->lna_w);
  if (!code && cfg->ln_after)
    code = take (s, "adapter_norm_after.bias", 1, d, -1, &b->lna_b);
  if (!code && cfg->scaling_kind == CLE_ADAPTER_SCALING_CHANNEL)
    code = take (s, "scaling", 1, d, -1, &b->s_channel);
  if (!code && cfg->scaling_kind == CLE_ADAPTER_SCALING_LEARNED) {
    code = take (s, "scaling", 1, 1, -1, &learned);
    if (!code)
      b->s = learned[0];
    g_free (learned);
  }
  g_free (dw);
  g_free (db);
  /* nothing left over */
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, s->params);
  while (!code && g_hash_table_iter_next (&it, &key, &value))
    if (!g_hash_table_contains (s->used, key))
      code = cle_error_set (s->err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s' is not a parameter of this bottleneck "
          "config", ((const ClipTensor *) value)->name, s->path);
  return code;
}

int
cle_bottleneck_build (ClipBottleneck **blocks, int *n_blocks, ClipModel *m,
    const ClipAdapterConfig *cfg, GHashTable *keys, int n_text,
    const int *loaded, const char *path, ClipError *err)
{
  const ClipTowerConfig *tc[2] = { &m->config.text, &m->config.vision };
  ClipLayerWeights *layers[2] = { m->text.layers, m->vision.layers };
  const char *word[2] = { "text", "vision" };
  int n = 0;
  for (int t = 0; t < 2; t++)
    if (loaded[t])
      n += 2 * tc[t]->n_layer;
  *blocks = g_new0 (ClipBottleneck, MAX (n, 1));
  *n_blocks = n;
  int code = CLE_OK, k = 0;
  for (int t = 0; t < 2 && !code; t++) {
    if (!loaded[t] || (cfg->ids == CLE_ADAPTER_IDS_TEXT && t == 1)
        || (cfg->ids == CLE_ADAPTER_IDS_VISION && t == 0))
      continue;
    for (int i = 0; i < tc[t]->n_layer && !code; i++) {
      const int id = cfg->ids == CLE_ADAPTER_IDS_GLOBAL && t == 1
          ? n_text + i : i;
      int out = 0;
      for (int j = 0; j < cfg->n_leave_out; j++)
        out |= cfg->leave_out[j] == id;
      for (int site = 0; site < 2 && !code; site++) {
        const int on = !out && (site ? cfg->output_adapter
            : cfg->mh_adapter);
        char key[48];
        g_snprintf (key, sizeof key, "%d %d %d", t, i, site);
        GHashTable *params = g_hash_table_lookup (keys, key);
        char *prefix = g_strdup_printf ("%s_model.encoder.layers.%d.%s."
            "adapters.%s.", word[t], i, site_name[site], cfg->name);
        if (params && !on) {
          code = cle_error_set (err, CLE_ERROR_FORMAT,
              "%s layer %d (id %d) has '%s...' but %s", word[t], i, id,
              prefix, out ? "is in leave_out" : site ? "output_adapter is "
              "false" : "mh_adapter is false");
        } else if (on && !params) {
          code = cle_error_set (err, CLE_ERROR_FORMAT,
              "'%s': missing '%sadapter_up.weight' for %s layer %d (id %d)",
              path, prefix, word[t], i, id);
        } else if (on) {
          Site s = { params, g_hash_table_new_full (g_str_hash, g_str_equal,
                g_free, NULL),
            path, prefix, err
          };
          ClipBottleneck *b = &(*blocks)[k++];
          code = build_site (b, cfg, tc[t]->width, id, &s);
          g_hash_table_unref (s.used);
          if (!code && site)
            layers[t][i].bn_out = b;
          else if (!code)
            layers[t][i].bn_mh = b;
        }
        g_free (prefix);
        if (params)
          g_hash_table_remove (keys, key);
      }
    }
  }
  /* keys of the tower that is not the adapter's were refused by add_key;
   * what is left is a tower that was not loaded */
  return code;
}

size_t
cle_bottleneck_scratch (const ClipBottleneck *b, int rows)
{
  return (size_t) rows * (3 * b->d + b->m);
}

float
cle_adapter_activation (ClipAdapterActivation act, float x)
{
  switch (act) {
    case CLE_ADAPTER_ACT_RELU: return x > 0 ? x : 0;
    case CLE_ADAPTER_ACT_SILU: return x / (1 + expf (-x));
    case CLE_ADAPTER_ACT_GELU: return 0.5f * x * (1 + erff (x * (float) M_SQRT1_2));
    case CLE_ADAPTER_ACT_GELU_TANH:
      return 0.5f * x * (1 + tanhf (0.7978845608028654f
              * (x + 0.044715f * x * x * x)));
    case CLE_ADAPTER_ACT_QUICK_GELU: return x / (1 + expf (-1.702f * x));
    case CLE_ADAPTER_ACT_TANH: return tanhf (x);
    case CLE_ADAPTER_ACT_SIGMOID: return 1 / (1 + expf (-x));
    case CLE_ADAPTER_ACT_LEAKY_RELU: return x > 0 ? x : 0.01f * x;
    case CLE_ADAPTER_ACT_RELU6: return fminf (fmaxf (x, 0), 6);
    case CLE_ADAPTER_ACT_MISH: return x * tanhf (log1pf (expf (x)));
    default: return x;
  }
}

/* y = LN(y) in place when w is set */
static void
maybe_ln (float *y, const float *w, const float *b, int rows, int d, int nt)
{
  if (w)
    cle_layer_norm (y, y, w, b, rows, d, LN_EPS, nt);
}

/* The element-wise passes of a block, shared out by rows between the
 * threads when there are enough of them (a batch of images): one thread
 * on them would leave the other idle for ~2% of a forward pass. */
typedef enum
{
  PASS_INPUT,                   /* u = h + x */
  PASS_ACTIVATION,              /* mid = act (mid) */
  PASS_SCALE,                   /* a *= s */
  PASS_OUTPUT,                  /* x = s a + res + (ola ? x : 0) */
} PassKind;

typedef struct
{
  const ClipBottleneck *b;
  PassKind kind;
  int rows;
  float *x, *u, *a, *mid;
  const float *h, *res;
} Pass;

static float
scale_of (const ClipBottleneck *b, int i)
{
  return b->s_channel ? b->s_channel[i] : b->s;
}

static void
pass_part (void *arg, int t, int T)
{
  const Pass *p = arg;
  const ClipBottleneck *b = p->b;
  const size_t d = b->d, m = b->m;
  const size_t r0 = (size_t) p->rows * t / T, r1 = (size_t) p->rows * (t + 1) / T;
  switch (p->kind) {
    case PASS_INPUT:
      for (size_t i = r0 * d; i < r1 * d; i++)
        p->u[i] = p->h[i] + p->x[i];
      break;
    case PASS_ACTIVATION:
      for (size_t i = r0 * m; i < r1 * m; i++)
        p->mid[i] = cle_adapter_activation (b->act, p->mid[i]);
      break;
    case PASS_SCALE:
      for (size_t r = r0; r < r1; r++)
        for (size_t i = 0; i < d; i++)
          p->a[r * d + i] *= scale_of (b, i);
      break;
    case PASS_OUTPUT:
      for (size_t r = r0; r < r1; r++)
        for (size_t i = 0; i < d; i++) {
          const size_t k = r * d + i;
          p->x[k] = scale_of (b, i) * p->a[k] + p->res[k]
              + (b->ola ? p->x[k] : 0);
        }
      break;
  }
}

static void
run_pass (Pass *p, PassKind kind, int nt)
{
  p->kind = kind;
  cle_parallel ((size_t) p->rows * p->b->d >= 65536 ? nt : 1, pass_part, p);
}

/* p->a = up(act(down(LNb(u)))), times s unless @scale_later: a, u:
 * (rows, d) */
static void
adapter_block (Pass *p, const float *u, float *tmp, int scale_later, int nt)
{
  const ClipBottleneck *b = p->b;
  const int d = b->d, m = b->m;
  if (b->lnb_w) {
    cle_layer_norm (tmp, u, b->lnb_w, b->lnb_b, p->rows, d, LN_EPS, nt);
    u = tmp;
  }
  cle_linear (p->mid, u, b->down_w, b->down_b, p->rows, d, m, 0, 0, nt);
  run_pass (p, PASS_ACTIVATION, nt);
  cle_linear (p->a, p->mid, b->up_w, b->up_b, p->rows, m, d, 0, 0, nt);
  if (!scale_later)
    run_pass (p, PASS_SCALE, nt);
}

/* adapters' Adapter.pre_forward/forward/post_forward (layer_norm None, as
 * CLIP is pre-LN) and ParallelAdapter's; see docs/adapters.md. */
void
cle_bottleneck_residual (const ClipBottleneck *b, float *x, float *h,
    int rows, float *scratch, int nt)
{
  const int d = b->d;
  const size_t n = (size_t) rows * d;
  float *tmp = scratch + 2 * n;
  Pass p = { b, PASS_INPUT, rows, x, scratch, scratch + n, scratch + 3 * n,
    h, NULL
  };
  /* the adapter's input and the residual its output is added to: the raw
   * residual r and h (ParallelAdapter), or xin = olb ? h + r : h and
   * res = rbl ? h : xin (Adapter) */
  const float *in = x;
  if (b->parallel) {
    p.res = h;
  } else {
    if (b->olb)
      run_pass (&p, PASS_INPUT, nt);
    else
      p.u = h;
    in = p.u;
    p.res = b->rbl ? h : p.u;
  }
  if (!b->lna_w) {
    /* o = a + res either way: y = s up(...) + res + (ola ? r : 0) in one
     * pass */
    adapter_block (&p, in, tmp, 1, nt);
    run_pass (&p, PASS_OUTPUT, nt);
    return;
  }
  adapter_block (&p, in, tmp, 0, nt);
  /* o = arbl ? LNa(a + res) : LNa(a) + res (always the latter in
   * ParallelAdapter) */
  float *a = p.a;
  if (b->arbl && !b->parallel) {
    for (size_t i = 0; i < n; i++)
      a[i] += p.res[i];
    maybe_ln (a, b->lna_w, b->lna_b, rows, d, nt);
  } else {
    maybe_ln (a, b->lna_w, b->lna_b, rows, d, nt);
    for (size_t i = 0; i < n; i++)
      a[i] += p.res[i];
  }
  /* y = ola ? o + r : o */
  for (size_t i = 0; i < n; i++)
    x[i] = a[i] + (b->ola ? x[i] : 0);
}
