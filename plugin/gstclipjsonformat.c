/* gstclipjsonformat.c: gst-clip's metas as JSON lines (json-glib), for
 * clipjson and clippublish: which records a buffer carries and their text.
 * Formatting only: where a line goes is the element's business. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "gstclipjsonformat.h"

static void
add_time_member (JsonBuilder * b, const gchar * name, GstClockTime t)
{
  json_builder_set_member_name (b, name);
  if (GST_CLOCK_TIME_IS_VALID (t))
    json_builder_add_int_value (b, (gint64) t);
  else
    json_builder_add_null_value (b);
}

/* The object @b built, as one line with its newline; frees @b. */
static gchar *
builder_to_line (JsonBuilder * b, gsize * length)
{
  JsonNode *root = json_builder_get_root (b);
  JsonGenerator *gen = json_generator_new ();
  gchar *json, *line;

  json_generator_set_root (gen, root);
  json = json_generator_to_data (gen, NULL);
  line = g_strconcat (json, "\n", NULL);
  *length = strlen (line);
  g_free (json);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return line;
}

/* The regions clipclassify labelled (inference-region), DL Streamer's
 * objects[]: "objects":[{"id":...,"roi_type":...,"x":..,"y":..,"w":..,
 * "h":..,"repeated":...,"tensors":[{"label":...,"label_id":...,
 * "confidence":...}]}] with the box in pixels as the detector gave it (the
 * meta's unsigned fields read as signed, so a box that starts left of the
 * frame shows as negative).
 * Returns whether there were any. */
static gboolean
add_objects (JsonBuilder * b, GstBuffer * buf)
{
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  gboolean any = FALSE;

  while ((roi = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
        "clip-classification");
    const gchar *label;
    guint label_id = 0;
    gdouble confidence = 0.0;
    gboolean repeated = FALSE;

    if (!s)
      continue;
    if (!any) {
      json_builder_set_member_name (b, "objects");
      json_builder_begin_array (b);
      any = TRUE;
    }
    label = gst_structure_get_string (s, "label");
    gst_structure_get_uint (s, "label-id", &label_id);
    gst_structure_get_double (s, "confidence", &confidence);
    gst_structure_get_boolean (s, "repeated", &repeated);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, roi->id);
    json_builder_set_member_name (b, "roi_type");
    json_builder_add_string_value (b, roi->roi_type ?
        g_quark_to_string (roi->roi_type) : "");
    json_builder_set_member_name (b, "x");
    json_builder_add_int_value (b, (gint) roi->x);
    json_builder_set_member_name (b, "y");
    json_builder_add_int_value (b, (gint) roi->y);
    json_builder_set_member_name (b, "w");
    json_builder_add_int_value (b, (gint) roi->w);
    json_builder_set_member_name (b, "h");
    json_builder_add_int_value (b, (gint) roi->h);
    json_builder_set_member_name (b, "repeated");
    json_builder_add_boolean_value (b, repeated);
    json_builder_set_member_name (b, "tensors");
    json_builder_begin_array (b);
    if (label) {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "label");
      json_builder_add_string_value (b, label);
      json_builder_set_member_name (b, "label_id");
      json_builder_add_int_value (b, label_id);
      json_builder_set_member_name (b, "confidence");
      json_builder_add_double_value (b, confidence);
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  if (any)
    json_builder_end_array (b);
  return any;
}

