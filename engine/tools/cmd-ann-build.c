/* cmd-ann-build.c - clip-tool ann-build: the approximate index of an index
 * folder (FAISS IVF + 8-bit scalar quantizer, ann-faiss.h), for archives
 * beyond what the exact scan serves fast enough; built with -Dfaiss=enabled
 * only. search --ann uses it while the shards are those it was built on. */
#include <errno.h>

#include <glib/gstdio.h>

#include "ann-faiss.h"
#include "index-read.h"
#include "tool-common.h"

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gint nlist = 0, n_train = 0;
  const GOptionEntry entries[] = {
    {"nlist", 'l', 0, G_OPTION_ARG_INT, &nlist,
        "Inverted lists (default: the square root of the rows).", "N"},
    {"train", 0, 0, G_OPTION_ARG_INT, &n_train,
        "Rows the lists are trained on, evenly spaced (default: 39 per "
          "list).", "N"},
    {NULL}
  };
  ClipIndexReader r = { 0 };
  GError *gerr = NULL;
  gchar *dir = NULL, *path = NULL, *stamp = NULL, *stamp_path = NULL;
  char err[512];
  gint64 t0;
  int code;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 0, 0, argc, argv)) != EXIT_OK)
    goto out;
  if (nlist < 0 || n_train < 0) {
    code = tool_fail_usage (cmd->name, "--nlist and --train must be >= 0");
    goto out;
  }
  if (!clip_index_reader_open (&r, t.model_dir, &gerr)) {
    code = tool_fail (EXIT_RUNTIME, "cannot open the index %s: %s",
        t.model_dir, gerr->message);
    g_error_free (gerr);
    goto out;
  }
  dir = g_build_filename (t.model_dir, CLIP_ANN_DIR, NULL);
  path = g_build_filename (t.model_dir, CLIP_ANN_FILE, NULL);
  stamp_path = g_build_filename (t.model_dir, CLIP_ANN_STAMP, NULL);
  if (g_mkdir_with_parents (dir, 0777) != 0) {
    code = tool_fail (EXIT_RUNTIME, "%s: %s", dir, g_strerror (errno));
    goto out;
  }
  /* the stamp goes first: an index without its stamp is never used */
  g_unlink (stamp_path);
  t0 = g_get_monotonic_time ();
  if (clip_ann_build (path, r.blocks, r.n_shards, r.manifest.dim, nlist,
          n_train, err, sizeof err) < 0) {
    code = tool_fail (EXIT_RUNTIME, "%s", err);
    goto out;
  }
  stamp = clip_index_reader_stamp (&r);
  if (!g_file_set_contents (stamp_path, stamp, -1, &gerr)) {
    code = tool_fail (EXIT_RUNTIME, "%s", gerr->message);
    g_error_free (gerr);
    goto out;
  }
  {
    GString *s = g_string_new ("{\"index\":");
    json_string (s, path);
    g_string_append_printf (s, ",\"rows\":%" G_GUINT64_FORMAT
        ",\"seconds\":%.1f", r.n_rows, (g_get_monotonic_time () - t0) / 1e6);
    json_emit_line (s);
    g_string_free (s, TRUE);
  }
  code = tool_finish_stdout (EXIT_OK);
out:
  g_free (dir);
  g_free (path);
  g_free (stamp);
  g_free (stamp_path);
  clip_index_reader_close (&r);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_ann_build = {
  "ann-build", "INDEX_DIR",
  "Builds the approximate index of an index folder (FAISS).",
  "Trains an IVF index with an 8-bit scalar quantizer (FAISS) on the rows "
      "of INDEX_DIR's shards and adds them all: INDEX_DIR/ann/. Then "
      "'clip-tool search --ann' scans --nprobe lists instead of every row "
      "and scores its candidates again exactly. A shard added or changed "
      "after the build makes search --ann refuse the index until it is "
      "built again.",
  run
};
