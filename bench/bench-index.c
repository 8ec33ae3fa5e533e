/* bench-index.c - the cost of the clipindex element per row: N buffers,
 * each with a unit GstClipEmbeddingMeta of DIM floats, pushed through it
 * (float16 conversion, the JSON line, the writes, the rename at EOS), in
 * microseconds per row. Compare with a frame's inference
 * (docs/archive-index.md). Usage: bench-index [N [DIM]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>
#include <gst/check/gstharness.h>

#include "gstclipmeta.h"

int
main (int argc, char **argv)
{
  const guint n = argc > 1 ? atoi (argv[1]) : 100000;
  const guint dim = argc > 2 ? atoi (argv[2]) : 512;
  gchar *dir, *cmd;
  const gchar *model;
  GstElement *e;
  GstHarness *h;
  GstBuffer **bufs;
  gfloat *v;
  gint64 t0, t1;

  gst_init (&argc, &argv);
  model = g_getenv ("CLIP_TEST_MODEL");
  if (!model) {
    fprintf (stderr, "bench-index: set CLIP_TEST_MODEL to a model folder\n");
    return 1;
  }
  dir = g_dir_make_tmp ("bench-index-XXXXXX", NULL);
  v = g_new (gfloat, dim);
  for (guint j = 0; j < dim; j++)
    v[j] = 1.0f / sqrtf (dim);
  bufs = g_new (GstBuffer *, n);
  for (guint i = 0; i < n; i++) {
    GstClipEmbeddingMeta *m;
    bufs[i] = gst_buffer_new ();
    m = gst_buffer_add_clip_embedding_meta (bufs[i], v, dim, model);
    m->scored_pts = m->scored_stream_time = m->scored_running_time =
        i * 40 * GST_MSECOND;
    m->scored_frame_number = i;
  }

  e = gst_element_factory_make ("clipindex", NULL);
  g_object_set (e, "location", dir, "shard", "bench", "file",
      "archive/2019/a long file name.mp4", NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "application/x-test");
  /* the first row writes the manifest (a fingerprint): not timed */
  gst_harness_push (h, gst_buffer_ref (bufs[0]));
  t0 = g_get_monotonic_time ();
  for (guint i = 1; i < n; i++) {
    if (gst_harness_push (h, bufs[i]) != GST_FLOW_OK) {
      fprintf (stderr, "bench-index: push %u failed\n", i);
      return 1;
    }
    gst_buffer_unref (gst_harness_pull (h));
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  t1 = g_get_monotonic_time ();
  printf ("clipindex: %u rows of %u floats: %.2f us/row (EOS, fsync and "
      "rename included)\n", n - 1, dim, (double) (t1 - t0) / (n - 1));
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
  cmd = g_strdup_printf ("rm -rf '%s'", dir);
  if (system (cmd) != 0)
    return 1;
  g_free (cmd);
  g_free (dir);
  g_free (bufs);
  g_free (v);
  return 0;
}
