/* bench-element.c - issue target 6: clipclassify (interval=1, sync mode)
 * against the engine alone at the same batch size (1), in one process.
 *
 * One synthetic frame (gradients) is built once. An element run pushes it
 * --frames times through appsrc ! clipclassify ! fakesink, each time in a
 * fresh GstMemory wrapping the same bytes (exclusive, as a buffer pool hands
 * them out, so the element's writable map copies nothing), and is timed from
 * the first push until fakesink has the last frame. An engine run makes the
 * calls the element makes per frame: cle_encode_frames (preprocess + vision
 * tower, batch 1) and cle_model_score against the 3 labels. Each round has
 * one run of each (element first in odd rounds, engine first in even ones);
 * the pipeline stays in PLAYING throughout, so the model load and the prompt
 * encoding are outside every timed window. Besides frames/s, each run
 * reports the process's CPU time per frame and how many cores other
 * processes kept busy meanwhile (others_load, as bench/peers/run_one.py).
 * It asserts nothing: the figures need a quiet machine to mean something.
 *
 *   bench-element MODEL [--threads 2] [--precision fp32] [--frames 200]
 *       [--rounds 5] [--format I420] [--size 1920x1080] [--shared-memory]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#include "clip.h"
#include "gstclipmeta.h"

#define N_LABELS 3
#define N_WARMUP 3              /* per pipeline start, untimed */
#define N_ROUND_WARMUP 2        /* per round and side, untimed */
#define WAIT_SECONDS 600        /* for the frames of a run to reach the sink */

static const char *const labels[N_LABELS] = { "a dog", "a cat", "a ball" };

/* ------------------------------------------------------------- frame -- */

/* The synthetic frame: one allocation laid out as info says. */
typedef struct
{
  GstVideoInfo info;
  guint8 *data;
} Frame;

/* Gradients: luma along the diagonal, U across, V down. Deterministic and far
 * from constant, so resizing does real work. */
static void
frame_init (Frame * f, GstVideoFormat format, int width, int height)
{
  GstVideoInfo *info = &f->info;
  int x, y, cw, ch;

  gst_video_info_set_format (info, format, width, height);
  GST_VIDEO_INFO_FPS_N (info) = 30;
  GST_VIDEO_INFO_FPS_D (info) = 1;
  f->data = g_malloc (GST_VIDEO_INFO_SIZE (info));
  cw = GST_VIDEO_INFO_COMP_WIDTH (info, 1);
  ch = GST_VIDEO_INFO_COMP_HEIGHT (info, 1);

  for (y = 0; y < height; y++) {
    guint8 *row = f->data + GST_VIDEO_INFO_PLANE_OFFSET (info, 0)
        + (gsize) y * GST_VIDEO_INFO_PLANE_STRIDE (info, 0);
    for (x = 0; x < width; x++)
      row[x] = 16 + (219 * x / width + 219 * y / height) / 2;
  }
  for (y = 0; y < ch; y++) {
    guint8 *u = f->data + GST_VIDEO_INFO_PLANE_OFFSET (info, 1)
        + (gsize) y * GST_VIDEO_INFO_PLANE_STRIDE (info, 1);
    guint8 *v = f->data + GST_VIDEO_INFO_PLANE_OFFSET (info, 2)
        + (gsize) y * GST_VIDEO_INFO_PLANE_STRIDE (info, 2);
    for (x = 0; x < cw; x++) {
      guint8 cu = 16 + 224 * x / cw, cv = 16 + 224 * y / ch;

      if (format == GST_VIDEO_FORMAT_NV12) {
        u[2 * x] = cu;
        u[2 * x + 1] = cv;
      } else {
        u[x] = cu;
        v[x] = cv;
      }
    }
  }
}

/* The engine's view of the frame, colour matrix and range as the element
 * derives them from the caps. */
