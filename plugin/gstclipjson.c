/* GStreamer CLIP classification to JSON Lines
 *
 * gstclipjson.c: a passthrough element that writes each
 * GstClipClassificationMeta it sees as one JSON object per line. It reads
 * metadata only; the buffers go on untouched.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipjson
 * @title: clipjson
 *
 * Writes the labels clipclassify attached to each frame as JSON Lines, one
 * object per classified frame, to #GstClipJson:location or to stdout. Field
 * names of the label entries follow DL Streamer's gvametaconvert:
 *
 * |[
 * {"pts":0,"stream_time":0,"frame_number":0,
 *  "resolution":{"width":320,"height":240},
 *  "tensors":[{"label":"a cat","label_id":0,"confidence":0.61,
 *              "logit":21.3,"cosine":0.213}]}
 * ]|
 *
 * (one line in the file, which also has "running_time"). Every field
 * describes the frame the labels were computed on, also in async mode where
 * the result rides on a later frame: "pts", "stream_time" and
 * "running_time" (nanoseconds; running time keeps growing where the other
 * two restart, after concat), "frame_number" (counted by clipclassify from
 * 0) and "resolution" (video caps only). Lines are in the order the results
 * pass, which is the order of the scored frames in both modes; async
 * results still in flight at EOS come last.
 * Every line is built in memory and written whole with one write(2), so
 * nothing is left buffered at EOS and a reader never sees half a line.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=10 ! videoconvert ! \
 *     clipclassify model=tests/data/tiny-clip labels="a cat,a dog" ! \
 *     clipjson location=labels.jsonl ! fakesink
 * ]|
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/video/video.h>

#include "gstclipjson.h"
#include "gstclipjsonformat.h"
#include "gstclipmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_json_debug);
#define GST_CAT_DEFAULT gst_clip_json_debug

#define DEFAULT_PROP_LOCATION NULL
#define DEFAULT_PROP_RECORDS GST_CLIP_JSON_RECORDS_ALL

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_RECORDS,
};

/* Which records go to the file. */
typedef enum
{
  GST_CLIP_JSON_RECORDS_ALL,
  GST_CLIP_JSON_RECORDS_FRAMES,
  GST_CLIP_JSON_RECORDS_SEGMENTS,
} GstClipJsonRecords;

#define GST_TYPE_CLIP_JSON_RECORDS (gst_clip_json_records_get_type ())
static GType
gst_clip_json_records_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_JSON_RECORDS_ALL, "Classified frames and finished segments",
        "all"},
    {GST_CLIP_JSON_RECORDS_FRAMES, "Classified frames only", "frames"},
    {GST_CLIP_JSON_RECORDS_SEGMENTS, "Finished segments only (clipsegment)",
        "segments"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType _type = g_enum_register_static ("GstClipJsonRecords", values);
    g_once_init_leave (&type, _type);
  }
  return type;
}

static GstStaticPadTemplate gst_clip_json_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static GstStaticPadTemplate gst_clip_json_src_template =
GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

struct _GstClipJson
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  gchar *location;
  GstClipJsonRecords records;

  /* streaming state, from start() to stop() */
  gint fd;                      /* -1 when stopped; STDOUT_FILENO when no location */
  gint width, height;           /* 0 when the caps are not video */
  guint64 frame_number;         /* buffers seen since start */
};

#define gst_clip_json_parent_class parent_class
G_DEFINE_TYPE (GstClipJson, gst_clip_json, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (clipjson, "clipjson", GST_RANK_NONE,
    GST_TYPE_CLIP_JSON);

static gboolean
gst_clip_json_start (GstBaseTransform * trans)
{
  GstClipJson *self = GST_CLIP_JSON (trans);
  gchar *location;

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);

  if (location && location[0]) {
    self->fd = g_open (location, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (self->fd < 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open '%s' for writing: %s", location,
              g_strerror (errno)), (NULL));
      g_free (location);
      return FALSE;
    }
  } else {
    self->fd = STDOUT_FILENO;
  }

  self->frame_number = 0;
  self->width = self->height = 0;
  g_free (location);
  return TRUE;
}

static gboolean
gst_clip_json_stop (GstBaseTransform * trans)
{
  GstClipJson *self = GST_CLIP_JSON (trans);

  if (self->fd >= 0 && self->fd != STDOUT_FILENO)
    close (self->fd);
  self->fd = -1;
  return TRUE;
}

static gboolean
gst_clip_json_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstClipJson *self = GST_CLIP_JSON (trans);
  GstVideoInfo info;

  self->width = self->height = 0;
  if (gst_video_info_from_caps (&info, incaps)) {
    self->width = GST_VIDEO_INFO_WIDTH (&info);
    self->height = GST_VIDEO_INFO_HEIGHT (&info);
  }
  return TRUE;
}

/* The line goes out in one write(2) (more only if the kernel takes part of
 * it): nothing sits in a user-space buffer, so every line is on disk by EOS
 * and no reader sees half a line from a stdio buffer boundary. */
