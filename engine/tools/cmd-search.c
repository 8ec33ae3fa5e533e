/* cmd-search.c - clip-tool search: a text (or image) query against every
 * row of an index folder (the clipindex element's), exact, with the
 * engine's float16 search; the best rows of each file merged into moments.
 * The index names its model: another model is refused, never compared. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index-read.h"
#include "tool-common.h"
#ifdef HAVE_FAISS
#include "ann-faiss.h"
#endif

#define DEFAULT_TOP 10
/* Two neighbouring rows of one file are never one moment when their times
 * are further apart than this, or GAP_STEPS of the file's row spacing if
 * more (a cut, a gap in the video, the end of a concatenated part). */
#define DEFAULT_GAP_S 2.0
#define GAP_STEPS 2.5
/* Rows taken from the exact search per moment asked for; each moment
 * starts at the best of them not yet in a moment. */
#define CANDIDATES_PER_MOMENT 100
#define MIN_CANDIDATES 1000
/* A moment grows from its best row over the neighbouring rows that score
 * at least halfway between that row and the file's median row, or within
 * MIN_MARGIN (relative) of the best: a scene stands out of the rest of its
 * file, and a file of one scene (median close to the best) stays whole. */
#define MIN_MARGIN 0.05f

typedef struct
{
  gchar *file;
  gint64 start, end, best_pts;
  float score;
} Moment;

/* The scores of every row of one shard (those with a moment's best row),
 * computed once: the search kept only the best rows of the index. */
typedef struct
{
  float *scores;                /* (n_rows) */
  guint8 *used;                 /* (n_rows) rows already in a moment */
  float median;
} ShardScores;

static int
compare_floats (const void *pa, const void *pb)
{
  float a = *(const float *) pa, b = *(const float *) pb;
  return (a > b) - (a < b);
}

static gboolean
shard_scores (ClipIndexReader * r, ClipIndexShard * sh, const float *embed,
    ShardScores * out)
{
  ClipSearchHit *all = g_new (ClipSearchHit, MAX (sh->n_rows, 1));
  ClipRowBlock block = r->blocks[sh - r->shards];
  float *sorted;
  int n = cle_search_f16 (all, (int) sh->n_rows, &block, 1, r->manifest.dim,
      embed, 1, NULL);

  if (n < 0) {
    g_free (all);
    return FALSE;
  }
  out->scores = g_new (float, MAX (n, 1));
  out->used = g_new0 (guint8, MAX (n, 1));
  sorted = g_new (float, MAX (n, 1));
  for (int i = 0; i < n; i++) {
    out->scores[all[i].row] = all[i].score;
    sorted[i] = all[i].score;
  }
  qsort (sorted, n, sizeof *sorted, compare_floats);
  out->median = n ? sorted[n / 2] : 0;
  g_free (sorted);
  g_free (all);
  return TRUE;
}

