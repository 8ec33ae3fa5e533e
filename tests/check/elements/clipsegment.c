/* clipsegment.c: the segmenter on hand-made score sequences (hysteresis,
 * merge gap, minimum duration, negatives, single and multi-label, flushes,
 * gaps), and the element on buffers carrying hand-made metas: segment metas,
 * messages, late events at EOS. No model is needed. */

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gstclipmeta.h"
#include "gstclipsegmenter.h"

#define MS GST_MSECOND

typedef struct
{
  GstClipSegmentEvent event;
  guint label_id;
  GstClockTime start, end;
  guint n_frames;
} Seen;

static void
collect (GstClipSegmentEvent event, const GstClipTimeSegment * s,
    gpointer data)
{
  GArray *seen = data;
  Seen e = { event, s->label_id, s->start.running_time, s->end.running_time,
    s->n_frames
  };

  g_array_append_val (seen, e);
}

static GstClipSegmenterParams
default_params (void)
{
  GstClipSegmenterParams p = { 0.5f, 0.35f, 500 * MS, 1000 * MS, FALSE };
  return p;
}

/* Pushes frames every @step from @from (inclusive) to @to (exclusive),
 * label 0 at @p0 and label 1 at @p1, background @bg. */
static void
push_run (GstClipSegmenter * seg, GstClockTime from, GstClockTime to,
    GstClockTime step, gfloat p0, gfloat p1, gfloat bg)
{
  static const gchar *labels[] = { "a", "b" };
  const guint ids[] = { 0, 1 };
  GstClockTime t;

  for (t = from; t < to; t += step) {
    GstClipTimes times = { t, t, t };
    const gfloat probs[] = { p0, p1 };

    gst_clip_segmenter_push (seg, &times, 2, ids, labels, probs, bg);
  }
}

static const Seen *
nth (GArray * seen, guint i)
{
  fail_unless (i < seen->len, "only %u events", seen->len);
  return &g_array_index (seen, Seen, i);
}

/* Enters at 0.5, stays down to 0.35, leaves below; boundaries halfway
 * between the frames around them. */
GST_START_TEST (test_hysteresis)
{
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  GstClipSegmenterParams p = default_params ();
  GstClipSegmenter *seg = gst_clip_segmenter_new (&p, collect, seen);

  push_run (seg, 0, 1000 * MS, 100 * MS, 0.45f, 0.1f, 0.0f);    /* not yet */
  push_run (seg, 1000 * MS, 2000 * MS, 100 * MS, 0.9f, 0.1f, 0.0f);
  push_run (seg, 2000 * MS, 3000 * MS, 100 * MS, 0.4f, 0.1f, 0.0f);     /* stays */
  push_run (seg, 3000 * MS, 6000 * MS, 100 * MS, 0.2f, 0.1f, 0.0f);
  gst_clip_segmenter_flush (seg, NULL);

  fail_unless_equals_int (seen->len, 2);
  fail_unless_equals_int (nth (seen, 0)->event, GST_CLIP_SEGMENT_STARTED);
  fail_unless_equals_uint64 (nth (seen, 0)->start, 950 * MS);
  fail_unless_equals_int (nth (seen, 1)->event, GST_CLIP_SEGMENT_FINISHED);
  fail_unless_equals_uint64 (nth (seen, 1)->start, 950 * MS);
  fail_unless_equals_uint64 (nth (seen, 1)->end, 2950 * MS);
  fail_unless_equals_int (nth (seen, 1)->n_frames, 20);
  gst_clip_segmenter_free (seg);
  g_array_unref (seen);
}

GST_END_TEST;

/* An interruption shorter than merge-gap is bridged; a longer one splits;
 * a segment shorter than min-duration is never reported. */
