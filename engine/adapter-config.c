/* adapter-config.c - adapter_config.json of AdapterHub's adapters (a
 * "config" object and a "name") and of PEFT (a "peft_type"), parsed into
 * ClipAdapterConfig with each library's defaults and quirks (the version
 * fixes of adapters' loading.py). What the engine cannot reproduce exactly
 * (gating, Compacter, ReFT, Vera, PEFT variants ...) is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "adapter.h"
#include "error.h"

typedef struct {
  const char *path;
  const char *adapter;          /* name, for messages */
  ClipError *err;
} Ctx;

static JsonNode *
member (JsonObject *o, const char *key)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  return n && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

static int
is_number (JsonNode *n)
{
  GType t = n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : 0;
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

static int
get_bool (Ctx *c, JsonObject *o, const char *key, int fallback, int *out)
{
  JsonNode *n = member (o, key);
  if (!n) {
    *out = fallback;
    return CLE_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be true or false", c->path, key);
  *out = json_node_get_boolean (n);
  return CLE_OK;
}

static int
get_number (Ctx *c, JsonObject *o, const char *key, double fallback,
    double *out)
{
  JsonNode *n = member (o, key);
  if (!n) {
    *out = fallback;
    return CLE_OK;
  }
  if (!is_number (n))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be a number", c->path, key);
  *out = json_node_get_double (n);
  if (!isfinite (*out))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' is not finite", c->path, key);
  return CLE_OK;
}

static int
get_int (Ctx *c, JsonObject *o, const char *key, int fallback, int min,
    int max, int *out)
{
  JsonNode *n = member (o, key);
  if (!n) {
    *out = fallback;
    return CLE_OK;
  }
  if (!JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < min || json_node_get_int (n) > max)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be an integer in %d..%d", c->path, key, min, max);
  *out = json_node_get_int (n);
  return CLE_OK;
}

static const char *
get_string (JsonObject *o, const char *key)
{
  JsonNode *n = member (o, key);
  return n && JSON_NODE_HOLDS_VALUE (n)
      && json_node_get_value_type (n) == G_TYPE_STRING
      ? json_node_get_string (n) : NULL;
}

/* An array of integers (or one integer) into a new int array. */
static int
get_ints (Ctx *c, JsonObject *o, const char *key, int **out, int *n_out)
{
  JsonNode *n = member (o, key);
  *out = NULL;
  *n_out = -1;
  if (!n)
    return CLE_OK;
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n)
      == G_TYPE_INT64) {
    *out = g_new (int, 1);
    **out = json_node_get_int (n);
    *n_out = 1;
    return CLE_OK;
  }
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be a list of integers", c->path, key);
  JsonArray *a = json_node_get_array (n);
  int len = json_array_get_length (a);
  *out = g_new (int, MAX (len, 1));
  *n_out = len;
  for (int i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e)
        != G_TYPE_INT64 || json_node_get_int (e) < -1000000
        || json_node_get_int (e) > 1000000)
      return cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': '%s' entry %d is not an integer", c->path, key, i);
    (*out)[i] = json_node_get_int (e);
  }
  return CLE_OK;
}

/* A list of strings (NULL-terminated strv) or, with regex != NULL, a string
 * as a regex. */
static int
get_names (Ctx *c, JsonObject *o, const char *key, char ***list,
    char **regex)
{
  JsonNode *n = member (o, key);
  *list = NULL;
  if (regex)
    *regex = NULL;
  if (!n)
    return CLE_OK;
  if (regex && JSON_NODE_HOLDS_VALUE (n)
      && json_node_get_value_type (n) == G_TYPE_STRING) {
    *regex = g_strdup (json_node_get_string (n));
    GError *gerr = NULL;
    GRegex *re = g_regex_new (*regex, 0, 0, &gerr);
    if (!re) {
      int code = cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': '%s' is not a regular expression: %s", c->path, key,
          gerr->message);
      g_error_free (gerr);
      g_clear_pointer (regex, g_free);
      return code;
    }
    g_regex_unref (re);
    return CLE_OK;
  }
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be a list of module names", c->path, key);
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  *list = g_new0 (char *, len + 1);
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING) {
      /* the caller owns nothing on an error */
      g_strfreev (*list);
      *list = NULL;
      return cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': '%s' entry %u is not a string", c->path, key, i);
    }
    (*list)[i] = g_strdup (json_node_get_string (e));
  }
  return CLE_OK;
}

