/* GStreamer CLIP labels drawn on the video
 *
 * gstclipoverlay.c: draws what clipclassify and clipsegment attached (the
 * labels with confidence bars, the segments in progress, the boxes of
 * regions and their labels) onto the frames, with Cairo and Pango, as
 * GStreamer's textoverlay does: the drawing is an ARGB rectangle blended
 * into the frame in its own format.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipoverlay
 * @title: clipoverlay
 *
 * Draws the labels of the #GstClipClassificationMeta on each frame (a panel
 * in the top-left corner: one line per label, its confidence as a bar and a
 * percentage), the segments clipsegment reports as in progress (a line
 * "now: LABEL since 12.4 s"), and the box of every
 * #GstVideoRegionOfInterestMeta with its label (the "clip-classification"
 * parameter of the region when it has one, its roi type otherwise). A
 * result repeated onto frames that were not scored (repeat-metadata) is
 * drawn too, so the labels stay on screen between scored frames; so does
 * the last result for #GstClipOverlay:hold frames when nothing is repeated.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc pattern=ball ! clipclassify \
 *     model=models/tiny-demo-clip labels="a bouncing ball,color bars" \
 *     ! clipoverlay ! videoconvert ! autovideosink
 * ]|
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <cairo.h>
#include <pango/pangocairo.h>

#include "gstclipoverlay.h"
#include "gstclipmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_overlay_debug);
#define GST_CAT_DEFAULT gst_clip_overlay_debug

#define DEFAULT_PROP_MAX_LABELS 3
#define DEFAULT_PROP_FONT_SCALE 1.0
#define DEFAULT_PROP_HOLD 30

enum
{
  PROP_0,
  PROP_MAX_LABELS,
  PROP_FONT_SCALE,
  PROP_HOLD,
};

#define OVERLAY_CAPS GST_VIDEO_CAPS_MAKE ("{ BGRx, RGBx, xRGB, xBGR, BGRA, " \
    "RGBA, ARGB, ABGR, RGB, BGR, I420, YV12, NV12, NV21, YUY2, UYVY, AYUV, " \
    "Y42B, Y444, GRAY8 }")

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (OVERLAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (OVERLAY_CAPS));

/* A segment clipsegment reported as started and not yet as finished. */
typedef struct
{
  guint label_id;
  gchar *label;
  GstClockTime start;           /* stream time */
} OpenSegment;

struct _GstClipOverlay
{
  GstVideoFilter parent;

  /* properties, under the object lock */
  guint max_labels;
  gdouble font_scale;
  guint hold;

  /* streaming thread */
  GstClipClassificationMeta *last;      /* a copy's meta, on last_carrier */
  GstBuffer *last_carrier;
  guint frames_since_last;
  GList *open_segments;         /* OpenSegment */
};

