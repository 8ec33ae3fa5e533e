/* adapter.c - an adapter directory applied to a loaded model: the weights
 * file found and read (safetensors or torch.save), every key parsed into
 * (tower, layer, module, parameter) and checked against the config (sites,
 * leave_out, targets, layers_to_transform), then handed to the method's
 * file: adapter-merge.c (LoRA, IA3, DoRA, PEFT's base tensors),
 * adapter-bottleneck.c, adapter-prefix.c. The adapter's fingerprint. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "adapter.h"
#include "adapter-merge.h"
#include "adapter-runtime.h"
#include "error.h"
#include "model.h"
#include "tensor-names.h"
#include "torch-zip.h"

static const char *const tower_prefix[2] = { "text_model.", "vision_model." };
static const char *const tower_word[2] = { "text", "vision" };
static const char *const mod_path[N_LAYER_MOD] = { "self_attn.q_proj",
  "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1",
  "mlp.fc2"
};

struct ClipAdapter {
  ClipAdapterConfig cfg;
  char *weights_path;
  char *fingerprint;
  char *description;
  ClipBottleneck *blocks;       /* run-time blocks, or NULL */
  int n_blocks;
};

typedef struct {
  ClipModel *m;
  ClipAdapter *a;
  const ClipAdapterConfig *cfg;
  ClipSafetensors *st;
  int n_layer[2];               /* -1: unknown (tower absent) */
  int loaded[2];
  GHashTable *deltas;           /* module -> ClipAdapterDelta* */
  GPtrArray *overrides;         /* ClipTensor* whose name is a base name */
  GHashTable *bottleneck;       /* "tower.layer.site" -> GHashTable param->tensor */
  GHashTable *prefix;           /* "tower param" -> tensor */
  ClipError *err;
} Load;

static void
delta_free (ClipAdapterDelta *d)
{
  g_free (d->module);
  g_free (d);
}

/* ------------------------------------------------------------- keys -- */

static int
is_left_out (const ClipAdapterConfig *cfg, int id)
{
  for (int i = 0; i < cfg->n_leave_out; i++)
    if (cfg->leave_out[i] == id)
      return 1;
  return 0;
}

/* The layer id adapters' config uses for a tower's layer. */
static int
layer_id (const Load *ld, int tower, int layer)
{
  if (ld->cfg->ids == CLE_ADAPTER_IDS_GLOBAL && tower == VISION)
    return ld->n_layer[TEXT] + layer;
  return layer;
}

static ClipAdapterDelta *
delta_get (Load *ld, int tower, int layer, ClipAdapterModule mod)
{
  char *module = layer < 0 ? g_strdup (tower == TEXT ? "text_projection"
      : "visual_projection") : g_strdup_printf ("%sencoder.layers.%d.%s",
      tower_prefix[tower], layer, mod_path[mod]);
  ClipAdapterDelta *d = g_hash_table_lookup (ld->deltas, module);
  if (d) {
    g_free (module);
    return d;
  }
  d = g_new0 (ClipAdapterDelta, 1);
  d->tower = tower;
  d->layer = layer;
  d->mod = mod;
  d->module = module;
  g_hash_table_insert (ld->deltas, module, d);
  return d;
}

static int
unrecognized (Load *ld, const ClipTensor *t)
{
  return cle_error_set (ld->err, CLE_ERROR_FORMAT,
      "adapter tensor '%s' in '%s' is not a CLIP %s parameter", t->name,
      t->path, ld->cfg->library == CLE_ADAPTER_LIB_PEFT ? "PEFT"
      : cle_adapter_method_name (ld->cfg->method));
}

/* A parameter of a module: adapters "loras.<name>.lora_A", PEFT
 * "lora_A.weight" ...; sets the ClipAdapterDelta's field. */
