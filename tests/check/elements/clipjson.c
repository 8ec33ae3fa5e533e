/* clipjson.c: the JSON Lines writer, its output parsed back with json-glib
 * and compared with the metadata on the buffers it saw. */

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "gstclipmeta.h"

#define LABELS "a cat,a dog,a red car,a tree,a house"

static gchar *
temp_path (void)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("clipjson-XXXXXX.jsonl", &path, NULL);

  fail_unless (fd >= 0);
  close (fd);
  return path;
}

/* Every line of @path parsed; the file must end with a newline. */
static GPtrArray *
read_lines (const gchar * path)
{
  GPtrArray *objs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      json_node_unref);
  gchar *contents, **lines;
  gsize len;
  guint i;

  fail_unless (g_file_get_contents (path, &contents, &len, NULL));
  if (len > 0)
    fail_unless (contents[len - 1] == '\n', "last line is not complete");
  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i] && lines[i][0]; i++) {
    JsonParser *parser = json_parser_new ();
    GError *err = NULL;

    fail_unless (json_parser_load_from_data (parser, lines[i], -1, &err),
        "line %u: %s", i, err ? err->message : "");
    fail_unless (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
    g_ptr_array_add (objs, json_node_ref (json_parser_get_root (parser)));
    g_object_unref (parser);
  }
  g_strfreev (lines);
  g_free (contents);
  return objs;
}

static GstBuffer *
video_frame (guint n)
{
  GstVideoInfo info;
  GstBuffer *buf;
  guint8 *data;
  gsize i;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 97, 61);
  buf = gst_buffer_new_allocate (NULL, info.size, NULL);
  data = g_malloc (info.size);
  for (i = 0; i < info.size; i++)
    data[i] = (guint8) (i * 7 + n * 31);
  gst_buffer_fill (buf, 0, data, info.size);
  g_free (data);
  GST_BUFFER_PTS (buf) = n * 40 * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 40 * GST_MSECOND;
  return buf;
}

GST_START_TEST (test_lines_match_meta)
{
  gchar *path = temp_path (), *desc;
  GstHarness *h;
  GPtrArray *lines, *metas = g_ptr_array_new ();
  GPtrArray *bufs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  guint i, j;

  desc = g_strdup_printf ("clipclassify model=\"%s\" labels=\"%s\" top-k=3 "
      "interval=2 ! clipjson location=\"%s\"", g_getenv ("CLIP_TEST_MODEL"),
      LABELS, path);
  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=97,"
      "height=61,framerate=25/1");
  for (i = 0; i < 5; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, video_frame (i)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    g_ptr_array_add (bufs, out);
    if (gst_buffer_get_clip_classification_meta (out))
      g_ptr_array_add (metas, gst_buffer_get_clip_classification_meta (out));
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);

  lines = read_lines (path);
  fail_unless_equals_int (metas->len, 3);       /* frames 0, 2, 4 */
  fail_unless_equals_int (lines->len, metas->len);
  for (i = 0; i < lines->len; i++) {
    JsonObject *o = json_node_get_object (g_ptr_array_index (lines, i));
    GstClipClassificationMeta *meta = g_ptr_array_index (metas, i);
    JsonObject *res = json_object_get_object_member (o, "resolution");
    JsonArray *tensors = json_object_get_array_member (o, "tensors");

    fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
        meta->scored_pts);
    fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
        i * 2 * 40 * GST_MSECOND);
    fail_unless_equals_int64 (json_object_get_int_member (o, "stream_time"),
        i * 2 * 40 * GST_MSECOND);
    fail_unless_equals_int64 (json_object_get_int_member (o, "frame_number"),
        i * 2);
    fail_unless (res != NULL);
    fail_unless_equals_int (json_object_get_int_member (res, "width"), 97);
    fail_unless_equals_int (json_object_get_int_member (res, "height"), 61);
    fail_unless_equals_int (json_array_get_length (tensors), 3);
    for (j = 0; j < 3; j++) {
      JsonObject *t = json_array_get_object_element (tensors, j);
      const GstClipClassification *c = &meta->classifications[j];

      fail_unless_equals_string (json_object_get_string_member (t, "label"),
          c->label);
      fail_unless_equals_int (json_object_get_int_member (t, "label_id"),
          c->index);
      fail_unless_equals_float (json_object_get_double_member (t,
              "confidence"), c->probability);
      fail_unless_equals_float (json_object_get_double_member (t, "logit"),
          c->logit);
      fail_unless_equals_float (json_object_get_double_member (t, "cosine"),
          c->cosine);
    }
  }

  g_ptr_array_unref (lines);
  g_ptr_array_unref (metas);
  g_ptr_array_unref (bufs);
  g_unlink (path);
  g_free (path);
  g_free (desc);
}

