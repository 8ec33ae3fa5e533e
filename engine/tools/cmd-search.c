/* cmd-search.c - clip-tool search: a text (or image) query against every
 * row of an index folder (the clipindex element's), exact, with the
 * engine's float16 search; the best rows of each file merged into moments.
 * The index names its model: another model is refused, never compared. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index-read.h"
#include "tool-common.h"

#define DEFAULT_TOP 10
/* Rows of one file closer than the gap are one moment: at least this, or
 * GAP_STEPS of the file's row spacing (an index made every 10 s merges
 * rows 10 s apart). */
#define DEFAULT_GAP_S 2.0
#define GAP_STEPS 2.5
/* Rows taken from the exact search per moment asked for: a moment is
 * made of rows, and a long scene has many. */
#define CANDIDATES_PER_MOMENT 100
#define MIN_CANDIDATES 1000

typedef struct
{
  gchar *file;
  gint64 pts, gap;
  float score;
} Candidate;

typedef struct
{
  const gchar *file;
  gint64 start, end, best_pts;
  float score;
} Moment;

static int
by_file_then_pts (const void *pa, const void *pb)
{
  const Candidate *a = pa, *b = pb;
  int c = strcmp (a->file, b->file);
  if (c)
    return c;
  return (a->pts > b->pts) - (a->pts < b->pts);
}

static int
by_score (const void *pa, const void *pb)
{
  const Moment *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  int c = strcmp (a->file, b->file);
  if (c)
    return c;
  return (a->start > b->start) - (a->start < b->start);
}

static void
normalize (float *v, int n)
{
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double) v[i] * v[i];
  s = s > 0 ? 1.0 / sqrt (s) : 0;
  for (int i = 0; i < n; i++)
    v[i] *= s;
}

/* The hits, as moments, best first; prints at most top. */
static int
search_one (ClipIndexReader * r, const char *query, const float *embed,
    int top, double gap_s, GString * s)
{
  const int n_cand = MAX (MIN_CANDIDATES, top * CANDIDATES_PER_MOMENT);
  ClipSearchHit *hits = g_new (ClipSearchHit, n_cand);
  Candidate *c = NULL;
  Moment *m = NULL;
  ClipError err = { 0 };
  GError *gerr = NULL;
  int n, n_m = 0, code = EXIT_OK;

  n = cle_search_f16 (hits, n_cand, r->blocks, r->n_shards, r->manifest.dim,
      embed, tool_options.threads, &err);
  if (n < 0) {
    code = tool_fail_clip (&err, n, r->dir);
    goto out;
  }
  c = g_new0 (Candidate, MAX (n, 1));
  for (int i = 0; i < n; i++) {
    ClipIndexShard *sh = clip_index_reader_shard_of (r, hits[i].row);
    if (!clip_index_reader_row (sh, hits[i].row - sh->first_row, &c[i].file,
            &c[i].pts, &gerr)) {
      code = tool_fail (EXIT_RUNTIME, "%s: %s", r->dir, gerr->message);
      g_error_free (gerr);
      goto out;
    }
    c[i].score = hits[i].score;
    c[i].gap = MAX ((gint64) (gap_s * 1e9),
        (gint64) (GAP_STEPS * sh->spacing_ns));
  }

  /* runs of one file's rows, each within the gap of the one before */
  qsort (c, n, sizeof *c, by_file_then_pts);
  m = g_new0 (Moment, MAX (n, 1));
  for (int i = 0; i < n; i++) {
    Moment *cur = n_m ? &m[n_m - 1] : NULL;
    if (cur && strcmp (cur->file, c[i].file) == 0
        && c[i].pts - cur->end <= c[i].gap) {
      cur->end = c[i].pts;
      if (c[i].score > cur->score) {
        cur->score = c[i].score;
        cur->best_pts = c[i].pts;
      }
      continue;
    }
    m[n_m++] = (Moment) { c[i].file, c[i].pts, c[i].pts, c[i].pts,
      c[i].score };
  }
  qsort (m, n_m, sizeof *m, by_score);

  for (int i = 0; i < n_m && i < top; i++) {
    g_string_append (s, "{\"query\":");
    json_string (s, query);
    g_string_append (s, ",\"file\":");
    json_string (s, m[i].file);
    g_string_append_printf (s, ",\"start\":%" G_GINT64_FORMAT ",\"end\":%"
        G_GINT64_FORMAT ",\"score\":", m[i].start, m[i].end);
    json_float (s, m[i].score);
    g_string_append_printf (s, ",\"best_pts\":%" G_GINT64_FORMAT,
        m[i].best_pts);
    json_emit_line (s);
  }
out:
  if (c)
    for (int i = 0; i < n; i++)
      g_free (c[i].file);
  g_free (c);
  g_free (m);
  g_free (hits);
  return code;
}

/* The index's model against the one that will embed the queries: the
 * same fingerprint, or a refusal that names both. */
static int
check_model (const ClipIndexReader * r, const char *model_dir)
{
  char fp[65];
  ClipError err = { 0 };
  int status = cle_model_dir_fingerprint (model_dir, fp, sizeof fp, &err);

  if (status < 0)
    return tool_fail_clip (&err, status, model_dir);
  if (strcmp (fp, r->manifest.fingerprint) != 0)
    return tool_fail (EXIT_RUNTIME, "the index %s was made by another "
        "model: %s (fingerprint %.12s), while %s has fingerprint %.12s; "
        "embeddings of different models cannot be compared: search with "
        "--model set to the index's model, or index again with this one",
        r->dir, r->manifest.model, r->manifest.fingerprint, model_dir, fp);
  return EXIT_OK;
}

