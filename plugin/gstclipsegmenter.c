/* gstclipsegmenter.c: per-label segment tracking over scored frames.
 *
 * A label is "on" at a frame when its probability reaches the enter
 * threshold (the leave threshold once its segment is open) and beats the
 * best negative prompt; in single-label mode it must also be the most
 * probable label, unless it is open and no other label reaches the enter
 * threshold. Boundaries fall halfway between the last frame off and the
 * first frame on (and back), so they do not depend on which frames were
 * scored. A segment that goes off stays pending for merge_gap: if it comes
 * back on it continues, otherwise it ends and is reported when it lasted
 * min_duration. */

#include <string.h>

#include "gstclipsegmenter.h"

typedef struct
{
  gboolean open, pending_end, started;
  GstClipTimeSegment seg;
  gdouble sum;
  GstClipTimes last_on;         /* the last frame it was on */
  gchar *label;
} Track;

struct _GstClipSegmenter
{
  GstClipSegmenterParams p;
  GstClipSegmentFunc func;
  gpointer user_data;
  GArray *tracks;               /* Track, indexed by label id */
  gboolean have_prev;
  GstClipTimes prev;            /* the last frame seen */
  GstClockTime last_spacing;    /* between the last two frames seen */
};

static GstClockTime
midpoint (GstClockTime a, GstClockTime b)
{
  if (!GST_CLOCK_TIME_IS_VALID (a))
    return b;
  if (!GST_CLOCK_TIME_IS_VALID (b))
    return a;
  return a + (b - a) / 2;
}

static GstClipTimes
times_midpoint (const GstClipTimes * a, const GstClipTimes * b)
{
  GstClipTimes m;

  m.pts = midpoint (a->pts, b->pts);
  m.stream_time = midpoint (a->stream_time, b->stream_time);
  m.running_time = midpoint (a->running_time, b->running_time);
  return m;
}

GstClipSegmenter *
gst_clip_segmenter_new (const GstClipSegmenterParams * p,
    GstClipSegmentFunc func, gpointer user_data)
{
  GstClipSegmenter *seg = g_new0 (GstClipSegmenter, 1);

  seg->p = *p;
  seg->func = func;
  seg->user_data = user_data;
  seg->tracks = g_array_new (FALSE, TRUE, sizeof (Track));
  seg->last_spacing = GST_CLOCK_TIME_NONE;
  return seg;
}

static Track *
track_get (GstClipSegmenter * seg, guint id, const gchar * label)
{
  Track *t;

  if (id >= seg->tracks->len)
    g_array_set_size (seg->tracks, id + 1);
  t = &g_array_index (seg->tracks, Track, id);
  if (label && (!t->label || strcmp (t->label, label) != 0)) {
    g_free (t->label);
    t->label = g_strdup (label);
  }
  return t;
}

/* The segment's duration, in running time. */
static GstClockTime
track_duration (const Track * t, const GstClipTimes * end)
{
  if (!GST_CLOCK_TIME_IS_VALID (end->running_time) ||
      !GST_CLOCK_TIME_IS_VALID (t->seg.start.running_time) ||
      end->running_time < t->seg.start.running_time)
    return 0;
  return end->running_time - t->seg.start.running_time;
}

static void
track_fill_stats (Track * t)
{
  t->seg.confidence = t->seg.n_frames ? (gfloat) (t->sum / t->seg.n_frames)
      : 0.0f;
  t->seg.label = t->label;
}

/* Ends @t's segment at @end: reported when it lasted min_duration, dropped
 * otherwise. */
static void
track_finish (GstClipSegmenter * seg, Track * t, const GstClipTimes * end)
{
  if (!t->open)
    return;
  if (!t->started && track_duration (t, end) >= seg->p.min_duration) {
    /* confirmed only now (a short segment at EOS): start, then end */
    track_fill_stats (t);
    t->seg.end.pts = t->seg.end.stream_time = t->seg.end.running_time =
        GST_CLOCK_TIME_NONE;
    seg->func (GST_CLIP_SEGMENT_STARTED, &t->seg, seg->user_data);
    t->started = TRUE;
  }
  if (t->started) {
    track_fill_stats (t);
    t->seg.end = *end;
    seg->func (GST_CLIP_SEGMENT_FINISHED, &t->seg, seg->user_data);
  }
  t->open = t->pending_end = t->started = FALSE;
}

/* The end of a segment whose last frame on is the last frame seen: half a
 * frame spacing after it, as the midpoint rule would put it. */
static GstClipTimes
end_after_last (const Track * t, GstClockTime spacing)
{
  GstClipTimes e = t->last_on;

  if (GST_CLOCK_TIME_IS_VALID (spacing)) {
    if (GST_CLOCK_TIME_IS_VALID (e.pts))
      e.pts += spacing / 2;
    if (GST_CLOCK_TIME_IS_VALID (e.stream_time))
      e.stream_time += spacing / 2;
    if (GST_CLOCK_TIME_IS_VALID (e.running_time))
      e.running_time += spacing / 2;
  }
  return e;
}

