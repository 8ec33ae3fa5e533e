/* gstclippool.h: temporal pooling of frame embeddings, CLIP's recipe for
 * video: the mean of the unit-length embeddings of the frames scored in the
 * last `window` of running time, renormalized. Not thread-safe: one user at
 * a time (the element's streaming thread or its worker). */

#ifndef __GST_CLIP_POOL_H__
#define __GST_CLIP_POOL_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstClipPool GstClipPool;

GstClipPool *gst_clip_pool_new (guint dim);
void gst_clip_pool_free (GstClipPool * pool);

/* Forgets every frame (a flush, a new stream). */
void gst_clip_pool_reset (GstClipPool * pool);

/* Adds the unit-length embedding @unit of a frame at running time @t and
 * writes to @out (dim floats) the renormalized mean over the frames whose
 * running time lies in (t - window, t]. Frames older than that are dropped;
 * a time that goes backwards, or an invalid one, starts the pool afresh.
 * Returns how many frames @out pools (1: the frame alone). */
guint gst_clip_pool_add (GstClipPool * pool, GstClockTime t,
    GstClockTime window, const gfloat * unit, gfloat * out);

G_END_DECLS

#endif /* __GST_CLIP_POOL_H__ */
