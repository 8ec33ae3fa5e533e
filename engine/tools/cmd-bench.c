/* cmd-bench.c - clip-tool bench: encoder throughput on synthetic input. */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#include <sys/resource.h>

#include "tool-common.h"

#define DEFAULT_BENCH_SECONDS 3.0
#define DEFAULT_BENCH_TOKENS 8

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* A synthetic frame for bench --frame WxH:FORMAT (random bytes, rows
 * padded to 64 bytes as GStreamer's video buffers often are). */
typedef struct
{
  ClipFrame frame;
  guint8 *data;
} BenchFrame;

static const struct
{
  const char *name;
  ClipPixelFormat format;
  int bytes_per_pixel;          /* 0: planar YUV 4:2:0 */
} bench_formats[] = {
  {"RGB", CLE_PIXEL_RGB, 3}, {"BGR", CLE_PIXEL_BGR, 3},
  {"RGBA", CLE_PIXEL_RGBA, 4}, {"BGRA", CLE_PIXEL_BGRA, 4},
  {"RGBx", CLE_PIXEL_RGBX, 4}, {"BGRx", CLE_PIXEL_BGRX, 4},
  {"GRAY8", CLE_PIXEL_GRAY8, 1}, {"I420", CLE_PIXEL_I420, 0},
  {"NV12", CLE_PIXEL_NV12, 0},
};

static gboolean
bench_frame_init (BenchFrame * bf, const char *spec)
{
  char name[16];
  int w, h;
  size_t i, size;

  memset (bf, 0, sizeof *bf);
  if (sscanf (spec, "%dx%d:%15s", &w, &h, name) != 3 || w < 1 || h < 1
      || w > 16384 || h > 16384)
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (bench_formats); i++)
    if (g_ascii_strcasecmp (name, bench_formats[i].name) == 0)
      break;
  if (i == G_N_ELEMENTS (bench_formats))
    return FALSE;
  ClipFrame *f = &bf->frame;
  f->format = bench_formats[i].format;
  f->width = w;
  f->height = h;
  f->matrix = CLE_MATRIX_BT709;
  f->range = CLE_RANGE_LIMITED;
  int bpp = bench_formats[i].bytes_per_pixel;
  int cw = (w + 1) / 2, ch = (h + 1) / 2;
  f->strides[0] = ((bpp ? bpp : 1) * w + 63) & ~63;
  size = (size_t) f->strides[0] * h;
  if (!bpp) {
    f->strides[1] = f->format == CLE_PIXEL_NV12 ? (2 * cw + 63) & ~63
        : (cw + 63) & ~63;
    f->strides[2] = f->format == CLE_PIXEL_NV12 ? 0 : f->strides[1];
    size += (size_t) (f->strides[1] + f->strides[2]) * ch;
  }
  bf->data = g_malloc (size);
  GRand *rand = g_rand_new_with_seed (99);
  for (size_t j = 0; j < size; j++)
    bf->data[j] = (guint8) g_rand_int (rand);
  g_rand_free (rand);
  f->planes[0] = bf->data;
  if (!bpp) {
    f->planes[1] = bf->data + (size_t) f->strides[0] * h;
    if (f->format == CLE_PIXEL_I420)
      f->planes[2] = f->planes[1] + (size_t) f->strides[1] * ch;
  }
  return TRUE;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *tower_opt = NULL, *frame_opt = NULL;
  gboolean preprocess_only = FALSE;
  BenchFrame bench_frame = { 0 };
  ClipFrame *frames = NULL;
  gint batch = 0, tokens = DEFAULT_BENCH_TOKENS;
  gdouble seconds = DEFAULT_BENCH_SECONDS;
  const GOptionEntry entries[] = {
    {"tower", 0, 0, G_OPTION_ARG_FILENAME, &tower_opt,
        "Measures the vision (default) or the text tower.", "vision|text"},
    TOOL_BATCH_ENTRY (batch, "Encodes N images or prompts per call "
        "(default " G_STRINGIFY (DEFAULT_BATCH_IMAGES) " images, "
        G_STRINGIFY (DEFAULT_BATCH_TEXTS) " prompts)."),
    {"seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds,
        "Runs for S seconds after one warm-up call (default 3).", "S"},
    {"tokens", 0, 0, G_OPTION_ARG_INT, &tokens,
          "Makes prompts of T tokens, start and end included (default 8; "
          "77 for full length).", "T"},
    {"frame", 0, 0, G_OPTION_ARG_STRING, &frame_opt,
          "Encodes --batch frames of WxH in FORMAT (RGB, BGR, RGBA, BGRA, "
          "RGBx, BGRx, GRAY8, I420, NV12) per call, preprocessing "
          "included (cle_encode_frames), e.g. 1920x1080:I420.", "WxH:FORMAT"},
    {"preprocess-only", 0, 0, G_OPTION_ARG_NONE, &preprocess_only,
          "With --frame: measures preprocessing alone, one frame per call "
          "(one thread).", NULL},
    {NULL}
  };
  ClipModelInfo info;
  GArray *times = g_array_new (FALSE, FALSE, sizeof (double));
  float *pixels = NULL, *embeds = NULL;
  int32_t *ids = NULL;
  const int32_t **id_ptrs = NULL;
  int *n_ids = NULL;
  unsigned tower;
  gboolean vision;
  GString *s = NULL;
  const char *coretype;
  double total = 0.0, mean, median, best, load_ms;
  gint64 load_t0;
  struct rusage usage;
  int code, i, threads;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 0, 0, argc, argv)) != EXIT_OK)
    goto out;
  if (!tool_parse_towers (tower_opt ? tower_opt : "vision", &tower)
      || tower == CLE_TOWER_BOTH) {
    code = tool_fail_usage (cmd->name, "--tower: expected vision or text, "
        "got '%s'", tower_opt);
    goto out;
  }
  vision = tower == CLE_TOWER_VISION;
  if (frame_opt && (!vision || !bench_frame_init (&bench_frame, frame_opt))) {
    code = tool_fail_usage (cmd->name, "--frame: expected WxH:FORMAT with a "
        "vision tower, e.g. 1920x1080:I420, got '%s'", frame_opt);
    goto out;
  }
  if (preprocess_only && !frame_opt) {
    code = tool_fail_usage (cmd->name, "--preprocess-only needs --frame");
    goto out;
  }
  if (preprocess_only)
    batch = 1;
  if (batch == 0)
    batch = vision ? DEFAULT_BATCH_IMAGES : DEFAULT_BATCH_TEXTS;
  if ((code = tool_check_batch (&t, batch)) != EXIT_OK)
    goto out;
  if (!(seconds >= 0.0) || seconds > 86400.0) {
    code = tool_fail_usage (cmd->name, "--seconds must be in [0, 86400]");
    goto out;
  }
  load_t0 = g_get_monotonic_time ();
  if ((code = tool_load_model (&t, tower)) != EXIT_OK)
    goto out;
  load_ms = (g_get_monotonic_time () - load_t0) / 1e3;
  info = t.info;
  if ((code = tool_new_context (&t, vision ? batch : 0,
              vision ? 0 : batch)) != EXIT_OK)
    goto out;
  embeds = g_new (float, (size_t) batch * info.projection_dim);

  if (frame_opt) {
    frames = g_new (ClipFrame, batch);
    for (i = 0; i < batch; i++)
      frames[i] = bench_frame.frame;
  }
  if (vision) {
    size_t n = (size_t) batch * 3 * info.image_size * info.image_size;
    GRand *rand = g_rand_new_with_seed (1234);
    size_t j;

    pixels = g_new (float, n);
    for (j = 0; j < n; j++)
      pixels[j] = (float) g_rand_double_range (rand, -1.8, 2.2);
    g_rand_free (rand);
  } else {
    int32_t ends[2];
    ClipError err = { 0 };
    int status;

    if (tokens < 2 || tokens > info.context_length) {
      code = tool_fail_usage (cmd->name, "--tokens must be in [2, %d], got "
          "%d", info.context_length, tokens);
      goto out;
    }
    /* The start and end ids, as the tokenizer gives them for "". */
    status = cle_tokenize (t.model, "", ends, 2, &err);
    if (status < 0) {
      code = tool_fail_clip (&err, status, NULL);
      goto out;
    }
    /* Distinct prompts that share only the start token: the encoder
     * computes a shared prefix or a duplicate prompt once, which would
     * flatter a batch of copies. */
    ids = g_new (int32_t, (size_t) batch * tokens);
    id_ptrs = g_new (const int32_t *, batch);
    n_ids = g_new (int, batch);
    for (i = 0; i < batch; i++) {
      int32_t *p = ids + (size_t) i * tokens;
      p[0] = ends[0];
      for (int j = 1; j < tokens - 1; j++)
        p[j] = 256 + (int) (((guint) (i * 131 + j) * 7919u) % 40000u);
      p[tokens - 1] = ends[1];
      id_ptrs[i] = p;
      n_ids[i] = tokens;
    }
  }

  /* Call 0 is the warm-up; at least one timed call follows. */
  for (i = 0;; i++) {
    ClipError err = { 0 };
    gint64 t0 = g_get_monotonic_time ();
    int status;
    double dt;

    if (preprocess_only)
      status = cle_preprocess (t.ctx, &bench_frame.frame, pixels,
          (size_t) 3 * info.image_size * info.image_size, NULL, &err);
    else if (frame_opt)
      status = cle_encode_frames (t.ctx, frames, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    else if (vision)
      status = cle_encode_images (t.ctx, pixels, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    else
      status = cle_encode_token_ids (t.ctx, id_ptrs, n_ids, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    if (status < 0) {
      code = tool_fail_clip (&err, status, NULL);
      goto out;
    }
    dt = (g_get_monotonic_time () - t0) / 1e6;
    if (i == 0)
      continue;
    g_array_append_val (times, dt);
    total += dt;
    if (total >= seconds)
      break;
  }
  g_array_sort (times, compare_double);
  median = times->len % 2 ? g_array_index (times, double, times->len / 2)
      : 0.5 * (g_array_index (times, double, times->len / 2 - 1)
      + g_array_index (times, double, times->len / 2));
  mean = total / times->len;
  best = g_array_index (times, double, 0);

#ifdef _OPENMP
  threads = tool_options.threads > 0 ? tool_options.threads :
      omp_get_max_threads ();
#else
  threads = tool_options.threads;
#endif
  coretype = g_getenv ("OPENBLAS_CORETYPE");

  s = g_string_new ("{\"tower\": ");
  json_string (s, preprocess_only ? "preprocess" : tool_tower_name (tower));
  if (frame_opt) {
    g_string_append (s, ", \"frame\": ");
    json_string (s, frame_opt);
  }
  g_string_append (s, ", \"model\": ");
  json_string (s, t.model_dir);
  g_string_append (s, ", \"dtype\": ");
  json_string (s, info.weights_dtype);
  g_string_append (s, ", \"precision\": ");
  json_string (s, tool_precision_name ());
  g_string_append (s, ", \"kernel\": ");
  json_string (s, info.kernel);
  g_string_append_printf (s, ", \"batch\": %d, \"threads\": %d", batch,
      threads);
  if (!vision)
    g_string_append_printf (s, ", \"tokens\": %d", tokens);
  if (frame_opt && !preprocess_only)
    g_string_append (s, ", \"includes\": \"preprocessing\"");
  g_string_append_printf (s, ", \"%s\": ", frame_opt ? "frames_per_s" :
      vision ? "images_per_s" : "prompts_per_s");
  json_float (s, (float) (batch / median));
  g_string_append (s, ", \"ms_per_batch\": ");
  json_float (s, (float) (median * 1e3));
  g_string_append (s, ", \"ms_per_batch_mean\": ");
  json_float (s, (float) (mean * 1e3));
  g_string_append (s, ", \"ms_per_batch_min\": ");
  json_float (s, (float) (best * 1e3));
  /* the model load (the towers asked, weights converted for bf16/int8) and
   * the process's peak resident memory so far */
  getrusage (RUSAGE_SELF, &usage);
  g_string_append (s, ", \"load_ms\": ");
  json_float (s, (float) load_ms);
  g_string_append_printf (s, ", \"quantized_bytes\": %zu, \"peak_rss_kb\": "
      "%ld", info.quantized_bytes, usage.ru_maxrss);
  g_string_append_printf (s, ", \"iterations\": %u, \"openblas_coretype\": ",
      times->len);
  json_string (s, coretype);
  json_emit_line (s);
  code = tool_finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  g_array_unref (times);
  g_free (pixels);
  g_free (embeds);
  g_free (ids);
  g_free (bench_frame.data);
  g_free (frames);
  g_free (id_ptrs);
  g_free (n_ids);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_bench = {
  "bench", "MODEL",
  "Measures the throughput of the encoders.",
  "Measures encoder throughput on synthetic input (fixed seed): one warm-up "
      "call, then calls until --seconds have passed; reports the median "
      "time per call.",
  run
};
