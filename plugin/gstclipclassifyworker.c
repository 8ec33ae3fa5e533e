/* GStreamer CLIP zero-shot classification
 *
 * gstclipclassifyworker.c: async mode. The streaming thread hands a copy of
 * each due frame to a worker thread and never waits; the worker scores the
 * newest frames in batches, and each result rides on the next frame out.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipclassifyprivate.h"

#define GST_CAT_DEFAULT gst_clip_classify_debug

void
gst_clip_classify_job_free (ClipJob * job)
{
  gst_buffer_unref (job->buffer);
  g_free (job);
}

gpointer
gst_clip_classify_worker (gpointer data)
{
  GstClipClassify *self = data;
  const ClipModel *model = gst_clip_model_handle_get_model (self->model);
  gfloat *embeds = g_new (gfloat, (gsize) MAX_BATCH_SIZE *
      GST_CLIP_MAX_VIEWS * self->dim);
  guint n_tiles[MAX_BATCH_SIZE];
  ClipJob *batch[MAX_BATCH_SIZE];
  ClipFrame frames[MAX_BATCH_SIZE];
  GstVideoFrame vframes[MAX_BATCH_SIZE];
  gboolean rejected[MAX_BATCH_SIZE];

  g_mutex_lock (&self->worker_lock);
  while (TRUE) {
    GstClipLabelSet *set;
    GList *results = NULL;
    ClipError cerr = { 0, };
    guint n = 0, n_mapped = 0, n_results = 0, i, batch_size, epoch;
    gint64 arrivals[MAX_BATCH_SIZE];
    GstClipScoreParams sp;
    gboolean ok = TRUE, full;

    while (!self->worker_quit && g_queue_is_empty (&self->jobs))
      g_cond_wait (&self->worker_cond, &self->worker_lock);
    if (self->worker_quit)
      break;

    GST_OBJECT_LOCK (self);
    batch_size = CLAMP (self->batch_size, 1, MAX_BATCH_SIZE);
    sp.top_k = self->top_k;
    sp.threshold = self->threshold;
    sp.window = self->window;
    full = self->coverage == GST_CLIP_CLASSIFY_COVERAGE_FULL;
    set = gst_clip_label_set_ref (self->label_set);
    GST_OBJECT_UNLOCK (self);

    while (n < batch_size && !g_queue_is_empty (&self->jobs))
      batch[n++] = g_queue_pop_head (&self->jobs);
    epoch = self->epoch;
    self->worker_busy = TRUE;
    g_mutex_unlock (&self->worker_lock);

    for (i = 0; i < n && ok; i++) {
      ok = gst_video_frame_map (&vframes[i], &batch[i]->info,
          batch[i]->buffer, GST_MAP_READ);
      if (ok) {
        n_mapped++;
        ok = gst_clip_frame_from_video_frame (&frames[i], &vframes[i]);
      }
    }

    if (ok)
      ok = gst_clip_classify_encode (self, frames, n, full, embeds, n_tiles,
          rejected, &cerr);

    for (i = 0; i < n && ok; i++) {
      GstClipResult *r;

      if (rejected[i])
        continue;
      sp.running_time = batch[i]->running_time;
      g_mutex_lock (&self->scorer_lock);
      r = gst_clip_scorer_score (self->scorer, model, set,
          embeds + (gsize) i * GST_CLIP_MAX_VIEWS * self->dim, n_tiles[i],
          &sp, &cerr);
      g_mutex_unlock (&self->scorer_lock);
      if (!r) {
        ok = FALSE;
        break;
      }
      r->pts = batch[i]->pts;
      r->stream_time = batch[i]->stream_time;
      r->running_time = batch[i]->running_time;
      r->frame_number = batch[i]->frame_number;
      arrivals[g_list_length (results)] = batch[i]->arrival;
      r->width = GST_VIDEO_INFO_WIDTH (&batch[i]->info);
      r->height = GST_VIDEO_INFO_HEIGHT (&batch[i]->info);
      results = g_list_append (results, r);
    }

    for (i = 0; i < n_mapped; i++)
      gst_video_frame_unmap (&vframes[i]);
    for (i = 0; i < n; i++)
      gst_clip_classify_job_free (batch[i]);
    gst_clip_label_set_unref (set);

    if (!ok) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("CLIP inference failed: %s", cerr.message[0] ? cerr.message :
              "could not map the frame"), (NULL));
    }

    g_mutex_lock (&self->worker_lock);
    while (results) {
      GstClipResult *r = results->data;

      /* results of frames from before a flush describe nothing downstream */
      if (epoch == self->epoch) {
        g_queue_push_tail (&self->results, r);
        n_results++;
      } else {
        gst_clip_result_free (r);
      }
      results = g_list_delete_link (results, results);
    }
    GST_OBJECT_LOCK (self);
    self->n_classified += n_results;
    for (i = 0; i < n_results; i++)
      gst_clip_latency_add (&self->latency, (g_get_monotonic_time () -
              arrivals[i]) * GST_USECOND);
    GST_OBJECT_UNLOCK (self);
    self->worker_busy = FALSE;
    g_cond_broadcast (&self->idle_cond);
  }
  g_mutex_unlock (&self->worker_lock);

  g_free (embeds);
  return NULL;
}