static void
frame_to_clip (ClipFrame * cf, const Frame * f)
{
  const GstVideoInfo *info = &f->info;
  guint p;

  memset (cf, 0, sizeof (*cf));
  cf->format = GST_VIDEO_INFO_FORMAT (info) == GST_VIDEO_FORMAT_NV12 ?
      CLE_PIXEL_NV12 : CLE_PIXEL_I420;
  cf->width = GST_VIDEO_INFO_WIDTH (info);
  cf->height = GST_VIDEO_INFO_HEIGHT (info);
  for (p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++) {
    cf->planes[p] = f->data + GST_VIDEO_INFO_PLANE_OFFSET (info, p);
    cf->strides[p] = GST_VIDEO_INFO_PLANE_STRIDE (info, p);
  }
  cf->matrix = info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT601 ?
      CLE_MATRIX_BT601 : CLE_MATRIX_BT709;
  cf->range = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ?
      CLE_RANGE_FULL : CLE_RANGE_LIMITED;
}

/* ------------------------------------------------------------- meter -- */

/* The start of a timed run: wall time, this process's CPU time, and the
 * busy jiffies of all CPUs at nice <= 0 (/proc/stat, as peers/run_one.py
 * counts them; -1 where it cannot be read). */
typedef struct
{
  gint64 wall_us;
  double cpu_s;
  gint64 busy;
} Sample;

/* What a run measured: frames/s, this process's CPU time per frame (all its
 * threads: a noisy neighbour inflates it far less than the wall time), and
 * the cores that other processes kept busy meanwhile. */
typedef struct
{
  double fps, cpu_ms, others;
} Measure;

static gint64
busy_jiffies (void)
{
  long long v[8] = { 0 };
  FILE *f = fopen ("/proc/stat", "r");
  int n;

  if (!f)
    return -1;
  n = fscanf (f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1],
      &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose (f);
  /* user system irq softirq steal; not nice, idle, iowait */
  return n == 8 ? v[0] + v[2] + v[5] + v[6] + v[7] : -1;
}

static double
process_cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sample_take (Sample * s)
{
  s->busy = busy_jiffies ();
  s->cpu_s = process_cpu_seconds ();
  s->wall_us = g_get_monotonic_time ();
}

/* n frames from start until end_us (a monotonic time), CPU and jiffies
 * sampled now. */
static void
measure_end (Measure * m, const Sample * start, gint64 end_us, guint n)
{
  gint64 busy = busy_jiffies ();
  double cpu = process_cpu_seconds ();
  double wall = (end_us - start->wall_us) / 1e6;
  double wall_now = (g_get_monotonic_time () - start->wall_us) / 1e6;

  m->fps = n / wall;
  m->cpu_ms = (cpu - start->cpu_s) / n * 1e3;
  m->others = busy < 0 || start->busy < 0 ? -1.0
      : MAX (0.0, ((busy - start->busy) / (double) sysconf (_SC_CLK_TCK)
          - (cpu - start->cpu_s)) / wall_now);
}

/* ---------------------------------------------------------- pipeline -- */

typedef struct
{
  GstElement *pipeline, *src;
  const Frame *frame;
  GstBuffer *shared;            /* --shared-memory: every push copies this */
  guint64 n_pushed;             /* PTS counter */

  GMutex lock;                  /* guards what follows */
  GCond cond;
  guint64 n_arrived, n_tagged;
  gint64 last_arrival;          /* monotonic us */
  gboolean eos;
  gchar *error;
} Pipe;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  Pipe *p = data;
  gint64 now = g_get_monotonic_time ();
  gboolean tagged = gst_buffer_get_clip_classification_meta (buf) != NULL;

  g_mutex_lock (&p->lock);
  p->n_arrived++;
  p->n_tagged += tagged;
  p->last_arrival = now;
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);
}

static GstBusSyncReply
on_message (GstBus * bus, GstMessage * msg, gpointer data)
{
  Pipe *p = data;

  g_mutex_lock (&p->lock);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && !p->error) {
    GError *err = NULL;
    gchar *debug = NULL;

    gst_message_parse_error (msg, &err, &debug);
    p->error = g_strdup_printf ("%s: %s (%s)", GST_OBJECT_NAME (msg->src),
        err->message, debug ? debug : "");
    g_clear_error (&err);
    g_free (debug);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    p->eos = TRUE;
  }
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);
  gst_message_unref (msg);      /* dropped messages are the handler's */
  return GST_BUS_DROP;
}

/* appsrc ! [clip] ! fakesink; clip (a configured clipclassify) may be NULL
 * to time the source alone. */
