/* clip-tool.c - the engine's command line: info, tokenize, preprocess,
 * embed-text, embed-image, classify, bench. One JSON object per line on
 * stdout, errors on stderr. Uses only the public API (clip.h) and the image
 * loader; no math of its own beyond sorting and timing. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#ifdef _OPENMP
#include <omp.h>
#include <sys/resource.h>
#endif

#include "clip.h"
#include "image-io.h"

enum
{
  EXIT_OK = 0,
  EXIT_RUNTIME = 1,             /* model, file or engine failure */
  EXIT_USAGE = 2,               /* bad command line */
};

#define DEFAULT_BATCH_TEXTS 64
#define DEFAULT_BATCH_IMAGES 8
#define DEFAULT_BENCH_SECONDS 3.0
#define DEFAULT_BENCH_TOKENS 8

/* --threads, accepted before the command and by every command. */
static gint opt_threads = 0;
/* --text-cache DIR: embed-text and classify reuse text embeddings kept
 * there (cle_text_cache_open), opened on first use. */
static gchar *opt_text_cache = NULL;
static ClipTextCache *text_cache = NULL;
/* --precision fp32|bf16|int8: the towers' matrix products (ClipPrecision). */
static gchar *opt_precision = NULL;
static ClipPrecision precision = CLE_PRECISION_FP32;

static const GOptionEntry common_entries[] = {
  {"threads", 't', 0, G_OPTION_ARG_INT, &opt_threads,
      "OpenMP threads for the engine (0: OpenMP default)", "N"},
  {"text-cache", 0, 0, G_OPTION_ARG_FILENAME, &opt_text_cache,
      "Keep text embeddings in DIR; prompts seen before are not encoded "
      "again", "DIR"},
  {"precision", 0, 0, G_OPTION_ARG_STRING, &opt_precision,
      "Matrix products in fp32 (default, as the reference), bf16 or int8 "
      "(faster, approximate)", "P"},
  {NULL}
};

/* cle_encode_texts through the --text-cache, when one is given. */
static int
encode_texts (ClipContext * ctx, const ClipModel * model,
    const char *const *texts, int n, float *embeds, size_t n_embeds,
    ClipError * err)
{
  if (opt_text_cache && !text_cache) {
    int status = cle_text_cache_open (&text_cache, model, opt_text_cache,
        err);
    if (status < 0)
      return status;
  }
  return cle_encode_texts_cached (ctx, text_cache, texts, n, embeds,
      n_embeds, NULL, err);
}

/* ------------------------------------------------------------- errors -- */