void
gst_clip_classify_clear_queues_locked (GstClipClassify * self)
{
  g_queue_clear_full (&self->jobs, (GDestroyNotify) gst_clip_classify_job_free);
  g_queue_clear_full (&self->results, (GDestroyNotify) gst_clip_result_free);
}

/* Streaming thread: hands a copy of the frame to the worker. The queue holds
 * at most batch-size frames; when full the oldest is dropped, so the worker
 * always works on the newest frames and never builds up latency. */
void
gst_clip_classify_submit (GstClipClassify * self, GstVideoFrame * frame,
    guint64 frame_number, guint batch_size)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClockTime pts = GST_BUFFER_PTS (frame->buffer);
  ClipJob *job = g_new0 (ClipJob, 1);

  job->buffer = gst_buffer_copy_deep (frame->buffer);
  job->info = frame->info;
  job->pts = pts;
  job->frame_number = frame_number;
  job->arrival = g_get_monotonic_time ();
  job->stream_time = gst_segment_to_stream_time (&trans->segment,
      GST_FORMAT_TIME, pts);
  job->running_time = gst_segment_to_running_time (&trans->segment,
      GST_FORMAT_TIME, pts);

  g_mutex_lock (&self->worker_lock);
  while (g_queue_get_length (&self->jobs) >= batch_size) {
    gst_clip_classify_job_free (g_queue_pop_head (&self->jobs));
    self->n_dropped++;
    GST_LOG_OBJECT (self, "worker busy, dropped a queued frame (%"
        G_GUINT64_FORMAT " so far)", self->n_dropped);
  }
  g_queue_push_tail (&self->jobs, job);
  g_cond_signal (&self->worker_cond);
  g_mutex_unlock (&self->worker_lock);
}

/* At EOS no frame is left to carry what the worker still has: wait for it
 * (the stream is over, nothing is held up) and send each result downstream
 * in a GST_CLIP_LATE_RESULT_EVENT ahead of EOS (clipjson writes it like any
 * other) and, with post-messages, on the bus. */
void
gst_clip_classify_drain (GstClipClassify * self)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  GQueue late = G_QUEUE_INIT;
  gboolean post;
  GstClipResult *r;

  GST_OBJECT_LOCK (self);
  post = self->post_messages;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->worker_lock);
  while (!self->worker_quit && (self->worker_busy ||
          !g_queue_is_empty (&self->jobs))) {
    if (!g_cond_wait_until (&self->idle_cond, &self->worker_lock, deadline)) {
      GST_WARNING_OBJECT (self, "worker still busy at EOS, not waiting");
      break;
    }
  }
  while ((r = g_queue_pop_head (&self->results)))
    g_queue_push_tail (&late, r);
  g_mutex_unlock (&self->worker_lock);

  while ((r = g_queue_pop_head (&late))) {
    GstBuffer *carrier = gst_buffer_new ();

    GST_DEBUG_OBJECT (self, "result for %" GST_TIME_FORMAT " after the last "
        "frame: sent as an event", GST_TIME_ARGS (r->pts));
    gst_clip_classify_publish (self, carrier, r, post, FALSE);
    gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self),
        gst_clip_late_result_event_new (carrier));
    gst_clip_result_free (r);
  }
}