static Pipe *
pipe_new (const Frame * frame, GstElement * clip, gboolean shared_memory)
{
  Pipe *p = g_new0 (Pipe, 1);
  GstElement *sink;
  GstCaps *caps;
  GstBus *bus;

  g_mutex_init (&p->lock);
  g_cond_init (&p->cond);
  p->frame = frame;
  p->pipeline = gst_pipeline_new ("bench");
  p->src = gst_element_factory_make ("appsrc", "src");
  sink = gst_element_factory_make ("fakesink", "sink");
  caps = gst_video_info_to_caps (&frame->info);
  /* max-bytes 0: unlimited; a few frames queued at most */
  g_object_set (p->src, "caps", caps, "format", GST_FORMAT_TIME,
      "block", TRUE, "max-bytes", (guint64) 0, "max-buffers", (guint64) 4,
      NULL);
  gst_caps_unref (caps);
  g_object_set (sink, "sync", FALSE, "signal-handoffs", TRUE, NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), p);

  if (clip) {
    gst_bin_add_many (GST_BIN (p->pipeline), p->src, clip, sink, NULL);
    gst_element_link_many (p->src, clip, sink, NULL);
  } else {
    gst_bin_add_many (GST_BIN (p->pipeline), p->src, sink, NULL);
    gst_element_link (p->src, sink);
  }
  bus = gst_element_get_bus (p->pipeline);
  gst_bus_set_sync_handler (bus, on_message, p, NULL);
  gst_object_unref (bus);

  if (shared_memory) {
    const GstVideoInfo *info = &frame->info;

    p->shared = gst_buffer_new_wrapped_full (0, frame->data,
        GST_VIDEO_INFO_SIZE (info), 0, GST_VIDEO_INFO_SIZE (info), NULL,
        NULL);
    gst_buffer_add_video_meta_full (p->shared, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (info), GST_VIDEO_INFO_WIDTH (info),
        GST_VIDEO_INFO_HEIGHT (info), GST_VIDEO_INFO_N_PLANES (info),
        (gsize *) info->offset, (gint *) info->stride);
  }
  return p;
}

/* A buffer for the next frame. By default a fresh memory wrapping the frame's
 * bytes; with --shared-memory a shallow copy of one buffer, so the memory is
 * shared (as after a tee, or with a decoder that keeps its reference frames)
 * and a writable map of it copies the frame. */
static GstBuffer *
pipe_next_buffer (Pipe * p)
{
  const GstVideoInfo *info = &p->frame->info;
  GstClockTime duration = gst_util_uint64_scale_int (GST_SECOND,
      GST_VIDEO_INFO_FPS_D (info), GST_VIDEO_INFO_FPS_N (info));
  GstBuffer *buf;

  if (p->shared) {
    buf = gst_buffer_copy (p->shared);
  } else {
    buf = gst_buffer_new_wrapped_full (0, p->frame->data,
        GST_VIDEO_INFO_SIZE (info), 0, GST_VIDEO_INFO_SIZE (info), NULL,
        NULL);
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (info), GST_VIDEO_INFO_WIDTH (info),
        GST_VIDEO_INFO_HEIGHT (info), GST_VIDEO_INFO_N_PLANES (info),
        (gsize *) info->offset, (gint *) info->stride);
  }
  GST_BUFFER_PTS (buf) = p->n_pushed * duration;
  GST_BUFFER_DURATION (buf) = duration;
  p->n_pushed++;
  return buf;
}

/* Waits until n frames in all have reached the sink (for_eos: until EOS),
 * an error or the timeout. */
static gboolean
pipe_wait (Pipe * p, guint64 n, gboolean for_eos, int timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_TIME_SPAN_SECOND;
  gboolean ok = TRUE;

  g_mutex_lock (&p->lock);
  while (!p->error && (for_eos ? !p->eos : p->n_arrived < n)) {
    if (!g_cond_wait_until (&p->cond, &p->lock, deadline)) {
      p->error = g_strdup_printf ("%s after %d s", for_eos ? "no EOS" :
          "frames missing", timeout_s);
      break;
    }
  }
  if (p->error) {
    g_printerr ("bench-element: %s\n", p->error);
    ok = FALSE;
  }
  g_mutex_unlock (&p->lock);
  return ok;
}

