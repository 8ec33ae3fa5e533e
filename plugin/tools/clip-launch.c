/* clip-launch: runs a gst-launch-1.0 pipeline description and always ends
 * by itself: at EOS (exit 0), at the first error from any element (exit 1,
 * the message on stderr), on Ctrl-C or SIGTERM (EOS first, as gst-launch -e
 * does, so files end on a complete line), when the pipeline stops making
 * progress (--stall-timeout), and when shutting down takes too long
 * (--stop-timeout: the process exits anyway, naming what it waited for).
 *
 * Why not gst-launch-1.0: on GStreamer 1.22 it can wait forever after an
 * error during preroll (a file that is not a video: typefind posts its
 * error, gst-launch prints "pipeline doesn't want to preroll." and hangs in
 * a few percent of runs). A sweep over an archive must never stop on one
 * bad file, so every pipeline this project ships runs through this.
 *
 * At the end it prints each clipclassify's frame counters on stderr, so a
 * frame that was not classified is never lost silently. stdout is left to
 * the pipeline (clipjson writes there when it has no location). */

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gst/gst.h>

#define EXIT_ERROR 1
#define EXIT_USAGE 2

typedef struct
{
  GstElement *pipeline;
  GMainLoop *loop;
  gint exit_code;
  guint stall_timeout_s;        /* 0: never */
  guint stop_timeout_s;
  gboolean quiet;
  gboolean eos_sent;
  gboolean decided;             /* exit_code is final */
  GHashTable *qos_dropped;      /* element path -> frames it dropped late */

  /* the watchdog thread's; under lock */
  GMutex lock;
  GCond cond;
  gint64 stop_deadline;         /* monotonic us; 0 while running */
  gboolean finished;
  gboolean started;             /* set_state (PLAYING) has returned */
  GThread *watchdog;
} Launch;

static void
print_message (GstMessage * msg, const gchar * kind)
{
  GError *err = NULL;
  gchar *debug = NULL, *name = gst_object_get_path_string (msg->src);

  if (kind[0] == 'E')
    gst_message_parse_error (msg, &err, &debug);
  else
    gst_message_parse_warning (msg, &err, &debug);
  g_printerr ("%s: from element %s: %s\n", kind, name, err->message);
  if (debug)
    g_printerr ("Additional debug info:\n%s\n", debug);
  g_clear_error (&err);
  g_free (debug);
  g_free (name);
}

/* Ends the main loop with @code unless an earlier outcome decided it; from
 * any thread. */
static void
launch_finish (Launch * l, gint code)
{
  g_mutex_lock (&l->lock);
  if (!l->decided) {
    l->exit_code = code;
    l->decided = TRUE;
  }
  if (l->stop_deadline == 0)
    l->stop_deadline = g_get_monotonic_time () +
        (gint64) l->stop_timeout_s * G_TIME_SPAN_SECOND;
  g_cond_broadcast (&l->cond);
  g_mutex_unlock (&l->lock);
  g_main_loop_quit (l->loop);
}