GST_END_TEST;

/* Any caps: no resolution; labels that need escaping come back intact. */
GST_START_TEST (test_escaping_non_video)
{
  const gchar *nasty = "a \"quoted\" back\\slash,\nnew line\tcafé ☕ \x01";
  gchar *path = temp_path (), *desc;
  GstHarness *h;
  GstBuffer *buf;
  GstClipClassificationMeta *meta;
  GPtrArray *lines;
  JsonObject *o, *t;

  desc = g_strdup_printf ("clipjson location=\"%s\"", path);
  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, "application/x-test");

  /* without meta: no line */
  gst_harness_push (h, gst_buffer_new_allocate (NULL, 8, NULL));
  buf = gst_buffer_new_allocate (NULL, 8, NULL);
  GST_BUFFER_PTS (buf) = GST_SECOND;
  meta = gst_buffer_add_clip_classification_meta (buf, GST_SECOND, 7);
  gst_clip_classification_meta_add (meta, 6, nasty, 0.5f, 1.0f, 0.01f);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  buf = gst_buffer_new_allocate (NULL, 8, NULL);
  /* unknown timestamps are null, not garbage */
  gst_buffer_add_clip_classification_meta (buf, GST_CLOCK_TIME_NONE, 7);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  gst_harness_teardown (h);

  lines = read_lines (path);
  fail_unless_equals_int (lines->len, 2);
  o = json_node_get_object (g_ptr_array_index (lines, 0));
  fail_if (json_object_has_member (o, "resolution"));
  fail_unless_equals_int64 (json_object_get_int_member (o, "frame_number"), 1);
  fail_unless_equals_int64 (json_object_get_int_member (o, "pts"), GST_SECOND);
  t = json_array_get_object_element (json_object_get_array_member (o,
          "tensors"), 0);
  fail_unless_equals_string (json_object_get_string_member (t, "label"),
      nasty);
  fail_unless_equals_int (json_object_get_int_member (t, "label_id"), 6);
  o = json_node_get_object (g_ptr_array_index (lines, 1));
  fail_unless (json_object_get_null_member (o, "pts"));
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member
          (o, "tensors")), 0);

  g_ptr_array_unref (lines);
  g_unlink (path);
  g_free (path);
  g_free (desc);
}

GST_END_TEST;