static void
finish_all (GstClipSegmenter * seg, GstClockTime spacing,
    const GstClipTimes * end_hint)
{
  guint i;

  for (i = 0; i < seg->tracks->len; i++) {
    Track *t = &g_array_index (seg->tracks, Track, i);
    GstClipTimes end;

    if (!t->open)
      continue;
    if (t->pending_end)
      end = t->seg.end;
    else if (end_hint && GST_CLOCK_TIME_IS_VALID (end_hint->running_time) &&
        end_hint->running_time >= t->last_on.running_time)
      end = *end_hint;
    else
      end = end_after_last (t, spacing);
    track_finish (seg, t, &end);
  }
}

void
gst_clip_segmenter_flush (GstClipSegmenter * seg, const GstClipTimes * end)
{
  finish_all (seg, seg->have_prev ? seg->last_spacing : GST_CLOCK_TIME_NONE,
      end);
  seg->have_prev = FALSE;
}

void
gst_clip_segmenter_free (GstClipSegmenter * seg)
{
  guint i;

  if (!seg)
    return;
  for (i = 0; i < seg->tracks->len; i++)
    g_free (g_array_index (seg->tracks, Track, i).label);
  g_array_unref (seg->tracks);
  g_free (seg);
}

static gfloat
prob_of (guint id, guint n, const guint * ids, const gfloat * probs)
{
  guint i;

  for (i = 0; i < n; i++)
    if (ids[i] == id)
      return probs[i];
  return 0.0f;
}

void
gst_clip_segmenter_push (GstClipSegmenter * seg, const GstClipTimes * times,
    guint n, const guint * label_ids, const gchar * const *labels,
    const gfloat * probs, gfloat background)
{
  GstClockTime t = times->running_time;
  gint top = -1, challenger = -1;
  guint i;

  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  /* time going back, or a gap in the frames (longer than merge_gap and
   * than three frame spacings): what is open ends at its last frame */
  if (seg->have_prev) {
    GstClockTime spacing = GST_CLOCK_TIME_IS_VALID (seg->last_spacing) ?
        seg->last_spacing : t - seg->prev.running_time;

    if (t < seg->prev.running_time || t - seg->prev.running_time >
        MAX (seg->p.merge_gap, 3 * spacing)) {
      finish_all (seg, seg->last_spacing, NULL);
      seg->have_prev = FALSE;
    }
  }

  for (i = 0; i < n; i++) {
    track_get (seg, label_ids[i], labels[i]);
    if (probs[i] > background && (top < 0 || probs[i] > probs[top]))
      top = i;
  }
  if (top >= 0 && probs[top] >= seg->p.enter_threshold)
    challenger = top;

  for (i = 0; i < seg->tracks->len; i++) {
    Track *tr = &g_array_index (seg->tracks, Track, i);
    gfloat p = prob_of (i, n, label_ids, probs);
    gfloat need = tr->open ? seg->p.leave_threshold : seg->p.enter_threshold;
    gboolean on = p >= need && p > background;

    if (!seg->p.multi_label && on) {
      /* one label at a time: the most probable, or the open one until
       * another reaches the enter threshold */
      if (tr->open)
        on = challenger < 0 || label_ids[challenger] == i;
      else
        on = top >= 0 && label_ids[top] == i;
    }

    if (on) {
      if (!tr->open) {
        tr->open = TRUE;
        tr->started = FALSE;
        tr->seg.label_id = i;
        tr->seg.start = seg->have_prev ? times_midpoint (&seg->prev, times) :
            *times;
        tr->seg.n_frames = 0;
        tr->seg.peak = -1.0f;
        tr->sum = 0.0;
      }
      tr->pending_end = FALSE;
      tr->last_on = *times;
      tr->seg.n_frames++;
      tr->sum += p;
      if (p > tr->seg.peak) {
        tr->seg.peak = p;
        tr->seg.peak_pts = times->pts;
      }
      if (!tr->started && track_duration (tr, times) >= seg->p.min_duration) {
        track_fill_stats (tr);
        tr->seg.end.pts = tr->seg.end.stream_time = tr->seg.end.running_time =
            GST_CLOCK_TIME_NONE;
        seg->func (GST_CLIP_SEGMENT_STARTED, &tr->seg, seg->user_data);
        tr->started = TRUE;
      }
    } else if (tr->open) {
      if (!tr->pending_end) {
        /* off: it ends halfway to this frame, unless it comes back */
        tr->pending_end = TRUE;
        tr->seg.end = times_midpoint (&tr->last_on, times);
      }
      if (t - tr->seg.end.running_time > seg->p.merge_gap) {
        GstClipTimes end = tr->seg.end;

        track_finish (seg, tr, &end);
      }
    }
  }

  seg->last_spacing = seg->have_prev ? t - seg->prev.running_time :
      GST_CLOCK_TIME_NONE;
  seg->prev = *times;
  seg->have_prev = TRUE;
}