/* {pattern: number}; PEFT matches keys as regexes, which we support when
 * they are literal names (a '.' matching itself). */
static int
get_patterns (Ctx *c, JsonObject *o, const char *key,
    ClipAdapterPatterns *p)
{
  JsonNode *n = member (o, key);
  memset (p, 0, sizeof *p);
  if (!n)
    return CLE_OK;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be an object", c->path, key);
  JsonObject *m = json_node_get_object (n);
  GList *keys = json_object_get_members (m);
  p->n = g_list_length (keys);
  p->keys = g_new0 (char *, p->n + 1);
  p->values = g_new0 (double, MAX (p->n, 1));
  int i = 0, code = CLE_OK;
  for (GList *l = keys; l && code == CLE_OK; l = l->next, i++) {
    JsonNode *v = json_object_get_member (m, l->data);
    p->keys[i] = g_strdup (l->data);
    if (!is_number (v))
      code = cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': '%s' entry '%s' is not a number", c->path, key,
          (const char *) l->data);
    else
      p->values[i] = json_node_get_double (v);
  }
  g_list_free (keys);
  return code;
}

static const struct {
  const char *name;
  ClipAdapterActivation act;
} activations[] = {
  { "relu", CLE_ADAPTER_ACT_RELU }, { "swish", CLE_ADAPTER_ACT_SILU },
  { "silu", CLE_ADAPTER_ACT_SILU }, { "gelu", CLE_ADAPTER_ACT_GELU },
  { "gelu_new", CLE_ADAPTER_ACT_GELU_TANH },
  { "gelu_pytorch_tanh", CLE_ADAPTER_ACT_GELU_TANH },
  { "gelu_fast", CLE_ADAPTER_ACT_GELU_TANH },
  { "quick_gelu", CLE_ADAPTER_ACT_QUICK_GELU },
  { "tanh", CLE_ADAPTER_ACT_TANH }, { "sigmoid", CLE_ADAPTER_ACT_SIGMOID },
  { "linear", CLE_ADAPTER_ACT_LINEAR },
  { "leakyrelu", CLE_ADAPTER_ACT_LEAKY_RELU },
  { "leaky_relu", CLE_ADAPTER_ACT_LEAKY_RELU },
  { "relu6", CLE_ADAPTER_ACT_RELU6 }, { "mish", CLE_ADAPTER_ACT_MISH },
};

/* non_linearity as adapters resolves it: lower-cased; files without a
 * version (adapter-transformers) meant the tanh GELU by "gelu" and the erf
 * one by "gelu_orig" (loading.py ACTIVATION_RENAME). */
static int
get_activation (Ctx *c, JsonObject *o, const char *fallback, int legacy,
    ClipAdapterActivation *out)
{
  const char *given = get_string (o, "non_linearity");
  JsonNode *n = member (o, "non_linearity");
  if (n && !given)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': 'non_linearity' must be a string", c->path);
  char *name = g_ascii_strdown (given ? given : fallback, -1);
  if (legacy && strcmp (name, "gelu") == 0) {
    g_free (name);
    name = g_strdup ("gelu_new");
  } else if (legacy && strcmp (name, "gelu_orig") == 0) {
    g_free (name);
    name = g_strdup ("gelu");
  }
  for (size_t i = 0; i < G_N_ELEMENTS (activations); i++)
    if (strcmp (activations[i].name, name) == 0) {
      *out = activations[i].act;
      g_free (name);
      return CLE_OK;
    }
  int code = cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
      "adapter '%s': non_linearity '%s' is not supported (relu, swish/silu, "
      "gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, tanh, "
      "sigmoid, linear, leakyrelu, relu6, mish)", c->adapter, name);
  g_free (name);
  return code;
}

/* "adapters.1.0.1" -> 1 when older than 1.1.0 */
static int
version_before_1_1 (const char *version)
{
  if (!version || !g_str_has_prefix (version, "adapters."))
    return 0;
  int major = 0, minor = 0;
  if (sscanf (version + strlen ("adapters."), "%d.%d", &major, &minor) < 1)
    return 0;
  return major < 1 || (major == 1 && minor < 1);
}

static int
refuse_true (Ctx *c, JsonObject *o, const char *key)
{
  JsonNode *n = member (o, key);
  if (!n)
    return CLE_OK;
  int is_false = JSON_NODE_HOLDS_VALUE (n)
      && json_node_get_value_type (n) == G_TYPE_BOOLEAN
      && !json_node_get_boolean (n);
  if (is_false)
    return CLE_OK;
  return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
      "adapter '%s': %s=%s is not supported", c->adapter, key,
      JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n)
      == G_TYPE_BOOLEAN ? "true" : "(set)");
}