GST_START_TEST (test_unwritable_location)
{
  GstElement *e = gst_element_factory_make ("clipjson", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;

  gst_element_set_bus (e, bus);
  g_object_set (e, "location", "/nonexistent/dir/out.jsonl", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_WRITE));
  fail_unless (strstr (err->message, "/nonexistent/dir/out.jsonl") != NULL);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_END_TEST;

/* A meta that rides on a later frame (async mode) is written as the scored
 * frame: its number, size and times, not the carrier's; a result in a
 * late-result event (async mode at EOS) is a line too. */
GST_START_TEST (test_scored_frame_fields)
{
  gchar *path = temp_path (), *desc;
  GstClipClassificationMeta *meta;
  GstHarness *h;
  GstBuffer *buf, *carrier;
  GPtrArray *lines;
  JsonObject *o, *res;

  desc = g_strdup_printf ("clipjson location=\"%s\"", path);
  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=97,"
      "height=61,framerate=25/1");
  buf = video_frame (9);
  meta = gst_buffer_add_clip_classification_meta (buf, 40 * GST_MSECOND, 2);
  meta->scored_frame_number = 1;
  meta->scored_width = 320;
  meta->scored_height = 240;
  meta->scored_stream_time = 40 * GST_MSECOND;
  meta->scored_running_time = 1040 * GST_MSECOND;
  gst_clip_classification_meta_add (meta, 1, "a dog", 0.9f, 20.f, 0.2f);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);

  carrier = gst_buffer_new ();
  meta = gst_buffer_add_clip_classification_meta (carrier, 360 * GST_MSECOND,
      2);
  meta->scored_frame_number = 9;
  gst_clip_classification_meta_add (meta, 0, "a cat", 0.6f, 19.f, 0.19f);
  fail_unless (gst_harness_push_event (h,
          gst_clip_late_result_event_new (carrier)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);

  lines = read_lines (path);
  fail_unless_equals_int (lines->len, 2);
  o = json_node_get_object (g_ptr_array_index (lines, 0));
  fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
      40 * GST_MSECOND);
  fail_unless_equals_int64 (json_object_get_int_member (o, "frame_number"), 1);
  fail_unless_equals_int64 (json_object_get_int_member (o, "running_time"),
      1040 * GST_MSECOND);
  res = json_object_get_object_member (o, "resolution");
  fail_unless_equals_int64 (json_object_get_int_member (res, "width"), 320);
  fail_unless_equals_int64 (json_object_get_int_member (res, "height"), 240);
  o = json_node_get_object (g_ptr_array_index (lines, 1));
  fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
      360 * GST_MSECOND);
  fail_unless_equals_int64 (json_object_get_int_member (o, "frame_number"), 9);

  g_ptr_array_unref (lines);
  g_unlink (path);
  g_free (path);
  g_free (desc);
}

GST_END_TEST;

/* Regions labelled by clipclassify become objects[] with their box; a
 * frame with labelled regions but no frame classification (roi-list) gets a
 * line of its own. */
GST_START_TEST (test_objects)
{
  gchar *path = temp_path (), *desc;
  GstHarness *h;
  GstBuffer *buf;
  GstVideoRegionOfInterestMeta *roi;
  GPtrArray *lines;
  JsonObject *o, *obj;
  JsonArray *objects;

  desc = g_strdup_printf ("clipjson location=\"%s\"", path);
  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=97,"
      "height=61,framerate=25/1");
  buf = video_frame (3);
  roi = gst_buffer_add_video_region_of_interest_meta (buf, "person", -5, 10,
      30, 20);
  roi->id = 42;
  gst_video_region_of_interest_meta_add_param (roi,
      gst_structure_new ("clip-classification", "label", G_TYPE_STRING,
          "a cat", "label-id", G_TYPE_UINT, 0, "confidence", G_TYPE_DOUBLE,
          0.75, "repeated", G_TYPE_BOOLEAN, FALSE, NULL));
  /* a region nobody classified: not an object */
  gst_buffer_add_video_region_of_interest_meta (buf, "car", 1, 1, 5, 5);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);

  lines = read_lines (path);
  fail_unless_equals_int (lines->len, 1);
  o = json_node_get_object (g_ptr_array_index (lines, 0));
  fail_unless_equals_int64 (json_object_get_int_member (o, "pts"),
      3 * 40 * GST_MSECOND);
  objects = json_object_get_array_member (o, "objects");
  fail_unless_equals_int (json_array_get_length (objects), 1);
  obj = json_array_get_object_element (objects, 0);
  fail_unless_equals_int64 (json_object_get_int_member (obj, "id"), 42);
  fail_unless_equals_int64 (json_object_get_int_member (obj, "x"), -5);
  fail_unless_equals_int64 (json_object_get_int_member (obj, "w"), 30);
  fail_unless_equals_string (json_object_get_string_member (obj, "roi_type"),
      "person");
  fail_unless_equals_string (json_object_get_string_member
      (json_array_get_object_element (json_object_get_array_member (obj,
                  "tensors"), 0), "label"), "a cat");
  g_ptr_array_unref (lines);
  g_unlink (path);
  g_free (path);
  g_free (desc);
}

GST_END_TEST;

static Suite *
clipjson_suite (void)
{
  Suite *s = suite_create ("clipjson");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_lines_match_meta);
  tcase_add_test (tc, test_scored_frame_fields);
  tcase_add_test (tc, test_objects);
  tcase_add_test (tc, test_escaping_non_video);
  tcase_add_test (tc, test_unwritable_location);
  return s;
}

GST_CHECK_MAIN (clipjson);
