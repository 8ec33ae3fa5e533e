/* read-labels.c: an application outside the project, built by
 * scripts/test-install.sh against the installed copy only:
 *   cc read-labels.c $(pkg-config --cflags --libs gstreamer-clipmeta-1.0)
 * Runs videotestsrc through clipclassify and prints each frame's labels,
 * read with the public meta API, as "PTS label=probability ...".
 * Usage: read-labels MODEL_DIR LABELS */

#include <gst/gst.h>
#include <gst/clip/gstclipmeta.h>

static GstPadProbeReturn
on_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstClipClassificationMeta *meta =
      gst_buffer_get_clip_classification_meta (GST_PAD_PROBE_INFO_BUFFER
      (info));
  guint i;

  if (!meta)
    return GST_PAD_PROBE_OK;
  g_print ("%" G_GUINT64_FORMAT, (guint64) meta->scored_pts);
  for (i = 0; i < meta->n_classifications; i++) {
    const GstClipClassification *c = gst_clip_classification_meta_get (meta,
        i);
    g_print (" %s=%.4f", c->label, c->probability);
  }
  g_print ("\n");
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *sink;
  GstPad *pad;
  GstMessage *msg;
  GError *error = NULL;
  gchar *desc;
  int status;

  gst_init (&argc, &argv);
  if (argc != 3) {
    g_printerr ("usage: %s MODEL_DIR LABELS\n", argv[0]);
    return 2;
  }
  desc = g_strdup_printf ("videotestsrc num-buffers=5 pattern=ball ! "
      "videoconvert ! clipclassify model=\"%s\" labels=\"%s\" ! "
      "fakesink name=sink", argv[1], argv[2]);
  pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  status = msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS ? 0 : 1;
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return status;
}
