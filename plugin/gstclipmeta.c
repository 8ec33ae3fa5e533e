/* GStreamer CLIP classification metadata
 *
 * gstclipmeta.c: registration, init/free/transform of
 * GstClipClassificationMeta, shaped like gst-libs/gst/analytics/gsttensormeta.c.
 * It stores what the element computed; it computes nothing itself.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipmeta.h"

/**
 * SECTION:gstclipmeta
 * @title: GstClipClassificationMeta
 * @short_description: CLIP zero-shot labels of a video frame
 *
 * clipclassify attaches one #GstClipClassificationMeta to every frame it
 * reports on. Read it with gst_buffer_get_clip_classification_meta():
 *
 * |[<!-- language="C" -->
 * GstClipClassificationMeta *meta = gst_buffer_get_clip_classification_meta (buf);
 * for (guint i = 0; meta && i < meta->n_classifications; i++)
 *   g_print ("%s %.3f\n", meta->classifications[i].label,
 *       meta->classifications[i].probability);
 * ]|
 */

static gboolean
gst_clip_classification_meta_init (GstMeta * meta, gpointer params,
    GstBuffer * buffer)
{
  GstClipClassificationMeta *cmeta = (GstClipClassificationMeta *) meta;

  cmeta->scored_pts = GST_CLOCK_TIME_NONE;
  cmeta->n_labels_total = 0;
  cmeta->n_classifications = 0;
  cmeta->classifications = NULL;
  cmeta->scored_frame_number = GST_CLIP_FRAME_NUMBER_NONE;
  cmeta->scored_width = cmeta->scored_height = 0;
  cmeta->scored_stream_time = GST_CLOCK_TIME_NONE;
  cmeta->scored_running_time = GST_CLOCK_TIME_NONE;
  cmeta->repeated = FALSE;
  cmeta->window = 0;
  cmeta->n_pooled = 1;
  cmeta->background_probability = 0.0f;

  return TRUE;
}

static void
gst_clip_classification_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstClipClassificationMeta *cmeta = (GstClipClassificationMeta *) meta;
  guint i;

  for (i = 0; i < cmeta->n_classifications; i++)
    g_free (cmeta->classifications[i].label);
  g_free (cmeta->classifications);
  cmeta->classifications = NULL;
  cmeta->n_classifications = 0;
}

/* A label describes the whole picture, so it stays true whatever is done to
 * the frame's geometry or format: every transform is a copy. */
static gboolean
gst_clip_classification_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstClipClassificationMeta *smeta = (GstClipClassificationMeta *) meta;
  GstClipClassificationMeta *dmeta;
  guint i;

  dmeta = gst_buffer_add_clip_classification_meta (dest, smeta->scored_pts,
      smeta->n_labels_total);
  if (!dmeta)
    return FALSE;
  dmeta->scored_frame_number = smeta->scored_frame_number;
  dmeta->scored_width = smeta->scored_width;
  dmeta->scored_height = smeta->scored_height;
  dmeta->scored_stream_time = smeta->scored_stream_time;
  dmeta->scored_running_time = smeta->scored_running_time;
  dmeta->repeated = smeta->repeated;
  dmeta->window = smeta->window;
  dmeta->n_pooled = smeta->n_pooled;
  dmeta->background_probability = smeta->background_probability;

  for (i = 0; i < smeta->n_classifications; i++) {
    const GstClipClassification *c = &smeta->classifications[i];

    gst_clip_classification_meta_add (dmeta, c->index, c->label,
        c->probability, c->logit, c->cosine);
  }

  return TRUE;
}

/**
 * gst_clip_classification_meta_api_get_type:
 *
 * Returns: the #GType of the API that #GstClipClassificationMeta implements
 */
GType
gst_clip_classification_meta_api_get_type (void)
{
  static GType type = 0;
  /* GST_META_TAG_VIDEO_STR, spelled out so this library needs no gstvideo.
   * "video" only: videoconvert and videoscale keep metas tagged so, and a
   * whole-frame label survives both. */
  static const gchar *tags[] = { "video", NULL };

  if (g_once_init_enter (&type)) {
    GType _type =
        gst_meta_api_type_register ("GstClipClassificationMetaAPI", tags);
    g_once_init_leave (&type, _type);
  }
  return type;
}