/* Pushes n frames and waits for them; m (optional) measures from the first
 * push until the last frame reached the sink. */
static gboolean
pipe_run (Pipe * p, guint n, Measure * m)
{
  guint64 target;
  Sample start;
  guint i;

  g_mutex_lock (&p->lock);
  target = p->n_arrived + n;
  g_mutex_unlock (&p->lock);

  sample_take (&start);
  for (i = 0; i < n; i++) {
    GstFlowReturn ret = gst_app_src_push_buffer (GST_APP_SRC (p->src),
        pipe_next_buffer (p));

    if (ret != GST_FLOW_OK) {
      g_printerr ("bench-element: push: %s\n", gst_flow_get_name (ret));
      pipe_wait (p, target, FALSE, 1);     /* prints the error posted */
      return FALSE;
    }
  }
  if (!pipe_wait (p, target, FALSE, WAIT_SECONDS))
    return FALSE;
  if (m) {
    gint64 end;

    g_mutex_lock (&p->lock);
    end = p->last_arrival;
    g_mutex_unlock (&p->lock);
    measure_end (m, &start, end, n);
  }
  return TRUE;
}

/* Starts the pipeline and runs the warm-up frames; *start_ms: from the state
 * change (model load and prompt encoding included) to the first frame. */
static gboolean
pipe_start (Pipe * p, double *start_ms)
{
  gint64 t0 = g_get_monotonic_time ();

  if (gst_element_set_state (p->pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    pipe_wait (p, G_MAXUINT64, FALSE, 1);      /* prints the error posted */
    return FALSE;
  }
  if (!pipe_run (p, 1, NULL))
    return FALSE;
  g_mutex_lock (&p->lock);
  *start_ms = (p->last_arrival - t0) / 1e3;
  g_mutex_unlock (&p->lock);
  return pipe_run (p, N_WARMUP - 1, NULL);
}

static void
pipe_free (Pipe * p)
{
  if (!p->error) {
    gst_app_src_end_of_stream (GST_APP_SRC (p->src));
    pipe_wait (p, 0, TRUE, WAIT_SECONDS);
  }
  gst_element_set_state (p->pipeline, GST_STATE_NULL);
  gst_object_unref (p->pipeline);
  if (p->shared)
    gst_buffer_unref (p->shared);
  g_free (p->error);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
  g_free (p);
}

/* ------------------------------------------------------------ engine -- */

typedef struct
{
  ClipModel *model;
  ClipContext *ctx;
  ClipFrame frame;
  int dim;
  float *image, *text, logits[N_LABELS], probs[N_LABELS], cosines[N_LABELS];
} Engine;

static gboolean
engine_fail (const char *call, const ClipError * err)
{
  g_printerr ("bench-element: %s: %s\n", call, err->message);
  return FALSE;
}

static gboolean
engine_init (Engine * e, const char *dir, ClipPrecision precision,
    int n_threads, const Frame * frame, double *load_ms)
{
  const char *prompts[N_LABELS];
  gchar *owned[N_LABELS];
  ClipModelParams mp;
  ClipContextParams cp;
  ClipModelInfo info;
  ClipError err = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok;
  int i;

  cle_model_params_init (&mp);
  mp.precision = precision;
  if (cle_model_load (&e->model, dir, &mp, &err) < 0)
    return engine_fail ("cle_model_load", &err);
  *load_ms = (g_get_monotonic_time () - t0) / 1e3;
  cle_model_get_info (e->model, &info);
  e->dim = info.projection_dim;

  cle_context_params_init (&cp);
  cp.n_threads = n_threads;
  cp.max_batch_images = 1;      /* as the element's context at batch-size 1 */
  if (cle_context_new (&e->ctx, e->model, &cp, &err) < 0)
    return engine_fail ("cle_context_new", &err);

  /* the prompts the element makes with its default template */
  for (i = 0; i < N_LABELS; i++) {
    owned[i] = g_strdup_printf ("a photo of %s.", labels[i]);
    prompts[i] = owned[i];
  }
  e->image = g_new (float, e->dim);
  e->text = g_new (float, N_LABELS * e->dim);
  ok = cle_encode_texts (e->ctx, prompts, N_LABELS, e->text,
      (size_t) N_LABELS * e->dim, &err) >= 0;
  for (i = 0; i < N_LABELS; i++)
    g_free (owned[i]);
  if (!ok)
    return engine_fail ("cle_encode_texts", &err);
  frame_to_clip (&e->frame, frame);
  return TRUE;
}

/* n frames as the element handles each: encode at batch 1, then score. */
static gboolean
engine_run (Engine * e, guint n, Measure * m)
{
  ClipError err = { 0 };
  Sample start;
  guint i;

  sample_take (&start);
  for (i = 0; i < n; i++) {
    if (cle_encode_frames (e->ctx, &e->frame, 1, e->image, e->dim, &err) < 0)
      return engine_fail ("cle_encode_frames", &err);
    if (cle_model_score (e->model, e->image, e->text, N_LABELS, e->logits,
            e->probs, e->cosines, &err) < 0)
      return engine_fail ("cle_model_score", &err);
  }
  if (m)
    measure_end (m, &start, g_get_monotonic_time (), n);
  return TRUE;
}

static void
engine_clear (Engine * e)
{
  cle_context_free (e->ctx);
  cle_model_free (e->model);
  g_free (e->image);
  g_free (e->text);
}

/* ------------------------------------------------------------- main -- */

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (const double *v, int n)
{
  double *s = g_new (double, n);
  double m;

  memcpy (s, v, n * sizeof (double));
  qsort (s, n, sizeof (double), compare_double);
  m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  g_free (s);
  return m;
}

static void
append_array (GString * s, const char *name, const double *v, int n)
{
  int i;

  g_string_append_printf (s, ", \"%s\": [", name);
  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%s%.4g", i ? ", " : "", v[i]);
  g_string_append_c (s, ']');
}

static void
append_json_string (GString * s, const char *text)
{
  const char *c;

  g_string_append_c (s, '"');
  for (c = text; *c; c++) {
    if (*c == '"' || *c == '\\')
      g_string_append_c (s, '\\');
    if ((guchar) * c < 0x20)
      g_string_append_printf (s, "\\u%04x", (guchar) * c);
    else
      g_string_append_c (s, *c);
  }
  g_string_append_c (s, '"');
}

/* Removes the element's text cache: a flat directory of files. */
static void
remove_dir (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  if (d) {
    while ((name = g_dir_read_name (d))) {
      gchar *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
      g_free (path);
    }
    g_dir_close (d);
  }
  g_rmdir (dir);
}

static int
usage (GOptionContext * octx, const char *message)
{
  gchar *help = g_option_context_get_help (octx, TRUE, NULL);

  g_printerr ("bench-element: %s\n\n%s", message, help);
  g_free (help);
  return 2;
}

int
main (int argc, char **argv)
{
  gint threads = 2, frames = 200, rounds = 5;
  gchar *precision_opt = NULL, *format_opt = NULL, *size_opt = NULL;
  gboolean shared_memory = FALSE;
  gchar **rest = NULL;
  const GOptionEntry entries[] = {
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads,
        "Engine threads, both sides (default 2)", "N"},
    {"precision", 'p', 0, G_OPTION_ARG_STRING, &precision_opt,
        "fp32 (default), bf16 or int8", "P"},
    {"frames", 'n', 0, G_OPTION_ARG_INT, &frames,
        "Timed frames per round and side (default 200)", "N"},
    {"rounds", 'r', 0, G_OPTION_ARG_INT, &rounds,
        "Rounds, each one element and one engine run (default 5)", "R"},
    {"format", 'f', 0, G_OPTION_ARG_STRING, &format_opt,
        "I420 (default) or NV12", "FMT"},
    {"size", 's', 0, G_OPTION_ARG_STRING, &size_opt,
        "Frame size (default 1920x1080)", "WxH"},
    {"shared-memory", 0, 0, G_OPTION_ARG_NONE, &shared_memory,
          "Push buffers whose memory is shared (as after a tee): shows what "
          "the element's writable map costs then", NULL},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL");
  GError *gerr = NULL;
  ClipPrecision precision = CLE_PRECISION_FP32;
  GstVideoFormat format;
  Frame frame = { 0 };
  Engine engine = { 0 };
  Pipe *pipe = NULL;
  GstElement *clip;
  gchar *cache_dir = NULL, *plugin_path;
  Measure m;
  /* per round: the two sides' frames/s and CPU ms per frame, their ratio,
   * the larger of the two sides' others_load */
  double *series = NULL, *el_fps, *en_fps, *el_cpu, *en_cpu, *ratio, *others;
  double load_ms = 0, start_ms = 0, source_us, others_max = 0;
  int width = 1920, height = 1080, code = 1, r;
  GString *s;

  g_option_context_set_summary (octx,
      "clipclassify (interval=1, sync) against the engine alone on one "
      "synthetic frame,\nbatch 1, same threads and precision; rounds "
      "alternate. Prints per-round frames/s,\nthe medians and the median "
      "of the per-round ratios element / engine.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &gerr)) {
    code = usage (octx, gerr->message);
    g_clear_error (&gerr);
    goto out;
  }
  if (!rest || !rest[0] || rest[1]) {
    code = usage (octx, "expected exactly one MODEL directory");
    goto out;
  }
  if (precision_opt && !cle_precision_from_string (precision_opt,
          &precision)) {
    code = usage (octx, "--precision: expected fp32, bf16 or int8");
    goto out;
  }
  format = format_opt ? gst_video_format_from_string (format_opt)
      : GST_VIDEO_FORMAT_I420;
  if (format != GST_VIDEO_FORMAT_I420 && format != GST_VIDEO_FORMAT_NV12) {
    code = usage (octx, "--format: expected I420 or NV12");
    goto out;
  }
  if (size_opt && (sscanf (size_opt, "%dx%d", &width, &height) != 2
          || width < 2 || height < 2 || width > 16384 || height > 16384)) {
    code = usage (octx, "--size: expected WxH, e.g. 1920x1080");
    goto out;
  }
  if (threads < 0 || frames < 1 || rounds < 1) {
    code = usage (octx, "--threads must be >= 0, --frames and --rounds >= 1");
    goto out;
  }

  /* the plugin of this build before any other */
  plugin_path = g_getenv ("GST_PLUGIN_PATH_1_0") ?
      g_strconcat (BENCH_PLUGIN_DIR, G_SEARCHPATH_SEPARATOR_S,
      g_getenv ("GST_PLUGIN_PATH_1_0"), NULL) : g_strdup (BENCH_PLUGIN_DIR);
  g_setenv ("GST_PLUGIN_PATH_1_0", plugin_path, TRUE);
  g_free (plugin_path);
  gst_init (NULL, NULL);

  frame_init (&frame, format, width, height);
  if (!engine_init (&engine, rest[0], precision, threads, &frame, &load_ms))
    goto out;

  /* The source alone, to show that it costs next to nothing. */
  pipe = pipe_new (&frame, NULL, shared_memory);
  if (!pipe_start (pipe, &start_ms) || !pipe_run (pipe, frames, &m))
    goto out;
  source_us = 1e6 / m.fps;
  g_clear_pointer (&pipe, pipe_free);

  clip = gst_element_factory_make ("clipclassify", "clip");
  if (!clip) {
    g_printerr ("bench-element: no clipclassify element in %s\n",
        BENCH_PLUGIN_DIR);
    goto out;
  }
  /* a text cache of our own, not the user's */
  cache_dir = g_dir_make_tmp ("bench-element-XXXXXX", NULL);
  g_object_set (clip, "model", rest[0], "labels", "a dog,a cat,a ball",
      "interval", 1, "threads", (guint) threads, "text-cache", cache_dir,
      NULL);
  gst_util_set_object_arg (G_OBJECT (clip), "mode", "sync");
  gst_util_set_object_arg (G_OBJECT (clip), "precision",
      precision_opt ? precision_opt : "fp32");
  pipe = pipe_new (&frame, clip, shared_memory);
  if (!pipe_start (pipe, &start_ms) || !engine_run (&engine, N_WARMUP, NULL))
    goto out;

  series = g_new0 (double, 6 * rounds);
  el_fps = series;
  en_fps = series + rounds;
  el_cpu = series + 2 * rounds;
  en_cpu = series + 3 * rounds;
  ratio = series + 4 * rounds;
  others = series + 5 * rounds;
  for (r = 0; r < rounds; r++) {
    int side;

    for (side = 0; side < 2; side++) {
      gboolean element = (side == 0) == (r % 2 == 0);

      if (element) {
        if (!pipe_run (pipe, N_ROUND_WARMUP, NULL)
            || !pipe_run (pipe, frames, &m))
          goto out;
        el_fps[r] = m.fps;
        el_cpu[r] = m.cpu_ms;
      } else {
        if (!engine_run (&engine, N_ROUND_WARMUP, NULL)
            || !engine_run (&engine, frames, &m))
          goto out;
        en_fps[r] = m.fps;
        en_cpu[r] = m.cpu_ms;
      }
      others[r] = side == 0 ? m.others : MAX (others[r], m.others);
    }
    ratio[r] = el_fps[r] / en_fps[r];
    others_max = MAX (others_max, others[r]);
    printf ("round %d: element %.2f frames/s (%.1f CPU ms/frame), engine "
        "%.2f frames/s (%.1f), ratio %.3f, others_load %.2f\n", r + 1,
        el_fps[r], el_cpu[r], en_fps[r], en_cpu[r], ratio[r], others[r]);
    fflush (stdout);
  }
  if (pipe->n_tagged != pipe->n_arrived) {
    g_printerr ("bench-element: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
        " frames came out without a classification\n",
        pipe->n_arrived - pipe->n_tagged, pipe->n_arrived);
    goto out;
  }

  s = g_string_new ("{\"model\": ");
  append_json_string (s, rest[0]);
  g_string_append_printf (s, ", \"frame\": \"%dx%d:%s\", \"precision\": "
      "\"%s\", \"threads\": %d, \"batch\": 1, \"frames\": %d, \"rounds\": %d, "
      "\"memory\": \"%s\"", width, height,
      gst_video_format_to_string (format),
      precision_opt ? precision_opt : "fp32", threads, frames, rounds,
      shared_memory ? "shared" : "exclusive");
  append_array (s, "element_fps", el_fps, rounds);
  append_array (s, "engine_fps", en_fps, rounds);
  append_array (s, "ratio", ratio, rounds);
  append_array (s, "element_cpu_ms", el_cpu, rounds);
  append_array (s, "engine_cpu_ms", en_cpu, rounds);
  append_array (s, "others_load", others, rounds);
  g_string_append_printf (s, ", \"element_fps_median\": %.4g, "
      "\"engine_fps_median\": %.4g, \"ratio_median\": %.4f, "
      "\"element_cpu_ms_median\": %.4g, \"engine_cpu_ms_median\": %.4g, "
      "\"source_us_per_frame\": %.1f, \"element_start_ms\": %.1f, "
      "\"engine_load_ms\": %.1f}", median (el_fps, rounds),
      median (en_fps, rounds), median (ratio, rounds),
      median (el_cpu, rounds), median (en_cpu, rounds), source_us, start_ms,
      load_ms);
  printf ("%s\n", s->str);
  g_string_free (s, TRUE);
  printf ("%dx%d %s, %s, %d threads, batch 1: element %.2f frames/s, "
      "engine %.2f frames/s, element / engine %.3f (median of %d rounds of "
      "%d frames); CPU ms/frame %.2f / %.2f; source %.1f us/frame%s\n",
      width, height, gst_video_format_to_string (format),
      precision_opt ? precision_opt : "fp32", threads,
      median (el_fps, rounds), median (en_fps, rounds),
      median (ratio, rounds), rounds, frames, median (el_cpu, rounds),
      median (en_cpu, rounds), source_us,
      others_max > 0.3 ? "; DISTURBED: other processes were busy "
      "(others_load > 0.3 cores)" : "");
  code = 0;

out:
  if (pipe)
    pipe_free (pipe);
  if (cache_dir) {
    remove_dir (cache_dir);
    g_free (cache_dir);
  }
  engine_clear (&engine);
  g_free (frame.data);
  g_free (series);
  g_free (precision_opt);
  g_free (format_opt);
  g_free (size_opt);
  g_strfreev (rest);
  g_option_context_free (octx);
  return code;
}
