/* gstclipresult.c: scoring a frame's embeddings against the label set
 * (temporal pooling per tile, negatives, the most confident tile) and
 * publishing the result as metas and message structures. The engine does
 * the arithmetic of the scores; this file chooses and records. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstclipresult.h"
#include "gstclipframe.h"
#include "gstclipmeta.h"
#include "gstclippool.h"

#ifdef HAVE_GST_ANALYTICS
#include <gst/analytics/analytics.h>
#endif

/* With several views, a centre whose best label is at least this probable
 * decides alone. */
#define CENTRE_DECIDES 0.5f

struct _GstClipScorer
{
  guint dim;
  GstClipPool *pools[GST_CLIP_MAX_VIEWS];       /* per tile position */
  guint n_tiles;                /* of the frames in the pools */
  /* cle_model_score's outputs, grown to the label set's size */
  guint n;
  gfloat *logits, *probs, *cosines;
  guint *order;
  gfloat *unit, *pooled;        /* (GST_CLIP_MAX_VIEWS, dim) each */
};

void
gst_clip_result_free (GstClipResult * result)
{
  if (!result)
    return;
  if (result->set)
    gst_clip_label_set_unref (result->set);
  g_free (result->scores);
  g_free (result->embed);
  g_free (result);
}

GstClipScorer *
gst_clip_scorer_new (guint dim)
{
  GstClipScorer *s = g_new0 (GstClipScorer, 1);
  guint t;

  s->dim = dim;
  for (t = 0; t < GST_CLIP_MAX_VIEWS; t++)
    s->pools[t] = gst_clip_pool_new (dim);
  s->unit = g_new (gfloat, (gsize) GST_CLIP_MAX_VIEWS * dim);
  s->pooled = g_new (gfloat, (gsize) GST_CLIP_MAX_VIEWS * dim);
  return s;
}

void
gst_clip_scorer_reset (GstClipScorer * s)
{
  guint t;

  for (t = 0; t < GST_CLIP_MAX_VIEWS; t++)
    gst_clip_pool_reset (s->pools[t]);
}

static void
scratch_clear (GstClipScorer * s)
{
  g_clear_pointer (&s->logits, g_free);
  g_clear_pointer (&s->probs, g_free);
  g_clear_pointer (&s->cosines, g_free);
  g_clear_pointer (&s->order, g_free);
  s->n = 0;
}

void
gst_clip_scorer_free (GstClipScorer * s)
{
  guint t;

  if (!s)
    return;
  for (t = 0; t < GST_CLIP_MAX_VIEWS; t++)
    gst_clip_pool_free (s->pools[t]);
  scratch_clear (s);
  g_free (s->unit);
  g_free (s->pooled);
  g_free (s);
}

static void
scratch_ensure (GstClipScorer * s, guint n)
{
  if (s->n >= n)
    return;
  scratch_clear (s);
  s->logits = g_new (gfloat, n);
  s->probs = g_new (gfloat, n);
  s->cosines = g_new (gfloat, n);
  s->order = g_new (guint, n);
  s->n = n;
}

static gint
compare_probs_desc (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const gfloat *probs = user_data;
  gfloat pa = probs[*(const guint *) a], pb = probs[*(const guint *) b];

  if (pa != pb)
    return pa > pb ? -1 : 1;
  /* ties keep label order, so results are deterministic */
  return *(const guint *) a < *(const guint *) b ? -1 : 1;
}

/* Scores @embed against @set into the scratch; returns the probability of
 * the best label that is not a negative. */
static gboolean
score_one (GstClipScorer * s, const ClipModel * model, GstClipLabelSet * set,
    const gfloat * embed, gfloat * best, ClipError * err)
{
  guint i;

  if (cle_model_score (model, embed, set->embeds, set->n_labels, s->logits,
          s->probs, s->cosines, err) < 0)
    return FALSE;
  *best = 0.0f;
  for (i = 0; i < set->n_positive; i++)
    *best = MAX (*best, s->probs[i]);
  return TRUE;
}

