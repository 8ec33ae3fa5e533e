/* GStreamer CLIP classification metadata
 *
 * gstclipmeta.h: the public API applications use to read what clipclassify
 * attached to a buffer. Installed as <gst/clip/gstclipmeta.h>, link with
 * pkg-config gstreamer-clipmeta-1.0.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifndef __GST_CLIP_META_H__
#define __GST_CLIP_META_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#ifndef GST_CLIP_META_API
# if defined(BUILDING_GST_CLIP_META) && defined(__GNUC__)
#  define GST_CLIP_META_API __attribute__ ((visibility ("default"))) extern
# else
#  define GST_CLIP_META_API extern
# endif
#endif

/**
 * GstClipClassification:
 * @index: position of the label in the element's label set (its "label id")
 * @label: the label text (not the prompt it was expanded into)
 * @probability: softmax over all labels of the set, in [0, 1]
 * @logit: logit_scale * @cosine, the value the softmax ran over
 * @cosine: cosine similarity of the image and label embeddings, in [-1, 1]
 *
 * One reported label.
 */
typedef struct {
  guint index;
  gchar *label;
  gfloat probability;
  gfloat logit;
  gfloat cosine;
} GstClipClassification;

/**
 * GstClipClassificationMeta:
 * @meta: parent #GstMeta
 * @scored_pts: presentation timestamp of the frame the scores were computed
 *     on. Equals the buffer's PTS when the element scores synchronously; in
 *     asynchronous mode the meta rides on a later frame and this says which
 *     frame it describes.
 * @n_labels_total: size of the label set the softmax ran over
 * @n_classifications: number of entries in @classifications
 * @classifications: the reported labels, most probable first
 * @scored_frame_number: number of the scored frame among the frames that
 *     reached the classifier since it started (from 0), or
 *     %GST_CLIP_FRAME_NUMBER_NONE
 * @scored_width: width of the scored frame in pixels (0: unknown)
 * @scored_height: height of the scored frame in pixels (0: unknown)
 * @scored_stream_time: stream time of the scored frame, or
 *     %GST_CLOCK_TIME_NONE
 * @scored_running_time: running time of the scored frame (keeps growing
 *     where PTS and stream time restart, e.g. after concat), or
 *     %GST_CLOCK_TIME_NONE
 * @repeated: %TRUE when this is the last result repeated onto a frame that
 *     was not scored (clipclassify's repeat-metadata)
 * @window: the span of running time the scores pool over (0: the scored
 *     frame alone); pooled scores describe the frames in
 *     (scored_running_time - window, scored_running_time]
 * @n_pooled: how many scored frames the scores pool (1: the frame alone)
 * @background_probability: the highest probability of a negative
 *     (background) prompt, which takes part in the softmax but is never
 *     reported; 0 when there are none
 *
 * Zero-shot classification of a whole video frame by CLIP. Every scored_*
 * field describes the frame the scores were computed on, which in
 * asynchronous mode is an earlier frame than the one carrying the meta.
 */
typedef struct {
  GstMeta meta;

  GstClockTime scored_pts;
  guint n_labels_total;
  guint n_classifications;
  GstClipClassification *classifications;

  guint64 scored_frame_number;
  gint scored_width, scored_height;
  GstClockTime scored_stream_time;
  GstClockTime scored_running_time;

  gboolean repeated;
  GstClockTime window;
  guint n_pooled;
  gfloat background_probability;
} GstClipClassificationMeta;

/**
 * GST_CLIP_FRAME_NUMBER_NONE:
 *
 * The value of #GstClipClassificationMeta.scored_frame_number when the frame
 * number is not known.
 */
#define GST_CLIP_FRAME_NUMBER_NONE G_MAXUINT64

/**
 * GST_CLIP_LATE_RESULT_EVENT:
 *
 * Name of the custom downstream event that carries a result which has no
 * frame left to ride on: in asynchronous mode, the frames scored last before
 * EOS. Its structure holds one field "buffer" (a #GstBuffer without data)
 * whose #GstClipClassificationMeta is the result; it is sent before EOS.
 * Read it with gst_clip_late_result_event_get_meta().
 */
#define GST_CLIP_LATE_RESULT_EVENT "clip-late-result"


#define GST_CLIP_CLASSIFICATION_META_API_TYPE \
  (gst_clip_classification_meta_api_get_type ())
#define GST_CLIP_CLASSIFICATION_META_INFO \
  (gst_clip_classification_meta_get_info ())

GST_CLIP_META_API
GType gst_clip_classification_meta_api_get_type (void);

GST_CLIP_META_API
const GstMetaInfo *gst_clip_classification_meta_get_info (void);

GST_CLIP_META_API
GstClipClassificationMeta *gst_buffer_add_clip_classification_meta (GstBuffer * buffer,
    GstClockTime scored_pts, guint n_labels_total);

