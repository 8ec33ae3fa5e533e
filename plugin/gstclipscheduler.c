/* gstclipscheduler.c: the inference scheduler of a model (see the header).
 * Callers preprocess their views themselves (per-frame work stays with its
 * stream's thread, so streams preprocess in parallel while the model runs);
 * one thread takes the queued images in arrival order, as many as fit in a
 * batch, encodes them in one engine call with its own context, and wakes
 * their callers. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <gst/gst.h>

#include "gstclipframe.h"
#include "gstclipscheduler.h"

GST_DEBUG_CATEGORY_STATIC (clip_scheduler_debug);
#define GST_CAT_DEFAULT clip_scheduler_debug

typedef struct _GstClipScheduler GstClipScheduler;

/* One caller's preprocessed images, on the caller's stack while it waits. */
typedef struct
{
  const GstClipSchedulerClient *client;
  const gfloat *pixels;         /* (n, 3, S, S) */
  guint n;
  gfloat *embeds;               /* (n, dim) */
  ClipError *err;
  gboolean ok, done;
  guint64 queued, served;       /* the batches finished at each moment */
} EncodeRequest;

struct _GstClipScheduler
{
  GstClipModelHandle *handle;   /* the key of a shared one; clients own it */
  const ClipModel *model;
  gint dim;
  gsize per_image;              /* floats of one preprocessed image */
  gboolean shared;
  GThread *thread;

  GMutex lock;
  GCond wake;                   /* requests queued, or quit */
  GCond done;                   /* a batch finished */
  GQueue pending;               /* EncodeRequest, oldest first */
  guint n_preparing;            /* callers preprocessing, about to queue */
  GList *clients;               /* GstClipSchedulerClient */
  guint n_threads, max_batch;   /* what the clients ask for, together */
  gboolean quit;

  /* what the thread did, under the lock */
  guint64 n_batches, n_images;
};

struct _GstClipSchedulerClient
{
  GstClipScheduler *scheduler;
  guint n_threads, max_batch;
  GMutex lock;                  /* an element may call from two threads */
  ClipContext *ctx;             /* preprocessing only: one image, one thread */
  guint64 max_wait_batches;     /* under the scheduler's lock */
};

/* The longest a batch waits for callers still preprocessing. */
#define GATHER_TIMEOUT_US 20000

static gsize debug_initialized;
static GMutex schedulers_lock;
static GHashTable *schedulers;  /* shared ones: model handle -> scheduler */

/* Under s->lock: the most threads (0, all cores, beats any count) and the
 * largest batch any client asks for. */
static void
update_wishes_locked (GstClipScheduler * s)
{
  gboolean all_cores = FALSE;
  guint threads = 1, batch = s->shared ? GST_CLIP_SCHEDULER_MIN_BATCH : 1;
  GList *l;

  for (l = s->clients; l; l = l->next) {
    const GstClipSchedulerClient *c = l->data;

    all_cores |= c->n_threads == 0;
    threads = MAX (threads, c->n_threads);
    batch = MAX (batch, c->max_batch);
  }
  s->n_threads = all_cores ? 0 : threads;
  s->max_batch = batch;
}

/* Scheduler thread: encodes the @n requests of @batch (@total images)
 * with @ctx. A batch of one request is encoded from and into the caller's
 * buffers. */
