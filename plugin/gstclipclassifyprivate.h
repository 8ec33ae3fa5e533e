/* gstclipclassifyprivate.h: what the files of clipclassify share: the
 * instance structure and the functions one file calls in another.
 * gstclipclassify.c holds the element (properties, vfuncs, the frame path),
 * gstclipclassifylabels.c the background re-encoding of changed labels,
 * gstclipclassifyworker.c the async mode's worker. Not installed. */

#ifndef __GST_CLIP_CLASSIFY_PRIVATE_H__
#define __GST_CLIP_CLASSIFY_PRIVATE_H__

#include "gstclipclassify.h"
#include "gstclipmeta.h"
#include "gstclipmodelcache.h"
#include "gstcliplabels.h"
#include "gstclipframe.h"
#include "gstclipresult.h"
#include "gstcliplatency.h"
#include "gstclipregions.h"
#include "gstclipscheduler.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_clip_classify_debug);

#define MAX_BATCH_SIZE 64

/* A frame copied for the async worker. */
typedef struct
{
  GstBuffer *buffer;            /* a deep copy: upstream may reuse the original */
  GstVideoInfo info;
  GstClockTime pts, stream_time, running_time;
  guint64 frame_number;
  gint64 arrival;               /* monotonic us, for the latency */
} ClipJob;

/* A request to re-encode the labels in the background. */
typedef struct
{
  guint generation;
  GstClipPromptConfig config;
} ClipEncodeRequest;

struct _GstClipClassify
{
  GstVideoFilter parent;

  /* properties, under the object lock */
  gchar *model_dir;
  gchar *adapter_dir;
  GstClipPromptConfig prompts;
  guint top_k;
  gfloat threshold;
  guint interval;
  guint batch_size;
  guint n_threads;
  gboolean post_messages;
  GstClipClassifyMode mode;
  GstClipClassifyPrecision precision;
  GstClockTime window;
  GstClipClassifyCoverage coverage;
  gboolean repeat_metadata;
  GstClipClassifyRegion inference_region;
  gchar **roi_types;            /* NULL: every type */
  guint reclassify_interval;
  gboolean shared_inference;

  /* set in start(), cleared in stop() */
  GstClipModelHandle *model;
  gint dim;
  GstClipClassifyMode running_mode;
  GstClipSchedulerClient *inference;    /* encodes frames, in either mode */

  /* under the object lock: replaced whole when the labels change, so a
   * frame keeps the set it started with (the swap is at a frame boundary) */
  GstClipLabelSet *label_set;
  guint label_generation;       /* bumped by every label/template change */
  GThreadPool *encoder;         /* one thread: background label encodes */
  gint encoder_cancelled;       /* atomic; polled by the encoder */

  /* under the object lock: what became of each frame (the properties) */
  guint64 n_in, n_classified, n_skipped_interval, n_failed;
  gboolean failure_warned;      /* since the last caps change */
  GstClipLatency latency;       /* frame arrival -> result */
  GstClockTime stats_interval;  /* property: periodic clip-stats, 0: off */
  gint64 stats_last_post;       /* monotonic us */
  guint64 stats_last_in, stats_last_classified, stats_last_busy;
  guint64 n_regions_classified, n_regions_skipped;

  /* streaming thread only */
  guint64 frame_count;          /* since start or the last flush */
  guint64 frame_number;         /* since start: the next frame's number */
  gfloat *image_embed;          /* (MAX_BATCH_SIZE, GST_CLIP_MAX_VIEWS, dim) */
  GstClipResult *frame_result;     /* from transform_frame_ip to transform_ip */
  GstClipResult *last_result;      /* for repeat-metadata; reset by flushes */

  /* scratch and the frames pooled over `window`; used by whichever thread
   * scores (streaming thread or worker), reset by flushes: under
   * scorer_lock */
  GstClipScorer *scorer;
  GMutex scorer_lock;

  /* streaming thread: regions of interest (inference-region) */
  GstClipRegions *regions;

  /* async mode; the queues and flags under worker_lock */
  GThread *worker;
  GMutex worker_lock;
  GCond worker_cond;             /* wakes the worker: jobs or quit */
  GCond idle_cond;              /* signalled when a batch is done */
  GQueue jobs;                  /* ClipJob, oldest first, <= batch_size */
  GQueue results;               /* GstClipResult, oldest first */
  gboolean worker_quit;
  gboolean worker_busy;         /* a batch is being scored */
  guint epoch;                  /* bumped by flushes: older results are void */
  guint64 n_dropped;
};

/* gstclipclassify.c */
void gst_clip_classify_frame_rejected (GstClipClassify * self,
    const ClipFrame * cf, const gchar * why);
gboolean gst_clip_classify_encode (GstClipClassify * self,
    const ClipFrame * frames, guint n, gboolean full, gfloat * embeds,
    guint * n_tiles, gboolean * rejected, ClipError * err);
void gst_clip_classify_publish (GstClipClassify * self, GstBuffer * buf,
    const GstClipResult * result, gboolean post, gboolean repeated);

/* gstclipclassifylabels.c */
void gst_clip_classify_post_gerror (GstClipClassify * self,
    GstMessageType type, const GError * err, const gchar * prefix);
gchar *gst_clip_classify_default_text_cache (void);
void gst_clip_classify_copy_prompts (GstClipPromptConfig * dst,
    const GstClipPromptConfig * src);
void gst_clip_classify_encode_func (gpointer data, gpointer user_data);
void gst_clip_classify_queue_encode_locked (GstClipClassify * self);

/* gstclipclassifyworker.c */
void gst_clip_classify_job_free (ClipJob * job);
gpointer gst_clip_classify_worker (gpointer data);
void gst_clip_classify_clear_queues_locked (GstClipClassify * self);
void gst_clip_classify_submit (GstClipClassify * self, GstVideoFrame * frame,
    guint64 frame_number, guint batch_size);
void gst_clip_classify_drain (GstClipClassify * self);

G_END_DECLS

#endif /* __GST_CLIP_CLASSIFY_PRIVATE_H__ */
