/* gstclipmodelcache.h: process-wide cache of loaded CLIP models, so elements
 * that name the same directory share one read-only copy of the weights. */

#ifndef __GST_CLIP_MODEL_CACHE_H__
#define __GST_CLIP_MODEL_CACHE_H__

#include <glib.h>

#include "clip.h"

G_BEGIN_DECLS

typedef struct _GstClipModelHandle GstClipModelHandle;

/* Returns a reference on the model loaded from @dir in @precision, loading
 * it on first use. @dir is canonicalized, so "m", "./m" and "m/" share one
 * entry; each precision is an entry of its own. On failure returns NULL and
 * fills @err with the engine's message. Thread-safe. */
GstClipModelHandle *gst_clip_model_cache_acquire (const gchar * dir,
    ClipPrecision precision, ClipError * err);

/* The same with an adapter directory applied at load (NULL or "": none);
 * models with different adapters are different models. */
GstClipModelHandle *gst_clip_model_cache_acquire_full (const gchar * dir,
    const gchar * adapter_dir, ClipPrecision precision, ClipError * err);

/* Drops a reference; the model is freed with the last one. */
void gst_clip_model_cache_release (GstClipModelHandle * handle);

/* The model, read-only, valid until the handle is released. */
const ClipModel *gst_clip_model_handle_get_model (GstClipModelHandle * handle);

/* The canonical directory the model was loaded from (without the
 * precision). */
const gchar *gst_clip_model_handle_get_dir (GstClipModelHandle * handle);

/* What identifies the model in GstClipEmbeddingMeta.model_id: its canonical
 * directory, or with an adapter the fingerprint of both (64 hex digits),
 * since the directory alone would name the model without the adapter. */
const gchar *gst_clip_model_handle_get_id (GstClipModelHandle * handle);

G_END_DECLS

#endif /* __GST_CLIP_MODEL_CACHE_H__ */
