/* test-model.c - loading whole model directories: every bad model the
 * catalogue lists gives its error (status and the words that name the file,
 * tensor or value) and never crashes; bad calls on a good model too; one
 * model shared by threads that each have a context. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "test-util.h"

static char *fixture, *tmp_root;
static int n_dirs;

/* A model dir: the fixture's files, with config.json replaced by the
 * fixture's config edited with sed-like (from, to) pairs when given. */
static char *
make_model_dir (const char *config_from, const char *config_to)
{
  char *dir = g_strdup_printf ("%s/m%d", tmp_root, n_dirs++);
  g_mkdir (dir, 0755);
  static const char *files[] = { "model.safetensors", "vocab.json",
    "merges.txt", "preprocessor_config.json" };
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++) {
    char *src = g_build_filename (fixture, files[i], NULL);
    char *dst = g_build_filename (dir, files[i], NULL);
    if (symlink (src, dst) != 0)
      fprintf (stderr, "symlink %s failed\n", dst);
    g_free (src);
    g_free (dst);
  }
  char *src = g_build_filename (fixture, "config.json", NULL);
  char *config = test_read_file (src, NULL);
  if (config_from) {
    char **parts = g_strsplit (config, config_from, 2);
    char *edited = g_strjoinv (config_to, parts);
    g_strfreev (parts);
    g_free (config);
    config = edited;
  }
  char *dst = g_build_filename (dir, "config.json", NULL);
  g_file_set_contents (dst, config, -1, NULL);
  g_free (config);
  g_free (src);
  g_free (dst);
  return dir;
}

static void
replace_file (const char *dir, const char *name, const void *data, size_t n)
{
  char *path = g_build_filename (dir, name, NULL);
  g_unlink (path);
  g_file_set_contents (path, data, n, NULL);
  g_free (path);
}

/* Rewrites the dir's model.safetensors: header edited by removing a tensor
 * or changing its dtype, data edited by poisoning a tensor's first value. */