static int
add_param (Load *ld, const ClipTensor *t, int tower, int layer, ClipAdapterModule mod,
    const char *param)
{
  const ClipTensor **field = NULL;
  ClipAdapterDelta *d = NULL;
  if (ld->cfg->library == CLE_ADAPTER_LIB_ADAPTERS) {
    char *lp = g_strdup_printf ("loras.%s.", ld->cfg->name);
    int ok = g_str_has_prefix (param, lp);
    const char *p = param + strlen (lp);
    g_free (lp);
    if (!ok || ld->cfg->method == CLE_ADAPTER_BOTTLENECK
        || ld->cfg->method == CLE_ADAPTER_PREFIX)
      return unrecognized (ld, t);
    d = delta_get (ld, tower, layer, mod);
    if (strcmp (p, "lora_A") == 0 && ld->cfg->method != CLE_ADAPTER_IA3)
      field = &d->A;
    else if (strcmp (p, "lora_B") == 0)
      field = ld->cfg->method == CLE_ADAPTER_IA3 ? &d->l : &d->B;
    else if (strcmp (p, "m.weight") == 0
        && ld->cfg->method == CLE_ADAPTER_DORA)
      field = &d->m;
  } else {
    d = delta_get (ld, tower, layer, mod);
    int ia3 = ld->cfg->method == CLE_ADAPTER_IA3;
    if (!ia3 && strcmp (param, "lora_A.weight") == 0)
      field = &d->A;
    else if (!ia3 && strcmp (param, "lora_B.weight") == 0)
      field = &d->B;
    else if (!ia3 && strcmp (param, "lora_B.bias") == 0 && ld->cfg->lora_bias)
      field = &d->bB;
    else if (!ia3 && strcmp (param, "lora_magnitude_vector") == 0
        && ld->cfg->use_dora)
      field = &d->m;
    else if (ia3 && strcmp (param, "ia3_l") == 0)
      field = &d->l;
  }
  if (!field)
    return unrecognized (ld, t);
  *field = t;
  return CLE_OK;
}

/* PEFT: a saved base tensor (bias != "none", modules_to_save). */
static int
add_override (Load *ld, const ClipTensor *t, const char *name)
{
  const ClipAdapterConfig *cfg = ld->cfg;
  if (cfg->library != CLE_ADAPTER_LIB_PEFT || !cle_adapter_base_slot (ld->m, name))
    return unrecognized (ld, t);
  char *module = g_strndup (name, strrchr (name, '.') - name);
  int allowed = (g_str_has_suffix (name, ".bias") && cfg->bias
      && strcmp (cfg->bias, "none") != 0)
      || cle_adapter_name_matches (module, cfg->modules_to_save, NULL);
  g_free (module);
  if (!allowed)
    return cle_error_set (ld->err, CLE_ERROR_FORMAT,
        "adapter tensor '%s' in '%s' replaces the base tensor '%s', but the "
        "config's bias ('%s') and modules_to_save do not save it", t->name,
        t->path, name, cfg->bias ? cfg->bias : "none");
  const ClipTensor *base = cle_safetensors_find (ld->m->weights, name);
  if (!base)
    return unrecognized (ld, t);
  int same = base->n_dim == t->n_dim;
  for (int i = 0; same && i < t->n_dim; i++)
    same = base->shape[i] == t->shape[i];
  if (!same) {
    char got_s[96], want_s[96];
    cle_adapter_shape_string (got_s, sizeof got_s, t->n_dim, t->shape);
    cle_adapter_shape_string (want_s, sizeof want_s, base->n_dim, base->shape);
    return cle_error_set (ld->err, CLE_ERROR_MODEL,
        "adapter tensor '%s' in '%s': shape %s, expected %s (the base "
        "tensor '%s'); adapter made for another model?", t->name, t->path,
        got_s, want_s, name);
  }
  g_ptr_array_add (ld->overrides, (gpointer) t);
  return CLE_OK;
}