static int
load_bottleneck (Ctx *c, ClipAdapterConfig *cfg, JsonObject *o, int legacy)
{
  int code;
  if ((code = refuse_true (c, o, "phm_layer")))
    return cle_error_set (c->err, code, "adapter '%s': Compacter (phm_layer"
        "=true) is not supported", c->adapter);
  if (member (o, "inv_adapter"))
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': invertible adapters (inv_adapter '%s') are not "
        "supported", c->adapter, get_string (o, "inv_adapter")
        ? get_string (o, "inv_adapter") : "?");
  JsonNode *rbl = member (o, "residual_before_ln");
  if (rbl && JSON_NODE_HOLDS_VALUE (rbl)
      && json_node_get_value_type (rbl) == G_TYPE_STRING)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': residual_before_ln '%s' is not supported (the "
        "library fails on it for a pre-LN model like CLIP)", c->adapter,
        json_node_get_string (rbl));
  if ((code = get_bool (c, o, "mh_adapter", 0, &cfg->mh_adapter))
      || (code = get_bool (c, o, "output_adapter", 1, &cfg->output_adapter))
      || (code = get_bool (c, o, "is_parallel", 0, &cfg->is_parallel))
      || (code = get_bool (c, o, "original_ln_before", 1,
              &cfg->original_ln_before))
      || (code = get_bool (c, o, "original_ln_after", 1,
              &cfg->original_ln_after))
      || (code = get_bool (c, o, "residual_before_ln", 1,
              &cfg->residual_before_ln))
      || (code = get_bool (c, o, "adapter_residual_before_ln", 0,
              &cfg->adapter_residual_before_ln))
      || (code = get_bool (c, o, "ln_before", 0, &cfg->ln_before))
      || (code = get_bool (c, o, "ln_after", 0, &cfg->ln_after))
      || (code = get_activation (c, o, "relu", legacy, &cfg->act)))
    return code;
  JsonNode *s = member (o, "scaling");
  cfg->scaling = 1.0;
  if (s && JSON_NODE_HOLDS_VALUE (s)
      && json_node_get_value_type (s) == G_TYPE_STRING) {
    const char *v = json_node_get_string (s);
    if (strcmp (v, "learned") == 0)
      cfg->scaling_kind = CLE_ADAPTER_SCALING_LEARNED;
    else if (strcmp (v, "channel") == 0)
      cfg->scaling_kind = CLE_ADAPTER_SCALING_CHANNEL;
    else
      return cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': scaling '%s', expected a number, \"learned\" or "
          "\"channel\"", c->path, v);
  } else if ((code = get_number (c, o, "scaling", 1.0, &cfg->scaling))) {
    return code;
  }
  JsonNode *rf = member (o, "reduction_factor");
  if (rf && JSON_NODE_HOLDS_OBJECT (rf))
    code = get_patterns (c, o, "reduction_factor", &cfg->reduction_map);
  else
    code = get_number (c, o, "reduction_factor", 16, &cfg->reduction_factor);
  if (code == CLE_OK && !cfg->reduction_map.n && cfg->reduction_factor <= 0)
    code = cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': reduction_factor %g, expected > 0", c->path,
        cfg->reduction_factor);
  for (int i = 0; code == CLE_OK && i < cfg->reduction_map.n; i++)
    if (cfg->reduction_map.values[i] <= 0)
      code = cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': reduction_factor['%s'] is %g, expected > 0", c->path,
          cfg->reduction_map.keys[i], cfg->reduction_map.values[i]);
  return code;
}