GST_START_TEST (test_merge_gap_and_min_duration)
{
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  GstClipSegmenterParams p = default_params ();
  GstClipSegmenter *seg = gst_clip_segmenter_new (&p, collect, seen);

  push_run (seg, 0, 2000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  push_run (seg, 2000 * MS, 2300 * MS, 100 * MS, 0.1f, 0.0f, 0.0f);
  push_run (seg, 2300 * MS, 4000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  push_run (seg, 4000 * MS, 5500 * MS, 100 * MS, 0.1f, 0.0f, 0.0f);
  push_run (seg, 5500 * MS, 5800 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);     /* short */
  push_run (seg, 5800 * MS, 8000 * MS, 100 * MS, 0.1f, 0.0f, 0.0f);
  gst_clip_segmenter_flush (seg, NULL);

  fail_unless_equals_int (seen->len, 2);
  fail_unless_equals_int (nth (seen, 1)->event, GST_CLIP_SEGMENT_FINISHED);
  fail_unless_equals_uint64 (nth (seen, 1)->start, 0);
  fail_unless_equals_uint64 (nth (seen, 1)->end, 3950 * MS);
  gst_clip_segmenter_free (seg);
  g_array_unref (seen);
}

GST_END_TEST;

/* A label must beat the best negative prompt. */
GST_START_TEST (test_background_wins)
{
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  GstClipSegmenterParams p = default_params ();
  GstClipSegmenter *seg = gst_clip_segmenter_new (&p, collect, seen);

  /* label 0 would enter, but the background is stronger */
  push_run (seg, 0, 3000 * MS, 100 * MS, 0.6f, 0.0f, 0.7f);
  gst_clip_segmenter_flush (seg, NULL);
  fail_unless_equals_int (seen->len, 0);
  gst_clip_segmenter_free (seg);

  /* each label on its own thresholds, still below the background */
  p.multi_label = TRUE;
  seg = gst_clip_segmenter_new (&p, collect, seen);
  push_run (seg, 0, 3000 * MS, 100 * MS, 0.6f, 0.55f, 0.65f);
  gst_clip_segmenter_flush (seg, NULL);
  fail_unless_equals_int (seen->len, 0);
  gst_clip_segmenter_free (seg);
  g_array_unref (seen);
}

GST_END_TEST;

/* Single-label: only the most probable; multi-label: each on its own. */
GST_START_TEST (test_single_and_multi_label)
{
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  GstClipSegmenterParams p = default_params ();
  GstClipSegmenter *seg = gst_clip_segmenter_new (&p, collect, seen);
  guint i, finished[2] = { 0, 0 };

  push_run (seg, 0, 3000 * MS, 100 * MS, 0.6f, 0.55f, 0.0f);
  gst_clip_segmenter_flush (seg, NULL);
  for (i = 0; i < seen->len; i++)
    if (nth (seen, i)->event == GST_CLIP_SEGMENT_FINISHED)
      finished[nth (seen, i)->label_id]++;
  fail_unless_equals_int (finished[0], 1);
  fail_unless_equals_int (finished[1], 0);
  gst_clip_segmenter_free (seg);

  g_array_set_size (seen, 0);
  p.multi_label = TRUE;
  seg = gst_clip_segmenter_new (&p, collect, seen);
  push_run (seg, 0, 3000 * MS, 100 * MS, 0.6f, 0.55f, 0.0f);
  gst_clip_segmenter_flush (seg, NULL);
  finished[0] = finished[1] = 0;
  for (i = 0; i < seen->len; i++)
    if (nth (seen, i)->event == GST_CLIP_SEGMENT_FINISHED)
      finished[nth (seen, i)->label_id]++;
  fail_unless_equals_int (finished[0], 1);
  fail_unless_equals_int (finished[1], 1);
  gst_clip_segmenter_free (seg);
  g_array_unref (seen);
}

GST_END_TEST;

/* A start is announced as soon as the segment has lasted min-duration,
 * long before it ends; a flush ends open segments at the given end; a gap
 * in the frames ends them at their last frame; time going back too. */
GST_START_TEST (test_start_flush_and_gaps)
{
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  GstClipSegmenterParams p = default_params ();
  GstClipSegmenter *seg = gst_clip_segmenter_new (&p, collect, seen);
  GstClipTimes end = { 9000 * MS, 9000 * MS, 9000 * MS };

  push_run (seg, 0, 600 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  fail_unless_equals_int (seen->len, 1);        /* started at 500 ms */
  fail_unless_equals_int (nth (seen, 0)->event, GST_CLIP_SEGMENT_STARTED);

  /* a 5 s hole in the frames: ends at the last frame + half a spacing */
  push_run (seg, 600 * MS, 1000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  push_run (seg, 6000 * MS, 8000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  fail_unless_equals_int (nth (seen, 1)->event, GST_CLIP_SEGMENT_FINISHED);
  fail_unless_equals_uint64 (nth (seen, 1)->end, 950 * MS);
  /* the second one starts afresh at the frame after the hole */
  fail_unless_equals_uint64 (nth (seen, 2)->start, 6000 * MS);

  /* EOS: what is on at the last frame ends at the end given */
  gst_clip_segmenter_flush (seg, &end);
  fail_unless_equals_int (nth (seen, 3)->event, GST_CLIP_SEGMENT_FINISHED);
  fail_unless_equals_uint64 (nth (seen, 3)->end, 9000 * MS);

  /* time going back (a new stream) ends what is open */
  g_array_set_size (seen, 0);
  push_run (seg, 5000 * MS, 7000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  push_run (seg, 0, 2000 * MS, 100 * MS, 0.9f, 0.0f, 0.0f);
  fail_unless_equals_int (nth (seen, 1)->event, GST_CLIP_SEGMENT_FINISHED);
  fail_unless_equals_uint64 (nth (seen, 1)->end, 6950 * MS);
  gst_clip_segmenter_free (seg);
  g_array_unref (seen);
}

GST_END_TEST;

/* ------------------------------------------------------- the element -- */

static GstBuffer *
frame_with_labels (GstClockTime t, gfloat p_dog, gfloat background)
{
  GstBuffer *buf = gst_buffer_new ();
  GstClipClassificationMeta *m;

  GST_BUFFER_PTS (buf) = t;
  GST_BUFFER_DURATION (buf) = 100 * MS;
  m = gst_buffer_add_clip_classification_meta (buf, t, 3);
  m->scored_stream_time = t;
  m->scored_running_time = t;
  m->background_probability = background;
  gst_clip_classification_meta_add (m, 1, "a dog", p_dog, 0, 0);
  gst_clip_classification_meta_add (m, 0, "a cat", 1.0f - p_dog, 0, 0);
  return buf;
}

static guint
count_segment_metas (GstBuffer * buf, gboolean finished)
{
  gpointer state = NULL;
  GstMeta *m;
  guint n = 0;

  while ((m = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_CLIP_SEGMENT_META_API_TYPE)))
    n += ((GstClipSegmentMeta *) m)->finished == finished;
  return n;
}

/* Segment metas ride on frames; the last segment, open at EOS, travels in a
 * late-result event before EOS; messages reach the bus. Pooled scores are
 * moved back by half their window. */
GST_START_TEST (test_element_metas_messages_eos)
{
  GstHarness *h = gst_harness_new ("clipsegment");
  GstBus *bus = gst_bus_new ();
  GstElement *e = h->element;
  GstMessage *msg;
  GstEvent *ev;
  guint i, n_started = 0, n_finished = 0, n_late = 0;
  guint64 start;

  gst_element_set_bus (e, bus);
  gst_harness_set_src_caps_str (h, "video/x-raw");
  /* dog 0-2 s, cat 2-4 s, dog 4-6 s (open at EOS) */
  for (i = 0; i < 60; i++) {
    gfloat p = (i < 20 || i >= 40) ? 0.9f : 0.1f;
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, frame_with_labels (i * 100 *
                MS, p, 0.0f)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    n_started += count_segment_metas (out, FALSE);
    n_finished += count_segment_metas (out, TRUE);
    gst_buffer_unref (out);
  }
  /* dog, cat confirmed; dog and cat finished before the end; dog again */
  fail_unless_equals_int (n_started, 3);
  fail_unless_equals_int (n_finished, 2);

  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((ev = gst_harness_try_pull_event (h))) {
    const GstStructure *s = gst_event_get_structure (ev);

    if (s && gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT)) {
      GstBuffer *carrier = gst_value_get_buffer (gst_structure_get_value (s,
              "buffer"));
      n_late += count_segment_metas (carrier, TRUE);
    }
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n_late, 1);

  n_started = n_finished = 0;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);

    if (gst_structure_has_name (s, "clip-segment-start")) {
      if (n_started == 0) {
        fail_unless (gst_structure_get_uint64 (s, "start", &start));
        fail_unless_equals_uint64 (start, 0);
        fail_unless_equals_string (gst_structure_get_string (s, "label"),
            "a dog");
      }
      n_started++;
    } else if (gst_structure_has_name (s, "clip-segment-end")) {
      n_finished++;
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (n_started, 3);
  fail_unless_equals_int (n_finished, 3);

  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

GST_END_TEST;

/* A flushing seek ends the open segment where the frames stopped (in a
 * late-result event after the flush); a DISCONT flag without a jump in time
 * splits nothing. */
GST_START_TEST (test_element_flush_and_discont)
{
  GstHarness *h = gst_harness_new ("clipsegment");
  GstEvent *ev;
  GstSegment seg;
  guint i, n_finished = 0, n_late = 0;

  g_object_set (h->element, "post-messages", FALSE, NULL);
  gst_harness_set_src_caps_str (h, "video/x-raw");
  for (i = 0; i < 30; i++) {
    GstBuffer *in = frame_with_labels (i * 100 * MS, 0.9f, 0.0f), *out;

    if (i == 15)
      GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    out = gst_harness_pull (h);
    n_finished += count_segment_metas (out, TRUE);
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (n_finished, 0);       /* DISCONT split nothing */

  while ((ev = gst_harness_try_pull_event (h)))
    gst_event_unref (ev);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  while ((ev = gst_harness_try_pull_event (h))) {
    const GstStructure *s = gst_event_get_structure (ev);

    if (s && gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT)) {
      GstBuffer *carrier = gst_value_get_buffer (gst_structure_get_value (s,
              "buffer"));
      gpointer state = NULL;
      GstClipSegmentMeta *m;

      while ((m = (GstClipSegmentMeta *)
              gst_buffer_iterate_meta_filtered (carrier, &state,
                  GST_CLIP_SEGMENT_META_API_TYPE))) {
        fail_unless (m->finished);
        fail_unless_equals_uint64 (m->start_running_time, 0);
        /* the last frame, at 2.9 s, and half a spacing */
        fail_unless_equals_uint64 (m->end_running_time, 2950 * MS);
        fail_unless_equals_int (m->n_frames, 30);
        n_late++;
      }
    }
    gst_event_unref (ev);
  }
  fail_unless_equals_int (n_late, 1);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_element_bad_thresholds)
{
  GstHarness *h = gst_harness_new ("clipsegment");

  g_object_set (h->element, "enter-threshold", 0.3f, "leave-threshold", 0.6f,
      NULL);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (h->element,
          GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ------------------------------------------------------- live camera -- */

typedef struct
{
  GMainLoop *loop;
  GstElement *pipeline, *src;
  GstClockTime switch_rt;       /* when the pattern changed */
  GstClockTime arrival_rt;      /* when "color bars" was announced */
  guint64 announced_start;      /* its start-running-time field */
  gboolean eos;
} LiveRun;

static GstClockTime
running_time_now (GstElement * pipeline)
{
  GstClock *clock = gst_element_get_clock (pipeline);
  GstClockTime now;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock) - gst_element_get_base_time (pipeline);
  gst_object_unref (clock);
  return now;
}

static gboolean
live_switch (gpointer data)
{
  LiveRun *r = data;

  r->switch_rt = running_time_now (r->pipeline);
  gst_util_set_object_arg (G_OBJECT (r->src), "pattern", "smpte");
  return G_SOURCE_REMOVE;
}

static gboolean
live_eos (gpointer data)
{
  LiveRun *r = data;

  gst_element_send_event (r->pipeline, gst_event_new_eos ());
  return G_SOURCE_REMOVE;
}

static gboolean
live_give_up (gpointer data)
{
  g_main_loop_quit (((LiveRun *) data)->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
live_bus (GstBus * bus, GstMessage * msg, gpointer data)
{
  LiveRun *r = data;
  const GstStructure *s = gst_message_get_structure (msg);

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      if (gst_structure_has_name (s, "clip-segment-start") &&
          g_strcmp0 (gst_structure_get_string (s, "label"), "color bars") == 0
          && !GST_CLOCK_TIME_IS_VALID (r->arrival_rt)) {
        r->arrival_rt = running_time_now (r->pipeline);
        fail_unless (gst_structure_get_uint64 (s, "start-running-time",
                &r->announced_start));
      }
      break;
    case GST_MESSAGE_ERROR:
      fail ("error from %s", GST_OBJECT_NAME (msg->src));
      break;
    case GST_MESSAGE_EOS:
      r->eos = TRUE;
      g_main_loop_quit (r->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* A live camera switches from a ball to colour bars: the start of "color
 * bars" is announced while it is on screen, not at EOS, and its start time
 * is the switch (within the pooling window). */
GST_START_TEST (test_live_start_announced_while_on)
{
  LiveRun r = { 0, };
  gchar *model = g_build_filename (g_getenv ("CLIP_SOURCE_ROOT"), "models",
      "tiny-demo-clip", NULL);
  gchar *desc = g_strdup_printf ("videotestsrc name=src is-live=true "
      "pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "clipclassify model=\"%s\" labels=\"a bouncing ball,color bars,"
      "static noise\" mode=async threads=1 top-k=0 window=500000000 ! "
      "clipsegment min-duration=500000000 ! fakesink sync=true", model);
  GstBus *bus;

  r.pipeline = gst_parse_launch (desc, NULL);
  fail_unless (r.pipeline != NULL);
  r.src = gst_bin_get_by_name (GST_BIN (r.pipeline), "src");
  r.loop = g_main_loop_new (NULL, FALSE);
  r.switch_rt = r.arrival_rt = GST_CLOCK_TIME_NONE;
  bus = gst_element_get_bus (r.pipeline);
  gst_bus_add_watch (bus, live_bus, &r);
  fail_if (gst_element_set_state (r.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  g_timeout_add (2500, live_switch, &r);
  g_timeout_add (6500, live_eos, &r);
  g_timeout_add (60000, live_give_up, &r);
  g_main_loop_run (r.loop);

  fail_unless (r.eos, "no EOS");
  fail_unless (GST_CLOCK_TIME_IS_VALID (r.arrival_rt),
      "the start of 'color bars' was never announced");
  GST_INFO ("switch at %" GST_TIME_FORMAT ", announced at %" GST_TIME_FORMAT
      " with start %" GST_TIME_FORMAT, GST_TIME_ARGS (r.switch_rt),
      GST_TIME_ARGS (r.arrival_rt), GST_TIME_ARGS (r.announced_start));
  /* announced while the bars were on screen (EOS came 4 s after) */
  fail_unless (r.arrival_rt < r.switch_rt + 4 * GST_SECOND);
  fail_unless (r.announced_start + 750 * GST_MSECOND > r.switch_rt &&
      r.announced_start < r.switch_rt + 750 * GST_MSECOND,
      "start %" GST_TIME_FORMAT " for a switch at %" GST_TIME_FORMAT,
      GST_TIME_ARGS (r.announced_start), GST_TIME_ARGS (r.switch_rt));

  gst_element_set_state (r.pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (r.src);
  gst_object_unref (r.pipeline);
  g_main_loop_unref (r.loop);
  g_free (desc);
  g_free (model);
}

GST_END_TEST;

static Suite *
clipsegment_suite (void)
{
  Suite *s = suite_create ("clipsegment");
  TCase *tc = tcase_create ("segmenter");
  TCase *te = tcase_create ("element");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_hysteresis);
  tcase_add_test (tc, test_merge_gap_and_min_duration);
  tcase_add_test (tc, test_background_wins);
  tcase_add_test (tc, test_single_and_multi_label);
  tcase_add_test (tc, test_start_flush_and_gaps);
  suite_add_tcase (s, te);
  tcase_add_test (te, test_element_metas_messages_eos);
  tcase_add_test (te, test_element_flush_and_discont);
  tcase_add_test (te, test_element_bad_thresholds);
  tcase_add_test (te, test_live_start_announced_while_on);
  return s;
}

GST_CHECK_MAIN (clipsegment);