#define gst_clip_overlay_parent_class parent_class
G_DEFINE_TYPE (GstClipOverlay, gst_clip_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (clipoverlay, "clipoverlay", GST_RANK_NONE,
    GST_TYPE_CLIP_OVERLAY);

static void
open_segment_free (OpenSegment * s)
{
  g_free (s->label);
  g_free (s);
}

/* -------------------------------------------------------------- drawing -- */

/* An ARGB32 Cairo surface of @w x @h in a GstBuffer that an overlay
 * rectangle can take: premultiplied BGRA in memory on little-endian hosts,
 * which is what GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB names. */
static cairo_surface_t *
surface_new (gint w, gint h, GstBuffer ** buffer, GstMapInfo * map)
{
  gint stride = cairo_format_stride_for_width (CAIRO_FORMAT_ARGB32, w);

  *buffer = gst_buffer_new_allocate (NULL, (gsize) stride * h, NULL);
  gst_buffer_map (*buffer, map, GST_MAP_READWRITE);
  memset (map->data, 0, map->size);
  return cairo_image_surface_create_for_data (map->data, CAIRO_FORMAT_ARGB32,
      w, h, stride);
}

/* Hands @buffer (drawn through @surface) over as a rectangle at (x, y). */
static GstVideoOverlayRectangle *
surface_to_rectangle (cairo_surface_t * surface, GstBuffer * buffer,
    GstMapInfo * map, gint x, gint y)
{
  gint w = cairo_image_surface_get_width (surface);
  gint h = cairo_image_surface_get_height (surface);
  gint stride = cairo_image_surface_get_stride (surface);
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0, };
  gint strides[GST_VIDEO_MAX_PLANES] = { stride, };
  GstVideoOverlayRectangle *rect;

  cairo_surface_flush (surface);
  cairo_surface_destroy (surface);
  gst_buffer_unmap (buffer, map);
  gst_buffer_add_video_meta_full (buffer, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, w, h, 1, offset, strides);
  rect = gst_video_overlay_rectangle_new_raw (buffer, x, y, w, h,
      GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (buffer);
  return rect;
}

static PangoLayout *
layout_new (cairo_t * cr, gint font_px)
{
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *font = pango_font_description_new ();

  pango_font_description_set_family (font, "Sans");
  pango_font_description_set_weight (font, PANGO_WEIGHT_BOLD);
  pango_font_description_set_absolute_size (font, font_px * PANGO_SCALE);
  pango_layout_set_font_description (layout, font);
  pango_font_description_free (font);
  return layout;
}

/* Text in white with a dark outline, readable on any picture. */
static void
draw_text (cairo_t * cr, PangoLayout * layout, const gchar * text, gdouble x,
    gdouble y, gdouble outline)
{
  pango_layout_set_text (layout, text, -1);
  cairo_move_to (cr, x, y);
  pango_cairo_layout_path (cr, layout);
  cairo_set_source_rgba (cr, 0, 0, 0, 0.85);
  cairo_set_line_width (cr, outline);
  cairo_stroke_preserve (cr);
  cairo_set_source_rgba (cr, 1, 1, 1, 1);
  cairo_fill (cr);
}

/* The widest of @rows in pixels, measured with a scratch context. */
static gint
widest_row (GPtrArray * rows, gint font_px)
{
  cairo_surface_t *scratch = cairo_image_surface_create (CAIRO_FORMAT_ARGB32,
      1, 1);
  cairo_t *cr = cairo_create (scratch);
  PangoLayout *layout = layout_new (cr, font_px);
  gint widest = 0, w, h;
  guint i;

  for (i = 0; i < rows->len; i++) {
    pango_layout_set_text (layout, g_ptr_array_index (rows, i), -1);
    pango_layout_get_pixel_size (layout, &w, &h);
    widest = MAX (widest, w);
  }
  g_object_unref (layout);
  cairo_destroy (cr);
  cairo_surface_destroy (scratch);
  return widest;
}

/* The labels panel: one row per label (text and a confidence bar), then the
 * segments in progress, as wide as its longest row. */
static GstVideoOverlayRectangle *
render_panel (GstClipOverlay * self, const GstClipClassificationMeta * meta,
    gint frame_w, gint frame_h, guint max_labels, gdouble scale)
{
  gint font_px = MAX ((gint) (frame_h / 24.0 * scale), 8);
  gint row = font_px * 7 / 4, margin = font_px / 2, w, h, bar_w;
  guint n_labels = meta ? MIN (meta->n_classifications, max_labels) : 0;
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);
  GstBuffer *buffer;
  GstMapInfo map;
  cairo_surface_t *surface;
  cairo_t *cr;
  PangoLayout *layout;
  GList *l;
  guint i;

  for (i = 0; i < n_labels; i++)
    g_ptr_array_add (rows, g_strdup_printf ("%s %.0f%%",
            meta->classifications[i].label,
            100.0 * meta->classifications[i].probability));
  for (l = self->open_segments; l; l = l->next) {
    const OpenSegment *s = l->data;

    g_ptr_array_add (rows, GST_CLOCK_TIME_IS_VALID (s->start) ?
        g_strdup_printf ("now: %s since %.1f s", s->label,
            s->start / (gdouble) GST_SECOND) : g_strdup_printf ("now: %s",
            s->label));
  }
  w = MIN (frame_w, widest_row (rows, font_px) + 2 * margin + font_px / 2);
  h = MIN (frame_h, (gint) rows->len * row + 2 * margin);
  if (rows->len == 0 || w <= 2 * margin || h <= 2 * margin) {
    g_ptr_array_unref (rows);
    return NULL;
  }
  bar_w = w - 2 * margin;
  surface = surface_new (w, h, &buffer, &map);
  cr = cairo_create (surface);
  layout = layout_new (cr, font_px);

  /* a translucent backing so the text reads on bright video */
  cairo_set_source_rgba (cr, 0, 0, 0, 0.45);
  cairo_rectangle (cr, 0, 0, w, h);
  cairo_fill (cr);

  for (i = 0; i < rows->len; i++) {
    gdouble y = margin + i * row;

    if (i < n_labels) {
      gfloat p = meta->classifications[i].probability;

      cairo_set_source_rgba (cr, 0.1, 0.75, 0.3, 0.9);
      cairo_rectangle (cr, margin, y + font_px * 1.25, bar_w * CLAMP (p, 0.0f,
              1.0f), MAX (font_px / 4, 2));
      cairo_fill (cr);
    }
    draw_text (cr, layout, g_ptr_array_index (rows, i), margin, y,
        MAX (font_px / 6.0, 1.0));
  }

  g_object_unref (layout);
  cairo_destroy (cr);
  g_ptr_array_unref (rows);
  return surface_to_rectangle (surface, buffer, &map, 0, 0);
}