static int
load_adapters (Ctx *c, ClipAdapterConfig *cfg, JsonObject *root)
{
  JsonObject *o = json_object_get_object_member (root, "config");
  const char *version = get_string (root, "version");
  const int legacy = member (root, "version") == NULL;
  cfg->library = CLE_ADAPTER_LIB_ADAPTERS;
  const char *cls = get_string (root, "model_class");
  const char *type = get_string (root, "model_type");
  cfg->model_class = g_strdup (cls ? cls : type);
  const struct {
    const char *name;
    ClipAdapterIds ids;
  } classes[] = {
    { "CLIPModel", CLE_ADAPTER_IDS_GLOBAL },
    { "CLIPAdapterModel", CLE_ADAPTER_IDS_GLOBAL },
    { "clip", CLE_ADAPTER_IDS_GLOBAL },
    { "CLIPTextModel", CLE_ADAPTER_IDS_TEXT },
    { "CLIPTextModelWithProjection", CLE_ADAPTER_IDS_TEXT },
    { "clip_text_model", CLE_ADAPTER_IDS_TEXT },
    { "CLIPVisionModel", CLE_ADAPTER_IDS_VISION },
    { "CLIPVisionModelWithProjection", CLE_ADAPTER_IDS_VISION },
    { "clip_vision_model", CLE_ADAPTER_IDS_VISION },
  };
  int found = 0;
  for (size_t i = 0; cfg->model_class && i < G_N_ELEMENTS (classes); i++)
    if (strcmp (classes[i].name, cfg->model_class) == 0) {
      cfg->ids = classes[i].ids;
      found = 1;
    }
  if (!found)
    return cle_error_set (c->err, CLE_ERROR_MODEL,
        "adapter '%s': model_class '%s' is not a CLIP class (CLIPModel, "
        "CLIPAdapterModel, CLIPTextModel[WithProjection], "
        "CLIPVisionModel[WithProjection])", c->adapter,
        cfg->model_class ? cfg->model_class : "(none)");

  int code;
  if ((code = refuse_true (c, o, "use_gating")))
    return code;
  if ((code = get_ints (c, o, "leave_out", &cfg->leave_out,
              &cfg->n_leave_out)))
    return code;
  if (cfg->n_leave_out < 0)
    cfg->n_leave_out = 0;

  const char *arch = get_string (o, "architecture");
  if (member (o, "architecture") && !arch)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': 'architecture' must be a string", c->path);
  if (!arch) {
    cfg->method = CLE_ADAPTER_BOTTLENECK;
    return load_bottleneck (c, cfg, o, legacy);
  }
  if (strcmp (arch, "prefix_tuning") == 0) {
    cfg->method = CLE_ADAPTER_PREFIX;
    if ((code = get_int (c, o, "prefix_length", 30, 1, 1 << 16,
                &cfg->prefix_length))
        || (code = get_int (c, o, "bottleneck_size", 512, 1, 1 << 20,
                &cfg->bottleneck_size))
        || (code = get_bool (c, o, "flat", 0, &cfg->flat)))
      return code;
    return get_activation (c, o, "tanh", legacy, &cfg->act);
  }
  if (strcmp (arch, "lora") != 0)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': architecture '%s' is not supported (supported: "
        "bottleneck, lora, ia3, dora, prefix_tuning)", c->adapter, arch);

  if (member (o, "vera_d") || member (o, "vera_b"))
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': Vera (vera_d/vera_b set) is not supported",
        c->adapter);
  const char *mode = get_string (o, "composition_mode");
  if (mode && strcmp (mode, "add") != 0 && strcmp (mode, "scale") != 0)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': composition_mode '%s' is not supported (add, scale)",
        c->adapter, mode);
  int use_dora;
  if ((code = get_int (c, o, "r", 8, 1, 1 << 20, &cfg->r))
      || (code = get_number (c, o, "alpha", 8, &cfg->alpha))
      || (code = get_bool (c, o, "selfattn_lora", 1, &cfg->selfattn))
      || (code = get_bool (c, o, "intermediate_lora", 0,
              &cfg->intermediate))
      || (code = get_bool (c, o, "output_lora", 0, &cfg->output))
      || (code = get_bool (c, o, "use_dora", 0, &use_dora)))
    return code;
  cfg->method = mode && strcmp (mode, "scale") == 0 ? CLE_ADAPTER_IA3
      : use_dora ? CLE_ADAPTER_DORA : CLE_ADAPTER_LORA;
  if (cfg->method == CLE_ADAPTER_IA3 && cfg->r != 1)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': IA3 (composition_mode 'scale') with r=%d, expected 1",
        c->path, cfg->r);
  if (cfg->method == CLE_ADAPTER_IA3 && use_dora)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': use_dora with composition_mode 'scale' is not "
        "supported", c->adapter);
  /* adapters < 1.1.0 applied no alpha/r scaling: loading.py sets alpha = r
   * for every "lora" architecture, IA3 included */
  if (version_before_1_1 (version) && cfg->alpha != cfg->r)
    cfg->alpha = cfg->r;
  char **mats = NULL;
  if ((code = get_names (c, o, "attn_matrices", &mats, NULL)))
    return code;
  if (!mats) {
    cfg->attn_q = cfg->attn_v = cfg->method != CLE_ADAPTER_IA3;
    cfg->attn_k = cfg->method == CLE_ADAPTER_IA3;
  }
  for (int i = 0; mats && mats[i]; i++) {
    if (strcmp (mats[i], "q") == 0)
      cfg->attn_q = 1;
    else if (strcmp (mats[i], "k") == 0)
      cfg->attn_k = 1;
    else if (strcmp (mats[i], "v") == 0)
      cfg->attn_v = 1;
    else if (strcmp (mats[i], "o") != 0) {      /* "o": no effect on CLIP */
      code = cle_error_set (c->err, CLE_ERROR_FORMAT,
          "'%s': attn_matrices entry '%s', expected q, k, v", c->path,
          mats[i]);
      break;
    }
  }
  g_strfreev (mats);
  return code;
}