/* One key of the weights file. */
static int
add_key (Load *ld, const ClipTensor *t)
{
  const ClipAdapterConfig *cfg = ld->cfg;
  const char *key = t->name;
  if (cfg->library == CLE_ADAPTER_LIB_PEFT) {
    if (strstr (key, ".lora_embedding_") || strstr (key, ".lora_conv"))
      return cle_error_set (ld->err, CLE_ERROR_UNSUPPORTED,
          "adapter tensor '%s' in '%s': LoRA on an embedding or a "
          "convolution is not supported (Linear layers only)", t->name,
          t->path);
    if (!g_str_has_prefix (key, "base_model.model."))
      return unrecognized (ld, t);
    key += strlen ("base_model.model.");
  } else if (g_str_has_prefix (key, "clip.")) {
    key += strlen ("clip.");    /* CLIPAdapterModel */
  }
  /* PEFT's wrapped Linear: "<module>.base_layer.<param>" is the base's */
  char *name = g_strdup (key);
  char *bl = strstr (name, ".base_layer.");
  if (bl)
    memmove (bl, bl + strlen (".base_layer"), strlen (bl + strlen
            (".base_layer")) + 1);

  int code = CLE_OK, tower = -1;
  for (int tw = 0; tw < 2; tw++)
    if (g_str_has_prefix (name, tower_prefix[tw]))
      tower = tw;
  if (tower < 0 && (g_str_has_prefix (name, "text_projection.")
          || g_str_has_prefix (name, "visual_projection.")))
    tower = name[0] == 't' ? TEXT : VISION;
  if (tower < 0) {
    if (cfg->library == CLE_ADAPTER_LIB_ADAPTERS
        && g_str_has_prefix (name, "prefix_tuning."))
      code = cfg->method == CLE_ADAPTER_PREFIX
          && cle_prefix_add_key (ld->prefix, cfg->name, t, name)
          ? CLE_OK : unrecognized (ld, t);
    else
      code = add_override (ld, t, name);
    g_free (name);
    return code;
  }
  if ((cfg->ids == CLE_ADAPTER_IDS_TEXT && tower == VISION)
      || (cfg->ids == CLE_ADAPTER_IDS_VISION && tower == TEXT)) {
    code = cle_error_set (ld->err, CLE_ERROR_MODEL,
        "adapter '%s' is for %s but has %s.* tensors ('%s')", cfg->name,
        cfg->model_class, tower == TEXT ? "text_model" : "vision_model",
        t->name);
    g_free (name);
    return code;
  }
  if (!ld->loaded[tower]) {     /* a tower that was not loaded */
    g_free (name);
    return CLE_OK;
  }
  const char *rest = NULL;
  int layer = -1;
  char *layers = g_strconcat (tower_prefix[tower], "encoder.layers.", NULL);
  if (g_str_has_prefix (name, layers)) {
    char *end;
    const char *num = name + strlen (layers);
    long i = strtol (num, &end, 10);
    if (end > num && *end == '.' && i >= 0 && i < 1000000) {
      layer = i;
      rest = end + 1;
    }
  } else if (tower == TEXT ? g_str_has_prefix (name, "text_projection.")
      : g_str_has_prefix (name, "visual_projection.")) {
    rest = strchr (name, '.') + 1;
  }
  g_free (layers);
  if (!rest) {
    code = add_override (ld, t, name);
    g_free (name);
    return code;
  }
  if (layer >= ld->n_layer[tower]) {
    code = cle_error_set (ld->err, CLE_ERROR_MODEL,
        "adapter has weights for %s layer %d ('%s'), model has %d %s layers "
        "(0..%d)", tower_word[tower], layer, t->name, ld->n_layer[tower],
        tower_word[tower], ld->n_layer[tower] - 1);
    g_free (name);
    return code;
  }
  if (cfg->library == CLE_ADAPTER_LIB_ADAPTERS && layer >= 0
      && strstr (rest, "prefix_tuning.pool.")) {
    g_free (name);              /* duplicates of the top-level pool */
    return CLE_OK;
  }
  if (layer >= 0 && cfg->library == CLE_ADAPTER_LIB_ADAPTERS
      && (g_str_has_prefix (rest, "attention_adapters.adapters.")
          || g_str_has_prefix (rest, "output_adapters.adapters."))) {
    code = cle_bottleneck_add_key (ld->bottleneck, cfg->name, t, tower,
        layer, rest) ? CLE_OK : unrecognized (ld, t);
    g_free (name);
    return code;
  }
  if (layer < 0) {
    code = strcmp (rest, "weight") == 0 || strcmp (rest, "bias") == 0
        ? add_override (ld, t, name)
        : add_param (ld, t, tower, -1, MOD_PROJ, rest);
  } else {
    code = -1;
    for (int mod = 0; mod < N_LAYER_MOD && code == -1; mod++) {
      size_t k = strlen (mod_path[mod]);
      if (strncmp (rest, mod_path[mod], k) == 0 && rest[k] == '.') {
        const char *param = rest + k + 1;
        if (strcmp (param, "weight") == 0 || strcmp (param, "bias") == 0)
          code = add_override (ld, t, name);
        else
          code = add_param (ld, t, tower, layer, mod, param);
      }
    }
    if (code == -1)
      code = add_override (ld, t, name);
  }
  g_free (name);
  return code;
}