/**
 * gst_clip_classification_meta_get_info:
 *
 * Returns: the registered #GstMetaInfo of #GstClipClassificationMeta
 */
const GstMetaInfo *
gst_clip_classification_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *meta =
        gst_meta_register (GST_CLIP_CLASSIFICATION_META_API_TYPE,
        "GstClipClassificationMeta", sizeof (GstClipClassificationMeta),
        gst_clip_classification_meta_init,
        gst_clip_classification_meta_free,
        gst_clip_classification_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) meta);
  }
  return info;
}

/**
 * gst_buffer_add_clip_classification_meta:
 * @buffer: a writable #GstBuffer
 * @scored_pts: PTS of the frame the scores were computed on
 * @n_labels_total: size of the label set the probabilities are over
 *
 * Adds an empty classification meta; fill it with
 * gst_clip_classification_meta_add().
 *
 * Returns: (transfer none) (nullable): the new meta, owned by @buffer
 */
GstClipClassificationMeta *
gst_buffer_add_clip_classification_meta (GstBuffer * buffer,
    GstClockTime scored_pts, guint n_labels_total)
{
  GstClipClassificationMeta *meta;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);

  meta = (GstClipClassificationMeta *) gst_buffer_add_meta (buffer,
      GST_CLIP_CLASSIFICATION_META_INFO, NULL);
  if (meta) {
    meta->scored_pts = scored_pts;
    meta->n_labels_total = n_labels_total;
  }
  return meta;
}

/**
 * gst_buffer_get_clip_classification_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the first classification meta of
 *     @buffer, or %NULL when it has none
 */
GstClipClassificationMeta *
gst_buffer_get_clip_classification_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstClipClassificationMeta *) gst_buffer_get_meta (buffer,
      GST_CLIP_CLASSIFICATION_META_API_TYPE);
}

/**
 * gst_clip_classification_meta_add:
 * @meta: a #GstClipClassificationMeta
 * @index: the label's position in the label set
 * @label: the label text (copied)
 * @probability: softmax probability over the whole label set
 * @logit: the logit the softmax ran over
 * @cosine: cosine similarity of image and label embeddings
 *
 * Appends one label. Callers add them most probable first.
 */
void
gst_clip_classification_meta_add (GstClipClassificationMeta * meta,
    guint index, const gchar * label, gfloat probability, gfloat logit,
    gfloat cosine)
{
  GstClipClassification *c;

  g_return_if_fail (meta != NULL);
  g_return_if_fail (label != NULL);

  meta->classifications = g_renew (GstClipClassification,
      meta->classifications, meta->n_classifications + 1);
  c = &meta->classifications[meta->n_classifications++];
  c->index = index;
  c->label = g_strdup (label);
  c->probability = probability;
  c->logit = logit;
  c->cosine = cosine;
}

/**
 * gst_clip_classification_meta_get:
 * @meta: a #GstClipClassificationMeta
 * @i: entry number, below @meta->n_classifications
 *
 * Returns: (transfer none) (nullable): the @i-th reported label, or %NULL
 *     when @i is out of range
 */
const GstClipClassification *
gst_clip_classification_meta_get (const GstClipClassificationMeta * meta,
    guint i)
{
  g_return_val_if_fail (meta != NULL, NULL);

  if (i >= meta->n_classifications)
    return NULL;
  return &meta->classifications[i];
}

/**
 * gst_clip_late_result_event_new:
 * @carrier: (transfer full): a buffer, usually without data, carrying a
 *     #GstClipClassificationMeta
 *
 * Makes the serialized downstream event that carries a result no frame is
 * left to ride on (see %GST_CLIP_LATE_RESULT_EVENT).
 *
 * Returns: (transfer full): the event
 */