static gboolean
write_all (gint fd, const gchar * data, gsize length)
{
  if (fd == STDOUT_FILENO)
    fflush (stdout);            /* keep order with anything printed before */

  while (length > 0) {
    gssize n = write (fd, data, length);

    if (n < 0) {
      if (errno == EINTR)
        continue;
      return FALSE;
    }
    data += n;
    length -= n;
  }
  return TRUE;
}

/* Every record @buf carries, as the records property selects: its
 * classification, its labelled regions, then the segments that finished on
 * it. */
static GstFlowReturn
gst_clip_json_write_buffer (GstClipJson * self, GstBuffer * buf)
{
  GstClipJsonFrame frame = { &GST_BASE_TRANSFORM (self)->segment,
    self->frame_number, self->width, self->height
  };
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  GstClipJsonRecords records;
  GstFlowReturn ret = GST_FLOW_OK;
  guint i;

  GST_OBJECT_LOCK (self);
  records = self->records;
  GST_OBJECT_UNLOCK (self);

  gst_clip_json_format_buffer (buf, &frame,
      records != GST_CLIP_JSON_RECORDS_SEGMENTS,
      records != GST_CLIP_JSON_RECORDS_FRAMES, lines);
  for (i = 0; i < lines->len; i++) {
    const gchar *line = g_ptr_array_index (lines, i);

    if (!write_all (self->fd, line, strlen (line))) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not write the JSON line: %s", g_strerror (errno)), (NULL));
      ret = GST_FLOW_ERROR;
      break;
    }
  }
  g_ptr_array_unref (lines);
  return ret;
}

static GstFlowReturn
gst_clip_json_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipJson *self = GST_CLIP_JSON (trans);
  GstFlowReturn ret = gst_clip_json_write_buffer (self, buf);

  self->frame_number++;
  return ret;
}

/* Results that no frame was left to carry (async mode at EOS) arrive as
 * events, in order, before EOS: they are lines like any other. */
static gboolean
gst_clip_json_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipJson *self = GST_CLIP_JSON (trans);
  const GstStructure *s = gst_event_get_structure (event);

  /* the carrier may hold a classification, segments, or both */
  if (self->fd >= 0 && GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM
      && s && gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT)) {
    const GValue *v = gst_structure_get_value (s, "buffer");

    if (v && GST_VALUE_HOLDS_BUFFER (v))
      gst_clip_json_write_buffer (self, gst_value_get_buffer (v));
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
gst_clip_json_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipJson *self = GST_CLIP_JSON (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_free (self->location);
      self->location = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_RECORDS:
      GST_OBJECT_LOCK (self);
      self->records = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_clip_json_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipJson *self = GST_CLIP_JSON (object);

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->location);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_RECORDS:
      GST_OBJECT_LOCK (self);
      g_value_set_enum (value, self->records);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_clip_json_finalize (GObject * object)
{
  GstClipJson *self = GST_CLIP_JSON (object);

  g_free (self->location);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_clip_json_class_init (GstClipJsonClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_clip_json_debug, "clipjson", 0,
      "CLIP classifications to JSON Lines");

  gobject_class->set_property = gst_clip_json_set_property;
  gobject_class->get_property = gst_clip_json_get_property;
  gobject_class->finalize = gst_clip_json_finalize;

  /**
   * GstClipJson:location:
   *
   * File the JSON Lines go to, truncated at start. Unset: stdout.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write JSON Lines to (truncated at start); stdout when unset",
          DEFAULT_PROP_LOCATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipJson:records:
   *
   * all writes a line per classified frame and a line per finished
   * segment ({"type":"segment", ...}, from clipsegment) in the order they
   * pass; frames or segments writes only those. Repeated results
   * (repeat-metadata) are never written: they describe no new frame.
   */
  g_object_class_install_property (gobject_class, PROP_RECORDS,
      g_param_spec_enum ("records", "Records",
          "What to write: all, frames (classified frames) or segments "
          "(finished segments from clipsegment)", GST_TYPE_CLIP_JSON_RECORDS,
          DEFAULT_PROP_RECORDS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_JSON_RECORDS, 0);

  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_json_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_json_src_template);

  gst_element_class_set_static_metadata (element_class,
      "CLIP labels to JSON Lines", "Filter/Analyzer/Video",
      "Writes each frame's CLIP classification as one line of JSON",
      "gst-clip developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_json_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_json_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_clip_json_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_json_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_json_sink_event);
}

static void
gst_clip_json_init (GstClipJson * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->location = g_strdup (DEFAULT_PROP_LOCATION);
  self->records = DEFAULT_PROP_RECORDS;
  self->fd = -1;
  /* the data is never touched: no writable buffers, no copies */
  gst_base_transform_set_passthrough (trans, TRUE);
  gst_base_transform_set_in_place (trans, TRUE);
}
