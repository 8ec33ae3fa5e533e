/* GStreamer CLIP zero-shot classification
 *
 * gstclipclassify.c: maps video frames to engine views, asks the engine for
 * embeddings and scores, and turns the top labels into metadata and bus
 * messages. The pixels pass through untouched.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipclassify
 * @title: clipclassify
 *
 * Tags video frames with zero-shot labels from OpenAI's CLIP. The labels are
 * free text; each becomes a prompt through a template ("a photo of a {}."),
 * the prompts are encoded once when the element starts, and every
 * #GstClipClassify:interval-th frame is compared against them. The
 * #GstClipClassify:top-k most probable labels are attached to the frame as
 * #GstClipClassificationMeta (see gstclipmeta.h) and, with
 * #GstClipClassify:post-messages, posted as "clip-classification" element
 * messages. The video itself passes through unchanged.
 *
 * For live sources use mode=async: frames then never wait for inference.
 *
 * The labels may change while playing: they are encoded in the background
 * with a context of their own, frames keep the previous labels meanwhile, and
 * a "clip-labels-updated" element message (field labels, an array of
 * strings) says when the new set is in use. A set that fails to encode is
 * reported as a warning and the previous one stays.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=10 ! videoconvert ! \
 *     clipclassify model=tests/data/tiny-clip labels="a cat,a dog,a car" \
 *     post-messages=true ! fakesink
 * ]|
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstclipclassifyprivate.h"

#ifdef HAVE_GST_ANALYTICS
#include <gst/analytics/analytics.h>
#endif

GST_DEBUG_CATEGORY (gst_clip_classify_debug);
#define GST_CAT_DEFAULT gst_clip_classify_debug

#define DEFAULT_PROP_MODEL NULL
#define DEFAULT_PROP_ADAPTER NULL
#define DEFAULT_PROP_LABELS NULL
#define DEFAULT_PROP_LABELS_FILE NULL
#define DEFAULT_PROP_TEMPLATE GST_CLIP_DEFAULT_TEMPLATE
#define DEFAULT_PROP_TEMPLATES_FILE NULL
/* NULL: $XDG_CACHE_HOME/gst-clip/text-embeddings */
#define DEFAULT_PROP_TEXT_CACHE NULL
#define DEFAULT_PROP_TOP_K 5
#define DEFAULT_PROP_THRESHOLD 0.0f
#define DEFAULT_PROP_INTERVAL 1
#define DEFAULT_PROP_BATCH_SIZE 1
#define DEFAULT_PROP_THREADS 0
#define DEFAULT_PROP_SHARED_INFERENCE TRUE
#define DEFAULT_PROP_POST_MESSAGES FALSE
#define DEFAULT_PROP_MODE GST_CLIP_CLASSIFY_MODE_SYNC
#define DEFAULT_PROP_PRECISION GST_CLIP_CLASSIFY_PRECISION_FP32
#define DEFAULT_PROP_NEGATIVES NULL
#define DEFAULT_PROP_NEGATIVES_FILE NULL
#define DEFAULT_PROP_WINDOW 0
#define DEFAULT_PROP_COVERAGE GST_CLIP_CLASSIFY_COVERAGE_CENTER
#define DEFAULT_PROP_REPEAT_METADATA FALSE
#define DEFAULT_PROP_STATS_INTERVAL 0
#define DEFAULT_PROP_INFERENCE_REGION GST_CLIP_CLASSIFY_REGION_FULL_FRAME
#define DEFAULT_PROP_ROI_TYPES NULL
#define DEFAULT_PROP_RECLASSIFY_INTERVAL 1

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LABELS,
  PROP_LABELS_FILE,
  PROP_TEMPLATE,
  PROP_TEMPLATES_FILE,
  PROP_TEXT_CACHE,
  PROP_TOP_K,
  PROP_THRESHOLD,
  PROP_INTERVAL,
  PROP_BATCH_SIZE,
  PROP_THREADS,
  PROP_SHARED_INFERENCE,
  PROP_POST_MESSAGES,
  PROP_MODE,
  PROP_PRECISION,
  PROP_FRAMES_IN,
  PROP_FRAMES_CLASSIFIED,
  PROP_FRAMES_SKIPPED_INTERVAL,
  PROP_FRAMES_DROPPED_BUSY,
  PROP_FRAMES_FAILED,
  PROP_NEGATIVES,
  PROP_NEGATIVES_FILE,
  PROP_WINDOW,
  PROP_COVERAGE,
  PROP_REPEAT_METADATA,
  PROP_LATENCY_MEAN,
  PROP_LATENCY_P50,
  PROP_LATENCY_P99,
  PROP_STATS_INTERVAL,
  PROP_INFERENCE_REGION,
  PROP_ROI_TYPES,
  PROP_RECLASSIFY_INTERVAL,
  PROP_REGIONS_CLASSIFIED,
  PROP_REGIONS_SKIPPED,
  PROP_ADAPTER,
};

/* The formats ClipFrame can view without a copy. */
#define CLIP_VIDEO_CAPS GST_VIDEO_CAPS_MAKE ("{ RGB, BGR, RGBA, BGRA, ARGB, " \
    "ABGR, RGBx, BGRx, xRGB, xBGR, GRAY8, I420, NV12 }")

static GstStaticPadTemplate gst_clip_classify_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (CLIP_VIDEO_CAPS));

static GstStaticPadTemplate gst_clip_classify_src_template =
GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (CLIP_VIDEO_CAPS));

#define gst_clip_classify_parent_class parent_class
G_DEFINE_TYPE (GstClipClassify, gst_clip_classify, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (clipclassify, "clipclassify", GST_RANK_NONE,
    GST_TYPE_CLIP_CLASSIFY);

GType
gst_clip_classify_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_CLASSIFY_MODE_SYNC,
        "Score in the streaming thread, metadata on the scored frame", "sync"},
    {GST_CLIP_CLASSIFY_MODE_ASYNC,
          "Score in a worker thread, never hold frames back; metadata on a "
          "later frame, stamped with the scored frame's PTS", "async"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType _type = g_enum_register_static ("GstClipClassifyMode", values);
    g_once_init_leave (&type, _type);
  }
  return type;
}

GType
gst_clip_classify_coverage_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_CLASSIFY_COVERAGE_CENTER,
        "CLIP's centre crop of the frame, as the reference", "center"},
    {GST_CLIP_CLASSIFY_COVERAGE_FULL,
          "The whole frame: square tiles from edge to edge, the most "
          "confident one scores the frame (one inference per tile)", "full"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType _type = g_enum_register_static ("GstClipClassifyCoverage", values);
    g_once_init_leave (&type, _type);
  }
  return type;
}