static void
shard_scores_free (gpointer p)
{
  ShardScores *s = p;
  g_free (s->scores);
  g_free (s->used);
  g_free (s);
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

static void
emit_moment (GString * s, const char *query, const Moment * m)
{
  g_string_append (s, "{\"query\":");
  json_string (s, query);
  g_string_append (s, ",\"file\":");
  json_string (s, m->file);
  g_string_append_printf (s, ",\"start\":%" G_GINT64_FORMAT ",\"end\":%"
      G_GINT64_FORMAT ",\"score\":", m->start, m->end);
  json_float (s, m->score);
  g_string_append_printf (s, ",\"best_pts\":%" G_GINT64_FORMAT,
      m->best_pts);
  json_emit_line (s);
}

/* Grows the moment of row `row` of shard sh over its neighbours (see
 * MIN_MARGIN and DEFAULT_GAP_S), marking them used. */
static gboolean
grow_moment (ClipIndexShard * sh, ShardScores * sc, guint64 row,
    double gap_s, Moment * m, GError ** error)
{
  const float peak = sc->scores[row];
  const float low = MIN (0.5f * (peak + sc->median),
      peak - MIN_MARGIN * fabsf (peak));
  gint64 gap, pts, prev;
  gchar *file;

  if (!clip_index_reader_row (sh, row, &m->file, &m->best_pts, error))
    return FALSE;
  gap = MAX ((gint64) (gap_s * 1e9), (gint64) (GAP_STEPS * sh->spacing_ns));
  m->score = peak;
  m->start = m->end = m->best_pts;
  sc->used[row] = 1;
  for (int dir = -1; dir <= 1; dir += 2) {
    prev = m->best_pts;
    for (gint64 i = (gint64) row + dir; i >= 0 && i < (gint64) sh->n_rows;
        i += dir) {
      if (sc->used[i] || sc->scores[i] < low)
        break;
      if (!clip_index_reader_row (sh, i, &file, &pts, error))
        return FALSE;
      gboolean same = strcmp (file, m->file) == 0
          && (dir > 0 ? pts - prev : prev - pts) <= gap
          && (dir > 0 ? pts >= prev : pts <= prev);
      g_free (file);
      if (!same)
        break;
      sc->used[i] = 1;
      prev = pts;
      if (dir < 0)
        m->start = pts;
      else
        m->end = pts;
    }
  }
  return TRUE;
}

/* The approximate index, when --ann asks for it (-Dfaiss=enabled). */
typedef struct
{
  gpointer ann;                 /* ClipAnn, or NULL: exact search */
  gint nprobe;
} Approx;

static int
hit_by_score (const void *pa, const void *pb)
{
  const ClipSearchHit *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

/* The n_cand best rows: all of them scanned, or the approximate index's
 * candidates scored again exactly on their float16 rows. */
static int
find_candidates (ClipIndexReader * r, const float *embed, int n_cand,
    const Approx * approx, ClipSearchHit * hits, ClipError * err)
{
#ifdef HAVE_FAISS
  if (approx->ann) {
    const int dim = r->manifest.dim;
    int n = clip_ann_search (approx->ann, embed, n_cand, approx->nprobe,
        hits);
    for (int i = 0; i < n; i++) {
      ClipIndexShard *sh = clip_index_reader_shard_of (r, hits[i].row);
      ClipRowBlock one = { r->blocks[sh - r->shards].rows
            + (hits[i].row - sh->first_row) * dim, 1 };
      ClipSearchHit h;
      cle_search_f16 (&h, 1, &one, 1, dim, embed, 1, NULL);
      hits[i].score = h.score;
    }
    qsort (hits, n, sizeof *hits, hit_by_score);
    return n;
  }
#endif
  (void) approx;
  (void) hit_by_score;
  return cle_search_f16 (hits, n_cand, r->blocks, r->n_shards,
      r->manifest.dim, embed, tool_options.threads, err);
}

/* The best moments of one query, best first; prints at most top. */
static int
search_one (ClipIndexReader * r, const char *query, const float *embed,
    int top, double gap_s, const Approx * approx, GString * s)
{
  const int n_cand = MAX (MIN_CANDIDATES, top * CANDIDATES_PER_MOMENT);
  ClipSearchHit *hits = g_new (ClipSearchHit, n_cand);
  GHashTable *scores = g_hash_table_new_full (NULL, NULL, NULL,
      shard_scores_free);
  ClipError err = { 0 };
  GError *gerr = NULL;
  int n, n_m = 0, code = EXIT_OK;

  n = find_candidates (r, embed, n_cand, approx, hits, &err);
  if (n < 0) {
    code = tool_fail_clip (&err, n, r->dir);
    goto out;
  }
  /* hits are best first: each one not yet in a moment starts one */
  for (int i = 0; i < n && n_m < top; i++) {
    ClipIndexShard *sh = clip_index_reader_shard_of (r, hits[i].row);
    guint64 row = hits[i].row - sh->first_row;
    ShardScores *sc = g_hash_table_lookup (scores, sh);
    Moment m = { 0 };

    if (!sc) {
      sc = g_new0 (ShardScores, 1);
      if (!shard_scores (r, sh, embed, sc)) {
        g_free (sc);
        code = tool_fail (EXIT_RUNTIME, "%s: cannot score shard '%s'",
            r->dir, sh->name);
        goto out;
      }
      g_hash_table_insert (scores, sh, sc);
    }
    if (sc->used[row])
      continue;
    if (!grow_moment (sh, sc, row, gap_s, &m, &gerr)) {
      code = tool_fail (EXIT_RUNTIME, "%s: %s", r->dir, gerr->message);
      g_error_free (gerr);
      g_free (m.file);
      goto out;
    }
    emit_moment (s, query, &m);
    g_free (m.file);
    n_m++;
  }
out:
  g_hash_table_destroy (scores);
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

#ifdef HAVE_FAISS
/* The approximate index of r, if it was built on r's shards as they are. */
static int
open_ann (ClipIndexReader * r, Approx * approx)
{
  gchar *path = g_build_filename (r->dir, CLIP_ANN_FILE, NULL);
  gchar *stamp_path = g_build_filename (r->dir, CLIP_ANN_STAMP, NULL);
  gchar *stamp = clip_index_reader_stamp (r), *built = NULL;
  char err[512];
  int code = EXIT_OK;

  if (!g_file_get_contents (stamp_path, &built, NULL, NULL)
      || strcmp (built, stamp) != 0)
    code = tool_fail (EXIT_RUNTIME, "%s: no approximate index of these "
        "shards (a shard was added or changed since): run 'clip-tool "
        "ann-build %s', or search without --ann", r->dir, r->dir);
  else if (clip_ann_open ((ClipAnn **) & approx->ann, path, err,
          sizeof err) < 0)
    code = tool_fail (EXIT_RUNTIME, "%s", err);
  else if (approx->nprobe < 1)
    code = tool_fail_usage ("search", "--nprobe must be >= 1");
  g_free (path);
  g_free (stamp_path);
  g_free (stamp);
  g_free (built);
  return code;
}
#endif

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
  Approx approx = { NULL, 16 };
  gboolean use_ann = FALSE;
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
        "Never joins rows of one file more than SECONDS apart (or 2.5 "
          "times the file's row spacing, if more) into one moment "
          "(default 2).",
        "SECONDS"},
#ifdef HAVE_FAISS
    {"ann", 'a', 0, G_OPTION_ARG_NONE, &use_ann,
        "Takes the candidates from the approximate index (clip-tool "
          "ann-build) instead of scanning every row; they are scored again "
          "exactly.", NULL},
    {"nprobe", 'p', 0, G_OPTION_ARG_INT, &approx.nprobe,
        "Lists the approximate index scans (default 16).", "N"},
#endif
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
#ifdef HAVE_FAISS
  if (use_ann && (code = open_ann (&r, &approx)) != EXIT_OK)
    goto out;
#else
  (void) use_ann;
#endif
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
    code = search_one (&r, t.args[i], embed, top, gap, &approx, s);
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
    code = search_one (&r, image, embed, top, gap, &approx, s);
  }
  code = tool_finish_stdout (code);

out:
#ifdef HAVE_FAISS
  clip_ann_free (approx.ann);
#endif
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
      "embedding against every row, exactly; each best row not yet in a "
      "moment starts one, which takes in the neighbouring rows of its file "
      "that score at least halfway between it and the file's median row "
      "(or within 5% of it), none more than --gap apart. Prints one "
      "line per moment, best first: {\"query\", \"file\", \"start\", "
      "\"end\", \"best_pts\" (nanoseconds), \"score\" (the cosine of the "
      "best row)}. The model is the one the index names (its "
      "manifest.json); an index made by another model than --model is "
      "refused.",
  run
};
