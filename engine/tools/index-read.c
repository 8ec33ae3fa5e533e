/* index-read.c - opens an index folder for search (index-read.h): maps the
 * shards, and parses a row's JSON line only when a hit asks for it. */
#include <string.h>

#include <json-glib/json-glib.h>

#include "index-read.h"

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static gboolean
open_shard (ClipIndexReader * r, ClipIndexShard * s, GError ** error)
{
  gchar *npy = g_strdup_printf ("%s/" CLIP_INDEX_EMB_DIR "/%s.npy", r->dir,
      s->name);
  gchar *jsonl = g_strdup_printf ("%s/" CLIP_INDEX_META_DIR "/%s.jsonl",
      r->dir, s->name);
  GError *gerr = NULL;
  guint64 n_rows = 0;
  gint dim = 0;
  gsize offset = 0;
  gboolean ok = FALSE;

  if (!(s->npy = g_mapped_file_new (npy, FALSE, error))
      || !(s->jsonl = g_mapped_file_new (jsonl, FALSE, error)))
    goto out;
  if (!clip_index_npy_parse ((const guint8 *)
          g_mapped_file_get_contents (s->npy),
          g_mapped_file_get_length (s->npy), &n_rows, &dim, &offset, &gerr)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", npy,
        gerr->message);
    g_error_free (gerr);
    goto out;
  }
  if (n_rows > 0 && dim != r->manifest.dim) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: rows of %d values, the manifest says %d", npy, dim,
        r->manifest.dim);
    goto out;
  }
  if (offset % 2) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: data at an odd offset (%" G_GSIZE_FORMAT ")", npy, offset);
    goto out;
  }
  s->n_rows = n_rows;
  r->blocks[s - r->shards].rows = (const uint16_t *)
      (g_mapped_file_get_contents (s->npy) + offset);
  r->blocks[s - r->shards].n_rows = n_rows;
  ok = TRUE;
out:
  g_free (npy);
  g_free (jsonl);
  return ok;
}

gboolean
clip_index_reader_open (ClipIndexReader * r, const gchar * dir,
    GError ** error)
{
  gchar *emb_dir = g_build_filename (dir, CLIP_INDEX_EMB_DIR, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;
  GDir *d;
  gboolean ok = FALSE;

  memset (r, 0, sizeof *r);
  r->dir = g_strdup (dir);
  if (!clip_index_manifest_read (dir, &r->manifest, error))
    goto out;
  if (!(d = g_dir_open (emb_dir, 0, error)))
    goto out;
  while ((name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".npy") && name[0] != '.')
      g_ptr_array_add (names, g_strndup (name, strlen (name) - 4));
  g_dir_close (d);
  g_ptr_array_sort (names, compare_names);

  r->n_shards = names->len;
  r->shards = g_new0 (ClipIndexShard, MAX (r->n_shards, 1));
  r->blocks = g_new0 (ClipRowBlock, MAX (r->n_shards, 1));
  for (guint i = 0; i < r->n_shards; i++) {
    ClipIndexShard *s = &r->shards[i];
    s->name = g_strdup (names->pdata[i]);
    if (!open_shard (r, s, error))
      goto out;
    s->first_row = r->n_rows;
    r->n_rows += s->n_rows;
  }
  ok = TRUE;
out:
  g_ptr_array_unref (names);
  g_free (emb_dir);
  return ok;
}

void
clip_index_reader_close (ClipIndexReader * r)
{
  for (guint i = 0; i < r->n_shards; i++) {
    ClipIndexShard *s = &r->shards[i];
    g_free (s->name);
    if (s->npy)
      g_mapped_file_unref (s->npy);
    if (s->jsonl)
      g_mapped_file_unref (s->jsonl);
    g_free (s->lines);
  }
  g_free (r->shards);
  g_free (r->blocks);
  clip_index_manifest_clear (&r->manifest);
  g_free (r->dir);
  memset (r, 0, sizeof *r);
}

ClipIndexShard *
clip_index_reader_shard_of (ClipIndexReader * r, guint64 row)
{
  guint lo = 0, hi = r->n_shards;

  /* the last shard whose first row is <= row */
  while (hi - lo > 1) {
    guint mid = (lo + hi) / 2;
    if (r->shards[mid].first_row <= row)
      lo = mid;
    else
      hi = mid;
  }
  return &r->shards[lo];
}

/* line: lines[row] .. lines[row + 1] (not NUL-terminated) */
static gboolean
parse_line (const gchar * const *lines, const gchar * path, guint64 row,
    gchar ** file, gint64 * pts, GError ** error)
{
  JsonParser *parser = json_parser_new ();
  JsonObject *o = NULL;
  gboolean ok = FALSE;

  if (lines[row + 1] > lines[row]
      && json_parser_load_from_data (parser, lines[row],
          lines[row + 1] - lines[row], NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    o = json_node_get_object (json_parser_get_root (parser));
  if (!o || !json_object_has_member (o, "file")) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: line %" G_GUINT64_FORMAT " is not a row's metadata", path,
        row + 1);
    goto out;
  }
  *file = g_strdup (json_object_get_string_member_with_default (o, "file",
          ""));
  *pts = json_object_get_int_member_with_default (o, "pts", -1);
  ok = TRUE;
out:
  g_object_unref (parser);
  return ok;
}

gboolean
clip_index_reader_row (ClipIndexShard * s, guint64 row, gchar ** file,
    gint64 * pts, GError ** error)
{
  const gchar *data = g_mapped_file_get_contents (s->jsonl);
  const gsize size = g_mapped_file_get_length (s->jsonl);

  if (!s->lines) {
    const gchar *p = data, *end = data + size;
    guint64 n = 0;
    s->lines = g_new (const gchar *, s->n_rows + 1);
    while (p < end && n < s->n_rows) {
      const gchar *nl = memchr (p, '\n', end - p);
      s->lines[n++] = p;
      p = nl ? nl + 1 : end;
    }
    if (n < s->n_rows) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
          "metadata of shard '%s': %" G_GUINT64_FORMAT " lines for %"
          G_GUINT64_FORMAT " rows", s->name, n, s->n_rows);
      g_clear_pointer (&s->lines, g_free);
      return FALSE;
    }
    s->lines[n] = p;
    /* the mean step between rows, from the first and last */
    if (s->n_rows > 1) {
      gchar *f;
      gint64 first, last;
      if (parse_line (s->lines, s->name, 0, &f, &first, NULL)) {
        g_free (f);
        if (parse_line (s->lines, s->name, s->n_rows - 1, &f,
                &last, NULL)) {
          g_free (f);
          if (first >= 0 && last > first)
            s->spacing_ns = (last - first) / (gint64) (s->n_rows - 1);
        }
      }
    }
  }
  return parse_line (s->lines, s->name, row, file, pts, error);
}

gchar *
clip_index_reader_stamp (const ClipIndexReader * r)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "%s %d\n", r->manifest.fingerprint,
      r->manifest.dim);
  for (guint i = 0; i < r->n_shards; i++)
    g_string_append_printf (s, "%s %" G_GUINT64_FORMAT "\n",
        r->shards[i].name, r->shards[i].n_rows);
  return g_string_free (s, FALSE);
}