GType
gst_clip_classify_region_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_CLASSIFY_REGION_FULL_FRAME, "The whole frame", "full-frame"},
    {GST_CLIP_CLASSIFY_REGION_ROI_LIST,
        "The regions of interest upstream attached, not the frame", "roi-list"},
    {GST_CLIP_CLASSIFY_REGION_BOTH, "The frame and its regions", "both"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType _type = g_enum_register_static ("GstClipClassifyRegion", values);
    g_once_init_leave (&type, _type);
  }
  return type;
}

G_STATIC_ASSERT ((int) GST_CLIP_CLASSIFY_PRECISION_BF16
    == (int) CLE_PRECISION_BF16);
G_STATIC_ASSERT ((int) GST_CLIP_CLASSIFY_PRECISION_INT8
    == (int) CLE_PRECISION_INT8);

GType
gst_clip_classify_precision_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CLIP_CLASSIFY_PRECISION_FP32, "fp32, as the reference", "fp32"},
    {GST_CLIP_CLASSIFY_PRECISION_BF16,
        "bf16 matrix products (AVX512_BF16), fp32 sums", "bf16"},
    {GST_CLIP_CLASSIFY_PRECISION_INT8,
        "int8 matrix products (AVX512_VNNI), per-channel weights, per-row "
          "activations", "int8"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType _type = g_enum_register_static ("GstClipClassifyPrecision",
        values);
    g_once_init_leave (&type, _type);
  }
  return type;
}

/* ------------------------------------------------------------ helpers -- */

/* Any thread. Counts a frame that was not classified; the first one after
 * each caps change is posted as a warning (a camera sending odd frames would
 * flood the bus otherwise), the rest are in the debug log and the count. */
void
gst_clip_classify_frame_rejected (GstClipClassify * self, const ClipFrame * cf,
    const gchar * why)
{
  gboolean warn;

  GST_OBJECT_LOCK (self);
  self->n_failed++;
  warn = !self->failure_warned;
  self->failure_warned = TRUE;
  GST_OBJECT_UNLOCK (self);

  if (warn)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("A %dx%d frame was not classified: %s", cf->width, cf->height, why),
        ("frames the model cannot take are skipped and counted in the "
            "'frames-failed' property; posted once per caps"));
  else
    GST_DEBUG_OBJECT (self, "%dx%d frame not classified: %s", cf->width,
        cf->height, why);
}

/* Encodes @n frames, through the model's scheduler, as the coverage
 * property says: each frame's centre as CLIP crops it (one tile), or the
 * whole frame as square tiles. Frame i's
 * tile embeddings land at @embeds + i * GST_CLIP_MAX_VIEWS * dim, their
 * number in @n_tiles[i]. Frames the engine rejects (any of their tiles)
 * are marked in @rejected, counted and reported. */
gboolean
gst_clip_classify_encode (GstClipClassify * self, const ClipFrame * frames,
    guint n, gboolean full, gfloat * embeds, guint * n_tiles,
    gboolean * rejected, ClipError * err)
{
  ClipFrame tiles[MAX_BATCH_SIZE * GST_CLIP_MAX_VIEWS];
  gboolean tile_rejected[MAX_BATCH_SIZE * GST_CLIP_MAX_VIEWS];
  guint first[MAX_BATCH_SIZE + 1], total = 0, i, t;
  const gsize stride = (gsize) GST_CLIP_MAX_VIEWS * self->dim;
  ClipError why = { 0, };
  gfloat *tile_embeds;
  gboolean ok;

  for (i = 0; i < n; i++) {
    first[i] = total;
    if (full) {
      total += gst_clip_frame_views (&frames[i], &tiles[total]);
    } else {
      tiles[total++] = frames[i];
    }
  }
  first[n] = total;
  tile_embeds = g_new (gfloat, (gsize) MAX (total, 1) * self->dim);
  ok = gst_clip_scheduler_encode (self->inference, tiles, total,
      tile_embeds, tile_rejected, &why, err);
  for (i = 0; ok && i < n; i++) {
    n_tiles[i] = first[i + 1] - first[i];
    rejected[i] = n_tiles[i] == 0;
    for (t = first[i]; t < first[i + 1]; t++)
      rejected[i] |= tile_rejected[t];
    memcpy (embeds + i * stride, tile_embeds + (gsize) first[i] * self->dim,
        (gsize) n_tiles[i] * self->dim * sizeof (gfloat));
    if (rejected[i])
      gst_clip_classify_frame_rejected (self, &frames[i], why.message[0] ?
          why.message : "the frame has no pixels");
  }
  g_free (tile_embeds);
  return ok;
}

/* Streaming thread, on a writable buffer: the metas, and the bus message
 * when asked (never for a repeated result). */
void
gst_clip_classify_publish (GstClipClassify * self, GstBuffer * buf,
    const GstClipResult * result, gboolean post, gboolean repeated)
{
  gst_clip_result_attach (result, buf,
      gst_clip_model_handle_get_id (self->model), repeated);
  if (post && !repeated)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_clip_result_to_structure (result)));
}

/* The counters as a "clip-stats" element message: the totals, the latency
 * (mean, median and p99 of the last frames, ns), and with @periodic the rates since
 * the last periodic message (frames per second in and classified), as
 * gvafpscounter reports them. */
