/* GStreamer CLIP labels to time segments
 *
 * gstclipsegment.c: a passthrough element after clipclassify that turns the
 * labels of its GstClipClassificationMeta into time segments (the
 * segmenter's work, gstclipsegmenter.c) and publishes them: a
 * GstClipSegmentMeta on the frame, and clip-segment-start / -end messages.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipsegment
 * @title: clipsegment
 *
 * Reads the labels clipclassify attached and tells when each label starts
 * and ends: "a truck from 12.4 s to 31.0 s". A label starts when its
 * probability reaches #GstClipSegment:enter-threshold and beats every
 * negative prompt, and goes on while it stays at
 * #GstClipSegment:leave-threshold; an interruption shorter than
 * #GstClipSegment:merge-gap does not split it, and a segment shorter than
 * #GstClipSegment:min-duration is not reported. One label at a time, or
 * several with #GstClipSegment:multi-label (use top-k=0 on clipclassify so
 * every label's probability is reported).
 *
 * A segment is published twice: when it is confirmed (it lasted
 * min-duration: on a live camera one window after it began) as a
 * "clip-segment-start" element message, and when it is over as
 * "clip-segment-end", both with the fields label, label-id, start, start-pts,
 * start-running-time and (end) end, end-pts, end-running-time, confidence,
 * peak, peak-pts and frames (times in ns; start and end in stream time). A
 * #GstClipSegmentMeta rides on the frame being processed for each; clipjson
 * writes the finished ones as lines {"type":"segment", ...}.
 *
 * Scores pooled over a window (clipclassify window=) describe the middle of
 * their window, so their times are moved back by half the window. Frames
 * carrying a repeated result (repeat-metadata) are ignored. Segments still
 * open end at their last frame at EOS, at a flushing seek, and where the
 * running time of the scored frames jumps by more than merge-gap or goes
 * back (a gap in the frames); a DISCONT flag without such a jump (concat, a
 * decoder after packet loss) splits nothing. Segments that end without a
 * frame to ride on travel in a clip-late-result event. The segmenter
 * reckons in running time; the PTS and stream time of a boundary are those
 * of the frame before it plus the difference, so a boundary just before a
 * concat switch stays in the first piece's timeline.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=300 ! clipclassify \
 *     model=models/tiny-demo-clip labels="bouncing ball,color bars" \
 *     window=1000000000 top-k=0 ! clipsegment ! clipjson ! fakesink
 * ]|
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipsegment.h"
#include "gstclipsegmenter.h"
#include "gstclipmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_segment_debug);
#define GST_CAT_DEFAULT gst_clip_segment_debug

#define DEFAULT_PROP_ENTER_THRESHOLD 0.5f
#define DEFAULT_PROP_LEAVE_THRESHOLD 0.35f
#define DEFAULT_PROP_MIN_DURATION (GST_SECOND / 2)
#define DEFAULT_PROP_MERGE_GAP GST_SECOND
#define DEFAULT_PROP_MULTI_LABEL FALSE
#define DEFAULT_PROP_POST_MESSAGES TRUE

enum
{
  PROP_0,
  PROP_ENTER_THRESHOLD,
  PROP_LEAVE_THRESHOLD,
  PROP_MIN_DURATION,
  PROP_MERGE_GAP,
  PROP_MULTI_LABEL,
  PROP_POST_MESSAGES,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

/* A segment event waiting for a buffer to ride on. */
typedef struct
{
  GstClipSegmentEvent event;
  GstClipTimeSegment segment;
  gchar *label;
} PendingSegment;

struct _GstClipSegment
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  GstClipSegmenterParams params;
  gboolean post_messages;

  /* streaming thread */
  GstClipSegmenter *segmenter;
  GQueue pending;               /* PendingSegment */
  GArray *history;              /* GstClipTimes of recent frames, in order */
  GHashTable *starts;           /* label id -> GstClipTimes, as published */
};

