/* gstclipmodelcache.c: refcounted models keyed by precision and canonical
 * directory, under one mutex. A model is read-only after load (clip.h), so sharing it between
 * elements and threads needs no further locking; contexts stay per caller. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipmodelcache.h"

struct _GstClipModelHandle
{
  gchar *key;                   /* "precision:dir|adapter", in cache_table */
  gchar *dir;                   /* canonical */
  gchar *id;                    /* the dir, or a fingerprint with an adapter */
  ClipModel *model;
  guint refcount;               /* under cache_lock */
};

static GMutex cache_lock;
static GHashTable *cache_table; /* dir -> GstClipModelHandle, under cache_lock */

GstClipModelHandle *
gst_clip_model_cache_acquire (const gchar * dir, ClipPrecision precision,
    ClipError * err)
{
  return gst_clip_model_cache_acquire_full (dir, NULL, precision, err);
}

GstClipModelHandle *
gst_clip_model_cache_acquire_full (const gchar * dir,
    const gchar * adapter_dir, ClipPrecision precision, ClipError * err)
{
  GstClipModelHandle *handle;
  ClipModelParams params;
  ClipModel *model = NULL;
  gchar *canonical, *adapter = NULL, *key, *id;
  char fingerprint[65];
  int ret;

  g_return_val_if_fail (dir != NULL, NULL);

  canonical = g_canonicalize_filename (dir, NULL);
  if (adapter_dir && adapter_dir[0])
    adapter = g_canonicalize_filename (adapter_dir, NULL);
  key = g_strdup_printf ("%d:%s|%s", (int) precision, canonical,
      adapter ? adapter : "");

  g_mutex_lock (&cache_lock);
  if (!cache_table)
    cache_table = g_hash_table_new (g_str_hash, g_str_equal);

  handle = g_hash_table_lookup (cache_table, key);
  if (handle) {
    handle->refcount++;
    g_mutex_unlock (&cache_lock);
    g_free (key);
    g_free (canonical);
    g_free (adapter);
    return handle;
  }

  /* Loading under the lock makes a second element naming the same directory
   * wait for this load instead of reading the weights a second time. */
  cle_model_params_init (&params);
  params.precision = precision;
  params.adapter_dir = adapter;
  ret = cle_model_load (&model, canonical, &params, err);
  if (ret >= 0 && adapter)
    ret = cle_model_fingerprint (model, fingerprint, sizeof fingerprint, err);
  if (ret < 0) {
    g_mutex_unlock (&cache_lock);
    if (model)
      cle_model_free (model);
    g_free (key);
    g_free (canonical);
    g_free (adapter);
    return NULL;
  }
  id = adapter ? g_strdup (fingerprint) : g_strdup (canonical);
  g_free (adapter);

  handle = g_new0 (GstClipModelHandle, 1);
  handle->key = key;
  handle->dir = canonical;
  handle->id = id;
  handle->model = model;
  handle->refcount = 1;
  g_hash_table_insert (cache_table, handle->key, handle);
  g_mutex_unlock (&cache_lock);

  return handle;
}

void
gst_clip_model_cache_release (GstClipModelHandle * handle)
{
  gboolean last;

  g_return_if_fail (handle != NULL);

  g_mutex_lock (&cache_lock);
  g_assert (handle->refcount > 0);
  last = (--handle->refcount == 0);
  if (last)
    g_hash_table_remove (cache_table, handle->key);
  g_mutex_unlock (&cache_lock);

  /* Freed outside the lock: unmapping weights must not hold up other loads. */
  if (last) {
    cle_model_free (handle->model);
    g_free (handle->key);
    g_free (handle->dir);
    g_free (handle->id);
    g_free (handle);
  }
}

const ClipModel *
gst_clip_model_handle_get_model (GstClipModelHandle * handle)
{
  return handle->model;
}

const gchar *
gst_clip_model_handle_get_dir (GstClipModelHandle * handle)
{
  return handle->dir;
}

const gchar *
gst_clip_model_handle_get_id (GstClipModelHandle * handle)
{
  g_return_val_if_fail (handle != NULL, NULL);

  return handle->id;
}