static gboolean
has_labelled_regions (GstBuffer * buf)
{
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;

  while ((roi = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    if (gst_video_region_of_interest_meta_get_param (roi,
            "clip-classification"))
      return TRUE;
  return FALSE;
}

gchar *
gst_clip_json_format_classification (const GstClipClassificationMeta * meta,
    GstBuffer * buf, const GstClipJsonFrame * frame, gsize * length)
{
  JsonBuilder *b = json_builder_new ();
  GstClipClassificationMeta none;
  GstClockTime stream_time, running_time;
  guint64 frame_number;
  gint width, height;
  guint i;

  /* a frame with classified regions only (inference-region=roi-list) is
   * described by the buffer itself */
  if (!meta) {
    memset (&none, 0, sizeof (none));
    none.scored_pts = GST_BUFFER_PTS (buf);
    none.scored_frame_number = GST_CLIP_FRAME_NUMBER_NONE;
    none.scored_stream_time = none.scored_running_time = GST_CLOCK_TIME_NONE;
    meta = &none;
  }
  stream_time = meta->scored_stream_time;
  running_time = meta->scored_running_time;
  frame_number = meta->scored_frame_number;
  width = meta->scored_width;
  height = meta->scored_height;

  /* Every field describes the scored frame. A meta from an older producer
   * that does not say falls back to this element's view of it, right only
   * when the meta rides on the frame it describes. */
  if (!GST_CLOCK_TIME_IS_VALID (stream_time) &&
      frame->segment->format == GST_FORMAT_TIME)
    stream_time = gst_segment_to_stream_time (frame->segment,
        GST_FORMAT_TIME, meta->scored_pts);
  if (!GST_CLOCK_TIME_IS_VALID (running_time) &&
      frame->segment->format == GST_FORMAT_TIME)
    running_time = gst_segment_to_running_time (frame->segment,
        GST_FORMAT_TIME, meta->scored_pts);
  if (frame_number == GST_CLIP_FRAME_NUMBER_NONE)
    frame_number = frame->frame_number;
  if (width <= 0 || height <= 0) {
    width = frame->width;
    height = frame->height;
  }

  json_builder_begin_object (b);
  add_time_member (b, "pts", meta->scored_pts);
  add_time_member (b, "stream_time", stream_time);
  add_time_member (b, "running_time", running_time);
  json_builder_set_member_name (b, "frame_number");
  json_builder_add_int_value (b, (gint64) frame_number);
  if (width > 0) {
    json_builder_set_member_name (b, "resolution");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "width");
    json_builder_add_int_value (b, width);
    json_builder_set_member_name (b, "height");
    json_builder_add_int_value (b, height);
    json_builder_end_object (b);
  }
  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (i = 0; i < meta->n_classifications; i++) {
    const GstClipClassification *c = &meta->classifications[i];

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "label");
    json_builder_add_string_value (b, c->label);
    json_builder_set_member_name (b, "label_id");
    json_builder_add_int_value (b, c->index);
    json_builder_set_member_name (b, "confidence");
    json_builder_add_double_value (b, c->probability);
    json_builder_set_member_name (b, "logit");
    json_builder_add_double_value (b, c->logit);
    json_builder_set_member_name (b, "cosine");
    json_builder_add_double_value (b, c->cosine);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  if (meta == &none || meta->scored_pts == GST_BUFFER_PTS (buf))
    add_objects (b, buf);
  json_builder_end_object (b);
  return builder_to_line (b, length);
}

gchar *
gst_clip_json_format_segment (const GstClipSegmentMeta * m, gsize * length)
{
  JsonBuilder *b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "segment");
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b, m->label);
  json_builder_set_member_name (b, "label_id");
  json_builder_add_int_value (b, m->label_id);
  add_time_member (b, "start", m->start_stream_time);
  add_time_member (b, "end", m->end_stream_time);
  add_time_member (b, "start_pts", m->start_pts);
  add_time_member (b, "end_pts", m->end_pts);
  json_builder_set_member_name (b, "confidence");
  json_builder_add_double_value (b, m->confidence);
  json_builder_set_member_name (b, "peak");
  json_builder_add_double_value (b, m->peak);
  add_time_member (b, "peak_pts", m->peak_pts);
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, m->n_frames);
  json_builder_end_object (b);
  return builder_to_line (b, length);
}

void
gst_clip_json_format_buffer (GstBuffer * buf, const GstClipJsonFrame * frame,
    gboolean frames, gboolean segments, GPtrArray * lines)
{
  GstClipClassificationMeta *meta;
  GstClipSegmentMeta *seg;
  gpointer state = NULL;
  gsize length;

  meta = gst_buffer_get_clip_classification_meta (buf);
  if (meta && meta->repeated)
    meta = NULL;                /* it describes no new frame */
  if (frames && meta)
    g_ptr_array_add (lines, gst_clip_json_format_classification (meta, buf,
            frame, &length));
  /* regions labelled on a frame whose own classification is elsewhere (or
   * none): a line of their own */
  if (frames && (!meta || meta->scored_pts != GST_BUFFER_PTS (buf)) &&
      has_labelled_regions (buf))
    g_ptr_array_add (lines, gst_clip_json_format_classification (NULL, buf,
            frame, &length));
  if (!segments)
    return;
  while ((seg = (GstClipSegmentMeta *) gst_buffer_iterate_meta_filtered (buf,
              &state, GST_CLIP_SEGMENT_META_API_TYPE)))
    if (seg->finished)
      g_ptr_array_add (lines, gst_clip_json_format_segment (seg, &length));
}