static void
gst_clip_classify_post_stats (GstClipClassify * self, gboolean periodic)
{
  GstStructure *s;
  GstClockTime mean, p50, p99;
  gint64 now = g_get_monotonic_time ();
  guint64 busy;

  g_mutex_lock (&self->worker_lock);
  busy = self->n_dropped;
  g_mutex_unlock (&self->worker_lock);
  GST_OBJECT_LOCK (self);
  gst_clip_latency_summary (&self->latency, &mean, &p50, &p99);
  s = gst_structure_new ("clip-stats",
      "frames-in", G_TYPE_UINT64, self->n_in,
      "frames-classified", G_TYPE_UINT64, self->n_classified,
      "frames-skipped-interval", G_TYPE_UINT64, self->n_skipped_interval,
      "frames-dropped-busy", G_TYPE_UINT64, busy,
      "frames-failed", G_TYPE_UINT64, self->n_failed,
      "latency-mean", G_TYPE_UINT64, mean,
      "latency-p50", G_TYPE_UINT64, p50,
      "latency-p99", G_TYPE_UINT64, p99, NULL);
  if (periodic && now > self->stats_last_post) {
    gdouble seconds = (now - self->stats_last_post) / 1e6;

    gst_structure_set (s,
        "fps-in", G_TYPE_DOUBLE, (self->n_in - self->stats_last_in) / seconds,
        "fps-classified", G_TYPE_DOUBLE,
        (self->n_classified - self->stats_last_classified) / seconds,
        "fps-dropped-busy", G_TYPE_DOUBLE,
        (busy - self->stats_last_busy) / seconds, NULL);
  }
  self->stats_last_post = now;
  self->stats_last_in = self->n_in;
  self->stats_last_classified = self->n_classified;
  self->stats_last_busy = busy;
  GST_OBJECT_UNLOCK (self);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* Streaming thread: a periodic clip-stats message when stats-interval has
 * passed. */
static void
gst_clip_classify_maybe_post_stats (GstClipClassify * self)
{
  gboolean due;

  GST_OBJECT_LOCK (self);
  due = self->stats_interval > 0 && (g_get_monotonic_time () -
      self->stats_last_post) * GST_USECOND >= (gint64) self->stats_interval;
  GST_OBJECT_UNLOCK (self);
  if (due)
    gst_clip_classify_post_stats (self, TRUE);
}

/* ------------------------------------------------------------- vfuncs -- */

static gboolean
gst_clip_classify_start (GstBaseTransform * trans)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (trans);
  GstClipPromptConfig config = { 0, };
  GstClipModelHandle *handle;
  GstClipLabelSet *set;
  ClipContextParams cp;
  ClipModelInfo info;
  ClipError cerr = { 0, };
  GError *err = NULL;
  gchar *dir, *adapter;
  guint n_threads, batch_size, generation;
  GstClipClassifyMode mode;
  ClipPrecision precision;
  ClipContext *text_ctx;
  gboolean shared;
  GstClipSchedulerStats stats;

  GST_OBJECT_LOCK (self);
  dir = g_strdup (self->model_dir);
  adapter = g_strdup (self->adapter_dir);
  gst_clip_classify_copy_prompts (&config, &self->prompts);
  generation = self->label_generation;
  n_threads = self->n_threads;
  batch_size = CLAMP (self->batch_size, 1, MAX_BATCH_SIZE);
  mode = self->mode;
  precision = (ClipPrecision) self->precision;
  shared = self->shared_inference;
  GST_OBJECT_UNLOCK (self);

  if (!dir || !dir[0]) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No CLIP model set: point the 'model' property at a Hugging Face "
            "CLIP model directory"), (NULL));
    goto fail;
  }

  handle = gst_clip_model_cache_acquire_full (dir, adapter, precision, &cerr);
  if (!handle) {
    if (cerr.code == CLE_ERROR_IO)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not load the CLIP model in '%s': %s", dir, cerr.message),
          ("cle_model_load: %s", cle_status_string (cerr.code)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Could not load the CLIP model in '%s': %s", dir, cerr.message),
          ("cle_model_load: %s", cle_status_string (cerr.code)));
    goto fail;
  }
  self->model = handle;

  cle_model_get_info (gst_clip_model_handle_get_model (handle), &info);
  self->dim = info.projection_dim;

  /* the labels now, with a context of their own (later changes are
   * encoded in the background: gstclipclassifylabels.c) */
  cle_context_params_init (&cp);
  cp.n_threads = n_threads;
  cp.max_batch_images = 1;
  if (cle_context_new (&text_ctx, gst_clip_model_handle_get_model (handle),
          &cp, &cerr) < 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not create a CLIP context: %s", cerr.message), (NULL));
    goto fail;
  }
  set = gst_clip_label_set_encode (text_ctx, self->dim, &config, NULL, &err);
  cle_context_free (text_ctx);
  if (!set) {
    gst_clip_classify_post_gerror (self, GST_MESSAGE_ERROR, err, NULL);
    g_clear_error (&err);
    goto fail;
  }
  self->inference = gst_clip_scheduler_join (handle, shared, n_threads,
      batch_size, &cerr);
  if (!self->inference) {
    gst_clip_label_set_unref (set);
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not create a CLIP context: %s", cerr.message), (NULL));
    goto fail;
  }
  gst_clip_scheduler_get_stats (self->inference, &stats);
  GST_INFO_OBJECT (self, "model '%s', %u labels x %u templates, dim %d; "
      "products by the %s kernel; %s inference (%u elements on it)",
      gst_clip_model_handle_get_dir (handle), set->n_labels, set->n_templates,
      self->dim, info.kernel, shared ? "shared" : "own", stats.n_clients);

  self->image_embed = g_new (gfloat, (gsize) MAX_BATCH_SIZE *
      GST_CLIP_MAX_VIEWS * self->dim);
  g_mutex_lock (&self->scorer_lock);
  self->scorer = gst_clip_scorer_new (self->dim);
  g_mutex_unlock (&self->scorer_lock);
  self->regions = gst_clip_regions_new (self->dim);
  self->frame_count = 0;
  self->frame_number = 0;
  self->running_mode = mode;
  GST_OBJECT_LOCK (self);
  self->n_in = self->n_classified = self->n_skipped_interval = 0;
  self->n_failed = 0;
  self->failure_warned = FALSE;
  gst_clip_latency_reset (&self->latency);
  self->n_regions_classified = self->n_regions_skipped = 0;
  self->stats_last_post = g_get_monotonic_time ();
  self->stats_last_in = self->stats_last_classified = 0;
  self->stats_last_busy = 0;
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&self->worker_lock);
  self->n_dropped = 0;
  g_mutex_unlock (&self->worker_lock);

  GST_OBJECT_LOCK (self);
  self->label_set = set;
  g_atomic_int_set (&self->encoder_cancelled, 0);
  self->encoder = g_thread_pool_new (gst_clip_classify_encode_func, self, 1,
      FALSE, NULL);
  /* Labels set while the copy above was being encoded found no encoder to
   * queue them on: encode them now, or they would never be used. */
  if (self->label_generation != generation)
    gst_clip_classify_queue_encode_locked (self);
  GST_OBJECT_UNLOCK (self);

  if (mode == GST_CLIP_CLASSIFY_MODE_ASYNC) {
    self->worker_quit = FALSE;
    self->worker = g_thread_new ("clipclassify-worker",
        gst_clip_classify_worker, self);
  }

  gst_clip_prompt_config_clear (&config);
  g_free (adapter);
  g_free (dir);
  return TRUE;

fail:
  g_clear_pointer (&self->image_embed, g_free);
  g_clear_pointer (&self->inference, gst_clip_scheduler_leave);
  if (self->model) {
    gst_clip_model_cache_release (self->model);
    self->model = NULL;
  }
  gst_clip_prompt_config_clear (&config);
  g_free (adapter);
  g_free (dir);
  return FALSE;
}

