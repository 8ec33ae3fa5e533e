/* clipscheduler.c: the inference scheduler that the clipclassify elements
 * on one model share. Requests from many threads at once come back to the
 * thread that made them with the embeddings of their own frames (the engine
 * alone on the same frame is the reference), batched together; a view the
 * engine rejects fails alone; no stream waits longer than the batch
 * being encoded and the next; shared and own schedulers are what they
 * say. */

#include <string.h>

#include <gst/check/gstcheck.h>

#include "gstclipscheduler.h"

#define N_CALLERS 6

/* requests per caller (fewer under valgrind: CLE_TEST_QUICK) */
static guint
n_calls (void)
{
  return g_getenv ("CLE_TEST_QUICK") ? 2 : 8;
}

static GstClipModelHandle *
acquire (void)
{
  ClipError err = { 0, };
  GstClipModelHandle *h =
      gst_clip_model_cache_acquire (g_getenv ("CLIP_TEST_MODEL"),
      CLE_PRECISION_FP32, &err);

  fail_unless (h != NULL, "%s", err.message);
  return h;
}

/* A w x h RGB frame of a pattern that differs with @seed. */
static ClipFrame
pattern_frame (guint8 * pixels, gint w, gint h, guint seed)
{
  ClipFrame f = { 0, };
  gint i;

  for (i = 0; i < w * h * 3; i++)
    pixels[i] = (guint8) ((i * (seed * 7 + 3) + seed * 31) % 251);
  f.format = CLE_PIXEL_RGB;
  f.width = w;
  f.height = h;
  f.planes[0] = pixels;
  f.strides[0] = w * 3;
  return f;
}

/* The engine alone, one frame per call. */
static void
reference_embeds (GstClipModelHandle * h, const ClipFrame * f, guint n,
    gfloat * out, gint dim)
{
  ClipContextParams cp;
  ClipContext *ctx;
  ClipError err = { 0, };
  guint i;

  cle_context_params_init (&cp);
  cp.n_threads = 1;
  fail_unless (cle_context_new (&ctx, gst_clip_model_handle_get_model (h),
          &cp, &err) == 0, "%s", err.message);
  for (i = 0; i < n; i++)
    fail_unless (cle_encode_frames (ctx, &f[i], 1, out + i * dim, dim,
            &err) == 0, "%s", err.message);
  cle_context_free (ctx);
}

static gint
model_dim (GstClipModelHandle * h)
{
  ClipModelInfo info;

  cle_model_get_info (gst_clip_model_handle_get_model (h), &info);
  return info.projection_dim;
}

GST_START_TEST (test_shared_and_own)
{
  GstClipModelHandle *h = acquire ();
  ClipError err = { 0, };
  GstClipSchedulerClient *a, *b, *own;
  GstClipSchedulerStats stats;

  a = gst_clip_scheduler_join (h, TRUE, 1, 1, &err);
  b = gst_clip_scheduler_join (h, TRUE, 2, 4, &err);
  own = gst_clip_scheduler_join (h, FALSE, 1, 1, &err);
  fail_unless (a && b && own);
  gst_clip_scheduler_get_stats (a, &stats);
  fail_unless_equals_int (stats.n_clients, 2);
  fail_unless_equals_int (stats.n_batches, 0);
  gst_clip_scheduler_get_stats (own, &stats);
  fail_unless_equals_int (stats.n_clients, 1);
  gst_clip_scheduler_leave (a);
  gst_clip_scheduler_get_stats (b, &stats);
  fail_unless_equals_int (stats.n_clients, 1);
  gst_clip_scheduler_leave (b);
  gst_clip_scheduler_leave (own);
  gst_clip_model_cache_release (h);
}

GST_END_TEST;

typedef struct
{
  GstClipModelHandle *handle;
  guint index;
  gint dim;
  gdouble max_error;            /* relative to the reference's largest value */
  guint64 max_wait;             /* batches from a request to its result */
  gchar *failure;
} Caller;

/* One stream: its own frames (views of different sizes, 1 to 3 a call),
 * n_calls () requests, each checked against the engine alone. */
static gpointer
caller_thread (gpointer data)
{
  Caller *c = data;
  const guint n_views = 1 + c->index % 3;
  guint8 *pixels[3];
  ClipFrame views[3];
  gfloat *ref = g_new (gfloat, 3 * c->dim), *got = g_new (gfloat, 3 * c->dim);
  gboolean rejected[3];
  ClipError why = { 0, }, err = { 0, };
  GstClipSchedulerClient *client;
  guint v, call, i;
  gfloat scale = 0.0f;

  for (v = 0; v < n_views; v++) {
    gint w = 40 + 13 * c->index + 7 * v, h = 30 + 5 * v;

    pixels[v] = g_malloc (w * h * 3);
    views[v] = pattern_frame (pixels[v], w, h, c->index * 3 + v);
  }
  reference_embeds (c->handle, views, n_views, ref, c->dim);
  for (i = 0; i < n_views * c->dim; i++)
    scale = MAX (scale, fabsf (ref[i]));

  /* batches of up to 64 images: every request queued fits in the next */
  client = gst_clip_scheduler_join (c->handle, TRUE, 2, 64, &err);
  for (call = 0; call < n_calls () && client && !c->failure; call++) {
    memset (got, 0, 3 * c->dim * sizeof (gfloat));
    if (!gst_clip_scheduler_encode (client, views, n_views, got, rejected,
            &why, &err)) {
      c->failure = g_strdup_printf ("caller %u: %s", c->index, err.message);
      break;
    }
    for (v = 0; v < n_views; v++)
      if (rejected[v])
        c->failure = g_strdup_printf ("caller %u: view %u rejected: %s",
            c->index, v, why.message);
    for (i = 0; i < n_views * c->dim; i++)
      c->max_error = MAX (c->max_error, fabsf (got[i] - ref[i]) / scale);
  }
  if (!client) {
    c->failure = g_strdup_printf ("caller %u: %s", c->index, err.message);
  } else {
    GstClipSchedulerStats stats;

    gst_clip_scheduler_get_stats (client, &stats);
    c->max_wait = stats.max_wait_batches;
    gst_clip_scheduler_leave (client);
  }
  for (v = 0; v < n_views; v++)
    g_free (pixels[v]);
  g_free (got);
  g_free (ref);
  return NULL;
}