/* ------------------------------------------------------- validation -- */

static int
mod_enabled (const ClipAdapterConfig *cfg, ClipAdapterModule mod)
{
  switch (mod) {
    case MOD_Q: return cfg->selfattn && cfg->attn_q;
    case MOD_K: return cfg->selfattn && cfg->attn_k;
    case MOD_V: return cfg->selfattn && cfg->attn_v;
    case MOD_FC1: return cfg->intermediate;
    case MOD_FC2: return cfg->output;
    default: return 0;
  }
}

/* the first tensor of a delta, for messages */
static const ClipTensor *
delta_any (const ClipAdapterDelta *d)
{
  return d->A ? d->A : d->B ? d->B : d->l ? d->l : d->m ? d->m : d->bB;
}

static char *
expected_key (const Load *ld, const ClipAdapterDelta *d, const char *param)
{
  return g_strdup_printf ("%s.loras.%s.%s", d->module, ld->cfg->name, param);
}

/* adapters: a delta exactly where the config and leave_out say. */
static int
check_adapters_sites (Load *ld)
{
  const ClipAdapterConfig *cfg = ld->cfg;
  for (int tw = 0; tw < 2; tw++) {
    if (!ld->loaded[tw] || (cfg->ids == CLE_ADAPTER_IDS_TEXT && tw == VISION)
        || (cfg->ids == CLE_ADAPTER_IDS_VISION && tw == TEXT))
      continue;
    for (int i = 0; i < ld->n_layer[tw]; i++) {
      const int id = layer_id (ld, tw, i), out = is_left_out (cfg, id);
      for (int mod = 0; mod < N_LAYER_MOD; mod++) {
        if (!mod_enabled (cfg, mod))
          continue;
        char *module = g_strdup_printf ("%sencoder.layers.%d.%s",
            tower_prefix[tw], i, mod_path[mod]);
        ClipAdapterDelta *d = g_hash_table_lookup (ld->deltas, module);
        g_free (module);
        if (out && d)
          return cle_error_set (ld->err, CLE_ERROR_FORMAT,
              "%s layer %d (id %d) is in leave_out but has '%s'",
              tower_word[tw], i, id, delta_any (d)->name);
        if (out)
          continue;
        const char *missing = !d ? (cfg->method == CLE_ADAPTER_IA3
            ? "lora_B" : "lora_A") : cfg->method == CLE_ADAPTER_IA3
            ? (d->l ? NULL : "lora_B") : !d->A ? "lora_A" : !d->B ? "lora_B"
            : cfg->method == CLE_ADAPTER_DORA && !d->m ? "m.weight" : NULL;
        if (missing) {
          char *path = g_strdup_printf ("%sencoder.layers.%d.%s",
              tower_prefix[tw], i, mod_path[mod]);
          ClipAdapterDelta tmp = { .module = path };
          char *key = expected_key (ld, &tmp, missing);
          int code = cle_error_set (ld->err, CLE_ERROR_FORMAT,
              "'%s': missing '%s' for %s layer %d (id %d)", ld->a->weights_path,
              key, tower_word[tw], i, id);
          g_free (key);
          g_free (path);
          return code;
        }
      }
    }
  }
  /* and nowhere else */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, ld->deltas);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    const ClipAdapterDelta *d = value;
    if (d->layer < 0 || !mod_enabled (cfg, d->mod))
      return cle_error_set (ld->err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s': module %s is not adapted by the "
          "config (selfattn_lora %d, attn_matrices q %d k %d v %d, "
          "intermediate_lora %d, output_lora %d)", delta_any (d)->name,
          delta_any (d)->path, d->module, cfg->selfattn, cfg->attn_q,
          cfg->attn_k, cfg->attn_v, cfg->intermediate, cfg->output);
  }
  return CLE_OK;
}