static gboolean
gst_clip_classify_stop (GstBaseTransform * trans)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (trans);
  GThreadPool *encoder;
  GstClipLabelSet *set;

  /* A queued or running background encode notices the flag at its next
   * engine call; waiting for it keeps the model alive until it is done. */
  GST_OBJECT_LOCK (self);
  encoder = self->encoder;
  self->encoder = NULL;
  g_atomic_int_set (&self->encoder_cancelled, 1);
  GST_OBJECT_UNLOCK (self);
  if (encoder)
    g_thread_pool_free (encoder, FALSE, TRUE);

  if (self->worker) {
    g_mutex_lock (&self->worker_lock);
    self->worker_quit = TRUE;
    g_cond_signal (&self->worker_cond);
    g_cond_broadcast (&self->idle_cond);
    g_mutex_unlock (&self->worker_lock);
    g_thread_join (self->worker);
    self->worker = NULL;
  }
  g_mutex_lock (&self->worker_lock);
  gst_clip_classify_clear_queues_locked (self);
  g_mutex_unlock (&self->worker_lock);

  g_clear_pointer (&self->frame_result, gst_clip_result_free);
  g_clear_pointer (&self->last_result, gst_clip_result_free);
  g_mutex_lock (&self->scorer_lock);
  g_clear_pointer (&self->scorer, gst_clip_scorer_free);
  g_mutex_unlock (&self->scorer_lock);
  g_clear_pointer (&self->regions, gst_clip_regions_free);
  g_clear_pointer (&self->inference, gst_clip_scheduler_leave);
  g_clear_pointer (&self->image_embed, g_free);

  GST_OBJECT_LOCK (self);
  set = self->label_set;
  self->label_set = NULL;
  GST_OBJECT_UNLOCK (self);
  if (set)
    gst_clip_label_set_unref (set);

  if (self->model) {
    gst_clip_model_cache_release (self->model);
    self->model = NULL;
  }
  return TRUE;
}

static gboolean
gst_clip_classify_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    /* Frames after a seek are a new sequence: restart the interval count and
     * forget what was queued for frames that will never be shown. */
    self->frame_count = 0;
    g_clear_pointer (&self->last_result, gst_clip_result_free);
    g_mutex_lock (&self->scorer_lock);
    if (self->scorer)
      gst_clip_scorer_reset (self->scorer);
    g_mutex_unlock (&self->scorer_lock);
    if (self->regions)
      gst_clip_regions_reset (self->regions);
    g_mutex_lock (&self->worker_lock);
    self->epoch++;
    gst_clip_classify_clear_queues_locked (self);
    g_mutex_unlock (&self->worker_lock);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    if (self->worker)
      gst_clip_classify_drain (self);
    gst_clip_classify_post_stats (self, FALSE);
  }

  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* In sync mode QoS events stop here: the elements before this one (the
 * decoder, videoconvert) would otherwise drop late frames, and sync mode
 * promises that every frame reaching the sink was classified. A slow
 * pipeline then plays late instead of skipping; live sources want async. */
static gboolean
gst_clip_classify_src_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS &&
      self->running_mode == GST_CLIP_CLASSIFY_MODE_SYNC) {
    GST_LOG_OBJECT (self, "sync mode: not passing QoS upstream");
    gst_event_unref (event);
    return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

/* New caps: a rejected frame of the new size gets its own warning. */
static gboolean
gst_clip_classify_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (filter);

  GST_OBJECT_LOCK (self);
  self->failure_warned = FALSE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* Computes the frame's result into self->frame_result; transform_ip attaches
 * it once the frame is unmapped, since a mapped buffer is not writable. */
static GstFlowReturn
gst_clip_classify_process_frame (GstClipClassify * self,
    GstVideoFrame * frame)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClipLabelSet *set;
  ClipFrame cf;
  ClipError cerr = { 0, };
  GstClipResult *result;
  GstClipScoreParams sp;
  guint interval, batch_size;
  guint64 frame_number = self->frame_number++;
  gint64 arrival = g_get_monotonic_time ();
  gboolean due, rejected, full;
  guint n_tiles;

  GST_OBJECT_LOCK (self);
  self->n_in++;
  if (self->inference_region == GST_CLIP_CLASSIFY_REGION_ROI_LIST) {
    /* the regions only: gst_clip_classify_process_regions() */
    GST_OBJECT_UNLOCK (self);
    return GST_FLOW_OK;
  }
  interval = MAX (self->interval, 1);
  sp.top_k = self->top_k;
  sp.threshold = self->threshold;
  sp.window = self->window;
  full = self->coverage == GST_CLIP_CLASSIFY_COVERAGE_FULL;
  batch_size = CLAMP (self->batch_size, 1, MAX_BATCH_SIZE);
  /* the set this frame is scored with, whatever the encoder swaps in now */
  set = gst_clip_label_set_ref (self->label_set);
  GST_OBJECT_UNLOCK (self);

  due = (self->frame_count++ % interval) == 0;
  if (!due) {
    GST_OBJECT_LOCK (self);
    self->n_skipped_interval++;
    GST_OBJECT_UNLOCK (self);
  }

  if (self->running_mode == GST_CLIP_CLASSIFY_MODE_ASYNC || !due) {
    gst_clip_label_set_unref (set);
    if (self->running_mode == GST_CLIP_CLASSIFY_MODE_ASYNC) {
      if (due)
        gst_clip_classify_submit (self, frame, frame_number, batch_size);
      g_mutex_lock (&self->worker_lock);
      self->frame_result = g_queue_pop_head (&self->results);
      g_mutex_unlock (&self->worker_lock);
    }
    return GST_FLOW_OK;
  }

  if (!gst_clip_frame_from_video_frame (&cf, frame)) {
    gst_clip_label_set_unref (set);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("unsupported format %s",
            gst_video_format_to_string (GST_VIDEO_FRAME_FORMAT (frame))));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  if (!gst_clip_classify_encode (self, &cf, 1, full, self->image_embed,
          &n_tiles, &rejected, &cerr)) {
    gst_clip_label_set_unref (set);
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("CLIP inference failed: %s", cerr.message), (NULL));
    return GST_FLOW_ERROR;
  }
  if (rejected) {
    gst_clip_label_set_unref (set);
    return GST_FLOW_OK;
  }

  sp.running_time = gst_segment_to_running_time (&trans->segment,
      GST_FORMAT_TIME, GST_BUFFER_PTS (frame->buffer));
  g_mutex_lock (&self->scorer_lock);
  result = gst_clip_scorer_score (self->scorer,
      gst_clip_model_handle_get_model (self->model), set, self->image_embed,
      n_tiles, &sp, &cerr);
  g_mutex_unlock (&self->scorer_lock);
  gst_clip_label_set_unref (set);
  if (!result) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("CLIP scoring failed: %s", cerr.message), (NULL));
    return GST_FLOW_ERROR;
  }

  result->pts = GST_BUFFER_PTS (frame->buffer);
  result->stream_time = gst_segment_to_stream_time (&trans->segment,
      GST_FORMAT_TIME, result->pts);
  result->running_time = sp.running_time;     /* the same frame's */
  result->frame_number = frame_number;
  result->width = cf.width;
  result->height = cf.height;
  self->frame_result = result;
  GST_OBJECT_LOCK (self);
  self->n_classified++;
  gst_clip_latency_add (&self->latency, (g_get_monotonic_time () - arrival) *
      GST_USECOND);
  GST_OBJECT_UNLOCK (self);

  return GST_FLOW_OK;
}

/* The regions of interest of the frame, when inference-region asks for
 * them: in the streaming thread in both modes (crops of a frame are few and
 * small next to the frame itself). */
