/* gstclipregions.h: classifying the regions a detector marked on a frame
 * (GstVideoRegionOfInterestMeta) instead of, or as well as, the whole frame:
 * each region cropped from the frame view (no copy), encoded, scored, and
 * its labels attached to the region as a "clip-classification" parameter,
 * as DL Streamer attaches its classifications. */

#ifndef __GST_CLIP_REGIONS_H__
#define __GST_CLIP_REGIONS_H__

#include <gst/video/video.h>

#include "clip.h"
#include "gstcliplabels.h"
#include "gstclipscheduler.h"

G_BEGIN_DECLS

typedef struct _GstClipRegions GstClipRegions;

GstClipRegions *gst_clip_regions_new (gint dim);
void gst_clip_regions_free (GstClipRegions * regions);

/* Forgets the regions seen (a flush). */
void gst_clip_regions_reset (GstClipRegions * regions);

typedef struct
{
  const gchar *const *types;    /* roi types to classify; NULL: all */
  guint reclassify_interval;    /* per region id; 1: every frame */
  guint top_k;                  /* labels in the parameter; 0: all */
  guint64 frame_number;
} GstClipRegionParams;

typedef struct
{
  guint classified;             /* encoded and scored on this frame */
  guint repeated;               /* given their last result again */
  guint skipped;                /* empty, outside the frame, or rejected */
} GstClipRegionCounts;

/* Classifies the regions of @buf (whose pixels @cf views) against @set,
 * encoding the crops through @inference (a client of @model's scheduler), and adds a "clip-classification" parameter to each region: label,
 * label-id, confidence (the best label), labels and confidences (the top_k,
 * as strings "label:confidence" in a GStrv), repeated (TRUE when it is the
 * region's last result, kept for reclassify-interval frames). A region is
 * followed across frames by its id. Boxes are clipped to the frame; a box
 * with nothing in the frame, or one the engine cannot take, is skipped.
 * FALSE with @err set on an engine error that is not a region's fault. */
gboolean gst_clip_regions_classify (GstClipRegions * regions,
    GstClipSchedulerClient * inference, const ClipModel * model,
    GstClipLabelSet * set, const ClipFrame * cf,
    GstBuffer * buf, const GstClipRegionParams * params,
    GstClipRegionCounts * counts, ClipError * err);

G_END_DECLS

#endif /* __GST_CLIP_REGIONS_H__ */
