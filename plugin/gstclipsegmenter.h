/* gstclipsegmenter.h: turns a stream of per-frame label probabilities into
 * time segments ("a truck, from 12.4 s to 31.0 s"): per label hysteresis
 * (enter and leave thresholds), a minimum duration, and a merge gap so a
 * brief interruption does not split a segment. No GStreamer elements here:
 * the clipsegment element feeds it and publishes what it says. */

#ifndef __GST_CLIP_SEGMENTER_H__
#define __GST_CLIP_SEGMENTER_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  gfloat enter_threshold;       /* a label starts at this probability */
  gfloat leave_threshold;       /* and goes on while it stays at this */
  GstClockTime min_duration;    /* shorter segments are dropped */
  GstClockTime merge_gap;       /* shorter interruptions are bridged */
  gboolean multi_label;         /* several labels at once */
} GstClipSegmenterParams;

/* The times of a frame, or of a segment boundary. */
typedef struct
{
  GstClockTime pts, stream_time, running_time;
} GstClipTimes;

typedef struct
{
  guint label_id;
  const gchar *label;           /* owned by the segmenter */
  GstClipTimes start, end;      /* end: GST_CLOCK_TIME_NONE while open */
  gfloat confidence;            /* mean probability over its frames */
  gfloat peak;
  GstClockTime peak_pts;
  guint n_frames;
} GstClipTimeSegment;

typedef enum
{
  GST_CLIP_SEGMENT_STARTED,     /* confirmed: min_duration reached */
  GST_CLIP_SEGMENT_FINISHED,
} GstClipSegmentEvent;

/* Called for each segment event, in time order; @segment is valid during the
 * call only. */
typedef void (*GstClipSegmentFunc) (GstClipSegmentEvent event,
    const GstClipTimeSegment * segment, gpointer user_data);

typedef struct _GstClipSegmenter GstClipSegmenter;

GstClipSegmenter *gst_clip_segmenter_new (const GstClipSegmenterParams * p,
    GstClipSegmentFunc func, gpointer user_data);
void gst_clip_segmenter_free (GstClipSegmenter * seg);

/* One scored frame. @times are those it describes (pooled scores: already
 * moved back to the middle of their window by the caller); @probs and
 * @labels give the probability of each reported label (@label_ids), any
 * label not given counts as 0; @background is the best negative prompt's
 * probability: a label must beat it to be on. A jump in running time
 * longer than merge_gap is a gap in the frames: open segments end at their
 * last frame first. */
void gst_clip_segmenter_push (GstClipSegmenter * seg,
    const GstClipTimes * times, guint n, const guint * label_ids,
    const gchar * const *labels, const gfloat * probs, gfloat background);

/* Ends every open segment (EOS, a flushing seek) and forgets the past. A
 * segment that was on at the last frame ends at @end when given (the end of
 * the stream: pooled scores lag their window, the stream does not), else
 * half a frame spacing after its last frame; one that was already going off
 * ends where it went off. */
void gst_clip_segmenter_flush (GstClipSegmenter * seg,
    const GstClipTimes * end);

G_END_DECLS

#endif /* __GST_CLIP_SEGMENTER_H__ */
