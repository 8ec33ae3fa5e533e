/* GStreamer CLIP zero-shot classification
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifndef __GST_CLIP_CLASSIFY_H__
#define __GST_CLIP_CLASSIFY_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

/**
 * GstClipClassifyMode:
 * @GST_CLIP_CLASSIFY_MODE_SYNC: score every interval-th frame in the
 *     streaming thread and attach the result to that frame
 * @GST_CLIP_CLASSIFY_MODE_ASYNC: copy every interval-th frame to a worker
 *     thread and let frames pass without waiting; each result is attached to
 *     the next frame that passes once it is ready, stamped with the PTS of the
 *     frame it was computed on
 */
typedef enum
{
  GST_CLIP_CLASSIFY_MODE_SYNC,
  GST_CLIP_CLASSIFY_MODE_ASYNC,
} GstClipClassifyMode;

#define GST_TYPE_CLIP_CLASSIFY_MODE (gst_clip_classify_mode_get_type ())
GType gst_clip_classify_mode_get_type (void);

/**
 * GstClipClassifyPrecision:
 * @GST_CLIP_CLASSIFY_PRECISION_FP32: as the reference implementation
 * @GST_CLIP_CLASSIFY_PRECISION_BF16: bf16 matrix products (AVX512_BF16),
 *     embeddings within cosine 0.999 of fp32
 * @GST_CLIP_CLASSIFY_PRECISION_INT8: int8 matrix products (AVX512_VNNI),
 *     embeddings within cosine 0.99 of fp32
 *
 * The values are those of the engine's ClipPrecision.
 */
typedef enum
{
  GST_CLIP_CLASSIFY_COVERAGE_CENTER,
  GST_CLIP_CLASSIFY_COVERAGE_FULL,
} GstClipClassifyCoverage;

#define GST_TYPE_CLIP_CLASSIFY_COVERAGE (gst_clip_classify_coverage_get_type ())
GType gst_clip_classify_coverage_get_type (void);

typedef enum
{
  GST_CLIP_CLASSIFY_REGION_FULL_FRAME,
  GST_CLIP_CLASSIFY_REGION_ROI_LIST,
  GST_CLIP_CLASSIFY_REGION_BOTH,
} GstClipClassifyRegion;

#define GST_TYPE_CLIP_CLASSIFY_REGION (gst_clip_classify_region_get_type ())
GType gst_clip_classify_region_get_type (void);

typedef enum
{
  GST_CLIP_CLASSIFY_PRECISION_FP32,
  GST_CLIP_CLASSIFY_PRECISION_BF16,
  GST_CLIP_CLASSIFY_PRECISION_INT8,
} GstClipClassifyPrecision;

#define GST_TYPE_CLIP_CLASSIFY_PRECISION \
  (gst_clip_classify_precision_get_type ())
GType gst_clip_classify_precision_get_type (void);

#define GST_TYPE_CLIP_CLASSIFY (gst_clip_classify_get_type ())
G_DECLARE_FINAL_TYPE (GstClipClassify, gst_clip_classify, GST, CLIP_CLASSIFY,
    GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE (clipclassify);

G_END_DECLS

#endif /* __GST_CLIP_CLASSIFY_H__ */
