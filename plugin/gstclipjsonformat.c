/* gstclipjsonformat.c: gst-clip's metas as JSON lines (json-glib), for
 * clipjson and clippublish. Formatting only: where a line goes is the
 * element's business. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

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

gchar *
gst_clip_json_format_classification (const GstClipClassificationMeta * meta,
    const GstClipJsonFrame * frame, gsize * length)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen;
  JsonNode *root;
  GstClockTime stream_time = meta->scored_stream_time;
  GstClockTime running_time = meta->scored_running_time;
  guint64 frame_number = meta->scored_frame_number;
  gint width = meta->scored_width, height = meta->scored_height;
  gchar *json, *line;
  guint i;

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
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
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

gchar *
gst_clip_json_format_segment (const GstClipSegmentMeta * m, gsize * length)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen;
  JsonNode *root;
  gchar *json, *line;

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

  root = json_builder_get_root (b);
  gen = json_generator_new ();
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