static int
load_peft (Ctx *c, ClipAdapterConfig *cfg, JsonObject *o)
{
  const char *type = get_string (o, "peft_type");
  cfg->library = CLE_ADAPTER_LIB_PEFT;
  cfg->ids = CLE_ADAPTER_IDS_PER_TOWER;
  cfg->model_class = g_strdup ("PEFT");
  if (!type)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': 'peft_type' must be a string", c->path);
  int code;
  if ((code = get_names (c, o, "target_modules", &cfg->targets,
              &cfg->target_regex))
      || (code = get_names (c, o, "exclude_modules", &cfg->exclude,
              &cfg->exclude_regex))
      || (code = get_names (c, o, "modules_to_save", &cfg->modules_to_save,
              NULL))
      || (code = refuse_true (c, o, "fan_in_fan_out")))
    return code;
  if (!cfg->targets && !cfg->target_regex)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': no 'target_modules'", c->path);
  if (strcmp (type, "IA3") == 0) {
    cfg->method = CLE_ADAPTER_IA3;
    return get_names (c, o, "feedforward_modules", &cfg->feedforward,
        &cfg->feedforward_regex);
  }
  if (strcmp (type, "LORA") != 0)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': peft_type '%s' is not supported (supported: LORA, "
        "IA3; LoRA with use_dora)", c->adapter, type);
  /* variants whose forward is not plain LoRA */
  static const char *const variants[] = { "use_qalora",
    "alora_invocation_tokens", "velora_config", "use_bdlora", "arrow_config",
    "kasa_config", "monteclora_config", "layer_replication",
    "target_parameters", "trainable_token_indices",
  };
  for (size_t i = 0; i < G_N_ELEMENTS (variants); i++)
    if ((code = refuse_true (c, o, variants[i])))
      return code;
  const char *bias = get_string (o, "bias");
  cfg->bias = g_strdup (bias ? bias : "none");
  if (strcmp (cfg->bias, "none") && strcmp (cfg->bias, "all")
      && strcmp (cfg->bias, "lora_only"))
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': bias '%s', expected none, all or lora_only", c->path,
        cfg->bias);
  if ((code = get_int (c, o, "r", 8, 1, 1 << 20, &cfg->r))
      || (code = get_number (c, o, "lora_alpha", 8, &cfg->lora_alpha))
      || (code = get_bool (c, o, "use_rslora", 0, &cfg->use_rslora))
      || (code = get_bool (c, o, "use_dora", 0, &cfg->use_dora))
      || (code = get_bool (c, o, "lora_bias", 0, &cfg->lora_bias))
      || (code = get_ints (c, o, "layers_to_transform",
              &cfg->layers_to_transform, &cfg->n_layers_to_transform))
      || (code = get_patterns (c, o, "rank_pattern", &cfg->rank_pattern))
      || (code = get_patterns (c, o, "alpha_pattern", &cfg->alpha_pattern)))
    return code;
  cfg->method = cfg->use_dora ? CLE_ADAPTER_DORA : CLE_ADAPTER_LORA;
  if (cfg->use_dora && cfg->lora_bias)
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': lora_bias with use_dora (PEFT refuses it too)",
        c->adapter);
  if (cfg->n_layers_to_transform >= 0 && cfg->target_regex)
    return cle_error_set (c->err, CLE_ERROR_FORMAT,
        "'%s': layers_to_transform needs a list target_modules, not a "
        "regex (PEFT refuses it too)", c->path);
  const char *lp = get_string (o, "layers_pattern");
  if (member (o, "layers_pattern") && (!lp || strcmp (lp, "layers") != 0))
    return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
        "adapter '%s': layers_pattern other than \"layers\" is not "
        "supported", c->adapter);
  ClipAdapterPatterns *pats[2] = { &cfg->rank_pattern, &cfg->alpha_pattern };
  for (int p = 0; p < 2; p++)
    for (int i = 0; i < pats[p]->n; i++)
      if (strpbrk (pats[p]->keys[i], "\\^$*+?()[]{}|"))
        return cle_error_set (c->err, CLE_ERROR_UNSUPPORTED,
            "adapter '%s': %s key '%s' is a regular expression; only module "
            "names are supported", c->adapter,
            p ? "alpha_pattern" : "rank_pattern", pats[p]->keys[i]);
  return CLE_OK;
}

