/* gstclipscheduler.h: one inference scheduler per loaded model. Every
 * clipclassify on the same model hands its frames (whole frames, tiles or
 * region crops) to it; one thread with one engine context (one thread pool)
 * encodes them, frames of different streams in the same batch. So N
 * streams never run N competing thread pools, and a busy box batches
 * across cameras the way nvstreammux does.
 *
 * Requests are served in arrival order and each caller waits for its own,
 * so a stream has at most a request or two queued: none can starve the
 * others, and a request waits at most for the batch being encoded when it
 * arrived. */

#ifndef __GST_CLIP_SCHEDULER_H__
#define __GST_CLIP_SCHEDULER_H__

#include <glib.h>

#include "clip.h"
#include "gstclipmodelcache.h"

G_BEGIN_DECLS

/* The smallest batch a shared scheduler encodes at once when enough is
 * queued: the engine's best throughput (clip-tool bench batch 8). */
#define GST_CLIP_SCHEDULER_MIN_BATCH 8

typedef struct _GstClipSchedulerClient GstClipSchedulerClient;

/* Joins the scheduler of @handle's model (@shared: the one every element on
 * that model shares, created with the first; otherwise one of the caller's
 * own, as if it were alone). @n_threads (0: all cores) and @max_batch are
 * the caller's wishes: a shared scheduler runs with the most threads and
 * the largest batch any of its clients asks for. NULL with @err set when
 * the client's own preprocessing context cannot be made (memory); the
 * scheduler's engine context is made by its thread, and its errors come
 * back from gst_clip_scheduler_encode(). */
GstClipSchedulerClient *gst_clip_scheduler_join (GstClipModelHandle * handle,
    gboolean shared, guint n_threads, guint max_batch, ClipError * err);

/* Leaves; the scheduler stops with its last client. Must not be called
 * while the client has an encode in flight. */
void gst_clip_scheduler_leave (GstClipSchedulerClient * client);

/* Encodes @n views into @embeds ((n, dim) floats): preprocessed here, in
 * the caller's thread, then encoded in one of the scheduler's batches.
 * Views the engine will not take are marked in @rejected and skipped (@why
 * says why); FALSE with @err set on an error that is not a view's fault.
 * Blocks until done; any thread. */
gboolean gst_clip_scheduler_encode (GstClipSchedulerClient * client,
    const ClipFrame * views, guint n, gfloat * embeds, gboolean * rejected,
    ClipError * why, ClipError * err);

typedef struct
{
  guint n_clients;              /* on this scheduler, the caller included */
  guint64 n_batches, n_images;  /* encoded by the scheduler so far */
  /* the most batches the caller's requests waited for, counted from the
   * last batch finished before it was queued: 1 when it joined the batch
   * being gathered, 2 when one was being encoded */
  guint64 max_wait_batches;
} GstClipSchedulerStats;

void gst_clip_scheduler_get_stats (GstClipSchedulerClient * client,
    GstClipSchedulerStats * stats);

G_END_DECLS

#endif /* __GST_CLIP_SCHEDULER_H__ */