/* PEFT: each delta on a target module, in layers_to_transform, complete. */
static int
check_peft_delta (Load *ld, const ClipAdapterDelta *d)
{
  const ClipAdapterConfig *cfg = ld->cfg;
  const ClipTensor *any = delta_any (d);
  if (!cle_adapter_name_matches (d->module, cfg->targets, cfg->target_regex)
      || ((cfg->exclude || cfg->exclude_regex)
          && cle_adapter_name_matches (d->module, cfg->exclude,
              cfg->exclude_regex)))
    return cle_error_set (ld->err, CLE_ERROR_FORMAT,
        "adapter tensor '%s' in '%s': module %s is not in target_modules "
        "(or is excluded)", any->name, any->path, d->module);
  if (cfg->n_layers_to_transform >= 0) {
    int in = 0;
    for (int i = 0; i < cfg->n_layers_to_transform; i++)
      in |= cfg->layers_to_transform[i] == d->layer;
    if (!in)
      return cle_error_set (ld->err, CLE_ERROR_FORMAT,
          "adapter tensor '%s' in '%s': %s layer %d is not in "
          "layers_to_transform (PEFT counts the layers of each tower)",
          any->name, any->path, tower_word[d->tower], d->layer);
  }
  const char *missing = cfg->method == CLE_ADAPTER_IA3 ? (d->l ? NULL
      : "ia3_l") : !d->A ? "lora_A.weight" : !d->B ? "lora_B.weight"
      : cfg->use_dora && !d->m ? "lora_magnitude_vector"
      : cfg->lora_bias && !d->bB ? "lora_B.bias" : NULL;
  if (missing)
    return cle_error_set (ld->err, CLE_ERROR_FORMAT,
        "'%s': missing 'base_model.model.%s.%s' (its module has '%s')",
        ld->a->weights_path, d->module, missing, any->name);
  return CLE_OK;
}

/* ---------------------------------------------------------- loading -- */

/* Layer counts of both towers: the model's, or config.json's for a tower
 * that was not loaded (global ids need the text count). */
static void
count_layers (Load *ld)
{
  ClipModel *m = ld->m;
  ld->loaded[TEXT] = (m->config.towers & CLE_TOWER_TEXT) != 0;
  ld->loaded[VISION] = (m->config.towers & CLE_TOWER_VISION) != 0;
  ld->n_layer[TEXT] = ld->loaded[TEXT] ? m->config.text.n_layer : -1;
  ld->n_layer[VISION] = ld->loaded[VISION] ? m->config.vision.n_layer : -1;
  if (ld->loaded[TEXT] && ld->loaded[VISION])
    return;
  char *path = g_build_filename (m->dir, "config.json", NULL);
  JsonParser *p = json_parser_new ();
  if (json_parser_load_from_mapped_file (p, path, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))) {
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    const char *keys[2] = { "text_config", "vision_config" };
    for (int t = 0; t < 2; t++) {
      JsonNode *n = json_object_get_member (o, keys[t]);
      if (ld->n_layer[t] < 0 && n && JSON_NODE_HOLDS_OBJECT (n))
        ld->n_layer[t] = json_object_get_int_member_with_default
            (json_node_get_object (n), "num_hidden_layers", 12);
    }
  }
  g_object_unref (p);
  g_free (path);
}

