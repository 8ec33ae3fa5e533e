/* cliplabels.c: the plugin's label set and model cache, below the element:
 * list and file parsing, prompt ensembling against the engine called
 * directly, and sharing of one loaded model. */

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gstcliplabels.h"
#include "gstclipmodelcache.h"

static const gchar *
model_dir (void)
{
  const gchar *dir = g_getenv ("CLIP_TEST_MODEL");

  fail_unless (dir != NULL, "CLIP_TEST_MODEL is not set");
  return dir;
}

static gchar *
write_temp (const gchar * contents)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("cliplabels-XXXXXX.txt", &path, NULL);

  fail_unless (fd >= 0);
  close (fd);
  fail_unless (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

GST_START_TEST (test_parse_list)
{
  gchar **v = gst_clip_parse_list (" a cat, dog ,,  ,a red car ,");

  fail_unless_equals_int (g_strv_length (v), 3);
  fail_unless_equals_string (v[0], "a cat");
  fail_unless_equals_string (v[1], "dog");
  fail_unless_equals_string (v[2], "a red car");
  g_strfreev (v);

  v = gst_clip_parse_list (NULL);
  fail_unless_equals_int (g_strv_length (v), 0);
  g_strfreev (v);
  v = gst_clip_parse_list (" , ,");
  fail_unless_equals_int (g_strv_length (v), 0);
  g_strfreev (v);
}

GST_END_TEST;

GST_START_TEST (test_parse_file)
{
  gchar *path = write_temp ("# animals\n\ncat\r\n  dog  \n   # indented "
      "comment\n\t\nthe #1 car\nlast line without newline");
  GError *err = NULL;
  gchar **v = gst_clip_parse_lines_file (path, &err);

  fail_unless (v != NULL);
  fail_unless_equals_int (g_strv_length (v), 4);
  fail_unless_equals_string (v[0], "cat");
  fail_unless_equals_string (v[1], "dog");
  /* '#' inside a line is text, not a comment */
  fail_unless_equals_string (v[2], "the #1 car");
  fail_unless_equals_string (v[3], "last line without newline");
  g_strfreev (v);
  g_unlink (path);
  g_free (path);

  v = gst_clip_parse_lines_file ("/nonexistent/labels.txt", &err);
  fail_unless (v == NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_READ));
  fail_unless (strstr (err->message, "/nonexistent/labels.txt") != NULL);
  g_clear_error (&err);

  path = write_temp ("bad \xff utf-8\n");
  v = gst_clip_parse_lines_file (path, &err);
  fail_unless (v == NULL);
  fail_unless (strstr (err->message, "UTF-8") != NULL);
  g_clear_error (&err);
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

static void
normalize (gfloat * v, gint n)
{
  gdouble s = 0;
  gint k;

  for (k = 0; k < n; k++)
    s += v[k] * v[k];
  for (k = 0; k < n; k++)
    v[k] /= sqrt (s);
}

/* Prompt ensembling computed here from cle_encode_texts outputs, the way the
 * CLIP paper's notebook does, against what the label set holds. */
GST_START_TEST (test_ensembling)
{
  const gchar *labels[] = { "cat", "dog", "red car" };
  const gchar *templates[] = { "a photo of a {}.", "a drawing of a {}.",
    "{} in the wild"
  };
  gchar *tfile = write_temp ("# three templates\na photo of a {}.\n"
      "a drawing of a {}.\n\n{} in the wild\n");
  GstClipPromptConfig config = { 0, };
  GstClipModelHandle *handle;
  ClipContextParams cp;
  ClipContext *ctx;
  ClipModelInfo info;
  ClipError cerr;
  GstClipLabelSet *set;
  GError *err = NULL;
  gint dim, i, t, k;

  handle = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_FP32, &cerr);
  fail_unless (handle != NULL, "%s", cerr.message);
  cle_model_get_info (gst_clip_model_handle_get_model (handle), &info);
  dim = info.projection_dim;
  cle_context_params_init (&cp);
  fail_unless (cle_context_new (&ctx, gst_clip_model_handle_get_model (handle),
          &cp, &cerr) == CLE_OK, "%s", cerr.message);

  config.labels = g_strdup ("cat, dog, red car");
  config.templates_file = tfile;
  set = gst_clip_label_set_encode (ctx, dim, &config, NULL, &err);
  fail_unless (set != NULL, "%s", err ? err->message : "");
  fail_unless_equals_int (set->n_labels, 3);
  fail_unless_equals_int (set->n_templates, 3);

  for (i = 0; i < 3; i++) {
    gfloat mean[1024] = { 0, }, e[1024];
    gdouble maxdiff = 0;

    fail_unless (dim <= 1024);
    for (t = 0; t < 3; t++) {
      gchar **parts = g_strsplit (templates[t], "{}", -1);
      gchar *prompt = g_strjoinv (labels[i], parts);
      const char *p = prompt;

      fail_unless (cle_encode_texts (ctx, &p, 1, e, dim, &cerr) == CLE_OK);
      normalize (e, dim);
      for (k = 0; k < dim; k++)
        mean[k] += e[k];
      g_strfreev (parts);
      g_free (prompt);
    }
    normalize (mean, dim);
    for (k = 0; k < dim; k++)
      maxdiff = MAX (maxdiff, fabs (mean[k] - set->embeds[i * dim + k]));
    GST_INFO ("label %d: max abs diff %g", i, maxdiff);
    fail_unless (maxdiff < 1e-5, "label %d differs by %g", i, maxdiff);
    fail_unless_equals_string (set->labels[i], labels[i]);
  }

  gst_clip_label_set_unref (set);
  gst_clip_prompt_config_clear (&config);
  cle_context_free (ctx);
  gst_clip_model_cache_release (handle);
}