GstEvent *
gst_clip_late_result_event_new (GstBuffer * carrier)
{
  GstStructure *s;

  g_return_val_if_fail (GST_IS_BUFFER (carrier), NULL);

  s = gst_structure_new (GST_CLIP_LATE_RESULT_EVENT, "buffer",
      GST_TYPE_BUFFER, carrier, NULL);
  gst_buffer_unref (carrier);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

/**
 * gst_clip_late_result_event_get_meta:
 * @event: any #GstEvent
 *
 * Returns: (transfer none) (nullable): the result a
 *     %GST_CLIP_LATE_RESULT_EVENT carries, valid as long as @event; %NULL
 *     for any other event
 */
GstClipClassificationMeta *
gst_clip_late_result_event_get_meta (GstEvent * event)
{
  const GstStructure *s;
  const GValue *v;

  g_return_val_if_fail (GST_IS_EVENT (event), NULL);

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return NULL;
  s = gst_event_get_structure (event);
  if (!s || !gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT))
    return NULL;
  v = gst_structure_get_value (s, "buffer");
  if (!v || !GST_VALUE_HOLDS_BUFFER (v))
    return NULL;
  return gst_buffer_get_clip_classification_meta (gst_value_get_buffer (v));
}

/* ------------------------------------------------------ embedding meta -- */

static gboolean
gst_clip_embedding_meta_init (GstMeta * meta, gpointer params,
    GstBuffer * buffer)
{
  GstClipEmbeddingMeta *emeta = (GstClipEmbeddingMeta *) meta;

  emeta->scored_pts = GST_CLOCK_TIME_NONE;
  emeta->scored_frame_number = GST_CLIP_FRAME_NUMBER_NONE;
  emeta->scored_stream_time = GST_CLOCK_TIME_NONE;
  emeta->scored_running_time = GST_CLOCK_TIME_NONE;
  emeta->dim = 0;
  emeta->embedding = NULL;
  emeta->model_id = NULL;
  return TRUE;
}

static void
gst_clip_embedding_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstClipEmbeddingMeta *emeta = (GstClipEmbeddingMeta *) meta;

  g_clear_pointer (&emeta->embedding, g_free);
  g_clear_pointer (&emeta->model_id, g_free);
}

/* Like the labels, an embedding describes the whole picture: it survives
 * every transform as a copy. */
static gboolean
gst_clip_embedding_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstClipEmbeddingMeta *smeta = (GstClipEmbeddingMeta *) meta;
  GstClipEmbeddingMeta *dmeta;

  dmeta = gst_buffer_add_clip_embedding_meta (dest, smeta->embedding,
      smeta->dim, smeta->model_id);
  if (!dmeta)
    return FALSE;
  dmeta->scored_pts = smeta->scored_pts;
  dmeta->scored_frame_number = smeta->scored_frame_number;
  dmeta->scored_stream_time = smeta->scored_stream_time;
  dmeta->scored_running_time = smeta->scored_running_time;
  return TRUE;
}

/**
 * gst_clip_embedding_meta_api_get_type:
 *
 * Returns: the #GType of the API that #GstClipEmbeddingMeta implements
 */
GType
gst_clip_embedding_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { "video", NULL };

  if (g_once_init_enter (&type)) {
    GType _type = gst_meta_api_type_register ("GstClipEmbeddingMetaAPI", tags);
    g_once_init_leave (&type, _type);
  }
  return type;
}

/**
 * gst_clip_embedding_meta_get_info:
 *
 * Returns: the registered #GstMetaInfo of #GstClipEmbeddingMeta
 */
const GstMetaInfo *
gst_clip_embedding_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *meta =
        gst_meta_register (GST_CLIP_EMBEDDING_META_API_TYPE,
        "GstClipEmbeddingMeta", sizeof (GstClipEmbeddingMeta),
        gst_clip_embedding_meta_init, gst_clip_embedding_meta_free,
        gst_clip_embedding_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) meta);
  }
  return info;
}

/**
 * gst_buffer_add_clip_embedding_meta:
 * @buffer: a writable #GstBuffer
 * @embedding: (array length=dim): the embedding, copied
 * @dim: its length
 * @model_id: (nullable): what identifies the model that computed it
 *
 * Adds an embedding meta; the caller sets the scored_* fields.
 *
 * Returns: (transfer none) (nullable): the new meta, owned by @buffer
 */