static int
check_leave_out (Load *ld)
{
  const ClipAdapterConfig *cfg = ld->cfg;
  if (!cfg->n_leave_out)
    return CLE_OK;
  GString *ids = g_string_new (NULL);
  for (int i = 0; i < cfg->n_leave_out; i++)
    g_string_append_printf (ids, "%s%d", i ? ", " : "", cfg->leave_out[i]);
  int code = CLE_OK, lo = 0, hi = 0;
  if (cfg->ids == CLE_ADAPTER_IDS_GLOBAL) {
    if (ld->n_layer[TEXT] < 0)
      code = cle_error_set (ld->err, CLE_ERROR_MODEL,
          "adapter '%s' (%s) numbers layers text-then-vision; this "
          "checkpoint has no text tower, so leave_out [%s] cannot be placed",
          cfg->name, cfg->model_class, ids->str);
    hi = ld->n_layer[TEXT] + MAX (ld->n_layer[VISION], 0) - 1;
  } else {
    hi = ld->n_layer[cfg->ids == CLE_ADAPTER_IDS_TEXT ? TEXT : VISION] - 1;
  }
  for (int i = 0; code == CLE_OK && i < cfg->n_leave_out; i++)
    if (cfg->leave_out[i] < lo || cfg->leave_out[i] > hi)
      code = cfg->ids == CLE_ADAPTER_IDS_GLOBAL
          ? cle_error_set (ld->err, CLE_ERROR_MODEL,
          "adapter '%s': leave_out id %d out of range 0..%d (text %d + "
          "vision %d, ids are global for %s)", cfg->name, cfg->leave_out[i],
          hi, ld->n_layer[TEXT], ld->n_layer[VISION], cfg->model_class)
          : cle_error_set (ld->err, CLE_ERROR_MODEL,
          "adapter '%s': leave_out id %d out of range 0..%d (%s layers of "
          "%s)", cfg->name, cfg->leave_out[i], hi,
          cfg->ids == CLE_ADAPTER_IDS_TEXT ? "text" : "vision",
          cfg->model_class);
  g_string_free (ids, TRUE);
  return code;
}

static int
open_weights (ClipAdapter *a, const char *dir, ClipSafetensors **st,
    ClipError *err)
{
  static const char *const files[] = { "adapter.safetensors",
    "adapter_model.safetensors", "pytorch_adapter.bin", "adapter_model.bin"
  };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++) {
    char *path = g_build_filename (dir, files[i], NULL);
    if (g_file_test (path, G_FILE_TEST_EXISTS)) {
      a->weights_path = path;
      return i < 2 ? cle_safetensors_open (st, path, err)
          : cle_torch_zip_open (st, path, err);
    }
    g_free (path);
  }
  return cle_error_set (err, CLE_ERROR_IO, "'%s': no adapter.safetensors, "
      "adapter_model.safetensors, pytorch_adapter.bin or adapter_model.bin",
      dir);
}

static void
hash_file (GChecksum *sum, const char *path)
{
  GMappedFile *f = g_mapped_file_new (path, FALSE, NULL);
  if (!f)
    return;
  g_checksum_update (sum, (const guchar *) g_mapped_file_get_contents (f),
      g_mapped_file_get_length (f));
  g_mapped_file_unref (f);
}

