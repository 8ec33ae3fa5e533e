/* gstclipregions.c: per-region classification. Crops are views into the
 * mapped frame (gst_clip_frame_crop), encoded in batches; a region id seen
 * again within reclassify-interval frames gets its last result. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstclipregions.h"
#include "gstclipframe.h"
#include "gstclipresult.h"

/* regions encoded per engine call */
#define REGION_BATCH 32

/* The last result of a region id. */
typedef struct
{
  guint64 frame_number;         /* when it was classified */
  guint64 seen;                 /* the last frame it was on */
  GstStructure *param;          /* what was attached then */
} RegionMemory;

struct _GstClipRegions
{
  gint dim;
  GstClipScorer *scorer;
  GHashTable *memory;           /* region id -> RegionMemory */
};

static void
region_memory_free (RegionMemory * m)
{
  gst_structure_free (m->param);
  g_free (m);
}

GstClipRegions *
gst_clip_regions_new (gint dim)
{
  GstClipRegions *r = g_new0 (GstClipRegions, 1);

  r->dim = dim;
  r->scorer = gst_clip_scorer_new (dim);
  r->memory = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) region_memory_free);
  return r;
}

void
gst_clip_regions_free (GstClipRegions * r)
{
  if (!r)
    return;
  gst_clip_scorer_free (r->scorer);
  g_hash_table_unref (r->memory);
  g_free (r);
}

void
gst_clip_regions_reset (GstClipRegions * r)
{
  g_hash_table_remove_all (r->memory);
}

static gboolean
type_wanted (const GstVideoRegionOfInterestMeta * roi,
    const gchar * const *types)
{
  guint i;

  if (!types || !types[0])
    return TRUE;
  for (i = 0; types[i]; i++)
    if (roi->roi_type == g_quark_try_string (types[i]))
      return TRUE;
  return FALSE;
}

static GstStructure *
param_from_result (const GstClipResult * res)
{
  GstStructure *s = gst_structure_new_empty ("clip-classification");
  gchar **pairs = g_new0 (gchar *, res->n_scores + 1);
  guint i;

  for (i = 0; i < res->n_scores; i++)
    pairs[i] = g_strdup_printf ("%s:%.6f",
        res->set->labels[res->scores[i].index], res->scores[i].probability);
  if (res->n_scores > 0)
    gst_structure_set (s,
        "label", G_TYPE_STRING, res->set->labels[res->scores[0].index],
        "label-id", G_TYPE_UINT, res->scores[0].index,
        "confidence", G_TYPE_DOUBLE, (gdouble) res->scores[0].probability,
        NULL);
  gst_structure_set (s, "labels", G_TYPE_STRV, pairs,
      "repeated", G_TYPE_BOOLEAN, FALSE, NULL);
  g_strfreev (pairs);
  return s;
}

/* Encodes and scores @n crops, attaching the results to their regions. */
static gboolean
classify_batch (GstClipRegions * r, GstClipSchedulerClient * inference,
    const ClipModel * model, GstClipLabelSet * set,
    const ClipFrame * crops, GstVideoRegionOfInterestMeta ** rois, guint n,
    const GstClipRegionParams * p, GstClipRegionCounts * counts,
    ClipError * err)
{
  gfloat *embeds = g_new (gfloat, (gsize) n * r->dim);
  gboolean rejected[REGION_BATCH];
  GstClipScoreParams sp = { p->top_k, 0.0f, 0, GST_CLOCK_TIME_NONE };
  ClipError why = { 0, };
  guint i;

  if (!gst_clip_scheduler_encode (inference, crops, n, embeds, rejected, &why,
          err)) {
    g_free (embeds);
    return FALSE;
  }
  for (i = 0; i < n; i++) {
    GstClipResult *res;
    RegionMemory *m;

    if (rejected[i]) {
      counts->skipped++;
      continue;
    }
    res = gst_clip_scorer_score (r->scorer, model, set,
        embeds + (gsize) i * r->dim, 1, &sp, err);
    if (!res) {
      g_free (embeds);
      return FALSE;
    }
    m = g_new0 (RegionMemory, 1);
    m->frame_number = m->seen = p->frame_number;
    m->param = param_from_result (res);
    gst_video_region_of_interest_meta_add_param (rois[i],
        gst_structure_copy (m->param));
    g_hash_table_replace (r->memory, GINT_TO_POINTER (rois[i]->id), m);
    gst_clip_result_free (res);
    counts->classified++;
  }
  g_free (embeds);
  return TRUE;
}

/* Regions not seen for a while are forgotten, so ids can be reused. */
static gboolean
forget_old (gpointer key, gpointer value, gpointer data)
{
  const RegionMemory *m = value;
  const GstClipRegionParams *p = data;

  return p->frame_number > m->seen + 2 * MAX (p->reclassify_interval, 1);
}

gboolean
gst_clip_regions_classify (GstClipRegions * r,
    GstClipSchedulerClient * inference, const ClipModel * model,
    GstClipLabelSet * set, const ClipFrame * cf, GstBuffer * buf,
    const GstClipRegionParams * p, GstClipRegionCounts * counts,
    ClipError * err)
{
  ClipFrame crops[REGION_BATCH];
  GstVideoRegionOfInterestMeta *rois[REGION_BATCH], *roi;
  gpointer state = NULL;
  guint n = 0;

  memset (counts, 0, sizeof (*counts));
  while ((roi = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    RegionMemory *m;

    if (!type_wanted (roi, p->types))
      continue;
    /* ids mean something only where a tracker set them: with an interval
     * of 1 every region is classified, whatever its id */
    m = p->reclassify_interval > 1 ? g_hash_table_lookup (r->memory,
        GINT_TO_POINTER (roi->id)) : NULL;
    if (m && p->frame_number < m->frame_number + p->reclassify_interval) {
      GstStructure *again = gst_structure_copy (m->param);

      gst_structure_set (again, "repeated", G_TYPE_BOOLEAN, TRUE, NULL);
      gst_video_region_of_interest_meta_add_param (roi, again);
      m->seen = p->frame_number;
      counts->repeated++;
      continue;
    }
    if (!gst_clip_frame_crop (cf, roi->x, roi->y, roi->w, roi->h,
            &crops[n])) {
      counts->skipped++;
      continue;
    }
    rois[n++] = roi;
    if (n == REGION_BATCH) {
      if (!classify_batch (r, inference, model, set, crops, rois, n, p,
              counts, err))
        return FALSE;
      n = 0;
    }
  }
  if (n > 0 && !classify_batch (r, inference, model, set, crops, rois, n,
          p, counts, err))
    return FALSE;
  g_hash_table_foreach_remove (r->memory, forget_old, (gpointer) p);
  return TRUE;
}
