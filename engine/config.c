/* config.c - reads config.json (CLIPConfig and the single-tower configs) and
 * preprocessor_config.json. Missing keys take Hugging Face's defaults; keys
 * of the wrong type or out-of-range values are errors naming file and key. */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "model.h"

/* Loads a JSON file whose root is an object. */
static int
load_json_object (JsonParser **parser, JsonObject **obj, const char *path,
    ClipError *err)
{
  GError *gerr = NULL;
  *parser = json_parser_new ();
  if (!json_parser_load_from_mapped_file (*parser, path, &gerr)) {
    int code = cle_error_set (err, gerr->domain == G_FILE_ERROR
        ? CLE_ERROR_IO : CLE_ERROR_FORMAT, "'%s': %s", path, gerr->message);
    g_error_free (gerr);
    return code;
  }
  JsonNode *root = json_parser_get_root (*parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': not a JSON object", path);
  *obj = json_node_get_object (root);
  return CLE_OK;
}

static int
get_int (JsonObject *obj, const char *key, int fallback, int min, int max,
    int *out, const char *path, ClipError *err)
{
  JsonNode *n = obj ? json_object_get_member (obj, key) : NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n)) {
    *out = fallback;
    return CLE_OK;
  }
  if (json_node_get_value_type (n) != G_TYPE_INT64)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be an integer", path, key);
  gint64 v = json_node_get_int (n);
  if (v < min || v > max)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' is %" G_GINT64_FORMAT ", expected %d..%d", path, key, v,
        min, max);
  *out = (int) v;
  return CLE_OK;
}

static int
get_double (JsonObject *obj, const char *key, double fallback, double *out,
    const char *path, ClipError *err)
{
  JsonNode *n = obj ? json_object_get_member (obj, key) : NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n)) {
    *out = fallback;
    return CLE_OK;
  }
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be a number", path, key);
  *out = json_node_get_double (n);
  if (!isfinite (*out))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' is not finite", path, key);
  return CLE_OK;
}

static int
get_bool (JsonObject *obj, const char *key, int fallback, int *out,
    const char *path, ClipError *err)
{
  JsonNode *n = obj ? json_object_get_member (obj, key) : NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n)) {
    *out = fallback;
    return CLE_OK;
  }
  if (json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be true or false", path, key);
  *out = json_node_get_boolean (n);
  return CLE_OK;
}

static JsonObject *
get_object (JsonObject *obj, const char *key)
{
  JsonNode *n = json_object_get_member (obj, key);
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static int
parse_activation (JsonObject *obj, ClipActivation *act, const char *path,
    const char *tower, ClipError *err)
{
  JsonNode *n = obj ? json_object_get_member (obj, "hidden_act") : NULL;
  const char *name = "quick_gelu";
  if (n && json_node_get_value_type (n) == G_TYPE_STRING)
    name = json_node_get_string (n);
  else if (n && !JSON_NODE_HOLDS_NULL (n))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': %s 'hidden_act' must be a string", path, tower);
  if (strcmp (name, "quick_gelu") == 0)
    *act = CLE_ACT_QUICK_GELU;
  else if (strcmp (name, "gelu") == 0)
    *act = CLE_ACT_GELU;
  else
    return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "'%s': %s hidden_act '%s' is not supported (quick_gelu, gelu)",
        path, tower, name);
  return CLE_OK;
}

/* The keys both towers share; defaults from HF's CLIPVisionConfig /
 * CLIPTextConfig. */
