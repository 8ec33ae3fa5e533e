/* clipanalytics.c: on GStreamer >= 1.24 clipclassify also attaches a
 * GstAnalyticsClsMtd; upstream readers (GstAnalyticsRelationMeta iteration,
 * the ClsMtd accessors) must see the labels and confidences of our meta, in
 * the same order. Built only against gstreamer-analytics-1.0
 * (scripts/check.sh gst126 runs it against GStreamer 1.26). */

#include <gst/analytics/analytics.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gstclipmeta.h"

#define LABELS "a bouncing ball,color bars,static noise,a checkerboard"

static void
check_frame (GstBuffer * buf)
{
  GstClipClassificationMeta *meta = gst_buffer_get_clip_classification_meta
      (buf);
  GstAnalyticsRelationMeta *rmeta;
  GstAnalyticsClsMtd cls;
  gpointer state = NULL;
  guint n_cls = 0, i;

  fail_unless (meta != NULL);
  fail_unless (meta->n_classifications == 4);
  rmeta = gst_buffer_get_analytics_relation_meta (buf);
  fail_unless (rmeta != NULL, "no GstAnalyticsRelationMeta");
  while (gst_analytics_relation_meta_iterate (rmeta, &state,
          gst_analytics_cls_mtd_get_mtd_type (), &cls)) {
    n_cls++;
    fail_unless_equals_int (gst_analytics_cls_mtd_get_length (&cls),
        meta->n_classifications);
    for (i = 0; i < meta->n_classifications; i++) {
      const GstClipClassification *c = gst_clip_classification_meta_get (meta,
          i);

      fail_unless_equals_string (g_quark_to_string
          (gst_analytics_cls_mtd_get_quark (&cls, i)), c->label);
      fail_unless_equals_float (gst_analytics_cls_mtd_get_level (&cls, i),
          c->probability);
      /* and the lookup by label */
      fail_unless_equals_int (gst_analytics_cls_mtd_get_index_by_quark (&cls,
              g_quark_from_string (c->label)), i);
    }
  }
  fail_unless_equals_int (n_cls, 1);
}

GST_START_TEST (test_cls_mtd_matches_meta)
{
  gchar *desc = g_strdup_printf ("clipclassify model=\"%s\" labels=\"%s\" "
      "top-k=0 threads=2", g_getenv ("CLIP_TEST_MODEL"), LABELS);
  GstHarness *h = gst_harness_new_parse (desc);
  guint i;

  /* a capsfilter by name: 1.26's harness reads bare caps in a src
   * description as an element name; a bounded source, as it runs ahead */
  gst_harness_add_src_parse (h, "videotestsrc num-buffers=4 pattern=ball ! "
      "capsfilter caps=\"video/x-raw,format=RGB,width=64,height=48,framerate=10/1\"",
      FALSE);
  for (i = 0; i < 4; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    out = gst_harness_pull (h);
    check_frame (out);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  g_free (desc);
}

GST_END_TEST;

static Suite *
clipanalytics_suite (void)
{
  Suite *s = suite_create ("clipanalytics");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_cls_mtd_matches_meta);
  return s;
}

GST_CHECK_MAIN (clipanalytics);