static void
encode_batch (GstClipScheduler * s, ClipContext * ctx, EncodeRequest ** batch,
    guint n, guint total)
{
  gfloat *pixels, *embeds;
  ClipError err = { 0, };
  gboolean ok;
  guint i, first = 0;

  if (n == 1) {
    batch[0]->ok = cle_encode_images (ctx, batch[0]->pixels, batch[0]->n,
        batch[0]->embeds, (gsize) batch[0]->n * s->dim, batch[0]->err) >= 0;
    return;
  }

  pixels = g_new (gfloat, total * s->per_image);
  embeds = g_new (gfloat, (gsize) total * s->dim);
  for (i = 0; i < n; i++) {
    memcpy (pixels + first * s->per_image, batch[i]->pixels,
        batch[i]->n * s->per_image * sizeof (gfloat));
    first += batch[i]->n;
  }
  ok = cle_encode_images (ctx, pixels, total, embeds, (gsize) total * s->dim,
      &err) >= 0;
  for (i = 0, first = 0; i < n; i++) {
    EncodeRequest *r = batch[i];

    r->ok = ok;
    if (ok)
      memcpy (r->embeds, embeds + (gsize) first * s->dim,
          (gsize) r->n * s->dim * sizeof (gfloat));
    else
      *r->err = err;
    first += r->n;
  }
  g_free (embeds);
  g_free (pixels);
}

/* How many different clients the @n requests come from. */
static guint
count_streams (EncodeRequest ** requests, guint n)
{
  guint i, j, n_streams = 0;

  for (i = 0; i < n; i++) {
    gboolean seen = FALSE;

    for (j = 0; j < i && !seen; j++)
      seen = requests[j]->client == requests[i]->client;
    n_streams += !seen;
  }
  return n_streams;
}

static gpointer
scheduler_thread (gpointer data)
{
  GstClipScheduler *s = data;
  ClipContext *ctx = NULL;
  ClipError ctx_err = { 0, };
  guint ctx_threads = G_MAXUINT, ctx_batch = 0;
  gint64 last_batch_us = 0;     /* how long the last batch took */
  guint last_batch_streams = 0; /* and how many clients it served */
  GPtrArray *batch = g_ptr_array_new ();

  g_mutex_lock (&s->lock);
  while (TRUE) {
    EncodeRequest *r;
    guint total, n_threads, max_batch, i;
    gint64 now, gather_until, deadline, started;

    while (!s->quit && g_queue_is_empty (&s->pending))
      g_cond_wait (&s->wake, &s->lock);
    if (g_queue_is_empty (&s->pending))
      break;

    /* the oldest request always; then the next ones while they fit, those
     * of callers still preprocessing (a millisecond or two), and when the
     * last batch served several streams, those that come within an eighth
     * of its time: without them, streams finished together come back
     * together and pair off into batches too small to fill the threads (a
     * stream alone, or beside idle ones, never waits for that) */
    r = g_queue_pop_head (&s->pending);
    g_ptr_array_add (batch, r);
    total = r->n;
    now = g_get_monotonic_time ();
    gather_until = now + (last_batch_streams >= 2 ?
        MIN (last_batch_us / 8, GATHER_TIMEOUT_US) : 0);
    deadline = now + GATHER_TIMEOUT_US;
    while (TRUE) {
      while ((r = g_queue_peek_head (&s->pending)) &&
          total + r->n <= s->max_batch) {
        g_ptr_array_add (batch, g_queue_pop_head (&s->pending));
        total += r->n;
      }
      if (r || total >= s->max_batch)
        break;
      if (s->n_preparing > 0) {
        if (!g_cond_wait_until (&s->wake, &s->lock, deadline))
          break;
      } else if (g_get_monotonic_time () < gather_until) {
        g_cond_wait_until (&s->wake, &s->lock, gather_until);
      } else {
        break;
      }
    }
    n_threads = s->n_threads;
    max_batch = s->max_batch;
    g_mutex_unlock (&s->lock);

    if (n_threads != ctx_threads || max_batch != ctx_batch) {
      ClipContextParams cp;

      g_clear_pointer (&ctx, cle_context_free);
      cle_context_params_init (&cp);
      cp.n_threads = n_threads;
      cp.max_batch_images = max_batch;
      memset (&ctx_err, 0, sizeof ctx_err);
      if (cle_context_new (&ctx, s->model, &cp, &ctx_err) < 0)
        ctx = NULL;
      ctx_threads = n_threads;
      ctx_batch = max_batch;
      GST_DEBUG ("context for %u threads (0: all cores), batches of %u",
          n_threads, max_batch);
    }

    started = g_get_monotonic_time ();
    if (ctx) {
      encode_batch (s, ctx, (EncodeRequest **) batch->pdata, batch->len,
          total);
    } else {
      for (i = 0; i < batch->len; i++) {
        r = g_ptr_array_index (batch, i);
        r->ok = FALSE;
        *r->err = ctx_err;
      }
    }
    last_batch_us = g_get_monotonic_time () - started;
    last_batch_streams = count_streams ((EncodeRequest **) batch->pdata,
        batch->len);

    g_mutex_lock (&s->lock);
    s->n_batches++;
    s->n_images += total;
    for (i = 0; i < batch->len; i++) {
      r = g_ptr_array_index (batch, i);
      r->served = s->n_batches;
      r->done = TRUE;
    }
    g_ptr_array_set_size (batch, 0);
    g_cond_broadcast (&s->done);
  }
  g_mutex_unlock (&s->lock);

  if (s->n_batches > 0)
    GST_DEBUG ("%" G_GUINT64_FORMAT " images in %" G_GUINT64_FORMAT
        " batches (%.2f a batch)", s->n_images, s->n_batches,
        (gdouble) s->n_images / s->n_batches);
  g_clear_pointer (&ctx, cle_context_free);
  g_ptr_array_free (batch, TRUE);
  return NULL;
}

