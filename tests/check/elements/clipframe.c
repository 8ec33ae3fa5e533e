/* clipframe.c: the square tiles and views that coverage=full scores: how
 * many, where, and plane offsets that stay on chroma boundaries. */

#include <gst/check/gstcheck.h>

#include "gstclipframe.h"

static ClipFrame
frame (ClipPixelFormat format, gint w, gint h)
{
  static guint8 pixels[4];
  ClipFrame f = { 0, };

  f.format = format;
  f.width = w;
  f.height = h;
  f.planes[0] = f.planes[1] = f.planes[2] = pixels;
  f.strides[0] = w * 4;
  f.strides[1] = f.strides[2] = (w + 1) / 2;
  return f;
}

GST_START_TEST (test_wide_tiles)
{
  ClipFrame f = frame (CLE_PIXEL_RGBA, 640, 360), t[GST_CLIP_MAX_TILES];
  guint n = gst_clip_frame_tiles (&f, t);

  fail_unless_equals_int (n, 2);
  fail_unless_equals_int (t[0].width, 360);
  fail_unless_equals_int (t[0].height, 360);
  fail_unless (t[0].planes[0] == f.planes[0]);
  /* the last tile ends at the right edge: x = 280, 4 bytes a pixel */
  fail_unless (t[1].planes[0] == f.planes[0] + 280 * 4);
}

GST_END_TEST;

GST_START_TEST (test_tall_i420_tiles)
{
  ClipFrame f = frame (CLE_PIXEL_I420, 101, 333), t[GST_CLIP_MAX_TILES];
  guint n = gst_clip_frame_tiles (&f, t), i;

  fail_unless_equals_int (n, 3);        /* ceil (333 / 101) = 4, at most 3 */
  for (i = 0; i < n; i++) {
    gsize y = (t[i].planes[0] - f.planes[0]) / f.strides[0];

    fail_unless_equals_int (t[i].width, 101);
    fail_unless_equals_int (t[i].height, 101);
    fail_unless (y % 2 == 0, "tile %u starts on an odd row", i);
    fail_unless (t[i].planes[1] == f.planes[1] + (y / 2) * f.strides[1]);
    fail_unless (y + 101 <= 333);
  }
}

GST_END_TEST;

GST_START_TEST (test_views)
{
  ClipFrame sq = frame (CLE_PIXEL_RGB, 224, 224), wide =
      frame (CLE_PIXEL_NV12, 1920, 1080), v[GST_CLIP_MAX_VIEWS];

  /* a square: the centre is the whole frame, one view */
  fail_unless_equals_int (gst_clip_frame_views (&sq, v), 1);
  fail_unless_equals_int (v[0].width, 224);
  /* 16:9: the frame (CLIP crops its centre), then two tiles */
  fail_unless_equals_int (gst_clip_frame_views (&wide, v), 3);
  fail_unless_equals_int (v[0].width, 1920);
  fail_unless_equals_int (v[1].width, 1080);
  fail_unless ((v[2].planes[0] - wide.planes[0]) % 2 == 0);
  fail_unless (v[2].planes[1] == wide.planes[1] + (v[2].planes[0] -
          wide.planes[0]));
}

GST_END_TEST;

/* Boxes from a detector: clipped to the frame, even corners for I420,
 * nothing for a zero-size box or one wholly outside. */
GST_START_TEST (test_crop)
{
  ClipFrame f = frame (CLE_PIXEL_I420, 320, 240), c;

  fail_unless (gst_clip_frame_crop (&f, -10, 231, 50, 100, &c));
  fail_unless_equals_int (c.width, 40);
  fail_unless_equals_int (c.height, 10);        /* rows 230..239 */
  fail_unless (c.planes[0] == f.planes[0] + 230 * f.strides[0]);
  fail_unless (c.planes[1] == f.planes[1] + 115 * f.strides[1]);
  fail_if (gst_clip_frame_crop (&f, 10, 10, 0, 20, &c));
  fail_if (gst_clip_frame_crop (&f, 400, 10, 20, 20, &c));
  fail_if (gst_clip_frame_crop (&f, -50, 10, 50, 20, &c));
}

GST_END_TEST;

static Suite *
clipframe_suite (void)
{
  Suite *s = suite_create ("clipframe");
  TCase *tc = tcase_create ("tiles");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_wide_tiles);
  tcase_add_test (tc, test_tall_i420_tiles);
  tcase_add_test (tc, test_views);
  tcase_add_test (tc, test_crop);
  return s;
}

GST_CHECK_MAIN (clipframe);