static void
edit_weights (const char *dir, const char *tensor, const char *remove,
    const char *new_dtype, int poison_nan)
{
  char *src = g_build_filename (fixture, "model.safetensors", NULL);
  size_t size;
  uint8_t *bytes = test_read_file (src, &size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | bytes[i];
  JsonParser *parser = json_parser_new ();
  json_parser_load_from_data (parser, (char *) bytes + 8, header_len, NULL);
  JsonObject *hdr = json_node_get_object (json_parser_get_root (parser));
  JsonObject *t = json_object_get_object_member (hdr, tensor);
  uint8_t *data = bytes + 8 + header_len;
  if (poison_nan) {
    JsonArray *off = json_object_get_array_member (t, "data_offsets");
    uint64_t begin = json_array_get_int_element (off, 0);
    data[begin] = 0x00;         /* F16 0x7e00 = NaN, little-endian */
    data[begin + 1] = 0x7e;
  }
  if (new_dtype)
    json_object_set_string_member (t, "dtype", new_dtype);
  if (remove)
    json_object_remove_member (hdr, remove);
  JsonNode *root = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (root, hdr);
  char *header = json_to_string (root, FALSE);
  GByteArray *out = g_byte_array_new ();
  uint64_t len = strlen (header);
  for (int i = 0; i < 8; i++) {
    uint8_t b = (len >> (8 * i)) & 0xff;
    g_byte_array_append (out, &b, 1);
  }
  g_byte_array_append (out, (uint8_t *) header, len);
  g_byte_array_append (out, data, size - 8 - header_len);
  replace_file (dir, "model.safetensors", out->data, out->len);
  g_byte_array_unref (out);
  g_free (header);
  json_node_unref (root);
  g_object_unref (parser);
  g_free (bytes);
  g_free (src);
}

static void
expect_load_error (const char *what, const char *dir, unsigned towers,
    int code, const char *part)
{
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = towers;
  ClipModel *m = (ClipModel *) 1;
  ClipError err = { 0 };
  int r = cle_model_load (&m, dir, &mp, &err);
  test_expect (r == code && m == NULL && strstr (err.message, part),
      "%s: status %d (want %d): \"%s\" (want \"%s\")", what, r, code,
      err.message, part);
  if (r == CLE_OK)
    cle_model_free (m);
}

static void
catalogue (void)
{
  char *d;
  expect_load_error ("no such directory", "/nonexistent/model",
      CLE_TOWER_BOTH, CLE_ERROR_IO, "'/nonexistent/model' does not exist");

  d = make_model_dir (NULL, NULL);
  char *config = g_build_filename (d, "config.json", NULL);
  g_unlink (config);
  expect_load_error ("no config.json", d, CLE_TOWER_BOTH, CLE_ERROR_IO,
      "config.json");
  replace_file (d, "config.json", "{\"projection_dim\": 32,", 22);
  expect_load_error ("broken config.json", d, CLE_TOWER_BOTH,
      CLE_ERROR_FORMAT, "config.json");
  g_free (config);
  g_free (d);

  d = make_model_dir ("\"hidden_size\": 64,\n    \"image_size\"",
      "\"hidden_size\": 128,\n    \"image_size\"");
  expect_load_error ("config contradicts the weights", d, CLE_TOWER_BOTH,
      CLE_ERROR_MODEL, "tensor 'vision_model.embeddings.patch_embedding."
      "weight': shape [64, 3, 16, 16], expected [128, 3, 16, 16]");
  g_free (d);
  d = make_model_dir ("\"num_hidden_layers\": 2,\n    \"pad_token_id\"",
      "\"num_hidden_layers\": 3,\n    \"pad_token_id\"");
  expect_load_error ("config has more layers than the weights", d,
      CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "tensor 'text_model.encoder.layers.2.layer_norm1.weight' is missing");
  g_free (d);
  d = make_model_dir ("\"hidden_act\": \"quick_gelu\"",
      "\"hidden_act\": \"relu\"");
  expect_load_error ("unknown activation", d, CLE_TOWER_BOTH,
      CLE_ERROR_UNSUPPORTED, "hidden_act 'relu' is not supported");
  g_free (d);
  d = make_model_dir ("\"num_attention_heads\": 4,\n    \"num_channels\"",
      "\"num_attention_heads\": 5,\n    \"num_channels\"");
  expect_load_error ("heads do not divide the width", d, CLE_TOWER_BOTH,
      CLE_ERROR_FORMAT, "hidden_size 64 is not a multiple of "
      "num_attention_heads 5");
  g_free (d);
  d = make_model_dir ("\"patch_size\": 16", "\"patch_size\": \"16\"");
  expect_load_error ("a string where a number belongs", d, CLE_TOWER_BOTH,
      CLE_ERROR_FORMAT, "'patch_size' must be an integer");
  g_free (d);
  /* found by fuzz-config (corpus/config/regression-model-type-not-string) */
  d = make_model_dir ("\"model_type\": \"clip\"", "\"model_type\": true");
  expect_load_error ("model_type that is not a string", d, CLE_TOWER_BOTH,
      CLE_ERROR_FORMAT, "model_type must be a string");
  g_free (d);
  d = make_model_dir ("\"patch_size\": 16", "\"patch_size\": 15");
  expect_load_error ("patch size does not divide the image", d,
      CLE_TOWER_BOTH, CLE_ERROR_FORMAT, "image_size 224 is not a multiple");
  g_free (d);

  d = make_model_dir (NULL, NULL);
  char *vocab = g_build_filename (d, "vocab.json", NULL);
  g_unlink (vocab);
  expect_load_error ("missing vocab.json", d, CLE_TOWER_BOTH, CLE_ERROR_IO,
      "vocab.json");
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = CLE_TOWER_VISION;
  ClipModel *m;
  test_expect (cle_model_load (&m, d, &mp, NULL) == CLE_OK,
      "the vision tower loads without vocab.json");
  cle_model_free (m);
  g_free (vocab);
  g_free (d);
  d = make_model_dir (NULL, NULL);
  char *merges = g_build_filename (d, "merges.txt", NULL);
  g_unlink (merges);
  expect_load_error ("missing merges.txt", d, CLE_TOWER_TEXT, CLE_ERROR_IO,
      "merges.txt");
  g_free (merges);
  g_free (d);

  d = make_model_dir (NULL, NULL);
  char *weights = g_build_filename (d, "model.safetensors", NULL);
  g_unlink (weights);
  expect_load_error ("no weights", d, CLE_TOWER_BOTH, CLE_ERROR_IO,
      "model.safetensors");
  g_free (weights);
  g_free (d);

  d = make_model_dir (NULL, NULL);
  edit_weights (d, "text_projection.weight", "text_projection.weight", NULL,
      0);
  expect_load_error ("a missing tensor", d, CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "tensor 'text_projection.weight' is missing");
  mp.towers = CLE_TOWER_VISION;
  test_expect (cle_model_load (&m, d, &mp, NULL) == CLE_OK,
      "the vision tower loads without the text projection");
  cle_model_free (m);
  g_free (d);

  d = make_model_dir (NULL, NULL);
  edit_weights (d, "vision_model.post_layernorm.bias", NULL, "I16", 0);
  expect_load_error ("an integer tensor", d, CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "tensor 'vision_model.post_layernorm.bias': dtype I16, expected F32");
  g_free (d);

  d = make_model_dir (NULL, NULL);
  edit_weights (d, "vision_model.encoder.layers.1.mlp.fc2.weight", NULL,
      NULL, 1);
  expect_load_error ("a NaN weight", d, CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "tensor 'vision_model.encoder.layers.1.mlp.fc2.weight': element 0 is "
      "NaN");
  g_free (d);

  d = make_model_dir (NULL, NULL);
  edit_weights (d, "logit_scale", "logit_scale", NULL, 0);
  expect_load_error ("no logit_scale", d, CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "tensor 'logit_scale' is missing");
  g_free (d);

  d = make_model_dir (NULL, NULL);
  const char *pre = "{\"crop_size\": 200, \"size\": 200}";
  replace_file (d, "preprocessor_config.json", pre, strlen (pre));
  expect_load_error ("preprocessing that does not fit the tower", d,
      CLE_TOWER_BOTH, CLE_ERROR_MODEL,
      "preprocessing gives 200x200 images, the vision tower takes 224x224");
  const char *bad_std = "{\"image_std\": [0.5, 0, 0.5]}";
  replace_file (d, "preprocessor_config.json", bad_std, strlen (bad_std));
  expect_load_error ("a zero std", d, CLE_TOWER_BOTH, CLE_ERROR_FORMAT,
      "image_std[1] is 0");
  g_free (d);

  char *text_only = test_data_path ("gen/text-only");
  expect_load_error ("a text-only checkpoint asked for its vision tower",
      text_only, CLE_TOWER_BOTH, CLE_ERROR_MODEL, "has no vision tower");
  g_free (text_only);
}

/* Bad calls on a good model return errors and leave the context usable. */
static void
bad_calls (void)
{
  ClipModel *m;
  ClipContext *ctx;
  ClipError err;
  cle_model_load (&m, fixture, NULL, &err);
  cle_context_new (&ctx, m, NULL, &err);
  float e[64];
  int32_t ids[3] = { 49406, 320, 49407 }, bad[3] = { 49406, 60000, 49407 };
  const int32_t *p[1] = { ids }, *q[1] = { bad };
  int n3 = 3, n0 = 0, n78 = 78;
  int r = cle_encode_token_ids (ctx, q, &n3, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT
      && strstr (err.message, "token id 60000 at position 1"),
      "out-of-vocabulary id: %s", err.message);
  r = cle_encode_token_ids (ctx, p, &n0, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT, "zero ids: %s", err.message);
  r = cle_encode_token_ids (ctx, p, &n78, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT
      && strstr (err.message, "78 token ids, expected 1..77"),
      "78 ids: %s", err.message);
  r = cle_encode_token_ids (ctx, p, &n3, 1, e, 31, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT
      && strstr (err.message, "output holds 31 floats"),
      "output too small: %s", err.message);
  r = cle_encode_token_ids (ctx, p, &n3, 1, e, 32, &err);
  test_expect (r == CLE_OK, "the context still works after errors");
  const char *invalid[1] = { "caf\xc3" };
  r = cle_encode_texts (ctx, invalid, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT, "invalid UTF-8 prompt: %s",
      err.message);
  const char *empty[1] = { "" };
  r = cle_encode_texts (ctx, empty, 1, e, 64, &err);
  test_expect (r == CLE_OK, "the empty prompt encodes (start + end token)");
  ClipFrame tiny = { .format = CLE_PIXEL_RGB, .width = 1, .height = 1,
    .planes = { (const uint8_t *) "\x10\x20\x30" }, .strides = { 3 } };
  r = cle_encode_frames (ctx, &tiny, 1, e, 64, &err);
  test_expect (r == CLE_OK, "a 1x1 frame encodes (%s)", r ? err.message : "");
  ClipFrame bad_stride = tiny;
  bad_stride.width = 8;
  bad_stride.strides[0] = 3;
  r = cle_encode_frames (ctx, &bad_stride, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT, "a stride shorter than the "
      "row: %s", err.message);
  /* 10,000 prompts in one call, in chunks of the context's batch (1,000
   * under valgrind). */
  {
    const int N = getenv ("CLE_TEST_QUICK") ? 1000 : 10000;
    char **many = g_new (char *, N);
    float *out = g_new (float, (size_t) N * 32);
    for (int i = 0; i < N; i++)
      many[i] = g_strdup_printf ("prompt number %d", i);
    r = cle_encode_texts (ctx, (const char *const *) many, N, out,
        (size_t) N * 32, &err);
    int same = r == CLE_OK;
    const char *one[1] = { many[N - 1] };
    cle_encode_texts (ctx, one, 1, e, 32, &err);
    for (int k = 0; k < 32 && same; k++)
      same = fabsf (e[k] - out[(size_t) (N - 1) * 32 + k]) < 1e-5f;
    test_expect (same, "%d prompts encode, the last equal to itself alone",
        N);
    for (int i = 0; i < N; i++)
      g_free (many[i]);
    g_free (many);
    g_free (out);
  }
  /* The largest frame the engine takes, 8192x8192 (skipped under valgrind). */
  if (!getenv ("CLE_TEST_QUICK")) {
    uint8_t *big = g_malloc0 ((size_t) 8192 * 8192);
    for (size_t i = 0; i < (size_t) 8192 * 8192; i += 4099)
      big[i] = (uint8_t) i;
    ClipFrame huge = { .format = CLE_PIXEL_GRAY8, .width = 8192,
      .height = 8192, .planes = { big }, .strides = { 8192 } };
    r = cle_encode_frames (ctx, &huge, 1, e, 64, &err);
    test_expect (r == CLE_OK, "an 8192x8192 frame encodes (%s)",
        r ? err.message : "ok");
    g_free (big);
  }
  float logits[2];
  r = cle_model_score (m, e, e, 0, logits, NULL, NULL, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT, "score with no prompts: %s",
      err.message);
  cle_context_free (ctx);
  cle_model_free (m);

  /* A text-only model refuses images with a clear error. */
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = CLE_TOWER_TEXT;
  cle_model_load (&m, fixture, &mp, &err);
  cle_context_new (&ctx, m, NULL, &err);
  r = cle_encode_frames (ctx, &tiny, 1, e, 64, &err);
  test_expect (r == CLE_ERROR_INVALID_ARGUMENT
      && strstr (err.message, "without its vision tower"),
      "images on a text-only model: %s", err.message);
  cle_context_free (ctx);
  cle_model_free (m);
}

/* The directory disappears after load: the mapped weights stay valid; a
 * reload says the directory is gone. */
static void
disappearing_dir (void)
{
  char *d = g_strdup_printf ("%s/vanishing", tmp_root);
  char *cmd = g_strdup_printf ("cp -rL '%s' '%s'", fixture, d);
  test_expect (system (cmd) == 0, "copy the model");
  g_free (cmd);
  ClipModel *m;
  ClipContext *ctx;
  ClipError err;
  test_expect (cle_model_load (&m, d, NULL, &err) == CLE_OK, "load the copy");
  cle_context_new (&ctx, m, NULL, &err);
  test_expect (test_remove_dir (d), "remove it");
  const char *text[1] = { "a photo of a cat" };
  float e[32];
  test_expect (cle_encode_texts (ctx, text, 1, e, 32, &err) == CLE_OK,
      "the loaded model still encodes");
  expect_load_error ("reload after removal", d, CLE_TOWER_BOTH, CLE_ERROR_IO,
      "does not exist");
  cle_context_free (ctx);
  cle_model_free (m);
  g_free (d);
}

/* One model, N_SHARE_THREADS threads at once, each with its own context of
 * 2 OpenMP threads, encoding prompts and frames: every result equals what
 * one context computes alone. clip.h promises a model read-only after load;
 * scripts/check.sh tsan runs this under ThreadSanitizer (with Archer for
 * the OpenMP regions), where any unsynchronized write to shared state is
 * reported even when the numbers come out right. */
#define N_SHARE_THREADS 4
#define N_SHARE_FRAMES 3

static const char *share_prompts[] = { "a photo of a cat",
  "a photo of a dog", "a diagram of a red car", "", "Café crème brûlée" };
#define N_SHARE_PROMPTS (int) G_N_ELEMENTS (share_prompts)

typedef struct {
  const ClipModel *model;
  const ClipFrame *frames;
  const float *ref_text, *ref_image;
  int dim, n_rounds;
  double worst;                 /* max |got - ref| / max |ref| seen */
  int n_errors;
} ShareJob;

static double
rel_diff (const float *got, const float *ref, size_t n)
{
  TestCompare c = test_compare (got, ref, n);
  return c.max_abs_ref > 0 ? c.max_abs_diff / c.max_abs_ref : c.max_abs_diff;
}

static gpointer
share_thread (gpointer data)
{
  ShareJob *job = data;
  ClipContextParams cp;
  ClipContext *ctx;
  ClipError err;
  float *text = g_new (float, (size_t) N_SHARE_PROMPTS * job->dim);
  float *image = g_new (float, (size_t) N_SHARE_FRAMES * job->dim);

  cle_context_params_init (&cp);
  cp.n_threads = 2;
  cp.max_batch_images = 2;      /* 3 frames: two engine batches */
  if (cle_context_new (&ctx, job->model, &cp, &err) != CLE_OK) {
    job->n_errors++;
    goto out;
  }
  for (int r = 0; r < job->n_rounds; r++) {
    if (cle_encode_texts (ctx, share_prompts, N_SHARE_PROMPTS, text,
            (size_t) N_SHARE_PROMPTS * job->dim, &err) != CLE_OK
        || cle_encode_frames (ctx, job->frames, N_SHARE_FRAMES, image,
            (size_t) N_SHARE_FRAMES * job->dim, &err) != CLE_OK) {
      job->n_errors++;
      break;
    }
    job->worst = MAX (job->worst, rel_diff (text, job->ref_text,
            (size_t) N_SHARE_PROMPTS * job->dim));
    job->worst = MAX (job->worst, rel_diff (image, job->ref_image,
            (size_t) N_SHARE_FRAMES * job->dim));
  }
  cle_context_free (ctx);
out:
  g_free (text);
  g_free (image);
  return NULL;
}

static void
shared_model (void)
{
  ClipModel *m;
  ClipContext *ctx;
  ClipModelInfo info;
  ClipError err;
  if (cle_model_load (&m, fixture, NULL, &err) != CLE_OK) {
    test_expect (0, "load for the shared-model test: %s", err.message);
    return;
  }
  cle_model_get_info (m, &info);
  const int dim = info.projection_dim;

  /* three frames: RGB, GRAY8 and I420 of different sizes */
  static const int w[N_SHARE_FRAMES] = { 64, 97, 300 },
      h[N_SHARE_FRAMES] = { 48, 61, 200 };
  uint8_t *pix[N_SHARE_FRAMES];
  ClipFrame frames[N_SHARE_FRAMES];
  memset (frames, 0, sizeof frames);
  for (int f = 0; f < N_SHARE_FRAMES; f++) {
    size_t n = (size_t) w[f] * h[f] * 3;
    pix[f] = g_malloc (n);
    for (size_t i = 0; i < n; i++)
      pix[f][i] = (uint8_t) ((i * (7 + f)) ^ (i >> 5));
    frames[f].width = w[f];
    frames[f].height = h[f];
    frames[f].planes[0] = pix[f];
  }
  frames[0].format = CLE_PIXEL_RGB;
  frames[0].strides[0] = w[0] * 3;
  frames[1].format = CLE_PIXEL_GRAY8;
  frames[1].strides[0] = w[1];
  frames[2].format = CLE_PIXEL_I420;
  frames[2].strides[0] = w[2];
  frames[2].planes[1] = pix[2] + (size_t) w[2] * h[2];
  frames[2].planes[2] = frames[2].planes[1] + (size_t) (w[2] / 2) * (h[2] / 2);
  frames[2].strides[1] = frames[2].strides[2] = w[2] / 2;

  float *ref_text = g_new (float, (size_t) N_SHARE_PROMPTS * dim);
  float *ref_image = g_new (float, (size_t) N_SHARE_FRAMES * dim);
  ClipContextParams cp;
  cle_context_params_init (&cp);
  cp.n_threads = 2;
  cp.max_batch_images = 2;
  cle_context_new (&ctx, m, &cp, &err);
  int r = cle_encode_texts (ctx, share_prompts, N_SHARE_PROMPTS, ref_text,
      (size_t) N_SHARE_PROMPTS * dim, &err);
  if (r == CLE_OK)
    r = cle_encode_frames (ctx, frames, N_SHARE_FRAMES, ref_image,
        (size_t) N_SHARE_FRAMES * dim, &err);
  cle_context_free (ctx);
  test_expect (r == CLE_OK, "shared model: reference encodes (%s)",
      r ? err.message : "ok");

  /* under valgrind (CLE_TEST_QUICK) two threads, one round */
  const int quick = getenv ("CLE_TEST_QUICK") != NULL;
  const int n_threads = quick ? 2 : N_SHARE_THREADS, n_rounds = quick ? 1 : 3;
  ShareJob jobs[N_SHARE_THREADS];
  GThread *threads[N_SHARE_THREADS];
  for (int t = 0; t < n_threads; t++) {
    jobs[t] = (ShareJob) { m, frames, ref_text, ref_image, dim, n_rounds, 0,
      0 };
    threads[t] = g_thread_new ("share", share_thread, &jobs[t]);
  }
  double worst = 0;
  int n_errors = 0;
  for (int t = 0; t < n_threads; t++) {
    g_thread_join (threads[t]);
    worst = MAX (worst, jobs[t].worst);
    n_errors += jobs[t].n_errors;
  }
  test_expect (n_errors == 0 && worst <= 1e-6, "%d threads x %d rounds on "
      "one model, own contexts: %d errors, max|d| = %.3g of max|ref|",
      n_threads, n_rounds, n_errors, worst);

  for (int f = 0; f < N_SHARE_FRAMES; f++)
    g_free (pix[f]);
  g_free (ref_text);
  g_free (ref_image);
  cle_model_free (m);
}

int
main (void)
{
  fixture = test_data_path ("tiny-clip");
  tmp_root = g_dir_make_tmp ("cle-model-XXXXXX", NULL);
  catalogue ();
  bad_calls ();
  disappearing_dir ();
  shared_model ();
  test_remove_dir (tmp_root);
  g_free (tmp_root);
  g_free (fixture);
  return test_finish ();
}
