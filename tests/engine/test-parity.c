/* test-parity.c - the engine against reference outputs computed in PyTorch:
 * tests/data/tiny-clip (the shared fixture) and tests/data/gen/ (our own
 * generator: F32 + gelu, BF16 sharded, single-tower checkpoints, the vision
 * tower's as safetensors and torch.save shards). Prints max
 * abs diff and cosine for every tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "context.h"
#include "image-io.h"
#include "test-util.h"

#define EMBED_TOL 1e-4          /* of max|ref| */
#define EMBED_COS 0.99999
#define LOGIT_TOL 1e-3          /* absolute */

typedef struct {
  const char *dir;              /* under tests/data */
  unsigned towers;
} Case;

static const Case cases[] = {
  { "tiny-clip", CLE_TOWER_BOTH },
  { "gen/f32-gelu", CLE_TOWER_BOTH },
  { "gen/bf16-sharded", CLE_TOWER_BOTH },
  { "gen/vision-only", CLE_TOWER_VISION },
  { "gen/vision-only-bin", CLE_TOWER_VISION },  /* pytorch_model.bin only */
  /* the same weights in 3 shards with an index (make_repacked.py) */
  { "gen/vision-only-sharded", CLE_TOWER_VISION },
  { "gen/vision-only-bin-sharded", CLE_TOWER_VISION },
  { "gen/text-only", CLE_TOWER_TEXT },
};

static float *
read_f32 (const char *path, size_t *n)
{
  size_t size;
  float *data = test_read_file (path, &size);
  *n = size / sizeof (float);
  return data;
}

/* Pixel values from a crop PNG, by the reference's formula. */
static float *
pixels_from_crop (const char *png, const ClipModelInfo *info)
{
  uint8_t *rgb;
  int w, h;
  ClipError err;
  if (image_load_rgb (png, &rgb, &w, &h, &err) != CLE_OK) {
    printf ("FAIL %s\n", err.message);
    exit (1);
  }
  float *px = malloc ((size_t) 3 * w * h * sizeof (float));
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < w * h; i++)
      px[(size_t) c * w * h + i] = ((float) (rgb[i * 3 + c] * (1 / 255.0))
          - info->image_mean[c]) / info->image_std[c];
  free (rgb);
  return px;
}

static void
check_states (ClipContext *ctx, const char *ref_dir, const char *prefix)
{
  char *inter = g_build_filename (ref_dir, "inter", NULL);
  GDir *d = g_dir_open (inter, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d))) {
    if (!g_str_has_prefix (name, prefix) || !g_str_has_suffix (name, ".f32"))
      continue;
    char *path = g_build_filename (inter, name, NULL);
    char *state = g_strndup (name, strlen (name) - 4);
    size_t n;
    float *ref = read_f32 (path, &n);
    float *got = calloc (n, sizeof (float));
    ClipError err;
    int r = cle_context_get_state (ctx, state, got, n, &err);
    char *label = g_strdup_printf ("  state %s", state);
    if (r != (int) n)
      test_expect (0, "%s: got %d floats, reference has %zu (%s)", label, r,
          n, r < 0 ? err.message : "");
    else
      test_check_close (label, got, ref, n, EMBED_TOL, EMBED_COS);
    g_free (label);
    free (got);
    free (ref);
    g_free (state);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
  g_free (inter);
}