GST_END_TEST;

/* With a text cache, a second encode of the same labels reads every prompt
 * back from disk and gives the same set bit for bit. */
GST_START_TEST (test_text_cache)
{
  GstClipModelHandle *handle;
  ClipContext *ctx;
  ClipContextParams cp;
  ClipModelInfo info;
  ClipError cerr;
  GstClipPromptConfig config = { 0, };
  GstClipLabelSet *first, *second;
  ClipTextCache *cache;
  GError *err = NULL;
  gchar *dir = g_dir_make_tmp ("clip-text-cache-XXXXXX", NULL);

  handle = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_FP32, &cerr);
  fail_unless (handle != NULL, "%s", cerr.message);
  cle_model_get_info (gst_clip_model_handle_get_model (handle), &info);
  cle_context_params_init (&cp);
  fail_unless (cle_context_new (&ctx, gst_clip_model_handle_get_model (handle),
          &cp, &cerr) == CLE_OK, "%s", cerr.message);

  config.labels = g_strdup ("cat, dog, red car");
  config.text_cache = g_strdup (dir);
  first = gst_clip_label_set_encode (ctx, info.projection_dim, &config, NULL,
      &err);
  fail_unless (first != NULL, "%s", err ? err->message : "");
  fail_unless (cle_text_cache_open (&cache,
          gst_clip_model_handle_get_model (handle), dir, &cerr) == CLE_OK,
      "%s", cerr.message);
  fail_unless_equals_int (cle_text_cache_size (cache), 3);
  cle_text_cache_free (cache);
  second = gst_clip_label_set_encode (ctx, info.projection_dim, &config, NULL,
      &err);
  fail_unless (second != NULL);
  fail_unless (memcmp (first->embeds, second->embeds,
          3 * info.projection_dim * sizeof (gfloat)) == 0);

  gst_clip_label_set_unref (first);
  gst_clip_label_set_unref (second);
  gst_clip_prompt_config_clear (&config);
  cle_context_free (ctx);
  gst_clip_model_cache_release (handle);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_encode_errors)
{
  GstClipPromptConfig config = { 0, };
  GstClipModelHandle *handle;
  ClipContextParams cp;
  ClipContext *ctx;
  ClipModelInfo info;
  ClipError cerr;
  GError *err = NULL;
  gchar *empty = write_temp ("# nothing\n\n   \n");
  gint cancelled = 1;

  handle = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_FP32, &cerr);
  fail_unless (handle != NULL, "%s", cerr.message);
  cle_model_get_info (gst_clip_model_handle_get_model (handle), &info);
  cle_context_params_init (&cp);
  fail_unless (cle_context_new (&ctx, gst_clip_model_handle_get_model (handle),
          &cp, &cerr) == CLE_OK);

  /* no labels at all */
  fail_unless (gst_clip_label_set_encode (ctx, info.projection_dim, &config,
          NULL, &err) == NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  fail_unless (strstr (err->message, "labels") != NULL);
  g_clear_error (&err);

  /* a labels file with comments only */
  config.labels_file = g_strdup (empty);
  fail_unless (gst_clip_label_set_encode (ctx, info.projection_dim, &config,
          NULL, &err) == NULL);
  fail_unless (strstr (err->message, empty) != NULL, "%s", err->message);
  g_clear_error (&err);
  g_clear_pointer (&config.labels_file, g_free);

  /* a template without a place for the label */
  config.labels = g_strdup ("cat");
  config.template = g_strdup ("a photo");
  fail_unless (gst_clip_label_set_encode (ctx, info.projection_dim, &config,
          NULL, &err) == NULL);
  fail_unless (strstr (err->message, "{}") != NULL, "%s", err->message);
  g_clear_error (&err);

  /* cancelled before the first engine call */
  g_free (config.template);
  config.template = g_strdup ("{}");
  fail_unless (gst_clip_label_set_encode (ctx, info.projection_dim, &config,
          &cancelled, &err) == NULL);
  g_clear_error (&err);

  gst_clip_prompt_config_clear (&config);
  g_unlink (empty);
  g_free (empty);
  cle_context_free (ctx);
  gst_clip_model_cache_release (handle);
}