static GstClipScheduler *
scheduler_new (GstClipModelHandle * handle, gboolean shared)
{
  GstClipScheduler *s = g_new0 (GstClipScheduler, 1);
  ClipModelInfo info;

  s->handle = handle;
  s->model = gst_clip_model_handle_get_model (handle);
  cle_model_get_info (s->model, &info);
  s->dim = info.projection_dim;
  s->per_image = (gsize) 3 * info.crop_height * info.crop_width;
  s->shared = shared;
  g_mutex_init (&s->lock);
  g_cond_init (&s->wake);
  g_cond_init (&s->done);
  g_queue_init (&s->pending);
  s->thread = g_thread_new ("clip-scheduler", scheduler_thread, s);
  return s;
}

static void
scheduler_free (GstClipScheduler * s)
{
  g_mutex_lock (&s->lock);
  s->quit = TRUE;
  g_cond_signal (&s->wake);
  g_mutex_unlock (&s->lock);
  g_thread_join (s->thread);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->wake);
  g_cond_clear (&s->done);
  g_free (s);
}

GstClipSchedulerClient *
gst_clip_scheduler_join (GstClipModelHandle * handle, gboolean shared,
    guint n_threads, guint max_batch, ClipError * err)
{
  GstClipSchedulerClient *c;
  GstClipScheduler *s = NULL;
  ClipContextParams cp;
  ClipContext *ctx;

  g_return_val_if_fail (handle != NULL, NULL);

  cle_context_params_init (&cp);
  cp.n_threads = 1;
  cp.max_batch_images = 1;
  cp.max_batch_texts = 1;
  if (cle_context_new (&ctx, gst_clip_model_handle_get_model (handle), &cp,
          err) < 0)
    return NULL;

  if (g_once_init_enter (&debug_initialized)) {
    GST_DEBUG_CATEGORY_INIT (clip_scheduler_debug, "clipscheduler", 0,
        "CLIP inference scheduler");
    g_once_init_leave (&debug_initialized, 1);
  }

  c = g_new0 (GstClipSchedulerClient, 1);
  c->n_threads = n_threads;
  c->max_batch = MAX (max_batch, 1);
  c->ctx = ctx;
  g_mutex_init (&c->lock);

  g_mutex_lock (&schedulers_lock);
  if (shared) {
    if (!schedulers)
      schedulers = g_hash_table_new (g_direct_hash, g_direct_equal);
    s = g_hash_table_lookup (schedulers, handle);
  }
  if (!s) {
    s = scheduler_new (handle, shared);
    if (shared)
      g_hash_table_insert (schedulers, handle, s);
  }
  c->scheduler = s;
  g_mutex_lock (&s->lock);
  s->clients = g_list_prepend (s->clients, c);
  update_wishes_locked (s);
  GST_DEBUG ("%s scheduler of '%s': %u clients, %u threads (0: all cores), "
      "batches of %u", shared ? "shared" : "own",
      gst_clip_model_handle_get_id (handle), g_list_length (s->clients),
      s->n_threads, s->max_batch);
  g_mutex_unlock (&s->lock);
  g_mutex_unlock (&schedulers_lock);
  return c;
}

