/* test-adapter.c - adapters applied at load against references computed in
 * PyTorch by tests/data/gen/make_adapters.py (each library's forward, not
 * its merge): every fixture under tests/data/gen/adapters/ on gen/f32-gelu
 * (text width 32, vision width 48), both towers and one tower, fp32 and the
 * converted precisions; every broken or hostile adapter under bad/ refused
 * with its status and a message naming what is wrong; the text cache keyed
 * on the adapter. Prints max abs diff and cosine for every embedding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "test-util.h"

#define EMBED_TOL 1e-4          /* of max|ref|, as test-parity */
#define EMBED_COS 0.99999

static float *pixels;
static int32_t **ids;
static int *n_ids;
static int n_images, n_texts;

static void
load_inputs (void)
{
  char *ref = test_data_path ("gen/f32-gelu/reference/reference.json");
  char *pv = test_data_path ("gen/f32-gelu/reference/pixel_values.f32");
  JsonParser *p = json_parser_new ();
  json_parser_load_from_file (p, ref, NULL);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  n_images = json_array_get_length (json_object_get_array_member (o,
          "images"));
  JsonArray *a = json_object_get_array_member (o, "ids");
  n_texts = json_array_get_length (a);
  ids = calloc (n_texts, sizeof *ids);
  n_ids = calloc (n_texts, sizeof *n_ids);
  for (int t = 0; t < n_texts; t++) {
    JsonArray *one = json_array_get_array_element (a, t);
    n_ids[t] = json_array_get_length (one);
    ids[t] = calloc (n_ids[t], sizeof (int32_t));
    for (int i = 0; i < n_ids[t]; i++)
      ids[t][i] = json_array_get_int_element (one, i);
  }
  size_t size;
  pixels = test_read_file (pv, &size);
  g_object_unref (p);
  g_free (ref);
  g_free (pv);
}

/* Loads base + adapter with towers/precision; compares what it encodes with
 * the fixture's reference (tolerances scaled for bf16/int8). */
static void
check_fixture (const char *name, unsigned towers, ClipPrecision precision)
{
  char *base = test_data_path ("gen/f32-gelu");
  char *rel = g_strdup_printf ("gen/adapters/%s", name);
  char *dir = test_data_path (rel);
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = towers;
  mp.precision = precision;
  mp.adapter_dir = dir;
  ClipModel *model;
  ClipError err;
  int code = cle_model_load (&model, base, &mp, &err);
  test_expect (code == CLE_OK, "%s: load (%s)", name, code ? err.message
      : "ok");
  if (code)
    goto out;
  ClipModelInfo info;
  cle_model_get_info (model, &info);
  test_expect (info.adapter != NULL, "%s: info.adapter = %s", name,
      info.adapter ? info.adapter : "NULL");
  ClipContext *ctx;
  cle_context_new (&ctx, model, NULL, &err);
  const int P = info.projection_dim;
  const double tol = precision == CLE_PRECISION_FP32 ? EMBED_TOL : 0.1;
  const double cos = precision == CLE_PRECISION_FP32 ? EMBED_COS : 0.99;
  const char *prec = precision == CLE_PRECISION_FP32 ? "" : precision
      == CLE_PRECISION_BF16 ? " bf16" : " int8";
  size_t n;
  if (towers & CLE_TOWER_VISION) {
    char *path = g_build_filename (dir, "reference", "image_embeds.f32", NULL);
    float *want = test_read_file (path, &n);
    float *got = malloc ((size_t) n_images * P * sizeof (float));
    code = cle_encode_images (ctx, pixels, n_images, got,
        (size_t) n_images * P, &err);
    char *label = g_strdup_printf ("%s%s%s image_embeds", name, prec,
        towers == CLE_TOWER_BOTH ? "" : " (vision tower only)");
    if (code)
      test_expect (0, "%s: %s", label, err.message);
    else
      test_check_close (label, got, want, (size_t) n_images * P, tol, cos);
    g_free (label);
    free (got);
    free (want);
    g_free (path);
  }
  if (towers & CLE_TOWER_TEXT) {
    char *path = g_build_filename (dir, "reference", "text_embeds.f32", NULL);
    float *want = test_read_file (path, &n);
    float *got = malloc ((size_t) n_texts * P * sizeof (float));
    code = cle_encode_token_ids (ctx, (const int32_t * const *) ids, n_ids,
        n_texts, got, (size_t) n_texts * P, &err);
    char *label = g_strdup_printf ("%s%s%s text_embeds", name, prec,
        towers == CLE_TOWER_BOTH ? "" : " (text tower only)");
    if (code)
      test_expect (0, "%s: %s", label, err.message);
    else
      test_check_close (label, got, want, (size_t) n_texts * P, tol, cos);
    g_free (label);
    free (got);
    free (want);
    g_free (path);
  }
  cle_context_free (ctx);
  cle_model_free (model);
out:
  g_free (dir);
  g_free (rel);
  g_free (base);
}

static int
status_of (const char *name)
{
  static const struct {
    const char *name;
    int code;
  } codes[] = {
    { "IO", CLE_ERROR_IO }, { "FORMAT", CLE_ERROR_FORMAT },
    { "MODEL", CLE_ERROR_MODEL }, { "UNSUPPORTED", CLE_ERROR_UNSUPPORTED },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (codes); i++)
    if (strcmp (codes[i].name, name) == 0)
      return codes[i].code;
  return 1;
}

