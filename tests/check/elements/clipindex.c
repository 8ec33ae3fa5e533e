/* clipindex.c: the index writer: a shard's .npy rows and .jsonl lines read
 * back and compared with the embeddings pushed, the manifest's model and
 * fingerprint, nothing left behind by a stream that never reached EOS, and
 * an index of another model refused. */

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "gstclipmeta.h"
#include "index-format.h"

#define DIM 24

static gchar *
model_dir (void)
{
  return g_strdup (g_getenv ("CLIP_TEST_MODEL"));
}

static void
remove_tree (const gchar * dir)
{
  gchar *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  fail_unless (system (cmd) == 0);
  g_free (cmd);
}

static void
embedding (gfloat * v, guint n)
{
  gfloat norm = 0;
  for (guint j = 0; j < DIM; j++) {
    v[j] = sinf (n * 1.3f + j * 0.7f);
    norm += v[j] * v[j];
  }
  for (guint j = 0; j < DIM; j++)
    v[j] /= sqrtf (norm);
}

static GstBuffer *
frame_with_embedding (guint n, const gchar * model_id)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 16, NULL);
  GstClipEmbeddingMeta *meta;
  gfloat v[DIM];

  embedding (v, n);
  meta = gst_buffer_add_clip_embedding_meta (buf, v, DIM, model_id);
  meta->scored_pts = n * 40 * GST_MSECOND;
  meta->scored_frame_number = n;
  meta->scored_stream_time = n * 40 * GST_MSECOND;
  meta->scored_running_time = 1000 * GST_MSECOND + n * 40 * GST_MSECOND;
  GST_BUFFER_PTS (buf) = n * 40 * GST_MSECOND;
  return buf;
}

static GstHarness *
index_harness (const gchar * dir, const gchar * shard, const gchar * file)
{
  GstElement *e = gst_element_factory_make ("clipindex", NULL);
  GstBus *bus = gst_bus_new ();
  GstHarness *h;

  /* properties and a bus before the harness starts the element */
  g_object_set (e, "location", dir, "shard", shard, "file", file, NULL);
  gst_element_set_bus (e, bus);
  gst_object_unref (bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "application/x-test");
  return h;
}

/* the bus holds messages that hold the element: flushed first */
static void
index_teardown (GstHarness * h)
{
  gst_bus_set_flushing (GST_ELEMENT_BUS (h->element), TRUE);
  gst_harness_teardown (h);
}

static gchar *
shard_path (const gchar * dir, const gchar * sub, const gchar * name,
    const gchar * ext)
{
  return g_strdup_printf ("%s/%s/%s%s", dir, sub, name, ext);
}

GST_START_TEST (test_rows_match_embeddings)
{
  gchar *dir = g_dir_make_tmp ("clipindex-XXXXXX", NULL);
  gchar *model = model_dir (), *npy, *jsonl, *data, **lines;
  gsize size, offset;
  guint64 n_rows;
  gint dim;
  ClipIndexManifest m;
  char fp[65];
  GstHarness *h = index_harness (dir, "a", "videos/a b.mp4");
  const guint16 *rows;
  guint i;

  for (i = 0; i < 5; i++)
    fail_unless_equals_int (gst_harness_push (h,
            frame_with_embedding (i, model)), GST_FLOW_OK);
  /* a buffer without an embedding is no row */
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new ()),
      GST_FLOW_OK);
  /* async mode's last result, in an event before EOS */
  fail_unless (gst_harness_push_event (h,
          gst_clip_late_result_event_new (frame_with_embedding (5, model))));
  npy = shard_path (dir, CLIP_INDEX_EMB_DIR, "a", ".npy");
  jsonl = shard_path (dir, CLIP_INDEX_META_DIR, "a", ".jsonl");
  fail_if (g_file_test (npy, G_FILE_TEST_EXISTS), "a shard before EOS");
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  index_teardown (h);

  /* the rows: float16 of the embeddings, in order */
  fail_unless (g_file_get_contents (npy, &data, &size, NULL));
  fail_unless (clip_index_npy_parse ((guint8 *) data, size, &n_rows, &dim,
          &offset, NULL));
  fail_unless_equals_int (n_rows, 6);
  fail_unless_equals_int (dim, DIM);
  fail_unless_equals_int (offset, CLIP_INDEX_NPY_HEADER);
  fail_unless_equals_int (size, offset + 6 * DIM * 2);
  fail_unless (g_strstr_len (data + 10, offset - 10, "'descr': '<f2'"));
  rows = (const guint16 *) (data + offset);
  for (i = 0; i < 6; i++) {
    gfloat v[DIM], back[DIM];
    embedding (v, i);
    cle_f16_to_f32 (back, rows + i * DIM, DIM);
    for (guint j = 0; j < DIM; j++)
      fail_unless (fabsf (back[j] - v[j]) < 1e-3f, "row %u [%u]: %f, %f", i,
          j, back[j], v[j]);
  }
  g_free (data);

  /* the lines: one per row, same order */
  fail_unless (g_file_get_contents (jsonl, &data, NULL, NULL));
  lines = g_strsplit (data, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 7);    /* + "" after the last */
  for (i = 0; i < 6; i++) {
    JsonParser *p = json_parser_new ();
    JsonObject *o;
    fail_unless (json_parser_load_from_data (p, lines[i], -1, NULL));
    o = json_node_get_object (json_parser_get_root (p));
    fail_unless_equals_string (json_object_get_string_member (o, "file"),
        "videos/a b.mp4");
    fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
        i * 40 * GST_MSECOND);
    fail_unless_equals_int64 (json_object_get_int_member (o, "stream_time"),
        i * 40 * GST_MSECOND);
    fail_unless_equals_int64 (json_object_get_int_member (o, "running_time"),
        1000 * GST_MSECOND + i * 40 * GST_MSECOND);
    fail_unless_equals_int64 (json_object_get_int_member (o, "frame_number"),
        i);
    g_object_unref (p);
  }
  g_strfreev (lines);
  g_free (data);

  /* the manifest: the model, its fingerprint, the dim */
  fail_unless (clip_index_manifest_read (dir, &m, NULL));
  fail_unless (cle_model_dir_fingerprint (model, fp, sizeof fp, NULL) == 0);
  fail_unless_equals_string (m.fingerprint, fp);
  fail_unless_equals_int (m.dim, DIM);
  clip_index_manifest_clear (&m);

  g_free (npy);
  g_free (jsonl);
  g_free (model);
  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