static GstFlowReturn
gst_clip_classify_process_regions (GstClipClassify * self,
    GstVideoFrame * frame)
{
  GstClipRegionParams p;
  GstClipRegionCounts counts;
  GstClipLabelSet *set;
  gchar **types;
  ClipFrame cf;
  ClipError cerr = { 0, };
  gboolean ok;

  GST_OBJECT_LOCK (self);
  if (self->inference_region == GST_CLIP_CLASSIFY_REGION_FULL_FRAME ||
      !gst_buffer_get_video_region_of_interest_meta (frame->buffer)) {
    GST_OBJECT_UNLOCK (self);
    return GST_FLOW_OK;
  }
  types = g_strdupv (self->roi_types);
  p.types = (const gchar * const *) types;
  p.reclassify_interval = MAX (self->reclassify_interval, 1);
  p.top_k = self->top_k;
  p.frame_number = self->frame_number - 1;     /* this frame's */
  set = gst_clip_label_set_ref (self->label_set);
  GST_OBJECT_UNLOCK (self);

  ok = gst_clip_frame_from_video_frame (&cf, frame) &&
      gst_clip_regions_classify (self->regions, self->inference,
      gst_clip_model_handle_get_model (self->model), set, &cf,
      frame->buffer, &p, &counts, &cerr);
  gst_clip_label_set_unref (set);
  g_strfreev (types);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("CLIP inference on regions failed: %s", cerr.message), (NULL));
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK (self);
  self->n_regions_classified += counts.classified;
  self->n_regions_skipped += counts.skipped;
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_clip_classify_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  GstVideoFrame frame;
  GstFlowReturn ret;
  gboolean post, repeat;

  if (!filter->negotiated) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("no caps negotiated before the first frame"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* Read-only: GstVideoFilter would map the frame for writing, which
   * copies its memory whenever another buffer shares it (after a tee, or
   * from a decoder that keeps its frames): 3 MB per 1080p frame. Only the
   * buffer's metadata changes. */
  if (!gst_video_frame_map (&frame, &filter->in_info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
        ("could not map the frame for reading"));
    return GST_FLOW_ERROR;
  }
  ret = gst_clip_classify_process_frame (self, &frame);
  if (ret == GST_FLOW_OK)
    ret = gst_clip_classify_process_regions (self, &frame);
  gst_video_frame_unmap (&frame);

  GST_OBJECT_LOCK (self);
  post = self->post_messages;
  repeat = self->repeat_metadata;
  GST_OBJECT_UNLOCK (self);
  if (self->frame_result) {
    if (ret == GST_FLOW_OK)
      gst_clip_classify_publish (self, buf, self->frame_result, post, FALSE);
    /* kept for the frames in between, when they are to carry it too */
    g_clear_pointer (&self->last_result, gst_clip_result_free);
    self->last_result = g_steal_pointer (&self->frame_result);
  } else if (repeat && self->last_result && ret == GST_FLOW_OK) {
    gst_clip_classify_publish (self, buf, self->last_result, FALSE, TRUE);
  }
  gst_clip_classify_maybe_post_stats (self);
  return ret;
}

/* --------------------------------------------------------- properties -- */