static gboolean
on_bus_message (GstBus * bus, GstMessage * msg, gpointer data)
{
  Launch *l = data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      print_message (msg, "ERROR");
      launch_finish (l, EXIT_ERROR);
      break;
    case GST_MESSAGE_WARNING:
      print_message (msg, "WARNING");
      break;
    case GST_MESSAGE_EOS:
      launch_finish (l, 0);
      break;
    case GST_MESSAGE_QOS:{
      /* an element dropped late frames: say so at the end */
      GstFormat format;
      guint64 processed, dropped;

      gst_message_parse_qos_stats (msg, &format, &processed, &dropped);
      if (format == GST_FORMAT_BUFFERS || format == GST_FORMAT_DEFAULT)
        g_hash_table_insert (l->qos_dropped,
            gst_object_get_path_string (msg->src), GSIZE_TO_POINTER (dropped));
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* First signal: EOS, so every element writes what it has; a second one, or
 * a pipeline that does not reach EOS in --stop-timeout, ends the run. */
static gboolean
on_signal (gpointer data)
{
  Launch *l = data;

  if (l->eos_sent) {
    g_printerr ("clip-launch: interrupted again, stopping now\n");
    launch_finish (l, EXIT_ERROR);
    return G_SOURCE_CONTINUE;
  }
  l->eos_sent = TRUE;
  if (!l->quiet)
    g_printerr ("clip-launch: interrupted, ending the stream (EOS)\n");
  gst_element_send_event (l->pipeline, gst_event_new_eos ());
  g_mutex_lock (&l->lock);
  if (l->stop_deadline == 0)
    l->stop_deadline = g_get_monotonic_time () +
        (gint64) l->stop_timeout_s * G_TIME_SPAN_SECOND;
  g_mutex_unlock (&l->lock);
  return G_SOURCE_CONTINUE;
}

/* Runs beside the main loop: ends a pipeline whose position has not moved
 * for --stall-timeout seconds, and the whole process when the loop or the
 * shutdown outlives the stop deadline (a hung state change cannot be
 * interrupted any other way). */
static gpointer
watchdog_thread (gpointer data)
{
  Launch *l = data;
  gint64 pos, last_pos = -1, last_progress = g_get_monotonic_time ();

  g_mutex_lock (&l->lock);
  while (!l->finished) {
    gint64 now = g_get_monotonic_time ();

    if (l->stop_deadline != 0 && now >= l->stop_deadline) {
      g_printerr ("clip-launch: the pipeline did not stop within %u s; "
          "exiting without waiting for it\n", l->stop_timeout_s);
      fflush (stdout);
      _exit (l->exit_code ? l->exit_code : EXIT_ERROR);
    }
    /* the clock starts once the elements have started (models loaded, the
     * label prompts encoded: that may take long and is not a stall) */
    if (!l->started)
      last_progress = now;
    if (l->stop_deadline == 0 && l->stall_timeout_s > 0 && l->started) {
      g_mutex_unlock (&l->lock);
      if (gst_element_query_position (l->pipeline, GST_FORMAT_TIME, &pos)
          && pos != last_pos) {
        last_pos = pos;
        last_progress = now;
      } else if (now - last_progress >=
          (gint64) l->stall_timeout_s * G_TIME_SPAN_SECOND) {
        g_printerr ("ERROR: the pipeline made no progress for %u s "
            "(stall timeout); giving up\n", l->stall_timeout_s);
        launch_finish (l, EXIT_ERROR);
      }
      g_mutex_lock (&l->lock);
    }
    g_cond_wait_until (&l->cond, &l->lock, now + G_TIME_SPAN_SECOND / 4);
  }
  g_mutex_unlock (&l->lock);
  return NULL;
}

static guint64
get_counter (GstElement * e, const gchar * name)
{
  guint64 v = 0;

  if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), name))
    g_object_get (e, name, &v, NULL);
  return v;
}

/* Every clipclassify's counters: what happened to each frame it saw.
 * Returns how many clipclassify elements saw no frame at all. */
static guint
print_frame_counters (GstElement * pipeline)
{
  guint n_empty = 0;
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&item);
    GstElementFactory *f = gst_element_get_factory (e);

    if (f && g_str_equal (GST_OBJECT_NAME (f), "clipclassify")) {
      guint64 failed = get_counter (e, "frames-failed");
      guint64 busy = get_counter (e, "frames-dropped-busy");

      g_printerr ("%s: %" G_GUINT64_FORMAT " frames: %" G_GUINT64_FORMAT
          " classified, %" G_GUINT64_FORMAT " skipped by interval, %"
          G_GUINT64_FORMAT " not classified (worker busy), %" G_GUINT64_FORMAT
          " not classified (frame rejected)\n", GST_OBJECT_NAME (e),
          get_counter (e, "frames-in"), get_counter (e, "frames-classified"),
          get_counter (e, "frames-skipped-interval"), busy, failed);
      if (get_counter (e, "frames-classified") > 0 &&
          g_object_class_find_property (G_OBJECT_GET_CLASS (e), "latency-p99"))
        g_printerr ("%s: latency %.1f ms mean, %.1f ms p50, %.1f ms p99\n",
            GST_OBJECT_NAME (e), get_counter (e, "latency-mean") / 1e6,
            get_counter (e, "latency-p50") / 1e6,
            get_counter (e, "latency-p99") / 1e6);
      if (get_counter (e, "frames-in") == 0)
        n_empty++;
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return n_empty;
}