GST_CLIP_META_API
GstClipClassificationMeta *gst_buffer_get_clip_classification_meta (GstBuffer * buffer);

GST_CLIP_META_API
void gst_clip_classification_meta_add (GstClipClassificationMeta * meta,
    guint index, const gchar * label, gfloat probability, gfloat logit,
    gfloat cosine);

GST_CLIP_META_API
const GstClipClassification *gst_clip_classification_meta_get (const GstClipClassificationMeta * meta,
    guint i);

/**
 * GstClipEmbeddingMeta:
 * @meta: parent #GstMeta
 * @scored_pts: PTS of the frame the embedding was computed on
 * @scored_frame_number: that frame's number (as in #GstClipClassificationMeta)
 * @scored_stream_time: that frame's stream time, or %GST_CLOCK_TIME_NONE
 * @scored_running_time: that frame's running time, or %GST_CLOCK_TIME_NONE
 * @dim: number of floats in @embedding (the model's projection_dim)
 * @embedding: the frame's CLIP image embedding, projected and L2-normalized
 *     (unit length, so a dot product with a normalized text embedding is the
 *     cosine similarity)
 * @model_id: identifies the model that computed it: embeddings of different
 *     models cannot be compared
 *
 * The image embedding of a scored frame, for elements and applications that
 * pool, index or search frames without running the model again. clipclassify
 * attaches it next to its #GstClipClassificationMeta.
 */
typedef struct {
  GstMeta meta;

  GstClockTime scored_pts;
  guint64 scored_frame_number;
  GstClockTime scored_stream_time;
  GstClockTime scored_running_time;
  guint dim;
  gfloat *embedding;
  gchar *model_id;
} GstClipEmbeddingMeta;

#define GST_CLIP_EMBEDDING_META_API_TYPE \
  (gst_clip_embedding_meta_api_get_type ())
#define GST_CLIP_EMBEDDING_META_INFO \
  (gst_clip_embedding_meta_get_info ())

GST_CLIP_META_API
GType gst_clip_embedding_meta_api_get_type (void);

GST_CLIP_META_API
const GstMetaInfo *gst_clip_embedding_meta_get_info (void);

GST_CLIP_META_API
GstClipEmbeddingMeta *gst_buffer_add_clip_embedding_meta (GstBuffer * buffer,
    const gfloat * embedding, guint dim, const gchar * model_id);

GST_CLIP_META_API
GstClipEmbeddingMeta *gst_buffer_get_clip_embedding_meta (GstBuffer * buffer);

/**
 * GstClipSegmentMeta:
 * @meta: parent #GstMeta
 * @finished: %FALSE when the segment has just been confirmed (it lasted the
 *     minimum duration and goes on: the end fields are %GST_CLOCK_TIME_NONE),
 *     %TRUE when it is over
 * @label_id: the label's position in clipclassify's label set
 * @label: the label text
 * @start_pts: (and the other start/end fields) the segment's boundaries as
 *     PTS, stream time and running time, in nanoseconds
 * @confidence: mean probability of the label over the segment's frames
 * @peak: highest probability in the segment
 * @peak_pts: PTS of the frame with that probability
 * @n_frames: scored frames in the segment
 *
 * A time segment of one label, from clipsegment: when a segment starts
 * (confirmed) and when it ends, a #GstClipSegmentMeta rides on the frame
 * being processed; a buffer may carry several. Segments still open at EOS
 * or at a flush end there and travel in a %GST_CLIP_LATE_RESULT_EVENT.
 * Iterate with gst_buffer_iterate_meta_filtered() and
 * %GST_CLIP_SEGMENT_META_API_TYPE.
 */
typedef struct {
  GstMeta meta;

  gboolean finished;
  guint label_id;
  gchar *label;
  GstClockTime start_pts, end_pts;
  GstClockTime start_stream_time, end_stream_time;
  GstClockTime start_running_time, end_running_time;
  gfloat confidence;
  gfloat peak;
  GstClockTime peak_pts;
  guint n_frames;
} GstClipSegmentMeta;

#define GST_CLIP_SEGMENT_META_API_TYPE \
  (gst_clip_segment_meta_api_get_type ())
#define GST_CLIP_SEGMENT_META_INFO \
  (gst_clip_segment_meta_get_info ())

GST_CLIP_META_API
GType gst_clip_segment_meta_api_get_type (void);

GST_CLIP_META_API
const GstMetaInfo *gst_clip_segment_meta_get_info (void);

GST_CLIP_META_API
GstClipSegmentMeta *gst_buffer_add_clip_segment_meta (GstBuffer * buffer,
    guint label_id, const gchar * label);

GST_CLIP_META_API
GstEvent *gst_clip_late_result_event_new (GstBuffer * carrier);

GST_CLIP_META_API
GstClipClassificationMeta *gst_clip_late_result_event_get_meta (GstEvent * event);

G_END_DECLS

#endif /* __GST_CLIP_META_H__ */