void
cle_adapter_free (ClipAdapter *a)
{
  if (!a)
    return;
  cle_bottleneck_free (a->blocks, a->n_blocks);
  cle_adapter_config_clear (&a->cfg);
  g_free (a->weights_path);
  g_free (a->fingerprint);
  g_free (a->description);
  g_free (a);
}

int
cle_adapter_apply (ClipModel *m, const char *dir, ClipError *err)
{
  ClipAdapter *a = g_new0 (ClipAdapter, 1);
  Load ld = { .m = m, .a = a, .cfg = &a->cfg, .err = err };
  int code = cle_adapter_config_load (&a->cfg, dir, err);
  if (code == CLE_OK)
    code = open_weights (a, dir, &ld.st, err);
  if (code) {
    cle_safetensors_free (ld.st);
    cle_adapter_free (a);
    return code;
  }
  count_layers (&ld);
  ld.deltas = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      (GDestroyNotify) delta_free);
  ld.overrides = g_ptr_array_new ();
  ld.bottleneck = cle_bottleneck_keys_new ();
  ld.prefix = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  code = check_leave_out (&ld);

  int n;
  const ClipTensor **all = cle_safetensors_list (ld.st, &n);
  for (int i = 0; code == CLE_OK && i < n; i++)
    code = add_key (&ld, all[i]);
  g_free (all);

  if (code == CLE_OK && a->cfg.method == CLE_ADAPTER_PREFIX)
    code = cle_prefix_build (m, &a->cfg, ld.prefix, ld.n_layer[TEXT],
        ld.loaded, a->weights_path, err);
  else if (code == CLE_OK && a->cfg.method == CLE_ADAPTER_BOTTLENECK)
    code = cle_bottleneck_build (&a->blocks, &a->n_blocks, m, &a->cfg,
        ld.bottleneck, ld.n_layer[TEXT], ld.loaded, a->weights_path, err);
  else if (code == CLE_OK && a->cfg.library == CLE_ADAPTER_LIB_ADAPTERS)
    code = check_adapters_sites (&ld);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, ld.deltas);
  while (code == CLE_OK && a->cfg.library == CLE_ADAPTER_LIB_PEFT
      && g_hash_table_iter_next (&it, NULL, &value))
    code = check_peft_delta (&ld, value);
  /* overrides first: a LoRA on a Linear whose bias PEFT saved adds to the
   * saved bias */
  for (guint i = 0; code == CLE_OK && i < ld.overrides->len; i++)
    code = cle_adapter_replace (m, ld.overrides->pdata[i], err);
  g_hash_table_iter_init (&it, ld.deltas);
  while (code == CLE_OK && g_hash_table_iter_next (&it, NULL, &value))
    code = cle_adapter_merge (m, &a->cfg, value, err);

  if (code == CLE_OK) {
    GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
    hash_file (sum, a->cfg.path);
    hash_file (sum, a->weights_path);
    a->fingerprint = g_strdup (g_checksum_get_string (sum));
    g_checksum_free (sum);
    a->description = g_strdup_printf ("%s (%s '%s')",
        cle_adapter_method_name (a->cfg.method),
        a->cfg.library == CLE_ADAPTER_LIB_PEFT ? "PEFT" : "adapters",
        a->cfg.name);
  }
  g_hash_table_destroy (ld.deltas);
  g_ptr_array_free (ld.overrides, TRUE);
  g_hash_table_destroy (ld.bottleneck);
  g_hash_table_destroy (ld.prefix);
  /* the bottleneck blocks hold decoded copies: the file may go */
  cle_safetensors_free (ld.st);
  if (code != CLE_OK) {
    cle_adapter_free (a);
    return code;
  }
  m->adapter = a;
  return CLE_OK;
}

const char *
cle_adapter_fingerprint (const ClipAdapter *a)
{
  return a ? a->fingerprint : NULL;
}

const char *
cle_adapter_description (const ClipAdapter *a)
{
  return a ? a->description : NULL;
}