static gchar *
expand (const char *template, const char *query)
{
  gchar **parts = g_strsplit (template, "{}", -1);
  gchar *text = g_strjoinv (query, parts);
  g_strfreev (parts);
  return text;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gint top = DEFAULT_TOP;
  gdouble gap = DEFAULT_GAP_S;
  gchar *image = NULL, *model = NULL, *template = NULL;
  const GOptionEntry entries[] = {
    {"top", 'k', 0, G_OPTION_ARG_INT, &top,
        "Prints the K best moments of each query (default "
          G_STRINGIFY (DEFAULT_TOP) ").", "K"},
    {"image", 'i', 0, G_OPTION_ARG_FILENAME, &image,
        "Searches for frames like the image FILE (PNG, JPEG, PPM) too.",
        "FILE"},
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
        "Embeds the queries with the model DIR instead of the one the "
          "index names (same fingerprint required: a copy elsewhere).",
        "DIR"},
    {"template", 'T', 0, G_OPTION_ARG_FILENAME, &template,
        "Makes the prompt of each query from TEXT, {} replaced by the query "
          "(default \"" CLE_DEFAULT_TEMPLATE "\", as clipclassify's labels; "
          "\"{}\": the bare query).", "TEXT"},
    {"gap", 'g', 0, G_OPTION_ARG_DOUBLE, &gap,
        "Merges hits of one file less than SECONDS apart (or 2.5 times the "
          "file's row spacing, if more) into one moment (default 2).",
        "SECONDS"},
    {NULL}
  };
  ClipIndexReader r = { 0 };
  GString *s = g_string_new (NULL);
  GError *gerr = NULL;
  float *embed = NULL;
  unsigned towers = 0;
  int code;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 0, -1, argc, argv)) != EXIT_OK)
    goto out;
  if (top < 1) {
    code = tool_fail_usage (cmd->name, "--top must be >= 1, got %d", top);
    goto out;
  }
  if (template && !strstr (template, "{}")) {
    code = tool_fail_usage (cmd->name, "--template '%s' has no {} for the "
        "query", template);
    goto out;
  }
  if (t.n_args == 0 && !image) {
    code = tool_fail_usage (cmd->name, "nothing to search for: give a "
        "QUERY or --image FILE");
    goto out;
  }
  if (!clip_index_reader_open (&r, t.model_dir, &gerr)) {
    code = tool_fail (EXIT_RUNTIME, "cannot open the index %s: %s",
        t.model_dir, gerr->message);
    g_error_free (gerr);
    goto out;
  }
  /* INDEX_DIR took MODEL's place: the model is the index's own */
  t.model_dir = model ? model : r.manifest.model;
  if ((code = check_model (&r, t.model_dir)) != EXIT_OK)
    goto out;
  towers = (t.n_args ? CLE_TOWER_TEXT : 0) | (image ? CLE_TOWER_VISION : 0);
  if ((code = tool_open (&t, towers, 1, 0)) != EXIT_OK)
    goto out;
  if (t.info.projection_dim != r.manifest.dim) {
    code = tool_fail (EXIT_RUNTIME, "%s: embeddings of %d values, the index "
        "has %d", t.model_dir, t.info.projection_dim, r.manifest.dim);
    goto out;
  }
  embed = g_new (float, t.info.projection_dim);

  for (int i = 0; i < t.n_args && code == EXIT_OK; i++) {
    ClipError err = { 0 };
    gchar *prompt = expand (template ? template : CLE_DEFAULT_TEMPLATE,
        t.args[i]);
    const char *texts[] = { prompt };
    int status = tool_encode_texts (&t, texts, 1, embed,
        t.info.projection_dim, &err);
    g_free (prompt);
    if (status < 0) {
      code = tool_fail_clip (&err, status, NULL);
      break;
    }
    normalize (embed, t.info.projection_dim);
    code = search_one (&r, t.args[i], embed, top, gap, s);
  }
  if (image && code == EXIT_OK) {
    ClipError err = { 0 };
    ClipFrame frame;
    uint8_t *rgb = NULL;
    int status;
    if (!tool_load_image (image, &rgb, &frame)) {
      code = EXIT_RUNTIME;
      goto out;
    }
    status = cle_encode_frames (t.ctx, &frame, 1, embed,
        t.info.projection_dim, &err);
    free (rgb);
    if (status < 0) {
      code = tool_fail_clip (&err, status, image);
      goto out;
    }
    normalize (embed, t.info.projection_dim);
    code = search_one (&r, image, embed, top, gap, s);
  }
  code = tool_finish_stdout (code);

out:
  g_free (embed);
  clip_index_reader_close (&r);
  g_string_free (s, TRUE);
  /* model_dir was the index's: tool_close must not see it as argv */
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_search = {
  "search", "INDEX_DIR [QUERY...]",
  "Finds the moments of an index that match each query.",
  "Searches the index folder INDEX_DIR (written by the clipindex element, "
      "e.g. through pipelines/index-archive.sh) for each QUERY (a text, "
      "made a prompt by --template) and for --image FILE: the query's "
      "embedding against every row, exactly, then the best rows of each "
      "file within --gap of each other merged into moments. Prints one "
      "line per moment, best first: {\"query\", \"file\", \"start\", "
      "\"end\", \"best_pts\" (nanoseconds), \"score\" (the cosine of the "
      "best row)}. The model is the one the index names (its "
      "manifest.json); an index made by another model than --model is "
      "refused.",
  run
};