#define gst_clip_segment_parent_class parent_class
G_DEFINE_TYPE (GstClipSegment, gst_clip_segment, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (clipsegment, "clipsegment", GST_RANK_NONE,
    GST_TYPE_CLIP_SEGMENT);

static void
pending_free (PendingSegment * p)
{
  g_free (p->label);
  g_free (p);
}

static GstStructure *
segment_structure (GstClipSegmentEvent event, const GstClipTimeSegment * s)
{
  GstStructure *st = gst_structure_new (event == GST_CLIP_SEGMENT_STARTED ?
      "clip-segment-start" : "clip-segment-end",
      "label", G_TYPE_STRING, s->label,
      "label-id", G_TYPE_UINT, s->label_id,
      "start", G_TYPE_UINT64, s->start.stream_time,
      "start-pts", G_TYPE_UINT64, s->start.pts,
      "start-running-time", G_TYPE_UINT64, s->start.running_time, NULL);

  if (event == GST_CLIP_SEGMENT_FINISHED)
    gst_structure_set (st,
        "end", G_TYPE_UINT64, s->end.stream_time,
        "end-pts", G_TYPE_UINT64, s->end.pts,
        "end-running-time", G_TYPE_UINT64, s->end.running_time,
        "confidence", G_TYPE_DOUBLE, (gdouble) s->confidence,
        "peak", G_TYPE_DOUBLE, (gdouble) s->peak,
        "peak-pts", G_TYPE_UINT64, s->peak_pts,
        "frames", G_TYPE_UINT, s->n_frames, NULL);
  return st;
}

/* PTS and stream time at running time @t, from the frames around it: a
 * boundary between two frames of different pieces of a concat belongs to
 * the timeline of the frame before it. */
static void
map_running_time (GstClipSegment * self, GstClipTimes * out)
{
  GstClockTime t = out->running_time;
  const GstClipTimes *ref = NULL;
  guint i;

  for (i = 0; i < self->history->len; i++) {
    const GstClipTimes *h = &g_array_index (self->history, GstClipTimes, i);

    if (ref && h->running_time > t)
      break;
    ref = h;
  }
  if (!ref || !GST_CLOCK_TIME_IS_VALID (t))
    return;
  if (t >= ref->running_time) {
    out->pts = GST_CLOCK_TIME_IS_VALID (ref->pts) ?
        ref->pts + (t - ref->running_time) : GST_CLOCK_TIME_NONE;
    out->stream_time = GST_CLOCK_TIME_IS_VALID (ref->stream_time) ?
        ref->stream_time + (t - ref->running_time) : GST_CLOCK_TIME_NONE;
  } else {
    GstClockTime d = ref->running_time - t;

    out->pts = GST_CLOCK_TIME_IS_VALID (ref->pts) ?
        (ref->pts > d ? ref->pts - d : 0) : GST_CLOCK_TIME_NONE;
    out->stream_time = GST_CLOCK_TIME_IS_VALID (ref->stream_time) ?
        (ref->stream_time > d ? ref->stream_time - d : 0) :
        GST_CLOCK_TIME_NONE;
  }
}

/* The segmenter's callback: posts the message at once (a live start must
 * not wait for a frame) and keeps the segment for the next carrier. The
 * segmenter reckons in running time; PTS and stream time of the boundaries
 * come from the frames around them (the start's when it was announced). */
static void
on_segment (GstClipSegmentEvent event, const GstClipTimeSegment * seg_in,
    gpointer user_data)
{
  GstClipSegment *self = user_data;
  PendingSegment *p = g_new0 (PendingSegment, 1);
  GstClipTimeSegment mapped = *seg_in, *segment = &mapped;
  GstClipTimes *start;
  gboolean post;

  start = g_hash_table_lookup (self->starts, GUINT_TO_POINTER
      (seg_in->label_id));
  if (event == GST_CLIP_SEGMENT_STARTED || !start) {
    map_running_time (self, &mapped.start);
    start = g_new (GstClipTimes, 1);
    *start = mapped.start;
    g_hash_table_insert (self->starts, GUINT_TO_POINTER (seg_in->label_id),
        start);
  }
  mapped.start = *start;
  if (event == GST_CLIP_SEGMENT_FINISHED) {
    map_running_time (self, &mapped.end);
    g_hash_table_remove (self->starts, GUINT_TO_POINTER (seg_in->label_id));
  }

  GST_OBJECT_LOCK (self);
  post = self->post_messages;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "%s '%s' at %" GST_TIME_FORMAT,
      event == GST_CLIP_SEGMENT_STARTED ? "start" : "end", segment->label,
      GST_TIME_ARGS (event == GST_CLIP_SEGMENT_STARTED ?
          segment->start.stream_time : segment->end.stream_time));
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            segment_structure (event, segment)));

  p->event = event;
  p->segment = *segment;
  p->label = g_strdup (segment->label);
  p->segment.label = p->label;
  g_queue_push_tail (&self->pending, p);
}