/* What a region is called: its clip-classification label, else its type. */
static gchar *
region_text (GstVideoRegionOfInterestMeta * roi)
{
  GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
      "clip-classification");
  const gchar *label = s ? gst_structure_get_string (s, "label") : NULL;
  gdouble confidence;

  if (label && gst_structure_get_double (s, "confidence", &confidence))
    return g_strdup_printf ("%s %.0f%%", label, 100.0 * confidence);
  if (label)
    return g_strdup (label);
  return g_strdup (roi->roi_type ? g_quark_to_string (roi->roi_type) : "");
}

/* A box's outline and label, as a rectangle of the box's size (clipped to
 * the frame); NULL when nothing of it is in the frame. */
static GstVideoOverlayRectangle *
render_region (GstVideoRegionOfInterestMeta * roi, gint frame_w,
    gint frame_h, gdouble scale)
{
  gint x0 = CLAMP ((gint) roi->x, 0, frame_w);
  gint y0 = CLAMP ((gint) roi->y, 0, frame_h);
  gint x1 = CLAMP ((gint) roi->x + (gint) roi->w, 0, frame_w);
  gint y1 = CLAMP ((gint) roi->y + (gint) roi->h, 0, frame_h);
  gint w = x1 - x0, h = y1 - y0;
  gint font_px = MAX ((gint) (frame_h / 36.0 * scale), 8);
  gdouble line = MAX (frame_h / 240.0, 2.0);
  GstBuffer *buffer;
  GstMapInfo map;
  cairo_surface_t *surface;
  cairo_t *cr;
  PangoLayout *layout;
  gchar *text;

  if (w < 2 || h < 2)
    return NULL;
  surface = surface_new (w, h, &buffer, &map);
  cr = cairo_create (surface);
  cairo_set_source_rgba (cr, 1.0, 0.8, 0.1, 1.0);
  cairo_set_line_width (cr, line);
  cairo_rectangle (cr, line / 2, line / 2, w - line, h - line);
  cairo_stroke (cr);
  text = region_text (roi);
  if (text[0]) {
    layout = layout_new (cr, font_px);
    draw_text (cr, layout, text, line + 1, line + 1, MAX (font_px / 6.0,
            1.0));
    g_object_unref (layout);
  }
  g_free (text);
  cairo_destroy (cr);
  return surface_to_rectangle (surface, buffer, &map, x0, y0);
}

/* ---------------------------------------------------------- bookkeeping -- */

/* Follows clipsegment: a started segment is in progress until finished. */
static void
track_segments (GstClipOverlay * self, GstBuffer * buf)
{
  gpointer state = NULL;
  GstClipSegmentMeta *m;
  GList *l;

  while ((m = (GstClipSegmentMeta *) gst_buffer_iterate_meta_filtered (buf,
              &state, GST_CLIP_SEGMENT_META_API_TYPE))) {
    for (l = self->open_segments; l; l = l->next)
      if (((OpenSegment *) l->data)->label_id == m->label_id)
        break;
    if (m->finished && l) {
      open_segment_free (l->data);
      self->open_segments = g_list_delete_link (self->open_segments, l);
    } else if (!m->finished && !l) {
      OpenSegment *s = g_new0 (OpenSegment, 1);

      s->label_id = m->label_id;
      s->label = g_strdup (m->label);
      s->start = m->start_stream_time;
      self->open_segments = g_list_append (self->open_segments, s);
    }
  }
}

/* The labels to draw on @buf: its own, else the last ones for `hold`
 * frames. */
static const GstClipClassificationMeta *
labels_for (GstClipOverlay * self, GstBuffer * buf, guint hold)
{
  GstClipClassificationMeta *meta = gst_buffer_get_clip_classification_meta
      (buf);

  if (meta) {
    /* keep a reference to a buffer holding this meta, not @buf itself */
    gst_clear_buffer (&self->last_carrier);
    self->last_carrier = gst_buffer_new ();
    gst_buffer_copy_into (self->last_carrier, buf, GST_BUFFER_COPY_META, 0,
        0);
    self->last = gst_buffer_get_clip_classification_meta (self->last_carrier);
    self->frames_since_last = 0;
    return meta;
  }
  if (self->last && ++self->frames_since_last <= hold)
    return self->last;
  return NULL;
}

