/* gstclippool.c: the frames of a sliding window of running time and the
 * renormalized mean of their embeddings. The window holds a few seconds of
 * scored frames, so the mean is recomputed from them each time (exact, no
 * drift from running sums). */

#include <string.h>

#include "gstclippool.h"
#include "gstcliplabels.h"

typedef struct
{
  GstClockTime t;
  gfloat v[];                   /* dim floats */
} PoolEntry;

struct _GstClipPool
{
  guint dim;
  GQueue entries;               /* PoolEntry, oldest first */
};

GstClipPool *
gst_clip_pool_new (guint dim)
{
  GstClipPool *pool = g_new0 (GstClipPool, 1);

  pool->dim = dim;
  g_queue_init (&pool->entries);
  return pool;
}

void
gst_clip_pool_reset (GstClipPool * pool)
{
  g_queue_clear_full (&pool->entries, g_free);
}

void
gst_clip_pool_free (GstClipPool * pool)
{
  if (!pool)
    return;
  gst_clip_pool_reset (pool);
  g_free (pool);
}

guint
gst_clip_pool_add (GstClipPool * pool, GstClockTime t, GstClockTime window,
    const gfloat * unit, gfloat * out)
{
  PoolEntry *e, *last = g_queue_peek_tail (&pool->entries);
  GList *l;
  guint k;

  if (!GST_CLOCK_TIME_IS_VALID (t) || window == 0 || (last && t < last->t)) {
    gst_clip_pool_reset (pool);
    if (!GST_CLOCK_TIME_IS_VALID (t) || window == 0) {
      memcpy (out, unit, pool->dim * sizeof (gfloat));
      return 1;
    }
  }

  e = g_malloc (sizeof (PoolEntry) + pool->dim * sizeof (gfloat));
  e->t = t;
  memcpy (e->v, unit, pool->dim * sizeof (gfloat));
  g_queue_push_tail (&pool->entries, e);
  while ((e = g_queue_peek_head (&pool->entries)) && t >= window &&
      e->t <= t - window)
    g_free (g_queue_pop_head (&pool->entries));

  memset (out, 0, pool->dim * sizeof (gfloat));
  for (l = pool->entries.head; l; l = l->next)
    for (k = 0; k < pool->dim; k++)
      out[k] += ((PoolEntry *) l->data)->v[k];
  gst_clip_normalize (out, pool->dim);
  return pool->entries.length;
}