static int
parse_tower_common (JsonObject *obj, ClipTowerConfig *t, int width,
    int n_layer, int n_head, int mlp, const char *path, const char *tower,
    ClipError *err)
{
  double eps;
  int code;
  if ((code = get_int (obj, "hidden_size", width, 1, 1 << 16, &t->width,
              path, err))
      || (code = get_int (obj, "num_hidden_layers", n_layer, 0, 1024,
              &t->n_layer, path, err))
      || (code = get_int (obj, "num_attention_heads", n_head, 1, 1024,
              &t->n_head, path, err))
      || (code = get_int (obj, "intermediate_size", mlp, 1, 1 << 20, &t->mlp,
              path, err))
      || (code = get_double (obj, "layer_norm_eps", 1e-5, &eps, path, err))
      || (code = parse_activation (obj, &t->act, path, tower, err)))
    return code;
  t->eps = (float) eps;
  if (t->width % t->n_head != 0)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': %s hidden_size %d is not a multiple of num_attention_heads %d",
        path, tower, t->width, t->n_head);
  return CLE_OK;
}

static int
parse_vision (JsonObject *obj, ClipTowerConfig *t, const char *path,
    ClipError *err)
{
  int code;
  if ((code = parse_tower_common (obj, t, 768, 12, 12, 3072, path, "vision",
              err))
      || (code = get_int (obj, "image_size", 224, 1, 8192, &t->image_size,
              path, err))
      || (code = get_int (obj, "patch_size", 32, 1, 8192, &t->patch_size,
              path, err))
      || (code = get_int (obj, "num_channels", 3, 3, 3, &t->n_channels, path,
              err)))
    return code;
  if (t->image_size % t->patch_size != 0)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': vision image_size %d is not a multiple of patch_size %d", path,
        t->image_size, t->patch_size);
  return CLE_OK;
}

static int
parse_text (JsonObject *obj, ClipTowerConfig *t, const char *path,
    ClipError *err)
{
  int code;
  if ((code = parse_tower_common (obj, t, 512, 12, 8, 2048, path, "text",
              err))
      || (code = get_int (obj, "vocab_size", 49408, 1, 1 << 24,
              &t->vocab_size, path, err))
      || (code = get_int (obj, "max_position_embeddings", 77, 2, 1 << 16,
              &t->context_length, path, err))
      || (code = get_int (obj, "eos_token_id", 49407, 0, G_MAXINT,
              &t->eos_token_id, path, err)))
    return code;
  /* Configs written before transformers 4.31 carry eos_token_id 2 although
   * the end token is 49407; HF then pools at argmax(ids), which is the first
   * end token because it has the highest id. */
  t->pool_at_argmax = t->eos_token_id == 2;
  return CLE_OK;
}

int
cle_config_load (ClipConfig *cfg, const char *path, unsigned towers,
    ClipError *err)
{
  memset (cfg, 0, sizeof *cfg);
  JsonParser *parser = NULL;
  JsonObject *root = NULL;
  int code = load_json_object (&parser, &root, path, err);
  if (code)
    goto out;

  /* NULL when the member is there but not a string */
  const char *model_type = json_object_get_string_member_with_default (root,
      "model_type", "clip");
  if (!model_type) {
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': model_type must be a string", path);
    goto out;
  }
  JsonObject *vision = NULL, *text = NULL;
  unsigned available = 0;
  if (strcmp (model_type, "clip_vision_model") == 0) {
    vision = root;
    available = CLE_TOWER_VISION;
  } else if (strcmp (model_type, "clip_text_model") == 0) {
    text = root;
    available = CLE_TOWER_TEXT;
  } else {
    /* Older configs spell the sub-configs *_config_dict. */
    vision = get_object (root, "vision_config");
    if (!vision)
      vision = get_object (root, "vision_config_dict");
    text = get_object (root, "text_config");
    if (!text)
      text = get_object (root, "text_config_dict");
    available = CLE_TOWER_BOTH;
  }
  if ((towers & available) != towers) {
    code = cle_error_set (err, CLE_ERROR_MODEL,
        "'%s': model_type '%s' has no %s tower", path, model_type,
        (towers & ~available) & CLE_TOWER_TEXT ? "text" : "vision");
    goto out;
  }
  cfg->towers = towers;
  if ((code = get_int (root, "projection_dim", 512, 1, 1 << 16,
              &cfg->projection_dim, path, err)))
    goto out;
  if ((towers & CLE_TOWER_VISION)
      && (code = parse_vision (vision, &cfg->vision, path, err)))
    goto out;
  if ((towers & CLE_TOWER_TEXT)
      && (code = parse_text (text, &cfg->text, path, err)))
    goto out;
out:
  if (parser)
    g_object_unref (parser);
  return code;
}