static int
fail (int code, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static int
fail (int code, const char *fmt, ...)
{
  va_list ap;

  fflush (stdout);
  fputs ("clip-tool: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return code;
}

/* Reports an engine error; subject (a path, or NULL) is prefixed unless the
 * engine's message already names it. */
static int
fail_clip (const ClipError *err, int status, const char *subject)
{
  const char *msg = err->message[0] ? err->message : cle_status_string (status);

  if (subject && !strstr (msg, subject))
    return fail (EXIT_RUNTIME, "%s: %s", subject, msg);
  return fail (EXIT_RUNTIME, "%s", msg);
}

static int
fail_usage (const char *command, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static int
fail_usage (const char *command, const char *fmt, ...)
{
  va_list ap;

  fflush (stdout);
  fputs ("clip-tool: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry 'clip-tool %s%s--help'.\n", command ? command : "",
      command ? " " : "");
  return EXIT_USAGE;
}

/* Parses a command's options; on failure prints why and returns FALSE. */
static gboolean
parse_options (GOptionContext * octx, const char *command, int *argc,
    char ***argv)
{
  GError *gerr = NULL;

  g_option_context_add_main_entries (octx, common_entries, NULL);
  if (!g_option_context_parse (octx, argc, argv, &gerr)) {
    fail_usage (command, "%s", gerr->message);
    g_error_free (gerr);
    return FALSE;
  }
  if (opt_threads < 0) {
    fail_usage (command, "--threads must be >= 0, got %d", opt_threads);
    return FALSE;
  }
  if (opt_precision && !cle_precision_from_string (opt_precision,
          &precision)) {
    fail_usage (command, "--precision: expected fp32, bf16 or int8, got "
        "'%s'", opt_precision);
    return FALSE;
  }
  return TRUE;
}

/* --------------------------------------------------------------- json -- */

/* Appends str as a JSON string; invalid UTF-8 becomes U+FFFD. */
static void
json_string (GString * s, const char *str)
{
  gchar *valid = NULL;
  const unsigned char *p;

  if (!str) {
    g_string_append (s, "null");
    return;
  }
  if (!g_utf8_validate (str, -1, NULL))
    str = valid = g_utf8_make_valid (str, -1);
  g_string_append_c (s, '"');
  for (p = (const unsigned char *) str; *p; p++) {
    switch (*p) {
      case '"':
        g_string_append (s, "\\\"");
        break;
      case '\\':
        g_string_append (s, "\\\\");
        break;
      case '\b':
        g_string_append (s, "\\b");
        break;
      case '\f':
        g_string_append (s, "\\f");
        break;
      case '\n':
        g_string_append (s, "\\n");
        break;
      case '\r':
        g_string_append (s, "\\r");
        break;
      case '\t':
        g_string_append (s, "\\t");
        break;
      default:
        if (*p < 0x20)
          g_string_append_printf (s, "\\u%04x", *p);
        else
          g_string_append_c (s, *p);
    }
  }
  g_string_append_c (s, '"');
  g_free (valid);
}

/* The shortest of %.6g .. %.9g that reads back (strtof) to the same float;
 * %.9g always does. NaN and infinities, which JSON lacks, become null. */
static void
json_float (GString * s, float v)
{
  char buf[32];
  int prec;

  if (!isfinite (v)) {
    g_string_append (s, "null");
    return;
  }
  for (prec = 6; prec < 9; prec++) {
    snprintf (buf, sizeof buf, "%.*g", prec, (double) v);
    if (strtof (buf, NULL) == v)
      break;
  }
  if (prec == 9)
    snprintf (buf, sizeof buf, "%.9g", (double) v);
  g_string_append (s, buf);
}

static void
json_floats (GString * s, const float *v, size_t n)
{
  size_t i;

  g_string_append_c (s, '[');
  for (i = 0; i < n; i++) {
    if (i)
      g_string_append (s, ", ");
    json_float (s, v[i]);
  }
  g_string_append_c (s, ']');
}

static void
json_ints (GString * s, const int32_t * v, size_t n)
{
  size_t i;

  g_string_append_c (s, '[');
  for (i = 0; i < n; i++)
    g_string_append_printf (s, i ? ", %" G_GINT32_FORMAT : "%" G_GINT32_FORMAT,
        v[i]);
  g_string_append_c (s, ']');
}

/* Writes the object in s as one line and empties s. */
static void
emit_line (GString * s)
{
  g_string_append_c (s, '\n');
  fwrite (s->str, 1, s->len, stdout);
  g_string_truncate (s, 0);
}

/* Final check that everything reached stdout. */
static int
finish_stdout (int code)
{
  if (fflush (stdout) != 0 || ferror (stdout)) {
    int e = errno;
    return fail (EXIT_RUNTIME, "writing to stdout: %s", g_strerror (e));
  }
  return code;
}

/* ------------------------------------------------------ model, context -- */

static int
load_model (ClipModel ** model, const char *dir, unsigned towers)
{
  ClipModelParams mp;
  ClipError err = { 0 };
  int status;

  cle_model_params_init (&mp);
  mp.towers = towers;
  mp.precision = precision;
  status = cle_model_load (model, dir, &mp, &err);
  if (status < 0) {
    *model = NULL;
    return fail_clip (&err, status, dir);
  }
  return EXIT_OK;
}

static int
new_context (ClipContext ** ctx, const ClipModel * model, int batch_images,
    int batch_texts)
{
  ClipContextParams cp;
  ClipError err = { 0 };
  int status;

  cle_context_params_init (&cp);
  cp.n_threads = opt_threads;
  if (batch_images > 0)
    cp.max_batch_images = batch_images;
  if (batch_texts > 0)
    cp.max_batch_texts = batch_texts;
  status = cle_context_new (ctx, model, &cp, &err);
  if (status < 0) {
    *ctx = NULL;
    return fail_clip (&err, status, NULL);
  }
  return EXIT_OK;
}

/* ------------------------------------------------------- text sources -- */

/* The texts of tokenize and embed-text: the command-line TEXTs, then the
 * lines of --file (streamed, so any number of lines in bounded memory). */
typedef struct
{
  char **args;
  int i_arg;
  const char *path;             /* --file, "-" for stdin, or NULL */
  FILE *fp;
  long line_no;
  char *line;
  size_t line_cap;
} TextSource;

static int
text_source_open (TextSource * src, char **args, const char *path)
{
  memset (src, 0, sizeof *src);
  src->args = args;
  src->path = path;
  if (!path)
    return EXIT_OK;
  if (strcmp (path, "-") == 0) {
    src->fp = stdin;
    return EXIT_OK;
  }
  src->fp = fopen (path, "rb");
  if (!src->fp) {
    int e = errno;
    return fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
  return EXIT_OK;
}

static void
text_source_close (TextSource * src)
{
  if (src->fp && src->fp != stdin)
    fclose (src->fp);
  free (src->line);
  memset (src, 0, sizeof *src);
}

/* Sets *text to the next text (valid until the next call); returns 1, or 0
 * at the end, or -1 after reporting an error. */
static int
text_source_next (TextSource * src, const char **text)
{
  ssize_t len;

  if (src->args && src->args[src->i_arg]) {
    *text = src->args[src->i_arg++];
    if (!g_utf8_validate (*text, -1, NULL)) {
      fail (EXIT_RUNTIME, "argument %d: text is not valid UTF-8", src->i_arg);
      return -1;
    }
    return 1;
  }
  if (!src->fp)
    return 0;
  errno = 0;
  len = getline (&src->line, &src->line_cap, src->fp);
  if (len < 0) {
    if (ferror (src->fp)) {
      int e = errno;
      fail (EXIT_RUNTIME, "%s: %s", src->path, g_strerror (e));
      return -1;
    }
    return 0;
  }
  src->line_no++;
  if (len > 0 && src->line[len - 1] == '\n')
    src->line[--len] = '\0';
  if (len > 0 && src->line[len - 1] == '\r')
    src->line[--len] = '\0';
  /* Also rejects a NUL byte inside the line. */
  if (!g_utf8_validate (src->line, len, NULL)) {
    fail (EXIT_RUNTIME, "%s:%ld: text is not valid UTF-8", src->path,
        src->line_no);
    return -1;
  }
  *text = src->line;
  return 1;
}

/* --------------------------------------------------------------- info -- */

static const char *
tower_name (unsigned towers)
{
  switch (towers) {
    case CLE_TOWER_VISION:
      return "vision";
    case CLE_TOWER_TEXT:
      return "text";
    default:
      return "both";
  }
}

static gboolean
parse_towers (const char *s, unsigned *towers)
{
  if (!s || strcmp (s, "both") == 0)
    *towers = CLE_TOWER_BOTH;
  else if (strcmp (s, "vision") == 0)
    *towers = CLE_TOWER_VISION;
  else if (strcmp (s, "text") == 0)
    *towers = CLE_TOWER_TEXT;
  else
    return FALSE;
  return TRUE;
}

static int
cmd_info (int argc, char **argv)
{
  gchar *towers_opt = NULL;
  gchar **rest = NULL;
  const GOptionEntry entries[] = {
    {"towers", 0, 0, G_OPTION_ARG_FILENAME, &towers_opt,
          "Towers to load: both, vision or text (default: both, or the one "
          "tower a single-tower checkpoint has)", "WHICH"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL");
  ClipModel *model = NULL;
  ClipModelInfo info;
  unsigned towers;
  GString *s = NULL;
  int code;

  g_option_context_set_summary (octx,
      "Prints the configuration of a Hugging Face CLIP model directory.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "info", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0] || rest[1]) {
    code = fail_usage ("info", "expected exactly one MODEL directory");
    goto out;
  }
  if (!parse_towers (towers_opt, &towers)) {
    code = fail_usage ("info", "--towers: expected both, vision or text, "
        "got '%s'", towers_opt);
    goto out;
  }
  if (!towers_opt) {
    /* A CLIPVisionModelWithProjection or CLIPTextModelWithProjection
     * checkpoint loads with its one tower only; the error reported is that
     * of loading both. */
    ClipModelParams mp;
    ClipError err = { 0 }, ignored;
    int status;

    cle_model_params_init (&mp);
    mp.precision = precision;
    status = cle_model_load (&model, rest[0], &mp, &err);
    mp.towers = CLE_TOWER_VISION;
    if (status < 0 && cle_model_load (&model, rest[0], &mp, &ignored) < 0) {
      mp.towers = CLE_TOWER_TEXT;
      if (cle_model_load (&model, rest[0], &mp, &ignored) < 0) {
        code = fail_clip (&err, status, rest[0]);
        goto out;
      }
    }
  } else if ((code = load_model (&model, rest[0], towers)) != EXIT_OK) {
    goto out;
  }
  cle_model_get_info (model, &info);

  s = g_string_new ("{\"model\": ");
  json_string (s, rest[0]);
  g_string_append (s, ", \"towers\": [");
  if (info.towers & CLE_TOWER_VISION)
    g_string_append (s, (info.towers & CLE_TOWER_TEXT) ?
        "\"vision\", \"text\"" : "\"vision\"");
  else if (info.towers & CLE_TOWER_TEXT)
    g_string_append (s, "\"text\"");
  g_string_append_printf (s, "], \"projection_dim\": %d, \"logit_scale\": ",
      info.projection_dim);
  json_float (s, info.logit_scale);
  g_string_append (s, ", \"dtype\": ");
  json_string (s, info.weights_dtype);
  g_string_append (s, ", \"precision\": ");
  json_string (s, opt_precision ? opt_precision : "fp32");
  g_string_append_printf (s, ", \"quantized_bytes\": %zu",
      info.quantized_bytes);
  if (info.towers & CLE_TOWER_VISION) {
    g_string_append_printf (s, ", \"image_size\": %d, \"patch_size\": %d, "
        "\"width_vision\": %d, \"n_layer_vision\": %d, \"n_head_vision\": %d, "
        "\"mlp_vision\": %d", info.image_size, info.patch_size,
        info.width_vision, info.n_layer_vision, info.n_head_vision,
        info.mlp_vision);
    g_string_append_printf (s, ", \"resize_shortest_edge\": %d, "
        "\"crop_width\": %d, \"crop_height\": %d, \"image_mean\": ",
        info.resize_shortest_edge, info.crop_width, info.crop_height);
    json_floats (s, info.image_mean, 3);
    g_string_append (s, ", \"image_std\": ");
    json_floats (s, info.image_std, 3);
  }
  if (info.towers & CLE_TOWER_TEXT) {
    g_string_append_printf (s, ", \"context_length\": %d, "
        "\"width_text\": %d, \"n_layer_text\": %d, \"n_head_text\": %d, "
        "\"mlp_text\": %d, \"vocab_size\": %d", info.context_length,
        info.width_text, info.n_layer_text, info.n_head_text, info.mlp_text,
        info.vocab_size);
  }
  g_string_append_c (s, '}');
  emit_line (s);
  code = finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (towers_opt);
  g_strfreev (rest);
  return code;
}

/* ----------------------------------------------------------- tokenize -- */

static int
cmd_tokenize (int argc, char **argv)
{
  gchar *file = NULL;
  gchar **rest = NULL;
  const GOptionEntry entries[] = {
    {"file", 'f', 0, G_OPTION_ARG_FILENAME, &file,
        "Read texts from FILE, one a line ('-': stdin)", "FILE"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL [TEXT...]");
  ClipModel *model = NULL;
  ClipModelInfo info;
  TextSource src = { 0 };
  int32_t *ids = NULL;
  GString *s = g_string_new (NULL);
  const char *text;
  int code, r;

  g_option_context_set_summary (octx,
      "Prints the token ids of each TEXT (start token, BPE tokens, end token,"
      "\ntruncated to the context length).");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "tokenize", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0]) {
    code = fail_usage ("tokenize", "missing MODEL directory");
    goto out;
  }
  if (!rest[1] && !file) {
    code = fail_usage ("tokenize", "no text: give TEXT arguments or --file");
    goto out;
  }
  if ((code = load_model (&model, rest[0], CLE_TOWER_TEXT)) != EXIT_OK)
    goto out;
  cle_model_get_info (model, &info);
  if ((code = text_source_open (&src, rest + 1, file)) != EXIT_OK)
    goto out;
  ids = g_new (int32_t, MAX (info.context_length, 2));

  while ((r = text_source_next (&src, &text)) > 0) {
    ClipError err = { 0 };
    int n = cle_tokenize (model, text, ids, MAX (info.context_length, 2), &err);

    if (n < 0) {
      code = fail_clip (&err, n, NULL);
      goto out;
    }
    g_string_append (s, "{\"text\": ");
    json_string (s, text);
    g_string_append (s, ", \"ids\": ");
    json_ints (s, ids, n);
    g_string_append_c (s, '}');
    emit_line (s);
  }
  code = finish_stdout (r < 0 ? EXIT_RUNTIME : EXIT_OK);

out:
  text_source_close (&src);
  g_free (ids);
  g_string_free (s, TRUE);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (file);
  g_strfreev (rest);
  return code;
}

/* --------------------------------------------------------- embed-text -- */

/* Lines of embed-text --file per engine call: the engine sorts a call's
 * prompts so that those that begin alike (one template's) share their
 * first rows; a few thousand gather most of that while memory stays
 * bounded (16 MB of 512-float embeddings). */
#define EMBED_TEXT_WINDOW 8192

/* Encodes n texts in one call and prints one line per text. */
static int
embed_text_batch (ClipContext * ctx, const ClipModel * model, int proj,
    char **texts, int n, float *embeds, GString * s)
{
  ClipError err = { 0 };
  int status, i;

  status = encode_texts (ctx, model, (const char *const *) texts, n, embeds,
      (size_t) n * proj, &err);
  if (status < 0)
    return fail_clip (&err, status, NULL);
  for (i = 0; i < n; i++) {
    g_string_append (s, "{\"text\": ");
    json_string (s, texts[i]);
    g_string_append (s, ", \"embedding\": ");
    json_floats (s, embeds + (size_t) i * proj, proj);
    g_string_append_c (s, '}');
    emit_line (s);
  }
  return EXIT_OK;
}

static int
cmd_embed_text (int argc, char **argv)
{
  gchar *file = NULL;
  gchar **rest = NULL;
  gint batch = DEFAULT_BATCH_TEXTS;
  const GOptionEntry entries[] = {
    {"file", 'f', 0, G_OPTION_ARG_FILENAME, &file,
        "Read texts from FILE, one a line ('-': stdin)", "FILE"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch,
        "Texts per forward pass (default 64)", "N"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL [TEXT...]");
  ClipModel *model = NULL;
  ClipContext *ctx = NULL;
  ClipModelInfo info;
  TextSource src = { 0 };
  GString *s = g_string_new (NULL);
  char **texts = NULL;
  float *embeds = NULL;
  const char *text;
  int code, r, n = 0, i;

  g_option_context_set_summary (octx,
      "Prints the text embedding (get_text_features, not normalized) of each"
      "\nTEXT. Lines of --file are read and encoded in batches, so any number"
      "\nof prompts runs in bounded memory; an empty line is an empty prompt.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "embed-text", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0]) {
    code = fail_usage ("embed-text", "missing MODEL directory");
    goto out;
  }
  if (!rest[1] && !file) {
    code = fail_usage ("embed-text", "no text: give TEXT arguments or --file");
    goto out;
  }
  if (batch < 1) {
    code = fail_usage ("embed-text", "--batch must be >= 1, got %d", batch);
    goto out;
  }
  if ((code = load_model (&model, rest[0], CLE_TOWER_TEXT)) != EXIT_OK)
    goto out;
  cle_model_get_info (model, &info);
  if ((code = new_context (&ctx, model, 0, batch)) != EXIT_OK)
    goto out;
  if ((code = text_source_open (&src, rest + 1, file)) != EXIT_OK)
    goto out;
  texts = g_new0 (char *, EMBED_TEXT_WINDOW + 1);
  embeds = g_new (float, (size_t) EMBED_TEXT_WINDOW * info.projection_dim);

  while ((r = text_source_next (&src, &text)) > 0) {
    texts[n++] = g_strdup (text);
    if (n == EMBED_TEXT_WINDOW) {
      code = embed_text_batch (ctx, model, info.projection_dim, texts, n,
          embeds, s);
      for (i = 0; i < n; i++)
        g_clear_pointer (&texts[i], g_free);
      n = 0;
      if (code != EXIT_OK)
        goto out;
    }
  }
  /* The texts read before a bad line are still encoded and printed. */
  if (n > 0 && (code = embed_text_batch (ctx, model, info.projection_dim,
              texts, n, embeds, s)) != EXIT_OK)
    goto out;
  code = finish_stdout (r < 0 ? EXIT_RUNTIME : EXIT_OK);

out:
  if (texts)
    g_strfreev (texts);
  g_free (embeds);
  text_source_close (&src);
  g_string_free (s, TRUE);
  cle_context_free (ctx);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (file);
  g_strfreev (rest);
  return code;
}

/* ------------------------------------------------------------- images -- */

/* Loads an image file (PNG, JPEG, PPM) as packed RGB (free() it); on
 * failure reports an error naming the path and returns FALSE. */
static gboolean
load_image (const char *path, uint8_t ** rgb, ClipFrame * frame)
{
  ClipError err = { 0 };
  int w = 0, h = 0, status;

  *rgb = NULL;
  status = image_load_rgb (path, rgb, &w, &h, &err);
  if (status < 0) {
    fail_clip (&err, status, path);
    free (*rgb);
    *rgb = NULL;
    return FALSE;
  }
  memset (frame, 0, sizeof *frame);
  frame->format = CLE_PIXEL_RGB;
  frame->width = w;
  frame->height = h;
  frame->planes[0] = *rgb;
  frame->strides[0] = 3 * w;
  return TRUE;
}

/* Called with each image's embedding, in input order. */
typedef int (*EmbedFunc) (const char *image, const float *embed,
    gpointer user_data);

/* Encodes frames[0..n) and hands each embedding to func. When a batch fails,
 * the frames are retried one by one so the error names the image. */
static int
encode_frame_batch (ClipContext * ctx, int proj, const ClipFrame * frames,
    char **paths, int n, float *embeds, EmbedFunc func, gpointer user_data)
{
  ClipError err = { 0 };
  int status, i, code;

  status = cle_encode_frames (ctx, frames, n, embeds, (size_t) n * proj, &err);
  if (status >= 0) {
    for (i = 0; i < n; i++)
      if ((code = func (paths[i], embeds + (size_t) i * proj,
                  user_data)) != EXIT_OK)
        return code;
    return EXIT_OK;
  }
  if (n == 1)
    return fail_clip (&err, status, paths[0]);
  for (i = 0; i < n; i++) {
    code = encode_frame_batch (ctx, proj, frames + i, paths + i, 1, embeds,
        func, user_data);
    if (code != EXIT_OK)
      return code;
  }
  return EXIT_OK;
}

/* Loads, encodes and reports paths[0..n) in batches of at most batch
 * images. Stops at the first image that cannot be loaded, after reporting
 * the ones before it. */
static int
encode_image_files (ClipContext * ctx, int proj, char **paths, int n,
    int batch, EmbedFunc func, gpointer user_data)
{
  ClipFrame *frames = g_new0 (ClipFrame, batch);
  uint8_t **rgbs = g_new0 (uint8_t *, batch);
  float *embeds = g_new (float, (size_t) batch * proj);
  int code = EXIT_OK, i = 0, k, j;
  gboolean load_failed = FALSE;

  while (i < n && code == EXIT_OK && !load_failed) {
    for (k = 0; k < batch && i + k < n; k++) {
      if (!load_image (paths[i + k], &rgbs[k], &frames[k])) {
        load_failed = TRUE;
        break;
      }
    }
    if (k > 0)
      code = encode_frame_batch (ctx, proj, frames, paths + i, k, embeds, func,
          user_data);
    for (j = 0; j < k; j++) {
      free (rgbs[j]);
      rgbs[j] = NULL;
    }
    i += k;
  }
  g_free (frames);
  g_free (rgbs);
  g_free (embeds);
  return load_failed ? EXIT_RUNTIME : code;
}

/* -------------------------------------------------------- embed-image -- */

static int
print_image_embedding (const char *image, const float *embed,
    gpointer user_data)
{
  const int *proj = user_data;
  GString *s = g_string_new ("{\"image\": ");

  json_string (s, image);
  g_string_append (s, ", \"embedding\": ");
  json_floats (s, embed, *proj);
  g_string_append_c (s, '}');
  emit_line (s);
  g_string_free (s, TRUE);
  return EXIT_OK;
}

/* Encodes the float32 CHW images concatenated in path (little-endian). */
static int
embed_pixel_values (ClipContext * ctx, const ClipModelInfo * info,
    const char *path, int batch)
{
  GError *gerr = NULL;
  GMappedFile *mf;
  const guint8 *data;
  size_t size, image_floats, n_images, i, j;
  float *pixels = NULL, *embeds = NULL;
  GString *s = NULL;
  int code = EXIT_OK;

  mf = g_mapped_file_new (path, FALSE, &gerr);
  if (!mf) {
    code = fail (EXIT_RUNTIME, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  data = (const guint8 *) g_mapped_file_get_contents (mf);
  size = g_mapped_file_get_length (mf);
  image_floats = (size_t) 3 * info->image_size * info->image_size;
  if (size == 0 || size % (image_floats * sizeof (float)) != 0) {
    code = fail (EXIT_RUNTIME, "%s: %zu bytes is not a positive multiple of "
        "%zu, the size of one float32 image of shape [3, %d, %d]", path, size,
        image_floats * sizeof (float), info->image_size, info->image_size);
    goto out;
  }
  n_images = size / (image_floats * sizeof (float));
  pixels = g_new (float, image_floats * batch);
  embeds = g_new (float, (size_t) batch * info->projection_dim);
  s = g_string_new (NULL);

  for (i = 0; i < n_images; i += batch) {
    size_t k = MIN ((size_t) batch, n_images - i);
    ClipError err = { 0 };
    int status;

    memcpy (pixels, data + i * image_floats * sizeof (float),
        k * image_floats * sizeof (float));
#if G_BYTE_ORDER == G_BIG_ENDIAN
    for (j = 0; j < k * image_floats; j++) {
      guint32 *u = (guint32 *) (pixels + j);
      *u = GUINT32_FROM_LE (*u);
    }
#endif
    status = cle_encode_images (ctx, pixels, (int) k, embeds,
        k * info->projection_dim, &err);
    if (status < 0) {
      code = fail_clip (&err, status, path);
      goto out;
    }
    for (j = 0; j < k; j++) {
      g_string_append (s, "{\"image\": ");
      json_string (s, path);
      g_string_append_printf (s, ", \"index\": %zu, \"embedding\": ", i + j);
      json_floats (s, embeds + j * info->projection_dim, info->projection_dim);
      g_string_append_c (s, '}');
      emit_line (s);
    }
  }

out:
  if (s)
    g_string_free (s, TRUE);
  g_free (pixels);
  g_free (embeds);
  g_mapped_file_unref (mf);
  return code;
}

static int
cmd_embed_image (int argc, char **argv)
{
  gchar *pixel_values = NULL;
  gchar **rest = NULL;
  gint batch = DEFAULT_BATCH_IMAGES;
  const GOptionEntry entries[] = {
    {"pixel-values", 'p', 0, G_OPTION_ARG_FILENAME, &pixel_values,
          "Encode preprocessed images instead: float32 [N, 3, S, S], "
          "little-endian, as 'preprocess' writes", "FILE.f32"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch,
        "Images per engine call (default 8)", "N"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL IMAGE...");
  ClipModel *model = NULL;
  ClipContext *ctx = NULL;
  ClipModelInfo info;
  int code;

  g_option_context_set_summary (octx,
      "Prints the image embedding (get_image_features, not normalized) of each"
      "\nIMAGE (PNG, JPEG or PPM), preprocessed as CLIPImageProcessor does.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "embed-image", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0]) {
    code = fail_usage ("embed-image", "missing MODEL directory");
    goto out;
  }
  if (!rest[1] && !pixel_values) {
    code = fail_usage ("embed-image", "no image: give IMAGE arguments or "
        "--pixel-values");
    goto out;
  }
  if (rest[1] && pixel_values) {
    code = fail_usage ("embed-image", "give IMAGE arguments or "
        "--pixel-values, not both");
    goto out;
  }
  if (batch < 1) {
    code = fail_usage ("embed-image", "--batch must be >= 1, got %d", batch);
    goto out;
  }
  if ((code = load_model (&model, rest[0], CLE_TOWER_VISION)) != EXIT_OK)
    goto out;
  cle_model_get_info (model, &info);
  if ((code = new_context (&ctx, model, batch, 0)) != EXIT_OK)
    goto out;
  if (pixel_values)
    code = embed_pixel_values (ctx, &info, pixel_values, batch);
  else
    code = encode_image_files (ctx, info.projection_dim, rest + 1,
        g_strv_length (rest + 1), batch, print_image_embedding,
        &info.projection_dim);
  code = finish_stdout (code);

out:
  cle_context_free (ctx);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (pixel_values);
  g_strfreev (rest);
  return code;
}

/* --------------------------------------------------------- preprocess -- */

/* Writes n floats as little-endian float32. */
static int
write_f32 (const char *path, const float *v, size_t n)
{
  FILE *fp = fopen (path, "wb");
  int ok;

  if (!fp) {
    int e = errno;
    return fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  ok = fwrite (v, sizeof (float), n, fp) == n;
#else
  size_t i;

  ok = TRUE;
  for (i = 0; i < n && ok; i++) {
    guint32 u;
    memcpy (&u, v + i, 4);
    u = GUINT32_TO_LE (u);
    ok = fwrite (&u, 4, 1, fp) == 1;
  }
#endif
  if (fclose (fp) != 0)
    ok = FALSE;
  if (!ok) {
    int e = errno;
    return fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
  return EXIT_OK;
}

static int
cmd_preprocess (int argc, char **argv)
{
  gchar *output = NULL;
  gchar **rest = NULL;
  const GOptionEntry entries[] = {
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
        "Write OUT.png and OUT.f32 (required)", "OUT"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL IMAGE -o OUT");
  ClipModel *model = NULL;
  ClipContext *ctx = NULL;
  ClipModelInfo info;
  ClipFrame frame;
  ClipError err = { 0 };
  uint8_t *rgb = NULL, *crop = NULL;
  float *pixels = NULL;
  gchar *png_path = NULL, *f32_path = NULL;
  GString *s = NULL;
  size_t n_pixels;
  int code, status;

  g_option_context_set_summary (octx,
      "Preprocesses IMAGE as CLIPImageProcessor does and writes OUT.png (the"
      "\nresized and center-cropped uint8 RGB image) and OUT.f32 (the model"
      "\ninput: float32 [3, H, W], little-endian).");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "preprocess", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0] || !rest[1] || rest[2]) {
    code = fail_usage ("preprocess", "expected MODEL and one IMAGE");
    goto out;
  }
  if (!output || !output[0]) {
    code = fail_usage ("preprocess", "missing -o OUT");
    goto out;
  }
  if ((code = load_model (&model, rest[0], CLE_TOWER_VISION)) != EXIT_OK)
    goto out;
  cle_model_get_info (model, &info);
  if ((code = new_context (&ctx, model, 1, 0)) != EXIT_OK)
    goto out;
  if (!load_image (rest[1], &rgb, &frame)) {
    code = EXIT_RUNTIME;
    goto out;
  }
  n_pixels = (size_t) 3 * info.crop_height * info.crop_width;
  pixels = g_new (float, n_pixels);
  crop = g_new (uint8_t, n_pixels);
  status = cle_preprocess (ctx, &frame, pixels, n_pixels, crop, &err);
  if (status < 0) {
    code = fail_clip (&err, status, rest[1]);
    goto out;
  }
  png_path = g_strconcat (output, ".png", NULL);
  f32_path = g_strconcat (output, ".f32", NULL);
  status = image_save_png (png_path, crop, info.crop_width, info.crop_height,
      &err);
  if (status < 0) {
    code = fail_clip (&err, status, png_path);
    goto out;
  }
  if ((code = write_f32 (f32_path, pixels, n_pixels)) != EXIT_OK)
    goto out;

  s = g_string_new ("{\"image\": ");
  json_string (s, rest[1]);
  g_string_append (s, ", \"png\": ");
  json_string (s, png_path);
  g_string_append (s, ", \"f32\": ");
  json_string (s, f32_path);
  g_string_append_printf (s, ", \"shape\": [3, %d, %d]}", info.crop_height,
      info.crop_width);
  emit_line (s);
  code = finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  g_free (png_path);
  g_free (f32_path);
  g_free (pixels);
  g_free (crop);
  free (rgb);
  cle_context_free (ctx);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (output);
  g_strfreev (rest);
  return code;
}

/* ----------------------------------------------------------- classify -- */

/* Adds the labels of a comma-separated list, trimmed, empty ones skipped. */
static void
add_labels_list (GPtrArray * labels, const char *list)
{
  gchar **parts = g_strsplit (list, ",", -1);
  int i;

  for (i = 0; parts[i]; i++) {
    g_strstrip (parts[i]);
    if (parts[i][0])
      g_ptr_array_add (labels, g_strdup (parts[i]));
  }
  g_strfreev (parts);
}

/* Adds the lines of path, trimmed; blank lines and '#' lines are skipped. */
static int
add_labels_file (GPtrArray * labels, const char *path)
{
  GError *gerr = NULL;
  gchar *contents = NULL, **lines;
  gsize len;
  int i;

  if (!g_file_get_contents (path, &contents, &len, &gerr)) {
    int code = fail (EXIT_RUNTIME, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  if (!g_utf8_validate (contents, len, NULL)) {
    g_free (contents);
    return fail (EXIT_RUNTIME, "%s: not valid UTF-8 text", path);
  }
  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i]; i++) {
    g_strstrip (lines[i]);
    if (lines[i][0] && lines[i][0] != '#')
      g_ptr_array_add (labels, g_strdup (lines[i]));
  }
  g_strfreev (lines);
  g_free (contents);
  return EXIT_OK;
}

typedef struct
{
  const ClipModel *model;
  GPtrArray *labels;
  const float *text_embeds;     /* (n_labels, projection_dim) */
  float *logits, *probs;
  int top_k;
} Classifier;

typedef struct
{
  float prob;
  int index;
} Ranked;

static int
compare_ranked (const void *a, const void *b)
{
  const Ranked *x = a, *y = b;

  if (x->prob != y->prob)
    return x->prob > y->prob ? -1 : 1;
  return x->index - y->index;
}

static int
print_classification (const char *image, const float *embed,
    gpointer user_data)
{
  Classifier *c = user_data;
  int n = c->labels->len, i, shown;
  ClipError err = { 0 };
  Ranked *ranked;
  GString *s;
  int status;

  status = cle_model_score (c->model, embed, c->text_embeds, n, c->logits,
      c->probs, NULL, &err);
  if (status < 0)
    return fail_clip (&err, status, image);
  ranked = g_new (Ranked, n);
  for (i = 0; i < n; i++) {
    ranked[i].prob = isnan (c->probs[i]) ? -1.0f : c->probs[i];
    ranked[i].index = i;
  }
  qsort (ranked, n, sizeof *ranked, compare_ranked);
  shown = c->top_k > 0 ? MIN (c->top_k, n) : n;

  s = g_string_new ("{\"image\": ");
  json_string (s, image);
  g_string_append (s, ", \"logits\": ");
  json_floats (s, c->logits, n);
  g_string_append (s, ", \"probs\": ");
  json_floats (s, c->probs, n);
  g_string_append (s, ", \"labels\": [");
  for (i = 0; i < shown; i++) {
    int k = ranked[i].index;

    g_string_append (s, i ? ", {\"label\": " : "{\"label\": ");
    json_string (s, g_ptr_array_index (c->labels, k));
    g_string_append (s, ", \"prob\": ");
    json_float (s, c->probs[k]);
    g_string_append (s, ", \"logit\": ");
    json_float (s, c->logits[k]);
    g_string_append_c (s, '}');
  }
  g_string_append (s, "]}");
  emit_line (s);
  g_string_free (s, TRUE);
  g_free (ranked);
  return EXIT_OK;
}

static int
cmd_classify (int argc, char **argv)
{
  gchar **labels_opt = NULL, **labels_files = NULL;
  gchar *template = NULL;
  gchar **rest = NULL;
  gint top_k = 0, batch = DEFAULT_BATCH_IMAGES;
  const GOptionEntry entries[] = {
    {"labels", 'l', 0, G_OPTION_ARG_FILENAME_ARRAY, &labels_opt,
        "Comma-separated labels (may be repeated)", "\"a,b,c\""},
    {"labels-file", 'L', 0, G_OPTION_ARG_FILENAME_ARRAY, &labels_files,
          "Labels one a line; blank lines and lines starting with '#' are "
          "skipped", "FILE"},
    {"template", 'T', 0, G_OPTION_ARG_FILENAME, &template,
          "Prompt for each label, every {} replaced by the label, e.g. "
          "\"a photo of a {}.\" (default: the label as is)", "TEXT"},
    {"top-k", 'k', 0, G_OPTION_ARG_INT, &top_k,
        "List only the K most probable labels (default: all)", "K"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch,
        "Images per engine call (default 8)", "N"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL IMAGE...");
  GPtrArray *labels = g_ptr_array_new_with_free_func (g_free);
  ClipModel *model = NULL;
  ClipContext *ctx = NULL;
  ClipModelInfo info;
  Classifier c = { 0 };
  float *text_embeds = NULL;
  char **prompts = NULL;
  int code, i, n, proj;

  g_option_context_set_summary (octx,
      "Zero-shot classification: scores each IMAGE against the prompts made"
      "\nfrom the labels (logits = logit_scale * cosine, probs = their"
      "\nsoftmax). The labels list is sorted by probability, highest first.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "classify", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0]) {
    code = fail_usage ("classify", "missing MODEL directory");
    goto out;
  }
  if (!rest[1]) {
    code = fail_usage ("classify", "no IMAGE given");
    goto out;
  }
  if (template && !strstr (template, "{}")) {
    code = fail_usage ("classify", "--template '%s' has no {} for the label",
        template);
    goto out;
  }
  if (top_k < 0 || batch < 1) {
    code = fail_usage ("classify", "--top-k must be >= 0 and --batch >= 1");
    goto out;
  }
  for (i = 0; labels_opt && labels_opt[i]; i++)
    add_labels_list (labels, labels_opt[i]);
  for (i = 0; labels_files && labels_files[i]; i++)
    if ((code = add_labels_file (labels, labels_files[i])) != EXIT_OK)
      goto out;
  if (labels->len == 0) {
    code = fail_usage ("classify", "no labels: give --labels or "
        "--labels-file");
    goto out;
  }
  for (i = 0; i < (int) labels->len; i++)
    if (!g_utf8_validate (g_ptr_array_index (labels, i), -1, NULL)) {
      code = fail (EXIT_RUNTIME, "label %d is not valid UTF-8", i + 1);
      goto out;
    }

  if ((code = load_model (&model, rest[0], CLE_TOWER_BOTH)) != EXIT_OK)
    goto out;
  cle_model_get_info (model, &info);
  if ((code = new_context (&ctx, model, batch, 0)) != EXIT_OK)
    goto out;

  n = labels->len;
  proj = info.projection_dim;
  prompts = g_new0 (char *, n + 1);
  for (i = 0; i < n; i++) {
    const char *label = g_ptr_array_index (labels, i);

    if (template) {
      gchar **parts = g_strsplit (template, "{}", -1);
      prompts[i] = g_strjoinv (label, parts);
      g_strfreev (parts);
    } else {
      prompts[i] = g_strdup (label);
    }
  }
  text_embeds = g_new (float, (size_t) n * proj);
  for (i = 0; i < n; i += DEFAULT_BATCH_TEXTS) {
    int k = MIN (DEFAULT_BATCH_TEXTS, n - i);
    ClipError err = { 0 };
    int status = encode_texts (ctx, model, (const char *const *) prompts + i,
        k, text_embeds + (size_t) i * proj, (size_t) k * proj, &err);

    if (status < 0) {
      code = fail_clip (&err, status, NULL);
      goto out;
    }
  }

  c.model = model;
  c.labels = labels;
  c.text_embeds = text_embeds;
  c.logits = g_new (float, n);
  c.probs = g_new (float, n);
  c.top_k = top_k;
  code = encode_image_files (ctx, proj, rest + 1, g_strv_length (rest + 1),
      batch, print_classification, &c);
  code = finish_stdout (code);

out:
  g_free (c.logits);
  g_free (c.probs);
  g_free (text_embeds);
  g_strfreev (prompts);
  g_ptr_array_unref (labels);
  cle_context_free (ctx);
  cle_model_free (model);
  g_option_context_free (octx);
  g_strfreev (labels_opt);
  g_strfreev (labels_files);
  g_free (template);
  g_strfreev (rest);
  return code;
}

/* -------------------------------------------------------------- bench -- */

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
cmd_bench (int argc, char **argv)
{
  gchar *tower_opt = NULL, *frame_opt = NULL;
  gboolean preprocess_only = FALSE;
  BenchFrame bench_frame = { 0 };
  ClipFrame *frames = NULL;
  gchar **rest = NULL;
  gint batch = 0, tokens = DEFAULT_BENCH_TOKENS;
  gdouble seconds = DEFAULT_BENCH_SECONDS;
  const GOptionEntry entries[] = {
    {"tower", 0, 0, G_OPTION_ARG_FILENAME, &tower_opt,
        "vision (default) or text", "TOWER"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch,
        "Images or prompts per call (default 8 images, 64 prompts)", "N"},
    {"seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds,
        "Time to run after one warm-up call (default 3)", "S"},
    {"tokens", 0, 0, G_OPTION_ARG_INT, &tokens,
          "Prompt length in tokens, start and end included (default 8; "
          "77 for full length)", "T"},
    {"frame", 0, 0, G_OPTION_ARG_STRING, &frame_opt,
          "Encode --batch frames of WxH in FORMAT (RGB, BGR, RGBA, BGRA, "
          "RGBx, BGRx, GRAY8, I420, NV12) per call, preprocessing "
          "included (cle_encode_frames), e.g. 1920x1080:I420", "WxH:FORMAT"},
    {"preprocess-only", 0, 0, G_OPTION_ARG_NONE, &preprocess_only,
          "With --frame: preprocessing alone, one frame per call (one "
          "thread)", NULL},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new ("MODEL");
  ClipModel *model = NULL;
  ClipContext *ctx = NULL;
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

  g_option_context_set_summary (octx,
      "Measures encoder throughput on synthetic input (fixed seed): one"
      "\nwarm-up call, then calls until --seconds have passed; reports the"
      "\nmedian time per call.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!parse_options (octx, "bench", &argc, &argv)) {
    code = EXIT_USAGE;
    goto out;
  }
  if (!rest || !rest[0] || rest[1]) {
    code = fail_usage ("bench", "expected exactly one MODEL directory");
    goto out;
  }
  if (!parse_towers (tower_opt ? tower_opt : "vision", &tower)
      || tower == CLE_TOWER_BOTH) {
    code = fail_usage ("bench", "--tower: expected vision or text, got '%s'",
        tower_opt);
    goto out;
  }
  vision = tower == CLE_TOWER_VISION;
  if (frame_opt && (!vision || !bench_frame_init (&bench_frame, frame_opt))) {
    code = fail_usage ("bench", "--frame: expected WxH:FORMAT with a vision "
        "tower, e.g. 1920x1080:I420, got '%s'", frame_opt);
    goto out;
  }
  if (preprocess_only && !frame_opt) {
    code = fail_usage ("bench", "--preprocess-only needs --frame");
    goto out;
  }
  if (preprocess_only)
    batch = 1;
  if (batch == 0)
    batch = vision ? DEFAULT_BATCH_IMAGES : DEFAULT_BATCH_TEXTS;
  if (batch < 1 || !(seconds >= 0.0) || seconds > 86400.0) {
    code = fail_usage ("bench", "--batch must be >= 1 and --seconds in "
        "[0, 86400]");
    goto out;
  }
  load_t0 = g_get_monotonic_time ();
  if ((code = load_model (&model, rest[0], tower)) != EXIT_OK)
    goto out;
  load_ms = (g_get_monotonic_time () - load_t0) / 1e3;
  cle_model_get_info (model, &info);
  if ((code = new_context (&ctx, model, vision ? batch : 0,
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
      code = fail_usage ("bench", "--tokens must be in [2, %d], got %d",
          info.context_length, tokens);
      goto out;
    }
    /* The start and end ids, as the tokenizer gives them for "". */
    status = cle_tokenize (model, "", ends, 2, &err);
    if (status < 0) {
      code = fail_clip (&err, status, NULL);
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
      status = cle_preprocess (ctx, &bench_frame.frame, pixels,
          (size_t) 3 * info.image_size * info.image_size, NULL, &err);
    else if (frame_opt)
      status = cle_encode_frames (ctx, frames, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    else if (vision)
      status = cle_encode_images (ctx, pixels, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    else
      status = cle_encode_token_ids (ctx, id_ptrs, n_ids, batch, embeds,
          (size_t) batch * info.projection_dim, &err);
    if (status < 0) {
      code = fail_clip (&err, status, NULL);
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
  threads = opt_threads > 0 ? opt_threads : omp_get_max_threads ();
#else
  threads = opt_threads;
#endif
  coretype = g_getenv ("OPENBLAS_CORETYPE");

  s = g_string_new ("{\"tower\": ");
  json_string (s, preprocess_only ? "preprocess" : tower_name (tower));
  if (frame_opt) {
    g_string_append (s, ", \"frame\": ");
    json_string (s, frame_opt);
  }
  g_string_append (s, ", \"model\": ");
  json_string (s, rest[0]);
  g_string_append (s, ", \"dtype\": ");
  json_string (s, info.weights_dtype);
  g_string_append (s, ", \"precision\": ");
  json_string (s, opt_precision ? opt_precision : "fp32");
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
  g_string_append_c (s, '}');
  emit_line (s);
  code = finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  g_array_unref (times);
  g_free (pixels);
  g_free (embeds);
  g_free (ids);
  g_free (bench_frame.data);
  g_free (frames);
  g_free (frame_opt);
  g_free (id_ptrs);
  g_free (n_ids);
  cle_context_free (ctx);
  cle_model_free (model);
  g_option_context_free (octx);
  g_free (tower_opt);
  g_strfreev (rest);
  return code;
}

/* --------------------------------------------------------------- main -- */

typedef struct
{
  const char *name, *args, *summary;
  int (*run) (int argc, char **argv);
} Command;

static const Command commands[] = {
  {"info", "MODEL", "model configuration", cmd_info},
  {"tokenize", "MODEL [--file F] [TEXT...]", "token ids of each text",
      cmd_tokenize},
  {"preprocess", "MODEL IMAGE -o OUT", "write OUT.png and OUT.f32 (model "
        "input)", cmd_preprocess},
  {"embed-text", "MODEL [--file F] [TEXT...]", "text embeddings",
      cmd_embed_text},
  {"embed-image", "MODEL IMAGE... | --pixel-values F.f32",
      "image embeddings", cmd_embed_image},
  {"classify", "MODEL --labels a,b,c [--template T] IMAGE...",
      "zero-shot classification", cmd_classify},
  {"bench", "MODEL [--tower vision|text] [--batch N] [--seconds S]",
      "encoder throughput", cmd_bench},
};

static void
print_usage (FILE * fp)
{
  size_t i;

  fputs ("Usage: clip-tool [--threads N] COMMAND [OPTION...] ARGS\n\n"
      "Runs a Hugging Face CLIP model directory on the CPU. Output: one JSON\n"
      "object per line on stdout. Exit status: 0 ok, 1 runtime error, "
      "2 usage error.\n\nCommands:\n", fp);
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (fp, "  %-12s %-46s %s\n", commands[i].name, commands[i].args,
        commands[i].summary);
  fputs ("\nGlobal options (also accepted after COMMAND):\n"
      "  -t, --threads N   OpenMP threads for the engine (0: OpenMP default)\n"
      "  -h, --help        this text; 'clip-tool COMMAND --help' for a "
      "command's\n", fp);
}

/* Parses the --threads value of the global options. */
static gboolean
parse_threads (const char *value)
{
  gint64 v;

  if (!value || !g_ascii_string_to_signed (value, 10, 0, G_MAXINT, &v, NULL))
    return FALSE;
  opt_threads = (gint) v;
  return TRUE;
}

int
main (int argc, char **argv)
{
  const Command *cmd = NULL;
  gchar *prgname;
  size_t j;
  int i = 1, code;

  /* Global options end at the first non-option argument: the command. */
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];

    if (strcmp (a, "-h") == 0 || strcmp (a, "--help") == 0) {
      print_usage (stdout);
      return EXIT_OK;
    } else if (strcmp (a, "-t") == 0 || strcmp (a, "--threads") == 0) {
      if (i + 1 >= argc || !parse_threads (argv[i + 1]))
        return fail_usage (NULL, "--threads needs a number >= 0");
      i += 2;
    } else if (g_str_has_prefix (a, "--threads=")) {
      if (!parse_threads (a + strlen ("--threads=")))
        return fail_usage (NULL, "--threads needs a number >= 0");
      i++;
    } else {
      return fail_usage (NULL, "unknown option '%s'", a);
    }
  }
  if (i >= argc) {
    print_usage (stderr);
    return EXIT_USAGE;
  }
  if (strcmp (argv[i], "help") == 0) {
    print_usage (stdout);
    return EXIT_OK;
  }
  for (j = 0; j < G_N_ELEMENTS (commands); j++)
    if (strcmp (argv[i], commands[j].name) == 0)
      cmd = &commands[j];
  if (!cmd)
    return fail_usage (NULL, "unknown command '%s'", argv[i]);

  /* The command parses argv[i..], with "clip-tool COMMAND" as program name
   * so that its --help reads right. */
  prgname = g_strdup_printf ("clip-tool %s", cmd->name);
  g_set_prgname (prgname);
  argv[i] = prgname;
  code = cmd->run (argc - i, argv + i);
  cle_text_cache_free (text_cache);
  g_free (opt_text_cache);
  g_free (prgname);
  return code;
}