GstClipResult *
gst_clip_scorer_score (GstClipScorer * s, const ClipModel * model,
    GstClipLabelSet * set, const gfloat * tiles, guint n_tiles,
    const GstClipScoreParams * sp, ClipError * err)
{
  const guint dim = s->dim;
  GstClipResult *result;
  guint i, j, t, n_keep, best_tile = 0, n_pooled = 1;
  gfloat best = -1.0f, background = 0.0f, p;
  gboolean pooling = sp->window > 0 && GST_CLOCK_TIME_IS_VALID
      (sp->running_time);

  n_tiles = CLAMP (n_tiles, 1, GST_CLIP_MAX_VIEWS);
  if (n_tiles != s->n_tiles) {
    gst_clip_scorer_reset (s);  /* tile positions changed with the caps */
    s->n_tiles = n_tiles;
  }
  scratch_ensure (s, set->n_labels);

  /* each view at unit length, pooled with the same view of earlier frames;
   * the centre (view 0) decides when it is fairly sure, otherwise the most
   * confident view does: a subject at the edge is found, and a part of
   * the picture seen alone does not overrule a clear centre */
  for (t = 0; t < n_tiles; t++) {
    gfloat *unit = s->unit + (gsize) t * dim, *pooled = s->pooled +
        (gsize) t * dim;

    memcpy (unit, tiles + (gsize) t * dim, dim * sizeof (gfloat));
    gst_clip_normalize (unit, dim);
    if (pooling)
      n_pooled = gst_clip_pool_add (s->pools[t], sp->running_time,
          sp->window, unit, pooled);
    else
      memcpy (pooled, unit, dim * sizeof (gfloat));
    if (n_tiles == 1)
      break;
    if (!score_one (s, model, set, pooled, &p, err))
      return NULL;
    if (p > best) {
      best = p;
      best_tile = t;
    }
    if (t == 0 && p >= CENTRE_DECIDES)
      break;
  }
  if (!score_one (s, model, set, s->pooled + (gsize) best_tile * dim, &p,
          err))
    return NULL;
  for (i = set->n_positive; i < set->n_labels; i++)
    background = MAX (background, s->probs[i]);

  for (i = 0; i < set->n_labels; i++)
    s->order[i] = i;
  g_qsort_with_data (s->order, set->n_labels, sizeof (guint),
      compare_probs_desc, s->probs);

  n_keep = sp->top_k == 0 ? set->n_positive : MIN (sp->top_k,
      set->n_positive);
  result = g_new0 (GstClipResult, 1);
  result->set = gst_clip_label_set_ref (set);
  result->dim = dim;
  /* the frame's own embedding: the mean of its tiles */
  result->embed = g_new0 (gfloat, dim);
  for (t = 0; t < n_tiles; t++)
    for (i = 0; i < dim; i++)
      result->embed[i] += s->unit[(gsize) t * dim + i];
  gst_clip_normalize (result->embed, dim);
  result->window = pooling ? sp->window : 0;
  result->n_pooled = n_pooled;
  result->background_probability = background;
  result->scores = g_new (GstClipScore, MAX (n_keep, 1));
  for (i = 0, j = 0; i < set->n_labels && j < n_keep; i++) {
    guint idx = s->order[i];

    if (idx >= set->n_positive)
      continue;                 /* a negative: in the softmax, never reported */
    if (s->probs[idx] < sp->threshold)
      break;
    result->scores[j].index = idx;
    result->scores[j].probability = s->probs[idx];
    result->scores[j].logit = s->logits[idx];
    result->scores[j].cosine = s->cosines[idx];
    j++;
  }
  result->n_scores = j;
  return result;
}

/* labels and probabilities are GValueArrays (G_TYPE_VALUE_ARRAY), not
 * GstValueArrays: PyGObject turns a GValueArray into a list by itself, with
 * or without gst-python's overrides, where a GstValueArray raises
 * "TypeError: unknown type GstValueArray"; both serialize alike. */
GstStructure *
gst_clip_result_to_structure (const GstClipResult * result)
{
  GValueArray *labels, *probs;
  GValue v = G_VALUE_INIT;
  GstStructure *s;
  guint i;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  labels = g_value_array_new (result->n_scores);
  probs = g_value_array_new (result->n_scores);
  for (i = 0; i < result->n_scores; i++) {
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_static_string (&v,
        result->set->labels[result->scores[i].index]);
    g_value_array_append (labels, &v);  /* copies */
    g_value_unset (&v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, result->scores[i].probability);
    g_value_array_append (probs, &v);
    g_value_unset (&v);
  }

  s = gst_structure_new ("clip-classification",
      "timestamp", G_TYPE_UINT64, result->pts,
      "stream-time", G_TYPE_UINT64, result->stream_time,
      "running-time", G_TYPE_UINT64, result->running_time,
      "frame-number", G_TYPE_UINT64, result->frame_number,
      "labels", g_value_array_get_type (), labels,
      "probabilities", g_value_array_get_type (), probs, NULL);
  g_value_array_free (labels);
  g_value_array_free (probs);
  G_GNUC_END_IGNORE_DEPRECATIONS;
  return s;
}

void
gst_clip_result_attach (const GstClipResult * result, GstBuffer * buf,
    const gchar * model_id, gboolean repeated)
{
  GstClipClassificationMeta *meta;
  GstClipEmbeddingMeta *emeta;
  guint i;

  meta = gst_buffer_add_clip_classification_meta (buf, result->pts,
      result->set->n_labels);
  meta->scored_frame_number = result->frame_number;
  meta->scored_width = result->width;
  meta->scored_height = result->height;
  meta->scored_stream_time = result->stream_time;
  meta->scored_running_time = result->running_time;
  meta->repeated = repeated;
  meta->window = result->window;
  meta->n_pooled = result->n_pooled;
  meta->background_probability = result->background_probability;
  for (i = 0; i < result->n_scores; i++) {
    const GstClipScore *sc = &result->scores[i];

    gst_clip_classification_meta_add (meta, sc->index,
        result->set->labels[sc->index], sc->probability, sc->logit,
        sc->cosine);
  }

  /* a repeated result carries no embedding: an index must not count the
   * scored frame twice */
  if (!repeated) {
    emeta = gst_buffer_add_clip_embedding_meta (buf, result->embed,
        result->dim, model_id);
    emeta->scored_pts = result->pts;
    emeta->scored_frame_number = result->frame_number;
    emeta->scored_stream_time = result->stream_time;
    emeta->scored_running_time = result->running_time;
  }

#ifdef HAVE_GST_ANALYTICS
  /* The upstream analytics meta, for tools that read only that. */
  if (result->n_scores > 0) {
    GstAnalyticsRelationMeta *rmeta;
    GstAnalyticsClsMtd cls;
    gfloat *conf = g_new (gfloat, result->n_scores);
    GQuark *quarks = g_new (GQuark, result->n_scores);

    for (i = 0; i < result->n_scores; i++) {
      conf[i] = result->scores[i].probability;
      quarks[i] =
          g_quark_from_string (result->set->labels[result->scores[i].index]);
    }
    rmeta = gst_buffer_get_analytics_relation_meta (buf);
    if (!rmeta)
      rmeta = gst_buffer_add_analytics_relation_meta (buf);
    if (rmeta)
      gst_analytics_relation_meta_add_cls_mtd (rmeta, result->n_scores, conf,
          quarks, &cls);
    g_free (conf);
    g_free (quarks);
  }
#endif
}
