/* gstcliplatency.c: a ring of recent latencies, summarized on demand (a
 * property read or a stats message, not per frame). */

#include <string.h>

#include "gstcliplatency.h"

void
gst_clip_latency_reset (GstClipLatency * l)
{
  l->n = l->next = 0;
}

void
gst_clip_latency_add (GstClipLatency * l, GstClockTime latency)
{
  l->values[l->next] = latency;
  l->next = (l->next + 1) % GST_CLIP_LATENCY_WINDOW;
  if (l->n < GST_CLIP_LATENCY_WINDOW)
    l->n++;
}

static gint
compare_times (gconstpointer a, gconstpointer b)
{
  GstClockTime x = *(const GstClockTime *) a, y = *(const GstClockTime *) b;

  return x < y ? -1 : x > y;
}

/* the smallest of the @n @sorted values with @percent % of them at or
 * below it */
static GstClockTime
nearest_rank (const GstClockTime * sorted, guint n, guint percent)
{
  guint rank = (percent * n + 99) / 100;

  return sorted[MAX (rank, 1) - 1];
}

void
gst_clip_latency_summary (const GstClipLatency * l, GstClockTime * mean,
    GstClockTime * p50, GstClockTime * p99)
{
  GstClockTime sorted[GST_CLIP_LATENCY_WINDOW];
  guint64 sum = 0;
  guint i;

  if (l->n == 0) {
    *mean = *p50 = *p99 = GST_CLOCK_TIME_NONE;
    return;
  }
  memcpy (sorted, l->values, l->n * sizeof (GstClockTime));
  for (i = 0; i < l->n; i++)
    sum += sorted[i];
  qsort (sorted, l->n, sizeof (GstClockTime), compare_times);
  *mean = sum / l->n;
  *p50 = nearest_rank (sorted, l->n, 50);
  *p99 = nearest_rank (sorted, l->n, 99);
}