void
gst_clip_scheduler_leave (GstClipSchedulerClient * client)
{
  GstClipScheduler *s;
  gboolean last;

  g_return_if_fail (client != NULL);

  s = client->scheduler;
  g_mutex_lock (&schedulers_lock);
  g_mutex_lock (&s->lock);
  s->clients = g_list_remove (s->clients, client);
  update_wishes_locked (s);
  last = s->clients == NULL;
  g_mutex_unlock (&s->lock);
  if (last && s->shared)
    g_hash_table_remove (schedulers, s->handle);
  g_mutex_unlock (&schedulers_lock);

  if (last)
    scheduler_free (s);
  cle_context_free (client->ctx);
  g_mutex_clear (&client->lock);
  g_free (client);
}

gboolean
gst_clip_scheduler_encode (GstClipSchedulerClient * client,
    const ClipFrame * views, guint n, gfloat * embeds, gboolean * rejected,
    ClipError * why, ClipError * err)
{
  GstClipScheduler *s = client->scheduler;
  gfloat *pixels, *packed;
  guint *index, j;
  gint n_images;
  EncodeRequest r = { client, NULL, 0, NULL, err, FALSE, FALSE, 0, 0 };

  if (n == 0)
    return TRUE;

  /* announced, so that the batch being gathered waits for these images */
  g_mutex_lock (&s->lock);
  s->n_preparing++;
  g_mutex_unlock (&s->lock);

  pixels = g_new (gfloat, n * s->per_image);
  index = g_new (guint, n);
  g_mutex_lock (&client->lock);
  n_images = gst_clip_frame_preprocess (client->ctx, views, n, pixels,
      s->per_image, index, rejected, why, err);
  g_mutex_unlock (&client->lock);
  if (n_images <= 0) {
    g_mutex_lock (&s->lock);
    s->n_preparing--;
    g_cond_signal (&s->wake);
    g_mutex_unlock (&s->lock);
    g_free (index);
    g_free (pixels);
    return n_images == 0;
  }

  /* the images that were taken, packed: their embeddings go back to their
   * views' places below */
  packed = g_new (gfloat, (gsize) n_images * s->dim);
  r.pixels = pixels;
  r.n = n_images;
  r.embeds = packed;
  g_mutex_lock (&s->lock);
  s->n_preparing--;
  r.queued = s->n_batches;
  g_queue_push_tail (&s->pending, &r);
  g_cond_signal (&s->wake);
  while (!r.done)
    g_cond_wait (&s->done, &s->lock);
  client->max_wait_batches = MAX (client->max_wait_batches,
      r.served - r.queued);
  g_mutex_unlock (&s->lock);

  for (j = 0; r.ok && j < (guint) n_images; j++)
    memcpy (embeds + (gsize) index[j] * s->dim, packed + (gsize) j * s->dim,
        s->dim * sizeof (gfloat));
  g_free (packed);
  g_free (index);
  g_free (pixels);
  return r.ok;
}

void
gst_clip_scheduler_get_stats (GstClipSchedulerClient * client,
    GstClipSchedulerStats * stats)
{
  GstClipScheduler *s = client->scheduler;

  g_mutex_lock (&s->lock);
  stats->n_clients = g_list_length (s->clients);
  stats->n_batches = s->n_batches;
  stats->n_images = s->n_images;
  stats->max_wait_batches = client->max_wait_batches;
  g_mutex_unlock (&s->lock);
}