/* "size"/"crop_size": an integer (legacy), {"shortest_edge": N} or
 * {"height": H, "width": W}. */
static int
parse_size (JsonObject *obj, const char *key, int *shortest, int *height,
    int *width, const char *path, ClipError *err)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return CLE_OK;
  if (json_node_get_value_type (n) == G_TYPE_INT64) {
    int code = get_int (obj, key, 0, 1, 16384, shortest, path, err);
    *height = *width = 0;
    return code;
  }
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be an integer or an object", path, key);
  JsonObject *o = json_node_get_object (n);
  int code;
  if (json_object_has_member (o, "shortest_edge")) {
    *height = *width = 0;
    return get_int (o, "shortest_edge", 0, 1, 16384, shortest, path, err);
  }
  if ((code = get_int (o, "height", 0, 1, 16384, height, path, err))
      || (code = get_int (o, "width", 0, 1, 16384, width, path, err)))
    return code;
  if (*height <= 0 || *width <= 0)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' needs 'shortest_edge' or 'height' and 'width'", path,
        key);
  *shortest = 0;
  return CLE_OK;
}

static int
parse_triple (JsonObject *obj, const char *key, float out[3],
    const char *path, ClipError *err)
{
  JsonNode *n = json_object_get_member (obj, key);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return CLE_OK;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  if (!a || json_array_get_length (a) != 3)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': '%s' must be an array of 3 numbers", path, key);
  for (int i = 0; i < 3; i++) {
    JsonNode *e = json_array_get_element (a, i);
    GType t = json_node_get_value_type (e);
    if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': '%s'[%d] is not a number", path, key, i);
    out[i] = (float) json_node_get_double (e);
  }
  return CLE_OK;
}

int
cle_preprocess_config_load (ClipPreprocessConfig *cfg, const char *path,
    int image_size, ClipError *err)
{
  cle_preprocess_config_init (cfg);
  cfg->resize_shortest_edge = image_size;
  cfg->crop_height = cfg->crop_width = image_size;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return CLE_OK;

  JsonParser *parser = NULL;
  JsonObject *root = NULL;
  int code = load_json_object (&parser, &root, path, err);
  int crop_shortest = 0;
  if (code == CLE_OK
      && !(code = parse_size (root, "size", &cfg->resize_shortest_edge,
              &cfg->resize_height, &cfg->resize_width, path, err))
      && !(code = parse_size (root, "crop_size", &crop_shortest,
              &cfg->crop_height, &cfg->crop_width, path, err))
      && !(code = get_bool (root, "do_resize", 1, &cfg->do_resize, path, err))
      && !(code = get_bool (root, "do_center_crop", 1, &cfg->do_center_crop,
              path, err))
      && !(code = get_bool (root, "do_rescale", 1, &cfg->do_rescale, path,
              err))
      && !(code = get_bool (root, "do_normalize", 1, &cfg->do_normalize, path,
              err))
      && !(code = get_double (root, "rescale_factor", 1.0 / 255.0,
              &cfg->rescale_factor, path, err))
      && !(code = parse_triple (root, "image_mean", cfg->mean, path, err)))
    code = parse_triple (root, "image_std", cfg->std, path, err);
  if (code == CLE_OK && crop_shortest > 0)
    cfg->crop_height = cfg->crop_width = crop_shortest;
  if (code == CLE_OK) {
    for (int c = 0; c < 3; c++)
      if (cfg->std[c] == 0.0f) {
        code = cle_error_set (err, CLE_ERROR_FORMAT,
            "'%s': image_std[%d] is 0", path, c);
        break;
      }
  }
  if (parser)
    g_object_unref (parser);
  return code;
}