GST_END_TEST;

GST_START_TEST (test_model_cache_shares)
{
  GstClipModelHandle *a, *b, *c;
  ClipError cerr;
  gchar *slash = g_strconcat (model_dir (), "/", NULL);

  a = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_FP32, &cerr);
  fail_unless (a != NULL, "%s", cerr.message);
  /* another spelling of the same directory */
  b = gst_clip_model_cache_acquire (slash, CLE_PRECISION_FP32, &cerr);
  fail_unless (b == a);
  fail_unless (gst_clip_model_handle_get_model (a) ==
      gst_clip_model_handle_get_model (b));
  /* another precision is another copy */
  c = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_INT8, &cerr);
  fail_unless (c != NULL && c != a, "%s", cerr.message);
  {
    ClipModelInfo info;
    cle_model_get_info (gst_clip_model_handle_get_model (c), &info);
    fail_unless_equals_int (info.precision, CLE_PRECISION_INT8);
  }
  gst_clip_model_cache_release (c);
  gst_clip_model_cache_release (a);
  gst_clip_model_cache_release (b);

  /* all references gone: the next acquire loads again, and works */
  c = gst_clip_model_cache_acquire (model_dir (), CLE_PRECISION_FP32, &cerr);
  fail_unless (c != NULL);
  gst_clip_model_cache_release (c);

  fail_unless (gst_clip_model_cache_acquire ("/nonexistent/model",
          CLE_PRECISION_FP32, &cerr) == NULL);
  fail_unless (cerr.code < 0);
  fail_unless (strstr (cerr.message, "/nonexistent/model") != NULL,
      "%s", cerr.message);
  g_free (slash);
}

GST_END_TEST;

static gpointer
acquire_release (gpointer data)
{
  gint i;

  for (i = 0; i < 20; i++) {
    ClipError cerr;
    GstClipModelHandle *h = gst_clip_model_cache_acquire (data, CLE_PRECISION_FP32, &cerr);

    fail_unless (h != NULL, "%s", cerr.message);
    gst_clip_model_cache_release (h);
  }
  return NULL;
}

GST_START_TEST (test_model_cache_threads)
{
  GThread *threads[4];
  gint i;

  for (i = 0; i < 4; i++)
    threads[i] = g_thread_new ("cache", acquire_release,
        (gpointer) model_dir ());
  for (i = 0; i < 4; i++)
    g_thread_join (threads[i]);
}

GST_END_TEST;

static Suite *
cliplabels_suite (void)
{
  Suite *s = suite_create ("cliplabels");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_parse_list);
  tcase_add_test (tc, test_parse_file);
  tcase_add_test (tc, test_ensembling);
  tcase_add_test (tc, test_encode_errors);
  tcase_add_test (tc, test_text_cache);
  tcase_add_test (tc, test_model_cache_shares);
  tcase_add_test (tc, test_model_cache_threads);
  return s;
}

GST_CHECK_MAIN (cliplabels);