GST_START_TEST (test_concurrent_streams_get_their_own_results)
{
  GstClipModelHandle *h = acquire ();
  GstClipSchedulerClient *watcher;
  Caller callers[N_CALLERS];
  GThread *threads[N_CALLERS];
  ClipError err = { 0, };
  GstClipSchedulerStats stats;
  guint i;

  /* holds the shared scheduler for the whole test, to read its counts */
  watcher = gst_clip_scheduler_join (h, TRUE, 2, 1, &err);
  for (i = 0; i < N_CALLERS; i++) {
    callers[i] = (Caller) {
    h, i, model_dim (h), 0.0, 0, NULL};
    threads[i] = g_thread_new ("caller", caller_thread, &callers[i]);
  }
  for (i = 0; i < N_CALLERS; i++)
    g_thread_join (threads[i]);
  for (i = 0; i < N_CALLERS; i++) {
    fail_unless (callers[i].failure == NULL, "%s", callers[i].failure);
    /* batched with other streams' frames, the same numbers as alone */
    fail_unless (callers[i].max_error <= 1e-4,
        "caller %u: %g off the engine alone", i, callers[i].max_error);
    /* fairness: served by the batch being encoded when the request came,
     * or the next one (first come, first served), whatever the others do */
    fail_unless (callers[i].max_wait >= 1 && callers[i].max_wait <= 2,
        "caller %u waited %" G_GUINT64_FORMAT " batches", i,
        callers[i].max_wait);
  }

  gst_clip_scheduler_get_stats (watcher, &stats);
  /* 6 callers with 1, 2 or 3 views: 2 * (1 + 2 + 3) views a round */
  fail_unless_equals_int (stats.n_images, n_calls () * 12);
  /* six streams waiting at once were encoded together, not one by one
   * (under valgrind, which runs one thread at a time, they may not be) */
  fail_unless (g_getenv ("CLE_TEST_QUICK") ||
      stats.n_batches < (guint64) n_calls () * N_CALLERS,
      "%" G_GUINT64_FORMAT " batches for %u requests", stats.n_batches,
      n_calls () * N_CALLERS);
  gst_clip_scheduler_leave (watcher);
  gst_clip_model_cache_release (h);
}

GST_END_TEST;

GST_START_TEST (test_rejected_view_fails_alone)
{
  GstClipModelHandle *h = acquire ();
  const gint dim = model_dim (h);
  static guint8 good[64 * 48 * 3], sliver[2 * 4096 * 3];
  ClipFrame views[3];
  gfloat *got = g_new0 (gfloat, 3 * dim), *ref = g_new (gfloat, dim);
  gboolean rejected[3];
  ClipError why = { 0, }, err = { 0, };
  GstClipSchedulerClient *c = gst_clip_scheduler_join (h, TRUE, 1, 8, &err);
  gfloat scale = 0.0f;
  gint i;

  views[0] = pattern_frame (good, 64, 48, 1);
  /* resizes to 224 x 458752: refused by preprocessing */
  views[1] = pattern_frame (sliver, 4096, 2, 2);
  views[2] = views[0];
  reference_embeds (h, &views[0], 1, ref, dim);
  for (i = 0; i < dim; i++)
    scale = MAX (scale, fabsf (ref[i]));

  fail_unless (gst_clip_scheduler_encode (c, views, 3, got, rejected, &why,
          &err), "%s", err.message);
  fail_unless (!rejected[0] && rejected[1] && !rejected[2]);
  fail_unless (why.message[0] != '\0');
  for (i = 0; i < dim; i++) {
    fail_unless (fabsf (got[i] - ref[i]) <= 1e-4 * scale);
    fail_unless (fabsf (got[2 * dim + i] - ref[i]) <= 1e-4 * scale);
  }
  /* nothing at all to encode */
  fail_unless (gst_clip_scheduler_encode (c, views, 0, got, rejected, &why,
          &err));
  gst_clip_scheduler_leave (c);
  g_free (ref);
  g_free (got);
  gst_clip_model_cache_release (h);
}

GST_END_TEST;

static Suite *
clipscheduler_suite (void)
{
  Suite *s = suite_create ("clipscheduler");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_shared_and_own);
  tcase_add_test (tc, test_concurrent_streams_get_their_own_results);
  tcase_add_test (tc, test_rejected_view_fails_alone);
  return s;
}

GST_CHECK_MAIN (clipscheduler);