static void
gst_clip_classify_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      if (self->model)
        GST_WARNING_OBJECT (self, "model changes apply at the next start");
      g_free (self->model_dir);
      self->model_dir = g_value_dup_string (value);
      break;
    case PROP_ADAPTER:
      if (self->model)
        GST_WARNING_OBJECT (self, "adapter changes apply at the next start");
      g_free (self->adapter_dir);
      self->adapter_dir = g_value_dup_string (value);
      break;
    case PROP_LABELS:
      g_free (self->prompts.labels);
      self->prompts.labels = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_LABELS_FILE:
      g_free (self->prompts.labels_file);
      self->prompts.labels_file = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_TEMPLATE:
      g_free (self->prompts.template);
      self->prompts.template = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_TEMPLATES_FILE:
      g_free (self->prompts.templates_file);
      self->prompts.templates_file = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_TEXT_CACHE:
      g_free (self->prompts.text_cache);
      self->prompts.text_cache = g_value_dup_string (value);
      if (!self->prompts.text_cache)
        self->prompts.text_cache = gst_clip_classify_default_text_cache ();
      break;
    case PROP_TOP_K:
      self->top_k = g_value_get_uint (value);
      break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_float (value);
      break;
    case PROP_INTERVAL:
      self->interval = g_value_get_uint (value);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    case PROP_THREADS:
      self->n_threads = g_value_get_uint (value);
      break;
    case PROP_SHARED_INFERENCE:
      self->shared_inference = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_PRECISION:
      self->precision = g_value_get_enum (value);
      break;
    case PROP_NEGATIVES:
      g_free (self->prompts.negatives);
      self->prompts.negatives = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_NEGATIVES_FILE:
      g_free (self->prompts.negatives_file);
      self->prompts.negatives_file = g_value_dup_string (value);
      gst_clip_classify_queue_encode_locked (self);
      break;
    case PROP_WINDOW:
      self->window = g_value_get_uint64 (value);
      break;
    case PROP_COVERAGE:
      self->coverage = g_value_get_enum (value);
      break;
    case PROP_REPEAT_METADATA:
      self->repeat_metadata = g_value_get_boolean (value);
      break;
    case PROP_STATS_INTERVAL:
      self->stats_interval = g_value_get_uint64 (value);
      break;
    case PROP_INFERENCE_REGION:
      self->inference_region = g_value_get_enum (value);
      break;
    case PROP_ROI_TYPES:
      g_strfreev (self->roi_types);
      self->roi_types = gst_clip_parse_list (g_value_get_string (value));
      break;
    case PROP_RECLASSIFY_INTERVAL:
      self->reclassify_interval = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_classify_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_dir);
      break;
    case PROP_ADAPTER:
      g_value_set_string (value, self->adapter_dir);
      break;
    case PROP_LABELS:
      g_value_set_string (value, self->prompts.labels);
      break;
    case PROP_LABELS_FILE:
      g_value_set_string (value, self->prompts.labels_file);
      break;
    case PROP_TEMPLATE:
      g_value_set_string (value, self->prompts.template);
      break;
    case PROP_TEMPLATES_FILE:
      g_value_set_string (value, self->prompts.templates_file);
      break;
    case PROP_TEXT_CACHE:
      g_value_set_string (value, self->prompts.text_cache);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, self->top_k);
      break;
    case PROP_THRESHOLD:
      g_value_set_float (value, self->threshold);
      break;
    case PROP_INTERVAL:
      g_value_set_uint (value, self->interval);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, self->n_threads);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, self->precision);
      break;
    case PROP_FRAMES_IN:
      g_value_set_uint64 (value, self->n_in);
      break;
    case PROP_FRAMES_CLASSIFIED:
      g_value_set_uint64 (value, self->n_classified);
      break;
    case PROP_FRAMES_SKIPPED_INTERVAL:
      g_value_set_uint64 (value, self->n_skipped_interval);
      break;
    case PROP_FRAMES_DROPPED_BUSY:
      /* the worker's lock, not the object's: its count is the worker's */
      GST_OBJECT_UNLOCK (self);
      g_mutex_lock (&self->worker_lock);
      g_value_set_uint64 (value, self->n_dropped);
      g_mutex_unlock (&self->worker_lock);
      GST_OBJECT_LOCK (self);
      break;
    case PROP_FRAMES_FAILED:
      g_value_set_uint64 (value, self->n_failed);
      break;
    case PROP_NEGATIVES:
      g_value_set_string (value, self->prompts.negatives);
      break;
    case PROP_NEGATIVES_FILE:
      g_value_set_string (value, self->prompts.negatives_file);
      break;
    case PROP_WINDOW:
      g_value_set_uint64 (value, self->window);
      break;
    case PROP_COVERAGE:
      g_value_set_enum (value, self->coverage);
      break;
    case PROP_REPEAT_METADATA:
      g_value_set_boolean (value, self->repeat_metadata);
      break;
    case PROP_LATENCY_MEAN:
    case PROP_LATENCY_P50:
    case PROP_LATENCY_P99:{
      GstClockTime mean, p50, p99;

      gst_clip_latency_summary (&self->latency, &mean, &p50, &p99);
      g_value_set_uint64 (value, prop_id == PROP_LATENCY_MEAN ? mean :
          prop_id == PROP_LATENCY_P50 ? p50 : p99);
      break;
    }
    case PROP_SHARED_INFERENCE:
      g_value_set_boolean (value, self->shared_inference);
      break;
    case PROP_STATS_INTERVAL:
      g_value_set_uint64 (value, self->stats_interval);
      break;
    case PROP_INFERENCE_REGION:
      g_value_set_enum (value, self->inference_region);
      break;
    case PROP_ROI_TYPES:
      g_value_take_string (value, self->roi_types ?
          g_strjoinv (",", self->roi_types) : NULL);
      break;
    case PROP_RECLASSIFY_INTERVAL:
      g_value_set_uint (value, self->reclassify_interval);
      break;
    case PROP_REGIONS_CLASSIFIED:
      g_value_set_uint64 (value, self->n_regions_classified);
      break;
    case PROP_REGIONS_SKIPPED:
      g_value_set_uint64 (value, self->n_regions_skipped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_classify_finalize (GObject * object)
{
  GstClipClassify *self = GST_CLIP_CLASSIFY (object);

  g_free (self->model_dir);
  g_free (self->adapter_dir);
  gst_clip_prompt_config_clear (&self->prompts);
  g_strfreev (self->roi_types);
  g_mutex_clear (&self->worker_lock);
  g_mutex_clear (&self->scorer_lock);
  g_cond_clear (&self->worker_cond);
  g_cond_clear (&self->idle_cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_clip_classify_class_init (GstClipClassifyClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_clip_classify_debug, "clipclassify", 0,
      "CLIP zero-shot classification");

  gobject_class->set_property = gst_clip_classify_set_property;
  gobject_class->get_property = gst_clip_classify_get_property;
  gobject_class->finalize = gst_clip_classify_finalize;

  /**
   * GstClipClassify:model:
   *
   * A Hugging Face CLIP model directory (config.json, model.safetensors,
   * vocab.json, merges.txt). Loaded when the element starts; elements naming
   * the same directory share one copy in memory.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Hugging Face CLIP model directory (config.json, model.safetensors, "
          "vocab.json, merges.txt); loaded at start",
          DEFAULT_PROP_MODEL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:adapter:
   *
   * An adapter directory applied to the model at load, as AdapterHub's
   * adapters (save_adapter) or PEFT (save_pretrained) write it: LoRA, IA3
   * and DoRA merged into the weights, bottleneck adapters and prefix tuning
   * run in the layers they adapt (docs/adapters.md). Elements naming the
   * same model, adapter and precision share one copy.
   */
  g_object_class_install_property (gobject_class, PROP_ADAPTER,
      g_param_spec_string ("adapter", "Adapter",
          "Adapter directory (AdapterHub adapters or PEFT) applied to the "
          "model at load", DEFAULT_PROP_ADAPTER, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:labels:
   *
   * Comma-separated labels, e.g. "cat,dog,a red car". Changing them while
   * playing re-encodes them in the background; frames keep the old labels
   * until the new ones are ready.
   */
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Comma-separated labels to choose from (ignored when labels-file is "
          "set); may change while playing",
          DEFAULT_PROP_LABELS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:labels-file:
   *
   * A UTF-8 text file with one label per line. Blank lines and lines that
   * start with '#' are ignored. Takes precedence over #GstClipClassify:labels.
   */
  g_object_class_install_property (gobject_class, PROP_LABELS_FILE,
      g_param_spec_string ("labels-file", "Labels file",
          "File with one label per line; blank lines and lines starting with "
          "'#' are ignored. Wins over 'labels'",
          DEFAULT_PROP_LABELS_FILE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:template:
   *
   * The prompt each label is put into; "{}" marks where the label goes.
   */
  g_object_class_install_property (gobject_class, PROP_TEMPLATE,
      g_param_spec_string ("template", "Template",
          "Prompt template, '{}' is replaced by the label",
          DEFAULT_PROP_TEMPLATE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:templates-file:
   *
   * Several templates, one per line (blank and '#' lines ignored). Each
   * label's embedding is then the mean of its L2-normalized template
   * embeddings, renormalized: the prompt ensembling of the CLIP paper.
   * Takes precedence over #GstClipClassify:template.
   */
  g_object_class_install_property (gobject_class, PROP_TEMPLATES_FILE,
      g_param_spec_string ("templates-file", "Templates file",
          "File with one prompt template per line; a label's embedding is the "
          "normalized mean over all templates (prompt ensembling). Wins over "
          "'template'",
          DEFAULT_PROP_TEMPLATES_FILE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:text-cache:
   *
   * Directory of the on-disk text-embedding cache: prompts encoded once for
   * a model are read back at the next start instead of being encoded again.
   * Keyed by a fingerprint of the model's text tower and tokenizer, so
   * models never mix. Unset means $XDG_CACHE_HOME/gst-clip/text-embeddings;
   * an empty string turns the cache off.
   */
  g_object_class_install_property (gobject_class, PROP_TEXT_CACHE,
      g_param_spec_string ("text-cache", "Text-embedding cache",
          "Directory where prompt embeddings are kept across runs (unset: "
          "$XDG_CACHE_HOME/gst-clip/text-embeddings; empty: no cache)",
          DEFAULT_PROP_TEXT_CACHE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:top-k:
   *
   * How many of the most probable labels are reported; 0 reports all.
   */
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top K",
          "Number of most probable labels to report (0 = all)",
          0, G_MAXUINT, DEFAULT_PROP_TOP_K, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:threshold:
   *
   * Labels less probable than this are not reported, so a frame may carry
   * fewer than #GstClipClassify:top-k labels, or none.
   */
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_float ("threshold", "Threshold",
          "Minimum probability of a reported label",
          0.0f, 1.0f, DEFAULT_PROP_THRESHOLD, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:interval:
   *
   * Classify every Nth frame (1 = every frame), counted from the start and
   * from every flush; the other frames pass without metadata.
   */
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint ("interval", "Interval",
          "Classify every Nth frame", 1, G_MAXUINT, DEFAULT_PROP_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:batch-size:
   *
   * In async mode, how many queued frames the worker encodes in one engine
   * call; the queue never holds more, older frames are dropped first. Also
   * sizes the engine context's image scratch memory.
   */
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Frames per engine call in async mode (also the most frames queued "
          "for the worker)", 1, MAX_BATCH_SIZE, DEFAULT_PROP_BATCH_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:threads:
   *
   * CPU threads the engine may use per call; 0 uses all cores (or
   * OMP_NUM_THREADS when set).
   */
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "Engine threads (0 = all cores)", 0, 1024, DEFAULT_PROP_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:shared-inference:
   *
   * TRUE: the frames of every clipclassify on the same model (directory,
   * adapter and precision) are encoded by one scheduler: one thread pool,
   * frames of different streams batched together in arrival order, so eight
   * cameras never run eight competing thread pools. It runs with the most
   * threads and the largest batch-size (at least 8) its elements ask for.
   * FALSE: this element encodes with a thread pool of its own.
   */
  g_object_class_install_property (gobject_class, PROP_SHARED_INFERENCE,
      g_param_spec_boolean ("shared-inference", "Shared inference",
          "Encode frames with the one scheduler (thread pool, cross-stream "
          "batches) of every element on the same model; FALSE: a thread "
          "pool of this element's own", DEFAULT_PROP_SHARED_INFERENCE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:post-messages:
   *
   * Post a "clip-classification" element message per classified frame, with
   * the fields timestamp, stream-time, running-time (guint64, of the scored
   * frame), labels (array of strings) and probabilities (array of doubles).
   */
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a 'clip-classification' element message per classified frame",
          DEFAULT_PROP_POST_MESSAGES, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:mode:
   *
   * sync scores in the streaming thread (every result on its own frame; right
   * for files). async never makes frames wait (right for live sources): the
   * newest frames are scored in a worker and each result rides on the next
   * frame that passes, stamped with the PTS of the frame it describes.
   * Results still in flight at EOS have no frame left to ride on: they are
   * waited for and posted as messages only (with post-messages).
   */
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "sync: score in the streaming thread; async: score in a worker, "
          "never hold frames back", GST_TYPE_CLIP_CLASSIFY_MODE,
          DEFAULT_PROP_MODE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:precision:
   *
   * The arithmetic of the towers' matrix products. fp32 matches the
   * reference; bf16 and int8 convert the weights once at start-up and are
   * faster on CPUs with AVX512_BF16 / AVX512_VNNI (elsewhere they run in
   * plain C, slower), with embeddings within cosine 0.999 (bf16) and 0.99
   * (int8) of fp32. Elements naming the same model and precision share one
   * copy.
   */
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Matrix products in fp32 (as the reference), bf16 or int8 (faster, "
          "approximate)", GST_TYPE_CLIP_CLASSIFY_PRECISION,
          DEFAULT_PROP_PRECISION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipClassify:negatives:
   *
   * Comma-separated background prompts ("an empty street"): they take part
   * in the softmax like labels, so a frame that shows none of the labels
   * is not forced onto one, but they are never reported; the best one's
   * probability is in the meta's background_probability.
   */
  g_object_class_install_property (gobject_class, PROP_NEGATIVES,
      g_param_spec_string ("negatives", "Negatives",
          "Comma-separated background prompts: in the softmax, never "
          "reported (ignored when negatives-file is set); may change while "
          "playing", DEFAULT_PROP_NEGATIVES, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_NEGATIVES_FILE,
      g_param_spec_string ("negatives-file", "Negatives file",
          "File with one background prompt per line ('#' comments); wins "
          "over 'negatives'", DEFAULT_PROP_NEGATIVES_FILE, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:window:
   *
   * Temporal pooling, CLIP's recipe for video: the scores of a frame are
   * those of the mean of the unit-length embeddings of the frames scored in
   * the last @window nanoseconds of running time (renormalized), so they do
   * not depend on the frame rate or the interval, and one odd frame does not
   * flip the label. No second inference: the embeddings are the ones the
   * element computes anyway. 0 scores every frame alone. Flushes empty the
   * window; so does time that goes backwards.
   */
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint64 ("window", "Window",
          "Pool the scores over the frames of this many ns of running time "
          "(0 = each frame alone)", 0, G_MAXUINT64, DEFAULT_PROP_WINDOW,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:coverage:
   *
   * center (default) classifies what CLIP's preprocessing sees: the central
   * square of the frame, as the reference. full covers the whole frame with
   * square tiles (two for 16:9, up to four), each pooled over time on its
   * own; the frame's scores are those of its most confident tile, so a
   * subject near the edge of a wide frame is found too. The embedding meta
   * then holds the mean of the tiles. It costs one inference per tile.
   */
  g_object_class_install_property (gobject_class, PROP_COVERAGE,
      g_param_spec_enum ("coverage", "Coverage",
          "center: CLIP's centre crop; full: the whole frame as square "
          "tiles, pooled", GST_TYPE_CLIP_CLASSIFY_COVERAGE,
          DEFAULT_PROP_COVERAGE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:repeat-metadata:
   *
   * Frames that are not scored (interval, async mode) carry the last result
   * again, marked repeated (no embedding, no bus message), as DL Streamer's
   * repeat-metadata.
   */
  g_object_class_install_property (gobject_class, PROP_REPEAT_METADATA,
      g_param_spec_boolean ("repeat-metadata", "Repeat metadata",
          "Attach the last result, marked repeated, to frames not scored",
          DEFAULT_PROP_REPEAT_METADATA, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:inference-region:
   *
   * full-frame classifies the frame. roi-list classifies the regions that
   * upstream (any detector) attached as GstVideoRegionOfInterestMeta
   * instead, both does both. Each region is cropped from the frame (boxes
   * are clipped to it; empty ones are skipped and counted), classified, and
   * gets a "clip-classification" parameter (label, label-id, confidence,
   * labels as "label:confidence" strings, repeated); clipjson writes them as
   * objects[]. Regions are classified in the streaming thread in both modes.
   */
  g_object_class_install_property (gobject_class, PROP_INFERENCE_REGION,
      g_param_spec_enum ("inference-region", "Inference region",
          "full-frame, roi-list (the upstream regions of interest) or both",
          GST_TYPE_CLIP_CLASSIFY_REGION, DEFAULT_PROP_INFERENCE_REGION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ROI_TYPES,
      g_param_spec_string ("roi-types", "ROI types",
          "Comma-separated region types to classify (unset: all)",
          DEFAULT_PROP_ROI_TYPES, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstClipClassify:reclassify-interval:
   *
   * A region is classified again only every this many frames; in between
   * it gets its last result (marked repeated). Regions are followed by
   * their id, so this needs a tracker upstream; 1 classifies every region
   * on every frame.
   */
  g_object_class_install_property (gobject_class, PROP_RECLASSIFY_INTERVAL,
      g_param_spec_uint ("reclassify-interval", "Reclassify interval",
          "Classify a region (by its tracker id) every Nth frame; its last "
          "result in between", 1, G_MAXUINT, DEFAULT_PROP_RECLASSIFY_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_REGIONS_CLASSIFIED,
      g_param_spec_uint64 ("regions-classified", "Regions classified",
          "Regions of interest scored by the model since start", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_REGIONS_SKIPPED,
      g_param_spec_uint64 ("regions-skipped", "Regions skipped",
          "Regions of interest not classified: empty, outside the frame, or "
          "not taken by the model", 0, G_MAXUINT64, 0, G_PARAM_READABLE |
          G_PARAM_STATIC_STRINGS));

  /**
   * GstClipClassify:latency-mean:
   *
   * Mean time (ns) from a frame's arrival to its result, over the last 1,024
   * classified frames: inference alone in sync mode, queueing included in
   * async mode. GST_CLOCK_TIME_NONE before the first result.
   */
  g_object_class_install_property (gobject_class, PROP_LATENCY_MEAN,
      g_param_spec_uint64 ("latency-mean", "Mean latency",
          "Mean ns from a frame's arrival to its result (last 1024 results)",
          0, G_MAXUINT64, GST_CLOCK_TIME_NONE, G_PARAM_READABLE |
          G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_LATENCY_P50,
      g_param_spec_uint64 ("latency-p50", "Median latency",
          "Median of the ns from a frame's arrival to its result "
          "(last 1024 results)", 0, G_MAXUINT64, GST_CLOCK_TIME_NONE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_LATENCY_P99,
      g_param_spec_uint64 ("latency-p99", "99th percentile latency",
          "99th percentile of the ns from a frame's arrival to its result "
          "(last 1024 results)", 0, G_MAXUINT64, GST_CLOCK_TIME_NONE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstClipClassify:stats-interval:
   *
   * Every this many nanoseconds of wall-clock time, post a "clip-stats"
   * element message with the frame counters, the latency (latency-mean,
   * latency-p50, latency-p99) and the rates since the previous one (fps-in,
   * fps-classified, fps-dropped-busy), as gvafpscounter does; 0: only at
   * EOS. The same message, without the rates, is posted at EOS.
   */
  g_object_class_install_property (gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint64 ("stats-interval", "Stats interval",
          "Post a clip-stats message every this many ns (0 = only at EOS)",
          0, G_MAXUINT64, DEFAULT_PROP_STATS_INTERVAL, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstClipClassify:frames-in:
   *
   * Frames that reached the element since it started. Every one of them is
   * counted in exactly one of frames-classified, frames-skipped-interval,
   * frames-dropped-busy and frames-failed (in async mode, but for the
   * frames still with the worker, and those discarded by a flushing seek).
   */
  g_object_class_install_property (gobject_class, PROP_FRAMES_IN,
      g_param_spec_uint64 ("frames-in", "Frames in",
          "Frames that reached the element since it started", 0, G_MAXUINT64,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_CLASSIFIED,
      g_param_spec_uint64 ("frames-classified", "Frames classified",
          "Frames scored by the model since the element started", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class,
      PROP_FRAMES_SKIPPED_INTERVAL,
      g_param_spec_uint64 ("frames-skipped-interval",
          "Frames skipped by interval",
          "Frames passed on unscored because of 'interval'", 0, G_MAXUINT64,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstClipClassify:frames-dropped-busy:
   *
   * In async mode, frames that were due but replaced in the worker's queue
   * by newer ones before the worker got to them.
   */
  g_object_class_install_property (gobject_class, PROP_FRAMES_DROPPED_BUSY,
      g_param_spec_uint64 ("frames-dropped-busy", "Frames dropped (busy)",
          "Async mode: due frames not scored because the worker was busy", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstClipClassify:frames-failed:
   *
   * Frames the model could not take (e.g. an 8192x1 frame whose resized
   * size is out of range): passed on without metadata, with a warning for
   * the first one after each caps change.
   */
  g_object_class_install_property (gobject_class, PROP_FRAMES_FAILED,
      g_param_spec_uint64 ("frames-failed", "Frames failed",
          "Frames passed on unscored because the model cannot take them", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_classify_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_classify_src_template);

  gst_element_class_set_static_metadata (element_class,
      "CLIP zero-shot classifier", "Filter/Analyzer/Video",
      "Tags video frames with the most probable of a set of free-text labels "
      "using OpenAI's CLIP", "gst-clip developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_classify_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_classify_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_classify_sink_event);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_clip_classify_src_event);
  GST_VIDEO_FILTER_CLASS (klass)->set_info =
      GST_DEBUG_FUNCPTR (gst_clip_classify_set_info);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_classify_transform_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_CLASSIFY_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_CLASSIFY_PRECISION, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_CLASSIFY_COVERAGE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_CLIP_CLASSIFY_REGION, 0);
}

static void
gst_clip_classify_init (GstClipClassify * self)
{
  self->prompts.template = g_strdup (DEFAULT_PROP_TEMPLATE);
  self->prompts.text_cache = gst_clip_classify_default_text_cache ();
  self->top_k = DEFAULT_PROP_TOP_K;
  self->threshold = DEFAULT_PROP_THRESHOLD;
  self->interval = DEFAULT_PROP_INTERVAL;
  self->batch_size = DEFAULT_PROP_BATCH_SIZE;
  self->n_threads = DEFAULT_PROP_THREADS;
  self->shared_inference = DEFAULT_PROP_SHARED_INFERENCE;
  self->post_messages = DEFAULT_PROP_POST_MESSAGES;
  self->mode = DEFAULT_PROP_MODE;
  self->precision = DEFAULT_PROP_PRECISION;
  self->window = DEFAULT_PROP_WINDOW;
  self->coverage = DEFAULT_PROP_COVERAGE;
  self->repeat_metadata = DEFAULT_PROP_REPEAT_METADATA;
  self->inference_region = DEFAULT_PROP_INFERENCE_REGION;
  self->reclassify_interval = DEFAULT_PROP_RECLASSIFY_INTERVAL;
  g_mutex_init (&self->scorer_lock);
  g_mutex_init (&self->worker_lock);
  g_cond_init (&self->worker_cond);
  g_cond_init (&self->idle_cond);
  g_queue_init (&self->jobs);
  g_queue_init (&self->results);
  /* no dropping of late frames here: see gst_clip_classify_src_event() */
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}
