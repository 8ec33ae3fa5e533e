/* gstclipframe.c: GstVideoFrame -> ClipFrame (a borrowed view, no copy), and
 * the square tiles that let CLIP see a whole wide or tall frame, not only
 * its centre. */

#include <string.h>

#include "gstclipframe.h"

gboolean
gst_clip_frame_from_video_frame (ClipFrame * cf, const GstVideoFrame * frame)
{
  const GstVideoColorimetry *cinfo = &frame->info.colorimetry;
  guint p;

  memset (cf, 0, sizeof (*cf));
  switch (GST_VIDEO_FRAME_FORMAT (frame)) {
    case GST_VIDEO_FORMAT_RGB:
      cf->format = CLE_PIXEL_RGB;
      break;
    case GST_VIDEO_FORMAT_BGR:
      cf->format = CLE_PIXEL_BGR;
      break;
    case GST_VIDEO_FORMAT_RGBA:
      cf->format = CLE_PIXEL_RGBA;
      break;
    case GST_VIDEO_FORMAT_BGRA:
      cf->format = CLE_PIXEL_BGRA;
      break;
    case GST_VIDEO_FORMAT_ARGB:
      cf->format = CLE_PIXEL_ARGB;
      break;
    case GST_VIDEO_FORMAT_ABGR:
      cf->format = CLE_PIXEL_ABGR;
      break;
    case GST_VIDEO_FORMAT_RGBx:
      cf->format = CLE_PIXEL_RGBX;
      break;
    case GST_VIDEO_FORMAT_BGRx:
      cf->format = CLE_PIXEL_BGRX;
      break;
    case GST_VIDEO_FORMAT_xRGB:
      cf->format = CLE_PIXEL_XRGB;
      break;
    case GST_VIDEO_FORMAT_xBGR:
      cf->format = CLE_PIXEL_XBGR;
      break;
    case GST_VIDEO_FORMAT_GRAY8:
      cf->format = CLE_PIXEL_GRAY8;
      break;
    case GST_VIDEO_FORMAT_I420:
      cf->format = CLE_PIXEL_I420;
      break;
    case GST_VIDEO_FORMAT_NV12:
      cf->format = CLE_PIXEL_NV12;
      break;
    default:
      return FALSE;
  }

  cf->width = GST_VIDEO_FRAME_WIDTH (frame);
  cf->height = GST_VIDEO_FRAME_HEIGHT (frame);
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame) && p < 3; p++) {
    cf->planes[p] = GST_VIDEO_FRAME_PLANE_DATA (frame, p);
    cf->strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, p);
  }
  /* The engine knows BT.601 and BT.709; BT.2020 and SMPTE 240M content is
   * closer to BT.709 than to BT.601. */
  switch (cinfo->matrix) {
    case GST_VIDEO_COLOR_MATRIX_BT709:
    case GST_VIDEO_COLOR_MATRIX_BT2020:
    case GST_VIDEO_COLOR_MATRIX_SMPTE240M:
      cf->matrix = CLE_MATRIX_BT709;
      break;
    default:
      cf->matrix = CLE_MATRIX_BT601;
      break;
  }
  cf->range = cinfo->range == GST_VIDEO_COLOR_RANGE_0_255 ?
      CLE_RANGE_FULL : CLE_RANGE_LIMITED;
  return TRUE;
}

static gint
bytes_per_pixel (ClipPixelFormat format)
{
  switch (format) {
    case CLE_PIXEL_RGB:
    case CLE_PIXEL_BGR:
      return 3;
    case CLE_PIXEL_GRAY8:
    case CLE_PIXEL_I420:
    case CLE_PIXEL_NV12:
      return 1;                 /* of the luma plane */
    default:
      return 4;
  }
}

/* @cf moved to start at pixel (x, y) with size w x h. */
static void
sub_view (ClipFrame * out, const ClipFrame * cf, gint x, gint y, gint w,
    gint h)
{
  *out = *cf;
  out->width = w;
  out->height = h;
  out->planes[0] = cf->planes[0] + (gsize) y * cf->strides[0]
      + (gsize) x * bytes_per_pixel (cf->format);
  if (cf->format == CLE_PIXEL_I420) {
    out->planes[1] = cf->planes[1] + (gsize) (y / 2) * cf->strides[1] + x / 2;
    out->planes[2] = cf->planes[2] + (gsize) (y / 2) * cf->strides[2] + x / 2;
  } else if (cf->format == CLE_PIXEL_NV12) {
    /* interleaved U, V: two bytes per chroma sample, x is even */
    out->planes[1] = cf->planes[1] + (gsize) (y / 2) * cf->strides[1] + x;
  }
}

guint
gst_clip_frame_tiles (const ClipFrame * cf,
    ClipFrame tiles[GST_CLIP_MAX_TILES])
{
  gboolean wide = cf->width >= cf->height;
  gint side = wide ? cf->height : cf->width;
  gint span = (wide ? cf->width : cf->height) - side;
  gboolean subsampled = cf->format == CLE_PIXEL_I420 ||
      cf->format == CLE_PIXEL_NV12;
  guint n, i;

  if (side <= 0)
    return 0;
  n = (guint) ((span + side + side - 1) / side);        /* ceil (long / side) */
  n = CLAMP (n, 1, GST_CLIP_MAX_TILES);
  for (i = 0; i < n; i++) {
    gint offset = n > 1 ? (gint) ((gint64) span * i / (n - 1)) : 0;

    if (subsampled)
      offset &= ~1;
    if (wide)
      sub_view (&tiles[i], cf, offset, 0, side, side);
    else
      sub_view (&tiles[i], cf, 0, offset, side, side);
  }
  return n;
}

guint
gst_clip_frame_views (const ClipFrame * cf, ClipFrame views[GST_CLIP_MAX_VIEWS])
{
  guint n;

  views[0] = *cf;
  n = gst_clip_frame_tiles (cf, views + 1);
  return n > 1 ? n + 1 : 1;
}

gboolean
gst_clip_frame_crop (const ClipFrame * cf, gint x, gint y, gint w, gint h,
    ClipFrame * out)
{
  gint64 x0 = MAX (x, 0), y0 = MAX (y, 0);
  gint64 x1 = MIN ((gint64) x + MAX (w, 0), cf->width);
  gint64 y1 = MIN ((gint64) y + MAX (h, 0), cf->height);

  if (w <= 0 || h <= 0 || x1 <= x0 || y1 <= y0)
    return FALSE;
  if (cf->format == CLE_PIXEL_I420 || cf->format == CLE_PIXEL_NV12) {
    x0 &= ~1;
    y0 &= ~1;
  }
  sub_view (out, cf, (gint) x0, (gint) y0, (gint) (x1 - x0), (gint) (y1 -
          y0));
  return TRUE;
}

static gboolean
is_view_error (gint code)
{
  return code == CLE_ERROR_UNSUPPORTED || code == CLE_ERROR_INVALID_ARGUMENT;
}

gint
gst_clip_frame_preprocess (ClipContext * ctx, const ClipFrame * views,
    guint n, gfloat * pixels, gsize per_image, guint * index,
    gboolean * rejected, ClipError * why, ClipError * err)
{
  guint i, n_images = 0;

  for (i = 0; i < n; i++) {
    ClipError one = { 0, };

    rejected[i] = FALSE;
    if (cle_preprocess (ctx, &views[i], pixels + n_images * per_image,
            per_image, NULL, &one) >= 0) {
      index[n_images++] = i;
      continue;
    }
    if (!is_view_error (one.code)) {
      *err = one;
      return -1;
    }
    rejected[i] = TRUE;
    *why = one;
  }
  return n_images;
}
