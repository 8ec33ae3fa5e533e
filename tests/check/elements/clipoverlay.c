/* clipoverlay.c: known results drawn onto known frames: the pixels of the
 * label panel and of a region's box change, the rest of the frame does
 * not; in packed RGB and in I420. */

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "gstclipmeta.h"

static GstBuffer *
black_frame (const GstVideoInfo * info)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame f;
  guint p;

  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_WRITE));
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&f); p++) {
    /* black: 0 for RGB and luma, 128 for chroma */
    guint8 v = GST_VIDEO_INFO_IS_YUV (info) && p > 0 ? 128 : 0;
    memset (GST_VIDEO_FRAME_PLANE_DATA (&f, p), v,
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, p) *
        GST_VIDEO_FRAME_COMP_HEIGHT (&f, p));
  }
  gst_video_frame_unmap (&f);
  GST_BUFFER_PTS (buf) = 0;
  return buf;
}

/* The brightest luma (or green) value in a rectangle of the frame. */
static guint
brightest (const GstVideoInfo * info, GstBuffer * buf, gint x0, gint y0,
    gint x1, gint y1)
{
  GstVideoFrame f;
  guint best = 0;
  gint x, y;

  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_READ));
  for (y = y0; y < y1; y++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0) +
        y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);

    for (x = x0; x < x1; x++)
      best = MAX (best, row[x * GST_VIDEO_FRAME_COMP_PSTRIDE (&f, 0) +
              (GST_VIDEO_INFO_IS_YUV (info) ? 0 : 1)]);
  }
  gst_video_frame_unmap (&f);
  return best;
}

static void
run_case (const gchar * format)
{
  gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=320,"
      "height=240,framerate=25/1", format);
  GstHarness *h = gst_harness_new ("clipoverlay");
  GstVideoInfo info;
  GstCaps *c = gst_caps_from_string (caps);
  GstBuffer *in, *out;
  GstClipClassificationMeta *meta;
  GstVideoRegionOfInterestMeta *roi;

  fail_unless (gst_video_info_from_caps (&info, c));
  gst_caps_unref (c);
  gst_harness_set_src_caps_str (h, caps);
  in = black_frame (&info);
  meta = gst_buffer_add_clip_classification_meta (in, 0, 2);
  gst_clip_classification_meta_add (meta, 1, "a dog", 0.9f, 0, 0);
  roi = gst_buffer_add_video_region_of_interest_meta (in, "person", 200, 150,
      80, 60);
  gst_video_region_of_interest_meta_add_param (roi,
      gst_structure_new ("clip-classification", "label", G_TYPE_STRING,
          "a cat", "confidence", G_TYPE_DOUBLE, 0.8, NULL));
  out = gst_harness_push_and_pull (h, in);
  fail_unless (out != NULL);

  /* the panel in the top-left corner has white text */
  fail_unless (brightest (&info, out, 0, 0, 100, 20) > 150, "%s: no text",
      format);
  /* the box's top edge is drawn, its middle and the far corner are not */
  fail_unless (brightest (&info, out, 200, 150, 280, 152) > 100,
      "%s: no box edge", format);
  fail_unless (brightest (&info, out, 230, 190, 250, 200) < 20,
      "%s: inside of the box changed", format);
  fail_unless (brightest (&info, out, 20, 150, 180, 240) < 20,
      "%s: the rest of the frame changed", format);

  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (caps);
}

GST_START_TEST (test_draw_bgrx)
{
  run_case ("BGRx");
}

GST_END_TEST;

GST_START_TEST (test_draw_i420)
{
  run_case ("I420");
}

GST_END_TEST;

/* Nothing attached: the frame leaves untouched. */
GST_START_TEST (test_nothing_to_draw)
{
  GstHarness *h = gst_harness_new ("clipoverlay");
  GstVideoInfo info;
  GstBuffer *in, *out;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_BGRx, 64, 48);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=BGRx,width=64,"
      "height=48,framerate=25/1");
  in = black_frame (&info);
  out = gst_harness_push_and_pull (h, in);
  fail_unless_equals_int (brightest (&info, out, 0, 0, 64, 48), 0);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
clipoverlay_suite (void)
{
  Suite *s = suite_create ("clipoverlay");
  TCase *tc = tcase_create ("draw");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_draw_bgrx);
  tcase_add_test (tc, test_draw_i420);
  tcase_add_test (tc, test_nothing_to_draw);
  return s;
}

GST_CHECK_MAIN (clipoverlay);
