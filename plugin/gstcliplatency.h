/* gstcliplatency.h: the recent latencies of an element (time from a frame's
 * arrival to its result), as a mean and a 99th percentile. Not
 * thread-safe: the caller holds its own lock. */

#ifndef __GST_CLIP_LATENCY_H__
#define __GST_CLIP_LATENCY_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* the last this many latencies count */
#define GST_CLIP_LATENCY_WINDOW 1024

typedef struct
{
  GstClockTime values[GST_CLIP_LATENCY_WINDOW];
  guint n, next;
} GstClipLatency;

void gst_clip_latency_reset (GstClipLatency * l);
void gst_clip_latency_add (GstClipLatency * l, GstClockTime latency);

/* Mean and 99th percentile (nearest rank) of the recent latencies;
 * GST_CLOCK_TIME_NONE when there are none yet. */
void gst_clip_latency_summary (const GstClipLatency * l, GstClockTime * mean,
    GstClockTime * p50, GstClockTime * p99);

G_END_DECLS

#endif /* __GST_CLIP_LATENCY_H__ */