/* Moves the pending segments onto @buf as GstClipSegmentMeta. */
static void
attach_pending (GstClipSegment * self, GstBuffer * buf)
{
  PendingSegment *p;

  while ((p = g_queue_pop_head (&self->pending))) {
    const GstClipTimeSegment *s = &p->segment;
    GstClipSegmentMeta *m = gst_buffer_add_clip_segment_meta (buf,
        s->label_id, s->label);

    m->finished = p->event == GST_CLIP_SEGMENT_FINISHED;
    m->start_pts = s->start.pts;
    m->start_stream_time = s->start.stream_time;
    m->start_running_time = s->start.running_time;
    m->end_pts = s->end.pts;
    m->end_stream_time = s->end.stream_time;
    m->end_running_time = s->end.running_time;
    m->confidence = s->confidence;
    m->peak = s->peak;
    m->peak_pts = s->peak_pts;
    m->n_frames = s->n_frames;
    pending_free (p);
  }
}

/* Segments that have no frame left to ride on go downstream in an event. */
static void
push_pending_as_event (GstClipSegment * self)
{
  GstBuffer *carrier;

  if (g_queue_is_empty (&self->pending))
    return;
  carrier = gst_buffer_new ();
  attach_pending (self, carrier);
  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self),
      gst_clip_late_result_event_new (carrier));
}

/* t - d, not below 0; NONE stays NONE */
static GstClockTime
back (GstClockTime t, GstClockTime d)
{
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return t;
  return t > d ? t - d : 0;
}

/* Keeps the times of the frames of the last @keep of running time. */
static void
remember (GstClipSegment * self, const GstClipTimes * frame, GstClockTime keep)
{
  guint n_old = 0;

  if (!GST_CLOCK_TIME_IS_VALID (frame->running_time))
    return;
  if (self->history->len > 0 && frame->running_time <
      g_array_index (self->history, GstClipTimes,
          self->history->len - 1).running_time)
    g_array_set_size (self->history, 0);        /* time went back */
  g_array_append_val (self->history, *frame);
  while (n_old < self->history->len && frame->running_time >= keep &&
      g_array_index (self->history, GstClipTimes, n_old).running_time <
      frame->running_time - keep)
    n_old++;
  /* one older frame stays, so a boundary before the first one maps too */
  if (n_old > 1)
    g_array_remove_range (self->history, 0, n_old - 1);
}

