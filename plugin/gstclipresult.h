/* gstclipresult.h: the result of scoring one frame (its labels, times and
 * embedding), how it is computed from the frame's embeddings (temporal
 * pooling, negatives, tiles), and how it is published (metas on a buffer,
 * a bus message structure). */

#ifndef __GST_CLIP_RESULT_H__
#define __GST_CLIP_RESULT_H__

#include <gst/gst.h>

#include "clip.h"
#include "gstcliplabels.h"

G_BEGIN_DECLS

/* One reported label. */
typedef struct
{
  guint index;
  gfloat probability, logit, cosine;
} GstClipScore;

/* The reported labels of one scored frame, with the times of that frame. */
typedef struct
{
  GstClockTime pts, stream_time, running_time;
  guint64 frame_number;         /* among the frames the element saw */
  gint width, height;
  GstClipLabelSet *set;         /* the labels the indices refer to (ref) */
  gfloat *embed;                /* the frame's embedding, unit length (dim) */
  guint dim;
  GstClockTime window;          /* pooled over; 0: the frame alone */
  guint n_pooled;
  gfloat background_probability;        /* the best negative's */
  guint n_scores;
  GstClipScore *scores;         /* most probable first */
} GstClipResult;

void gst_clip_result_free (GstClipResult * result);

/* What scoring needs besides the embeddings. */
typedef struct
{
  guint top_k;                  /* 0: every label */
  gfloat threshold;
  GstClockTime window;          /* 0: no pooling */
  GstClockTime running_time;    /* of the frame */
} GstClipScoreParams;

/* Scratch memory and the temporal pools (one per tile position) of one
 * stream. Used by one thread at a time. */
typedef struct _GstClipScorer GstClipScorer;

GstClipScorer *gst_clip_scorer_new (guint dim);
void gst_clip_scorer_free (GstClipScorer * scorer);

/* Forgets the pooled frames (a flush). */
void gst_clip_scorer_reset (GstClipScorer * scorer);

/* Scores a frame seen as @n_tiles views (1: CLIP's centre crop; more: the
 * centre first, then square tiles from edge to edge), given their image
 * embeddings (n_tiles x dim, as the engine returns them). Each view is
 * pooled over @sp->window with the same view of earlier frames. The centre
 * scores the frame when its best label (negatives aside) has probability
 * 0.5 or more; otherwise the most confident view does, so a subject at the
 * edge of the frame is found. Negatives of @set take part in the softmax and are
 * never reported. The result's embedding is the frame's own: the
 * renormalized mean of its tiles. NULL with @err set on an engine error. */
GstClipResult *gst_clip_scorer_score (GstClipScorer * scorer,
    const ClipModel * model, GstClipLabelSet * set, const gfloat * tiles,
    guint n_tiles, const GstClipScoreParams * sp, ClipError * err);

/* Attaches @result to @buf (writable) as a GstClipClassificationMeta (and
 * GstAnalyticsClsMtd on GStreamer >= 1.24) and, unless @repeated, a
 * GstClipEmbeddingMeta naming @model_id. */
void gst_clip_result_attach (const GstClipResult * result, GstBuffer * buf,
    const gchar * model_id, gboolean repeated);

/* The "clip-classification" message structure: timestamp, stream-time,
 * running-time, frame-number (guint64), labels (strings), probabilities
 * (doubles). */
GstStructure *gst_clip_result_to_structure (const GstClipResult * result);

G_END_DECLS

#endif /* __GST_CLIP_RESULT_H__ */