int
main (int argc, char **argv)
{
  Launch l = { 0, };
  GOptionContext *octx;
  GError *err = NULL;
  GstBus *bus;
  gchar **args = NULL;
  guint stall = 0, stop = 10;
  gboolean quiet = FALSE, expect_frames = FALSE;
  GOptionEntry entries[] = {
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
        "Print only errors, warnings and the frame counters", NULL},
    {"stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall,
          "End with an error when the stream position has not moved for this "
          "long (0 = never; default 0)", "SECONDS"},
    {"expect-frames", 0, 0, G_OPTION_ARG_NONE, &expect_frames,
          "Fail when a clipclassify element saw no frame at all (an input "
          "that ends without decodable video, e.g. a cut-off image)", NULL},
    {"stop-timeout", 0, 0, G_OPTION_ARG_INT, &stop,
          "Exit anyway when stopping the pipeline takes longer than this "
          "(default 10)", "SECONDS"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, NULL,
        "PIPELINE-DESCRIPTION"},
    {NULL}
  };

  octx = g_option_context_new ("PIPELINE-DESCRIPTION - run a GStreamer "
      "pipeline that always ends by itself");
  g_option_context_set_summary (octx, "Runs a gst-launch-1.0 pipeline "
      "description. Exit status: 0 at EOS (or after Ctrl-C, which sends EOS), "
      "1 on an error, a stall or a shutdown that does not finish, 2 on a bad "
      "command line or pipeline description.");
  g_option_context_add_main_entries (octx, entries, NULL);
  g_option_context_add_group (octx, gst_init_get_option_group ());
  if (!g_option_context_parse (octx, &argc, &argv, &err)) {
    g_printerr ("clip-launch: %s\n", err->message);
    return EXIT_USAGE;
  }
  g_option_context_free (octx);
  if (!args || !args[0]) {
    g_printerr ("usage: clip-launch [OPTION...] PIPELINE-DESCRIPTION "
        "(see --help)\n");
    return EXIT_USAGE;
  }

  l.pipeline = gst_parse_launchv_full ((const gchar **) args, NULL,
      GST_PARSE_FLAG_FATAL_ERRORS, &err);
  g_strfreev (args);
  if (!l.pipeline) {
    g_printerr ("clip-launch: bad pipeline description: %s\n",
        err ? err->message : "unknown error");
    return EXIT_USAGE;
  }
  if (!GST_IS_PIPELINE (l.pipeline)) {
    GstElement *p = gst_pipeline_new (NULL);

    gst_bin_add (GST_BIN (p), l.pipeline);
    l.pipeline = p;
  }

  l.quiet = quiet;
  l.stall_timeout_s = stall;
  l.stop_timeout_s = MAX (stop, 1);
  l.loop = g_main_loop_new (NULL, FALSE);
  l.qos_dropped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      NULL);
  g_mutex_init (&l.lock);
  g_cond_init (&l.cond);
  bus = gst_element_get_bus (l.pipeline);
  gst_bus_add_watch (bus, on_bus_message, &l);
  g_unix_signal_add (SIGINT, on_signal, &l);
  g_unix_signal_add (SIGTERM, on_signal, &l);
  l.watchdog = g_thread_new ("clip-launch-watchdog", watchdog_thread, &l);

  /* A failed state change posts its error on the bus: the loop reports it. */
  if (gst_element_set_state (l.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, GST_SECOND,
        GST_MESSAGE_ERROR);

    if (msg) {
      print_message (msg, "ERROR");
      gst_message_unref (msg);
    } else {
      g_printerr ("ERROR: the pipeline could not be started\n");
    }
    launch_finish (&l, EXIT_ERROR);
  } else {
    g_mutex_lock (&l.lock);
    l.started = TRUE;
    g_mutex_unlock (&l.lock);
    g_main_loop_run (l.loop);
  }

  /* what each frame came to, before stop() clears the elements */
  {
    GHashTableIter it;
    gpointer name, dropped;

    g_hash_table_iter_init (&it, l.qos_dropped);
    while (g_hash_table_iter_next (&it, &name, &dropped))
      if (GPOINTER_TO_SIZE (dropped) > 0)
        g_printerr ("%s: dropped %" G_GSIZE_FORMAT " late frames (QoS)\n",
            (const gchar *) name, GPOINTER_TO_SIZE (dropped));
  }
  if (print_frame_counters (l.pipeline) > 0 && expect_frames &&
      l.exit_code == 0) {
    g_printerr ("ERROR: the stream ended without a single video frame\n");
    l.exit_code = EXIT_ERROR;
  }
  fflush (stdout);
  launch_finish (&l, l.exit_code);      /* arms the deadline if not yet */
  gst_element_set_state (l.pipeline, GST_STATE_NULL);

  g_mutex_lock (&l.lock);
  l.finished = TRUE;
  g_cond_broadcast (&l.cond);
  g_mutex_unlock (&l.lock);
  g_thread_join (l.watchdog);

  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (l.pipeline);
  g_main_loop_unref (l.loop);
  g_hash_table_unref (l.qos_dropped);
  g_mutex_clear (&l.lock);
  g_cond_clear (&l.cond);
  return l.exit_code;
}