/* bad/<name>: the load fails with expect.json's status and words. */
static void
check_bad (const char *name)
{
  char *rel = g_strdup_printf ("gen/adapters/bad/%s", name);
  char *dir = test_data_path (rel);
  char *expect = g_build_filename (dir, "expect.json", NULL);
  JsonParser *p = json_parser_new ();
  json_parser_load_from_file (p, expect, NULL);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  int want = status_of (json_object_get_string_member (o, "code"));
  JsonArray *words = json_object_get_array_member (o, "message");
  int vision_only = strcmp (name, "global_ids_without_text_tower") == 0;
  char *base = test_data_path (vision_only ? "gen/vision-only"
      : "gen/f32-gelu");
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = vision_only ? CLE_TOWER_VISION : CLE_TOWER_BOTH;
  mp.adapter_dir = dir;
  ClipModel *model = NULL;
  ClipError err;
  int code = cle_model_load (&model, base, &mp, &err);
  int ok = code == want && model == NULL;
  for (guint i = 0; ok && i < json_array_get_length (words); i++)
    ok = strstr (err.message, json_array_get_string_element (words, i))
        != NULL;
  test_expect (ok, "bad/%s refused: %s (%d) \"%s\"", name,
      json_object_get_string_member (o, "code"), code,
      code ? err.message : "loaded");
  cle_model_free (model);
  g_object_unref (p);
  g_free (base);
  g_free (expect);
  g_free (dir);
  g_free (rel);
}

/* Different adapters, different cache files; the same adapter, the same. */
static void
check_text_cache (void)
{
  char *base = test_data_path ("gen/f32-gelu");
  char *tmp = g_dir_make_tmp ("test-adapter-XXXXXX", NULL);
  const char *adapters[] = { NULL, "gen/adapters/lora",
    "gen/adapters/lora_safetensors", "gen/adapters/ia3"
  };
  int sizes[4];
  for (int i = 0; i < 4; i++) {
    ClipModelParams mp;
    cle_model_params_init (&mp);
    char *dir = adapters[i] ? test_data_path (adapters[i]) : NULL;
    mp.adapter_dir = dir;
    ClipModel *model;
    ClipError err;
    ClipContext *ctx = NULL;
    ClipTextCache *cache = NULL;
    int code = cle_model_load (&model, base, &mp, &err);
    if (code == CLE_OK)
      code = cle_context_new (&ctx, model, NULL, &err);
    if (code == CLE_OK)
      code = cle_text_cache_open (&cache, model, tmp, &err);
    const char *texts[] = { "a photo of a cat" };
    float e[64];
    int encoded = -1;
    if (code == CLE_OK)
      code = cle_encode_texts_cached (ctx, cache, texts, 1, e, 64, &encoded,
          &err);
    sizes[i] = encoded;
    test_expect (code == CLE_OK, "text cache with %s (%s)", adapters[i]
        ? adapters[i] : "no adapter", code ? err.message : "ok");
    cle_text_cache_free (cache);
    cle_context_free (ctx);
    cle_model_free (model);
    g_free (dir);
  }
  /* lora and lora_safetensors are the same adapter in other files: they
   * need not share a cache, but none may reuse another's embeddings */
  test_expect (sizes[0] == 1 && sizes[1] == 1 && sizes[3] == 1,
      "no adapter, lora and ia3 each encode their prompt (%d %d %d)",
      sizes[0], sizes[1], sizes[3]);
  test_remove_dir (tmp);
  g_free (tmp);
  g_free (base);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (void)
{
  load_inputs ();
  char *root = test_data_path ("gen/adapters");
  GDir *d = g_dir_open (root, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d && (name = g_dir_read_name (d))) {
    char *ref = g_build_filename (root, name, "reference", NULL);
    if (g_file_test (ref, G_FILE_TEST_IS_DIR))
      g_ptr_array_add (names, g_strdup (name));
    g_free (ref);
  }
  if (d)
    g_dir_close (d);
  g_ptr_array_sort (names, compare_names);
  test_expect (names->len >= 10, "%u adapter fixtures", names->len);
  for (guint i = 0; i < names->len; i++) {
    const char *n = names->pdata[i];
    printf ("# %s\n", n);
    check_fixture (n, CLE_TOWER_BOTH, CLE_PRECISION_FP32);
    check_fixture (n, CLE_TOWER_VISION, CLE_PRECISION_FP32);
    check_fixture (n, CLE_TOWER_TEXT, CLE_PRECISION_FP32);
    check_fixture (n, CLE_TOWER_BOTH, CLE_PRECISION_BF16);
    check_fixture (n, CLE_TOWER_BOTH, CLE_PRECISION_INT8);
  }
  g_ptr_array_free (names, TRUE);

  printf ("# bad adapters\n");
  char *bad = g_build_filename (root, "bad", NULL);
  d = g_dir_open (bad, 0, NULL);
  names = g_ptr_array_new_with_free_func (g_free);
  while (d && (name = g_dir_read_name (d))) {
    char *exp = g_build_filename (bad, name, "expect.json", NULL);
    if (g_file_test (exp, G_FILE_TEST_EXISTS))
      g_ptr_array_add (names, g_strdup (name));
    g_free (exp);
  }
  if (d)
    g_dir_close (d);
  test_expect (names->len >= 15, "%u bad adapters", names->len);
  for (guint i = 0; i < names->len; i++)
    check_bad (names->pdata[i]);
  g_ptr_array_free (names, TRUE);
  g_free (bad);
  g_free (root);

  printf ("# text cache\n");
  check_text_cache ();
  return test_finish ();
}