static JsonArray *
member_array (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static void
run_case (const Case *c)
{
  printf ("# %s\n", c->dir);
  char *dir = test_data_path (c->dir);
  char *ref_dir = g_build_filename (dir, "reference", NULL);
  char *ref_json = g_build_filename (ref_dir, "reference.json", NULL);
  JsonParser *parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, ref_json, NULL)) {
    test_expect (0, "%s: cannot read %s", c->dir, ref_json);
    return;
  }
  JsonObject *ref = json_node_get_object (json_parser_get_root (parser));

  ClipError err;
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.towers = c->towers;
  ClipModel *model;
  int code = cle_model_load (&model, dir, &mp, &err);
  test_expect (code == CLE_OK, "%s: load (%s)", c->dir,
      code ? err.message : "ok");
  if (code)
    return;
  ClipModelInfo info;
  cle_model_get_info (model, &info);
  ClipContextParams cp;
  cle_context_params_init (&cp);
  cp.max_batch_images = 3;      /* smaller than the fixtures: chunking runs */
  cp.max_batch_texts = 5;
  ClipContext *ctx;
  cle_context_new (&ctx, model, &cp, &err);
  /* 2 threads, batches of 4: two lanes of 2 images (context.c) */
  ClipContextParams lanes_cp = cp;
  lanes_cp.n_threads = 2;
  lanes_cp.max_batch_images = 4;
  ClipContext *lanes = NULL;
  cle_context_new (&lanes, model, &lanes_cp, &err);
  const int P = info.projection_dim;

  float *image_embeds = NULL, *text_embeds = NULL;
  int n_images = 0, n_texts = 0;
  if (c->towers & CLE_TOWER_VISION) {
    JsonArray *images = member_array (ref, "images");
    n_images = json_array_get_length (images);
    size_t S = info.image_size, per = 3 * S * S, n;
    float *pixels;
    char *pv = g_build_filename (ref_dir, "pixel_values.f32", NULL);
    if (g_file_test (pv, G_FILE_TEST_EXISTS)) {
      pixels = read_f32 (pv, &n);
    } else {
      pixels = malloc (n_images * per * sizeof (float));
      for (int i = 0; i < n_images; i++) {
        char *png = g_strdup_printf ("%s/pre/%s.crop.png", ref_dir,
            json_array_get_string_element (images, i));
        float *one = pixels_from_crop (png, &info);
        memcpy (pixels + i * per, one, per * sizeof (float));
        free (one);
        g_free (png);
      }
    }
    g_free (pv);
    image_embeds = malloc ((size_t) n_images * P * sizeof (float));
    cle_context_set_keep_states (ctx, 1);
    code = cle_encode_images (ctx, pixels, n_images, image_embeds,
        (size_t) n_images * P, &err);
    test_expect (code == CLE_OK, "%s: encode %d images (%s)", c->dir,
        n_images, code ? err.message : "ok");
    cle_context_set_keep_states (ctx, 0);
    char *path = g_build_filename (ref_dir, "image_embeds.f32", NULL);
    float *want = read_f32 (path, &n);
    test_expect (n == (size_t) n_images * P, "%s: image_embeds size", c->dir);
    for (int i = 0; i < n_images; i++) {
      char *label = g_strdup_printf ("%s image_embeds[%d] %s", c->dir, i,
          json_array_get_string_element (images, i));
      test_check_close (label, image_embeds + i * P, want + i * P, P,
          EMBED_TOL, EMBED_COS);
      g_free (label);
    }
    check_states (ctx, ref_dir, "vision_");

    /* Again without recording: a batch of at least two images per thread
     * runs as one single-threaded pass per thread (the context's lanes). */
    test_expect (lanes && lanes->n_lanes == 2, "%s: a context with %d lanes",
        c->dir, lanes ? lanes->n_lanes : -1);
    float *again = malloc ((size_t) n_images * P * sizeof (float));
    code = cle_encode_images (lanes, pixels, n_images, again,
        (size_t) n_images * P, &err);
    test_expect (code == CLE_OK, "%s: encode %d images, one pass per thread "
        "(%s)", c->dir, n_images, code ? err.message : "ok");
    if (code == CLE_OK)
      test_check_close ("  image_embeds, one pass per thread", again, want,
          (size_t) n_images * P, EMBED_TOL, EMBED_COS);
    free (again);
    free (want);
    free (pixels);
    g_free (path);

    /* The same images from their original files, preprocessed by us: one
     * at a time, then all in one call (per thread, when there are enough),
     * then with a bad last frame, which fails the call with its reason. */
    ClipFrame *all = calloc (n_images, sizeof *all);
    uint8_t **all_rgb = calloc (n_images, sizeof *all_rgb);
    for (int i = 0; i < n_images; i++) {
      char *rel_png = g_strdup_printf ("tiny-clip/reference/images/%s.png",
          json_array_get_string_element (images, i));
      char *png = test_data_path (rel_png);
      g_free (rel_png);
      uint8_t *rgb;
      int w, h;
      float e[1024];
      code = image_load_rgb (png, &rgb, &w, &h, &err);
      test_expect (code == CLE_OK, "load %s: %s", png,
          code ? err.message : "ok");
      if (code == CLE_OK) {
        ClipFrame f = { .format = CLE_PIXEL_RGB, .width = w, .height = h,
          .planes = { rgb }, .strides = { 3 * w } };
        code = cle_encode_frames (ctx, &f, 1, e, P, &err);
        char *label = g_strdup_printf ("%s frame %s", c->dir, png);
        if (code)
          test_expect (0, "%s: %s", label, err.message);
        else
          test_check_close (label, e, image_embeds + i * P, P, EMBED_TOL,
              EMBED_COS);
        g_free (label);
        all[i] = f;
        all_rgb[i] = rgb;
      }
      g_free (png);
    }
    float *from_frames = malloc ((size_t) n_images * P * sizeof (float));
    code = cle_encode_frames (lanes, all, n_images, from_frames,
        (size_t) n_images * P, &err);
    test_expect (code == CLE_OK, "%s: %d frames in one call (%s)", c->dir,
        n_images, code ? err.message : "ok");
    if (code == CLE_OK)
      test_check_close ("  frames in one call", from_frames, image_embeds,
          (size_t) n_images * P, EMBED_TOL, EMBED_COS);
    all[n_images - 1].strides[0] = 1;   /* shorter than a row */
    code = cle_encode_frames (lanes, all, n_images, from_frames,
        (size_t) n_images * P, &err);
    test_expect (code == CLE_ERROR_INVALID_ARGUMENT && strstr (err.message,
            "stride"), "%s: a bad last frame fails the call: %d \"%s\"",
        c->dir, code, err.message);
    for (int i = 0; i < n_images; i++)
      free (all_rgb[i]);
    free (all);
    free (all_rgb);
    free (from_frames);
  }

  if (c->towers & CLE_TOWER_TEXT) {
    JsonArray *prompts = member_array (ref, "prompts");
    JsonArray *ids = member_array (ref, "ids");
    if (!ids)
      ids = member_array (ref, "ids_77");
    n_texts = json_array_get_length (prompts);
    int32_t **id = calloc (n_texts, sizeof *id);
    int *n_id = calloc (n_texts, sizeof *n_id);
    const char **texts = calloc (n_texts, sizeof *texts);
    for (int t = 0; t < n_texts; t++) {
      JsonArray *a = json_array_get_array_element (ids, t);
      texts[t] = json_array_get_string_element (prompts, t);
      n_id[t] = json_array_get_length (a);
      id[t] = calloc (n_id[t], sizeof (int32_t));
      for (int i = 0; i < n_id[t]; i++)
        id[t][i] = json_array_get_int_element (a, i);
    }
    size_t n;
    char *path = g_build_filename (ref_dir, "text_embeds.f32", NULL);
    float *want = read_f32 (path, &n);
    text_embeds = malloc ((size_t) n_texts * P * sizeof (float));
    cle_context_set_keep_states (ctx, 1);
    code = cle_encode_token_ids (ctx, (const int32_t * const *) id, n_id,
        n_texts, text_embeds, (size_t) n_texts * P, &err);
    test_expect (code == CLE_OK, "%s: encode %d token id lists (%s)",
        c->dir, n_texts, code ? err.message : "ok");
    cle_context_set_keep_states (ctx, 0);
    for (int t = 0; t < n_texts; t++) {
      char *label = g_strdup_printf ("%s text_embeds[%d]", c->dir, t);
      test_check_close (label, text_embeds + t * P, want + t * P, P,
          EMBED_TOL, EMBED_COS);
      g_free (label);
    }
    check_states (ctx, ref_dir, "text_");

    /* From the strings: tokenizer + tower must give the same. */
    float *from_text = malloc ((size_t) n_texts * P * sizeof (float));
    code = cle_encode_texts (ctx, texts, n_texts, from_text,
        (size_t) n_texts * P, &err);
    test_expect (code == CLE_OK, "%s: encode %d prompts (%s)", c->dir,
        n_texts, code ? err.message : "ok");
    if (code == CLE_OK)
      test_check_close ("  text_embeds from strings", from_text, want,
          (size_t) n_texts * P, EMBED_TOL, EMBED_COS);

    /* All prompts twice in one batch, the second time in reverse order:
     * duplicates and shared prefixes computed once, the same embeddings. */
    ClipContextParams cp2;
    cle_context_params_init (&cp2);
    cp2.max_batch_texts = 2 * n_texts;
    ClipContext *ctx2 = NULL;
    const char **twice = calloc (2 * n_texts, sizeof *twice);
    for (int t = 0; t < n_texts; t++)
      twice[t] = twice[2 * n_texts - 1 - t] = texts[t];
    float *shared = malloc ((size_t) 2 * n_texts * P * sizeof (float));
    code = cle_context_new (&ctx2, model, &cp2, &err);
    if (code == CLE_OK)
      code = cle_encode_texts (ctx2, twice, 2 * n_texts, shared,
          (size_t) 2 * n_texts * P, &err);
    test_expect (code == CLE_OK, "%s: encode %d prompts, each twice (%s)",
        c->dir, n_texts, code ? err.message : "ok");
    for (int t = 0; code == CLE_OK && t < n_texts; t++) {
      char *label = g_strdup_printf ("  text_embeds[%d], batch of duplicates",
          t);
      test_check_close (label, shared + (size_t) t * P, want + t * P, P,
          EMBED_TOL, EMBED_COS);
      test_check_close (label, shared + (size_t) (2 * n_texts - 1 - t) * P,
          want + t * P, P, EMBED_TOL, EMBED_COS);
      g_free (label);
    }
    cle_context_free (ctx2);
    free (twice);
    free (shared);

    for (int t = 0; t < n_texts; t++)
      free (id[t]);
    free (id);
    free (n_id);
    free (texts);
    free (from_text);
    free (want);
    g_free (path);
  }

  if (image_embeds && text_embeds) {
    size_t n;
    char *path = g_build_filename (ref_dir, "logits_per_image.f32", NULL);
    float *want = read_f32 (path, &n);
    float *logits = malloc (n_texts * sizeof (float));
    float *probs = malloc (n_texts * sizeof (float));
    double max_d = 0, prob_sum_err = 0;
    for (int i = 0; i < n_images; i++) {
      cle_model_score (model, image_embeds + i * P, text_embeds, n_texts,
          logits, probs, NULL, &err);
      double sum = 0;
      for (int t = 0; t < n_texts; t++) {
        max_d = fmax (max_d, fabs (logits[t] - want[i * n_texts + t]));
        sum += probs[t];
      }
      prob_sum_err = fmax (prob_sum_err, fabs (sum - 1));
    }
    test_expect (max_d <= LOGIT_TOL && prob_sum_err < 1e-5,
        "%s: logits_per_image max|d| = %.3g (tol %g), probs sum to 1 within "
        "%.2g", c->dir, max_d, LOGIT_TOL, prob_sum_err);
    free (logits);
    free (probs);
    free (want);
    g_free (path);
  }

  free (image_embeds);
  free (text_embeds);
  cle_context_free (ctx);
  cle_context_free (lanes);
  cle_model_free (model);
  g_object_unref (parser);
  g_free (ref_json);
  g_free (ref_dir);
  g_free (dir);
}

int
main (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    run_case (&cases[i]);
  return test_finish ();
}