static void
feed (GstClipSegment * self, GstClipClassificationMeta * meta)
{
  GstClipTimes times, frame;
  GstClockTime shift = meta->window / 2, keep;
  guint *ids = g_newa (guint, MAX (meta->n_classifications, 1));
  const gchar **labels = g_newa (const gchar *,
      MAX (meta->n_classifications, 1));
  gfloat *probs = g_newa (gfloat, MAX (meta->n_classifications, 1));
  guint i;

  if (meta->repeated)
    return;
  frame.pts = meta->scored_pts;
  frame.stream_time = meta->scored_stream_time;
  frame.running_time = meta->scored_running_time;
  GST_OBJECT_LOCK (self);
  keep = meta->window + self->params.min_duration + self->params.merge_gap +
      2 * GST_SECOND;
  GST_OBJECT_UNLOCK (self);
  remember (self, &frame, keep);
  /* pooled scores describe the middle of their window */
  times.pts = back (meta->scored_pts, shift);
  times.stream_time = back (meta->scored_stream_time, shift);
  times.running_time = back (meta->scored_running_time, shift);
  for (i = 0; i < meta->n_classifications; i++) {
    ids[i] = meta->classifications[i].index;
    labels[i] = meta->classifications[i].label;
    probs[i] = meta->classifications[i].probability;
  }
  gst_clip_segmenter_push (self->segmenter, &times, meta->n_classifications,
      ids, labels, probs, meta->background_probability);
}

/* Ends the open segments at the end of the last frame seen: half a
 * frame spacing after it (unshifted: the stream ends there, whatever the
 * pooling window), and forgets the frames. */
static void
flush_segments (GstClipSegment * self)
{
  GArray *h = self->history;
  GstClipTimes end;

  if (h->len == 0) {
    gst_clip_segmenter_flush (self->segmenter, NULL);
    return;
  }
  end = g_array_index (h, GstClipTimes, h->len - 1);
  if (h->len > 1) {
    GstClockTime half = (end.running_time -
        g_array_index (h, GstClipTimes, h->len - 2).running_time) / 2;

    end.running_time += half;
  }
  gst_clip_segmenter_flush (self->segmenter, &end);
  g_array_set_size (h, 0);
}

static gboolean
gst_clip_segment_start (GstBaseTransform * trans)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (trans);
  GstClipSegmenterParams params;

  GST_OBJECT_LOCK (self);
  params = self->params;
  GST_OBJECT_UNLOCK (self);
  if (params.leave_threshold > params.enter_threshold) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("leave-threshold (%g) is above enter-threshold (%g): a segment "
            "could never stay open", params.leave_threshold,
            params.enter_threshold), (NULL));
    return FALSE;
  }
  self->segmenter = gst_clip_segmenter_new (&params, on_segment, self);
  self->history = g_array_new (FALSE, FALSE, sizeof (GstClipTimes));
  self->starts = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  return TRUE;
}

static gboolean
gst_clip_segment_stop (GstBaseTransform * trans)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (trans);

  g_clear_pointer (&self->segmenter, gst_clip_segmenter_free);
  g_clear_pointer (&self->history, g_array_unref);
  g_clear_pointer (&self->starts, g_hash_table_unref);
  g_queue_clear_full (&self->pending, (GDestroyNotify) pending_free);
  return TRUE;
}

static GstFlowReturn
gst_clip_segment_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (trans);
  GstClipClassificationMeta *meta;
  gpointer state = NULL;

  /* A DISCONT flag alone (concat, a decoder after packet loss) ends
   * nothing: the segmenter ends segments where running time jumps */
  while ((meta = (GstClipClassificationMeta *)
          gst_buffer_iterate_meta_filtered (buf, &state,
              GST_CLIP_CLASSIFICATION_META_API_TYPE)))
    feed (self, meta);
  attach_pending (self, buf);
  return GST_FLOW_OK;
}

static gboolean
gst_clip_segment_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (trans);
  GstClipClassificationMeta *late;
  gboolean ret;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      flush_segments (self);
      push_pending_as_event (self);
      break;
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      /* clipclassify's last results (async mode) count like any other */
      if ((late = gst_clip_late_result_event_get_meta (event))) {
        feed (self, late);
        ret = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans,
            event);
        push_pending_as_event (self);
        return ret;
      }
      break;
    case GST_EVENT_FLUSH_STOP:
      /* what was open before a seek ended where the seek left it */
      ret = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
      flush_segments (self);
      push_pending_as_event (self);
      return ret;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
