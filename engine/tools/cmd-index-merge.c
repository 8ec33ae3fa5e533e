/* cmd-index-merge.c - clip-tool index-merge: index folders made apart
 * (tasks that wrote to node-local disks) gathered into one. Every shard is
 * copied aside and renamed, the .npy last, as clipindex writes them; a
 * shard already there with the same bytes is skipped, one with other bytes
 * is refused, so no row is lost or counted twice. Folders of different
 * models are refused. */
#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "index-read.h"
#include "tool-common.h"

/* copies from to `to`.part and renames it; FALSE with error */
static gboolean
copy_aside (const gchar * from, const gchar * to, GError ** error)
{
  gchar *data, *part = g_strconcat (to, ".part", NULL);
  gsize len;
  gboolean ok = g_file_get_contents (from, &data, &len, error);

  if (ok) {
    ok = g_file_set_contents (part, data, len, error);
    g_free (data);
  }
  if (ok && g_rename (part, to) != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
        "%s: %s", to, g_strerror (errno));
    ok = FALSE;
  }
  if (!ok)
    g_unlink (part);
  g_free (part);
  return ok;
}

static gboolean
same_bytes (const gchar * a, const gchar * b)
{
  gchar *da = NULL, *db = NULL;
  gsize la = 0, lb = 0;
  gboolean same = g_file_get_contents (a, &da, &la, NULL)
      && g_file_get_contents (b, &db, &lb, NULL) && la == lb
      && memcmp (da, db, la) == 0;
  g_free (da);
  g_free (db);
  return same;
}

/* index-archive.sh's stamp of a shard (what it was made with), so that a
 * sweep resumed into out_dir skips its file too; none is fine. */
static void
copy_stamp (const gchar * in_dir, const gchar * out_dir, const gchar * name)
{
  gchar *from = g_build_filename (in_dir, ".index-archive", "done", name,
      NULL);
  gchar *dir = g_build_filename (out_dir, ".index-archive", "done", NULL);
  gchar *to = g_build_filename (dir, name, NULL);

  if (g_file_test (from, G_FILE_TEST_IS_REGULAR)
      && g_mkdir_with_parents (dir, 0777) == 0)
    copy_aside (from, to, NULL);
  g_free (from);
  g_free (dir);
  g_free (to);
}

/* Gathers the complete shards of in_dir into out_dir. */
static int
merge_one (const gchar * out_dir, const gchar * in_dir, guint * n_copied,
    guint * n_same, guint64 * n_rows)
{
  ClipIndexReader r = { 0 };
  GError *gerr = NULL;
  int code = EXIT_OK;

  if (!clip_index_reader_open (&r, in_dir, &gerr)) {
    code = tool_fail (EXIT_RUNTIME, "cannot open the index %s: %s", in_dir,
        gerr->message);
    g_error_free (gerr);
    return code;
  }
  if (!clip_index_manifest_ensure (out_dir, &r.manifest, &gerr)) {
    code = tool_fail (EXIT_RUNTIME, "%s: %s", in_dir, gerr->message);
    g_error_free (gerr);
    goto out;
  }
  for (guint i = 0; i < r.n_shards && code == EXIT_OK; i++) {
    const gchar *name = r.shards[i].name;
    gchar *src[2], *dst[2];
    src[0] = g_strdup_printf ("%s/" CLIP_INDEX_META_DIR "/%s.jsonl", in_dir,
        name);
    src[1] = g_strdup_printf ("%s/" CLIP_INDEX_EMB_DIR "/%s.npy", in_dir,
        name);
    dst[0] = g_strdup_printf ("%s/" CLIP_INDEX_META_DIR "/%s.jsonl", out_dir,
        name);
    dst[1] = g_strdup_printf ("%s/" CLIP_INDEX_EMB_DIR "/%s.npy", out_dir,
        name);
    if (g_file_test (dst[1], G_FILE_TEST_EXISTS)) {
      if (same_bytes (src[0], dst[0]) && same_bytes (src[1], dst[1]))
        (*n_same)++;
      else
        code = tool_fail (EXIT_RUNTIME, "shard '%s' of %s is in %s with "
            "other rows: index the file again, or remove one of them",
            name, in_dir, out_dir);
    } else {
      /* the .jsonl first: a shard is complete once its .npy exists */
      for (int f = 0; f < 2 && code == EXIT_OK; f++)
        if (!copy_aside (src[f], dst[f], &gerr)) {
          code = tool_fail (EXIT_RUNTIME, "%s", gerr->message);
          g_clear_error (&gerr);
        }
      if (code == EXIT_OK) {
        (*n_copied)++;
        *n_rows += r.shards[i].n_rows;
        copy_stamp (in_dir, out_dir, name);
      }
    }
    for (int f = 0; f < 2; f++) {
      g_free (src[f]);
      g_free (dst[f]);
    }
  }
out:
  clip_index_reader_close (&r);
  return code;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  guint n_copied = 0, n_same = 0;
  guint64 n_rows = 0;
  GString *s = g_string_new (NULL);
  gchar *emb = NULL, *meta = NULL;
  int code;
  Tool t;

  if ((code = tool_parse (&t, cmd, NULL, 1, -1, argc, argv)) != EXIT_OK)
    goto out;
  emb = g_build_filename (t.model_dir, CLIP_INDEX_EMB_DIR, NULL);
  meta = g_build_filename (t.model_dir, CLIP_INDEX_META_DIR, NULL);
  if (g_mkdir_with_parents (emb, 0777) != 0
      || g_mkdir_with_parents (meta, 0777) != 0) {
    code = tool_fail (EXIT_RUNTIME, "%s: %s", t.model_dir,
        g_strerror (errno));
    goto out;
  }
  for (int i = 0; i < t.n_args && code == EXIT_OK; i++)
    code = merge_one (t.model_dir, t.args[i], &n_copied, &n_same, &n_rows);
  g_string_append (s, "{\"index\":");
  json_string (s, t.model_dir);
  g_string_append_printf (s, ",\"shards_copied\":%u,\"rows_copied\":%"
      G_GUINT64_FORMAT ",\"shards_already_there\":%u", n_copied, n_rows,
      n_same);
  json_emit_line (s);
  code = tool_finish_stdout (code);
out:
  g_free (emb);
  g_free (meta);
  g_string_free (s, TRUE);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_index_merge = {
  "index-merge", "OUT_DIR IN_DIR...",
  "Gathers index folders made apart into one.",
  "Copies every complete shard of each IN_DIR (index folders written by "
      "clipindex, e.g. by cluster tasks on node-local disks) into OUT_DIR, "
      "created if needed. Shards are copied aside and renamed; a shard "
      "already in OUT_DIR with the same bytes is skipped, one with other "
      "bytes is refused, and so are folders made by another model than "
      "OUT_DIR's. Tasks that write into one shared INDEX_DIR need no merge: "
      "their shards never collide.",
  run
};