GstClipEmbeddingMeta *
gst_buffer_add_clip_embedding_meta (GstBuffer * buffer,
    const gfloat * embedding, guint dim, const gchar * model_id)
{
  GstClipEmbeddingMeta *meta;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (embedding != NULL || dim == 0, NULL);

  meta = (GstClipEmbeddingMeta *) gst_buffer_add_meta (buffer,
      GST_CLIP_EMBEDDING_META_INFO, NULL);
  if (meta) {
    meta->dim = dim;
    meta->embedding = g_memdup2 (embedding, dim * sizeof (gfloat));
    meta->model_id = g_strdup (model_id);
  }
  return meta;
}

/**
 * gst_buffer_get_clip_embedding_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the first embedding meta of @buffer
 */
GstClipEmbeddingMeta *
gst_buffer_get_clip_embedding_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  return (GstClipEmbeddingMeta *) gst_buffer_get_meta (buffer,
      GST_CLIP_EMBEDDING_META_API_TYPE);
}

/* -------------------------------------------------------- segment meta -- */

static gboolean
gst_clip_segment_meta_init (GstMeta * meta, gpointer params,
    GstBuffer * buffer)
{
  GstClipSegmentMeta *smeta = (GstClipSegmentMeta *) meta;

  smeta->finished = FALSE;
  smeta->label_id = 0;
  smeta->label = NULL;
  smeta->start_pts = smeta->end_pts = GST_CLOCK_TIME_NONE;
  smeta->start_stream_time = smeta->end_stream_time = GST_CLOCK_TIME_NONE;
  smeta->start_running_time = smeta->end_running_time = GST_CLOCK_TIME_NONE;
  smeta->confidence = smeta->peak = 0.0f;
  smeta->peak_pts = GST_CLOCK_TIME_NONE;
  smeta->n_frames = 0;
  return TRUE;
}

static void
gst_clip_segment_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  g_clear_pointer (&((GstClipSegmentMeta *) meta)->label, g_free);
}

static gboolean
gst_clip_segment_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstClipSegmentMeta *s = (GstClipSegmentMeta *) meta, *d;

  d = gst_buffer_add_clip_segment_meta (dest, s->label_id, s->label);
  if (!d)
    return FALSE;
  d->finished = s->finished;
  d->start_pts = s->start_pts;
  d->end_pts = s->end_pts;
  d->start_stream_time = s->start_stream_time;
  d->end_stream_time = s->end_stream_time;
  d->start_running_time = s->start_running_time;
  d->end_running_time = s->end_running_time;
  d->confidence = s->confidence;
  d->peak = s->peak;
  d->peak_pts = s->peak_pts;
  d->n_frames = s->n_frames;
  return TRUE;
}

/**
 * gst_clip_segment_meta_api_get_type:
 *
 * Returns: the #GType of the API that #GstClipSegmentMeta implements
 */
GType
gst_clip_segment_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };

  if (g_once_init_enter (&type)) {
    GType _type = gst_meta_api_type_register ("GstClipSegmentMetaAPI", tags);
    g_once_init_leave (&type, _type);
  }
  return type;
}

/**
 * gst_clip_segment_meta_get_info:
 *
 * Returns: the registered #GstMetaInfo of #GstClipSegmentMeta
 */
const GstMetaInfo *
gst_clip_segment_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *meta =
        gst_meta_register (GST_CLIP_SEGMENT_META_API_TYPE,
        "GstClipSegmentMeta", sizeof (GstClipSegmentMeta),
        gst_clip_segment_meta_init, gst_clip_segment_meta_free,
        gst_clip_segment_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) meta);
  }
  return info;
}

/**
 * gst_buffer_add_clip_segment_meta:
 * @buffer: a writable #GstBuffer
 * @label_id: the label's position in the label set
 * @label: the label text (copied)
 *
 * Adds a segment meta; the caller fills in the times and statistics.
 *
 * Returns: (transfer none) (nullable): the new meta, owned by @buffer
 */
GstClipSegmentMeta *
gst_buffer_add_clip_segment_meta (GstBuffer * buffer, guint label_id,
    const gchar * label)
{
  GstClipSegmentMeta *meta;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);

  meta = (GstClipSegmentMeta *) gst_buffer_add_meta (buffer,
      GST_CLIP_SEGMENT_META_INFO, NULL);
  if (meta) {
    meta->label_id = label_id;
    meta->label = g_strdup (label);
  }
  return meta;
}