gst_clip_segment_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ENTER_THRESHOLD:
      self->params.enter_threshold = g_value_get_float (value);
      break;
    case PROP_LEAVE_THRESHOLD:
      self->params.leave_threshold = g_value_get_float (value);
      break;
    case PROP_MIN_DURATION:
      self->params.min_duration = g_value_get_uint64 (value);
      break;
    case PROP_MERGE_GAP:
      self->params.merge_gap = g_value_get_uint64 (value);
      break;
    case PROP_MULTI_LABEL:
      self->params.multi_label = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_segment_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipSegment *self = GST_CLIP_SEGMENT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ENTER_THRESHOLD:
      g_value_set_float (value, self->params.enter_threshold);
      break;
    case PROP_LEAVE_THRESHOLD:
      g_value_set_float (value, self->params.leave_threshold);
      break;
    case PROP_MIN_DURATION:
      g_value_set_uint64 (value, self->params.min_duration);
      break;
    case PROP_MERGE_GAP:
      g_value_set_uint64 (value, self->params.merge_gap);
      break;
    case PROP_MULTI_LABEL:
      g_value_set_boolean (value, self->params.multi_label);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_segment_class_init (GstClipSegmentClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_clip_segment_debug, "clipsegment", 0,
      "CLIP labels to time segments");

  gobject_class->set_property = gst_clip_segment_set_property;
  gobject_class->get_property = gst_clip_segment_get_property;

  g_object_class_install_property (gobject_class, PROP_ENTER_THRESHOLD,
      g_param_spec_float ("enter-threshold", "Enter threshold",
          "Probability at which a label's segment starts", 0.0f, 1.0f,
          DEFAULT_PROP_ENTER_THRESHOLD, rw));
  g_object_class_install_property (gobject_class, PROP_LEAVE_THRESHOLD,
      g_param_spec_float ("leave-threshold", "Leave threshold",
          "Probability below which an open segment ends (at most "
          "enter-threshold)", 0.0f, 1.0f, DEFAULT_PROP_LEAVE_THRESHOLD, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_DURATION,
      g_param_spec_uint64 ("min-duration", "Minimum duration",
          "Segments shorter than this (ns) are not reported; a start is "
          "announced once a segment has lasted this long", 0, G_MAXUINT64,
          DEFAULT_PROP_MIN_DURATION, rw));
  g_object_class_install_property (gobject_class, PROP_MERGE_GAP,
      g_param_spec_uint64 ("merge-gap", "Merge gap",
          "Interruptions shorter than this (ns) do not split a segment; a "
          "gap in the scored frames longer than this ends it", 0, G_MAXUINT64,
          DEFAULT_PROP_MERGE_GAP, rw));
  g_object_class_install_property (gobject_class, PROP_MULTI_LABEL,
      g_param_spec_boolean ("multi-label", "Multi-label",
          "Several labels may be on at once (each on its own thresholds); "
          "otherwise only the most probable", DEFAULT_PROP_MULTI_LABEL, rw));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post clip-segment-start and clip-segment-end element messages",
          DEFAULT_PROP_POST_MESSAGES, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CLIP label segments", "Filter/Analyzer/Video",
      "Turns clipclassify's labels into time segments (start, end, "
      "confidence) with hysteresis, a minimum duration and a merge gap",
      "gst-clip developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_segment_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_segment_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_segment_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_segment_transform_ip);
}

static void
gst_clip_segment_init (GstClipSegment * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->params.enter_threshold = DEFAULT_PROP_ENTER_THRESHOLD;
  self->params.leave_threshold = DEFAULT_PROP_LEAVE_THRESHOLD;
  self->params.min_duration = DEFAULT_PROP_MIN_DURATION;
  self->params.merge_gap = DEFAULT_PROP_MERGE_GAP;
  self->params.multi_label = DEFAULT_PROP_MULTI_LABEL;
  self->post_messages = DEFAULT_PROP_POST_MESSAGES;
  g_queue_init (&self->pending);
  /* in place, but not passthrough: segment metas are added to frames */
  gst_base_transform_set_in_place (trans, TRUE);
}