int
cle_adapter_config_load (ClipAdapterConfig *cfg, const char *dir,
    ClipError *err)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->path = g_build_filename (dir, "adapter_config.json", NULL);
  cfg->n_layers_to_transform = -1;
  GError *gerr = NULL;
  JsonParser *parser = json_parser_new ();
  if (!json_parser_load_from_mapped_file (parser, cfg->path, &gerr)) {
    int code = cle_error_set (err, gerr->domain == G_FILE_ERROR
        ? CLE_ERROR_IO : CLE_ERROR_FORMAT, "'%s': %s", cfg->path,
        gerr->message);
    g_error_free (gerr);
    g_object_unref (parser);
    return code;
  }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *o = root && JSON_NODE_HOLDS_OBJECT (root)
      ? json_node_get_object (root) : NULL;
  JsonNode *conf = member (o, "config");
  const char *name = get_string (o, "name");
  Ctx c = { cfg->path, "default", err };
  int code;
  if (conf && JSON_NODE_HOLDS_OBJECT (conf) && name) {
    cfg->name = g_strdup (name);
    c.adapter = cfg->name;
    code = load_adapters (&c, cfg, o);
  } else if (member (o, "peft_type")) {
    cfg->name = g_strdup ("default");
    code = load_peft (&c, cfg, o);
  } else {
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': not an AdapterHub 'adapters' config (an object 'config' and "
        "a string 'name') nor a PEFT config ('peft_type')", cfg->path);
  }
  g_object_unref (parser);
  return code;
}

void
cle_adapter_config_clear (ClipAdapterConfig *cfg)
{
  g_free (cfg->path);
  g_free (cfg->name);
  g_free (cfg->model_class);
  g_free (cfg->leave_out);
  g_strfreev (cfg->targets);
  g_free (cfg->target_regex);
  g_strfreev (cfg->exclude);
  g_free (cfg->exclude_regex);
  g_strfreev (cfg->feedforward);
  g_free (cfg->feedforward_regex);
  g_free (cfg->layers_to_transform);
  ClipAdapterPatterns *p[3] = { &cfg->rank_pattern, &cfg->alpha_pattern,
    &cfg->reduction_map
  };
  for (int i = 0; i < 3; i++) {
    g_strfreev (p[i]->keys);
    g_free (p[i]->values);
  }
  g_free (cfg->bias);
  g_strfreev (cfg->modules_to_save);
  memset (cfg, 0, sizeof *cfg);
}

const char *
cle_adapter_method_name (ClipAdapterMethod method)
{
  static const char *const names[] = { "bottleneck", "lora", "ia3", "dora",
    "prefix_tuning"
  };
  return (unsigned) method < G_N_ELEMENTS (names) ? names[method] : "?";
}

int
cle_adapter_name_matches (const char *name, char *const *list,
    const char *regex)
{
  if (regex) {
    /* Python's re.fullmatch: anchored at the start, and at the end by a $
     * the engine backtracks to satisfy */
    char *full = g_strdup_printf ("(?:%s)$", regex);
    GRegex *re = g_regex_new (full, G_REGEX_ANCHORED, 0, NULL);
    int hit = re && g_regex_match (re, name, 0, NULL);
    if (re)
      g_regex_unref (re);
    g_free (full);
    return hit;
  }
  size_t n = strlen (name);
  for (int i = 0; list && list[i]; i++) {
    size_t k = strlen (list[i]);
    if (strcmp (name, list[i]) == 0 || (n > k && name[n - k - 1] == '.'
            && strcmp (name + n - k, list[i]) == 0))
      return 1;
  }
  return 0;
}