static GstFlowReturn
gst_clip_overlay_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame)
{
  GstClipOverlay *self = GST_CLIP_OVERLAY (filter);
  const GstClipClassificationMeta *meta;
  GstVideoOverlayComposition *comp = NULL;
  GstVideoOverlayRectangle *rect;
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  gint w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  guint max_labels, hold;
  gdouble scale;

  GST_OBJECT_LOCK (self);
  max_labels = self->max_labels;
  scale = self->font_scale;
  hold = self->hold;
  GST_OBJECT_UNLOCK (self);

  track_segments (self, frame->buffer);
  meta = labels_for (self, frame->buffer, hold);

  while ((roi = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (frame->buffer, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    if ((rect = render_region (roi, w, h, scale))) {
      if (!comp)
        comp = gst_video_overlay_composition_new (rect);
      else
        gst_video_overlay_composition_add_rectangle (comp, rect);
      gst_video_overlay_rectangle_unref (rect);
    }
  }
  if ((rect = render_panel (self, meta, w, h, max_labels, scale))) {
    if (!comp)
      comp = gst_video_overlay_composition_new (rect);
    else
      gst_video_overlay_composition_add_rectangle (comp, rect);
    gst_video_overlay_rectangle_unref (rect);
  }

  if (comp) {
    if (!gst_video_overlay_composition_blend (comp, frame))
      GST_WARNING_OBJECT (self, "could not blend onto %s",
          gst_video_format_to_string (GST_VIDEO_FRAME_FORMAT (frame)));
    gst_video_overlay_composition_unref (comp);
  }
  return GST_FLOW_OK;
}

static void
gst_clip_overlay_reset (GstClipOverlay * self)
{
  gst_clear_buffer (&self->last_carrier);
  self->last = NULL;
  g_list_free_full (self->open_segments, (GDestroyNotify) open_segment_free);
  self->open_segments = NULL;
}

static gboolean
gst_clip_overlay_stop (GstBaseTransform * trans)
{
  gst_clip_overlay_reset (GST_CLIP_OVERLAY (trans));
  return TRUE;
}

static gboolean
gst_clip_overlay_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  /* after a seek nothing that was on screen is current */
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    gst_clip_overlay_reset (GST_CLIP_OVERLAY (trans));
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* ----------------------------------------------------------- properties -- */

static void
gst_clip_overlay_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipOverlay *self = GST_CLIP_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MAX_LABELS:
      self->max_labels = g_value_get_uint (value);
      break;
    case PROP_FONT_SCALE:
      self->font_scale = g_value_get_double (value);
      break;
    case PROP_HOLD:
      self->hold = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_overlay_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipOverlay *self = GST_CLIP_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MAX_LABELS:
      g_value_set_uint (value, self->max_labels);
      break;
    case PROP_FONT_SCALE:
      g_value_set_double (value, self->font_scale);
      break;
    case PROP_HOLD:
      g_value_set_uint (value, self->hold);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_overlay_class_init (GstClipOverlayClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_clip_overlay_debug, "clipoverlay", 0,
      "CLIP labels drawn on the video");

  gobject_class->set_property = gst_clip_overlay_set_property;
  gobject_class->get_property = gst_clip_overlay_get_property;

  g_object_class_install_property (gobject_class, PROP_MAX_LABELS,
      g_param_spec_uint ("max-labels", "Max labels",
          "Labels drawn per frame, most probable first (0 = none)", 0, 64,
          DEFAULT_PROP_MAX_LABELS, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_FONT_SCALE,
      g_param_spec_double ("font-scale", "Font scale",
          "Text size relative to the default (1/24 of the frame height)",
          0.1, 10.0, DEFAULT_PROP_FONT_SCALE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_HOLD,
      g_param_spec_uint ("hold", "Hold",
          "Frames without labels that still show the last ones (interval, "
          "async mode)", 0, G_MAXUINT, DEFAULT_PROP_HOLD, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CLIP label overlay", "Filter/Editor/Video",
      "Draws clipclassify's labels with confidence bars, the segments in "
      "progress and region boxes onto the video", "gst-clip developers");

  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_overlay_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_overlay_sink_event);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_clip_overlay_transform_frame_ip);
}

static void
gst_clip_overlay_init (GstClipOverlay * self)
{
  self->max_labels = DEFAULT_PROP_MAX_LABELS;
  self->font_scale = DEFAULT_PROP_FONT_SCALE;
  self->hold = DEFAULT_PROP_HOLD;
}