/* A stream stopped before EOS (an error, a kill) leaves no shard and no
 * part file. */
GST_START_TEST (test_no_eos_no_shard)
{
  gchar *dir = g_dir_make_tmp ("clipindex-XXXXXX", NULL);
  gchar *model = model_dir ();
  gchar *emb = g_build_filename (dir, CLIP_INDEX_EMB_DIR, NULL);
  gchar *meta = g_build_filename (dir, CLIP_INDEX_META_DIR, NULL);
  GstHarness *h = index_harness (dir, "cut", "cut.mp4");
  GDir *d;

  for (guint i = 0; i < 3; i++)
    fail_unless_equals_int (gst_harness_push (h,
            frame_with_embedding (i, model)), GST_FLOW_OK);
  index_teardown (h);
  d = g_dir_open (emb, 0, NULL);
  fail_unless (d != NULL);
  fail_unless (g_dir_read_name (d) == NULL, "files left in img_emb/");
  g_dir_close (d);
  d = g_dir_open (meta, 0, NULL);
  fail_unless (g_dir_read_name (d) == NULL, "files left in metadata/");
  g_dir_close (d);
  g_free (emb);
  g_free (meta);
  g_free (model);
  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

/* A second model's embeddings in the same index: an error that names both,
 * and no shard. */
GST_START_TEST (test_other_model_refused)
{
  gchar *dir = g_dir_make_tmp ("clipindex-XXXXXX", NULL);
  gchar *model = model_dir (), *npy;
  gchar *other = g_build_filename (g_getenv ("CLIP_SOURCE_ROOT"), "models",
      "tiny-demo-clip", NULL);
  GstHarness *h = index_harness (dir, "one", "one.mp4");
  GstMessage *msg;
  GError *err = NULL;

  fail_unless_equals_int (gst_harness_push (h, frame_with_embedding (0,
              model)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  index_teardown (h);

  h = index_harness (dir, "two", "two.mp4");
  fail_unless_equals_int (gst_harness_push (h, frame_with_embedding (0,
              other)), GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (h->element),
      GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "another model") != NULL, "%s",
      err->message);
  g_error_free (err);
  gst_message_unref (msg);
  index_teardown (h);
  npy = shard_path (dir, CLIP_INDEX_EMB_DIR, "two", ".npy");
  fail_if (g_file_test (npy, G_FILE_TEST_EXISTS));

  g_free (npy);
  g_free (other);
  g_free (model);
  remove_tree (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_no_location)
{
  GstElement *e = gst_element_factory_make ("clipindex", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;

  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_END_TEST;

static Suite *
clipindex_suite (void)
{
  Suite *s = suite_create ("clipindex");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_rows_match_embeddings);
  tcase_add_test (tc, test_no_eos_no_shard);
  tcase_add_test (tc, test_other_model_refused);
  tcase_add_test (tc, test_no_location);
  return s;
}

GST_CHECK_MAIN (clipindex);
