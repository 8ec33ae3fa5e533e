/* index-format.c - the manifest and the .npy header of an embedding index
 * (index-format.h); nothing about reading rows or searching them. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "index-format.h"

void
clip_index_manifest_clear (ClipIndexManifest * m)
{
  g_clear_pointer (&m->model, g_free);
  m->fingerprint[0] = 0;
  m->dim = 0;
}

static gboolean
manifest_parse (const gchar * path, const gchar * text, gsize len,
    ClipIndexManifest * m, GError ** error)
{
  JsonParser *parser = json_parser_new ();
  JsonObject *o;
  const gchar *fp;
  gboolean ok = FALSE;

  if (!json_parser_load_from_data (parser, text, len, error))
    goto out;
  o = json_node_get_object (json_parser_get_root (parser));
  if (!o || g_strcmp0 (json_object_get_string_member_with_default (o,
              "format", ""), CLIP_INDEX_FORMAT) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: not a gst-clip index manifest (no \"format\": \"%s\")", path,
        CLIP_INDEX_FORMAT);
    goto out;
  }
  if (json_object_get_int_member_with_default (o, "version", 0)
      != CLIP_INDEX_VERSION) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: index version %" G_GINT64_FORMAT ", this gst-clip reads %d",
        path, json_object_get_int_member_with_default (o, "version", 0),
        CLIP_INDEX_VERSION);
    goto out;
  }
  fp = json_object_get_string_member_with_default (o, "model_fingerprint",
      "");
  m->dim = json_object_get_int_member_with_default (o, "dim", 0);
  if (strlen (fp) != 64 || m->dim <= 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "%s: needs \"model_fingerprint\" (64 hex digits) and \"dim\" > 0",
        path);
    goto out;
  }
  g_strlcpy (m->fingerprint, fp, sizeof m->fingerprint);
  m->model = g_strdup (json_object_get_string_member_with_default (o,
          "model", ""));
  ok = TRUE;
out:
  g_object_unref (parser);
  return ok;
}

gboolean
clip_index_manifest_read (const gchar * index_dir, ClipIndexManifest * m,
    GError ** error)
{
  gchar *path = g_build_filename (index_dir, CLIP_INDEX_MANIFEST, NULL);
  gchar *text;
  gsize len;
  gboolean ok;

  memset (m, 0, sizeof *m);
  ok = g_file_get_contents (path, &text, &len, error);
  if (ok) {
    ok = manifest_parse (path, text, len, m, error);
    g_free (text);
  }
  g_free (path);
  return ok;
}

static gchar *
manifest_json (const ClipIndexManifest * m)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root;
  gchar *text;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, CLIP_INDEX_FORMAT);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, CLIP_INDEX_VERSION);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, m->model);
  json_builder_set_member_name (b, "model_fingerprint");
  json_builder_add_string_value (b, m->fingerprint);
  json_builder_set_member_name (b, "dim");
  json_builder_add_int_value (b, m->dim);
  json_builder_set_member_name (b, "dtype");
  json_builder_add_string_value (b, "float16");
  json_builder_set_member_name (b, "embeddings");
  json_builder_add_string_value (b, CLIP_INDEX_EMB_DIR "/*.npy");
  json_builder_set_member_name (b, "metadata");
  json_builder_add_string_value (b, CLIP_INDEX_META_DIR "/*.jsonl");
  json_builder_set_member_name (b, "normalized");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return text;
}

gboolean
clip_index_manifest_ensure (const gchar * index_dir,
    const ClipIndexManifest * m, GError ** error)
{
  gchar *path = g_build_filename (index_dir, CLIP_INDEX_MANIFEST, NULL);
  gchar *tmp = g_strdup_printf ("%s.%d.part", path, (int) getpid ());
  gchar *text = manifest_json (m);
  ClipIndexManifest have = { 0 };
  gboolean ok = FALSE;

  /* write aside, then link(2): it fails if the manifest exists, so of
   * racing writers exactly one creates it and the others check theirs */
  if (!g_file_set_contents (tmp, text, -1, error))
    goto out;
  if (link (tmp, path) != 0 && errno != EEXIST) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
        "%s: %s", path, g_strerror (errno));
    g_unlink (tmp);
    goto out;
  }
  g_unlink (tmp);
  if (!clip_index_manifest_read (index_dir, &have, error))
    goto out;
  if (strcmp (have.fingerprint, m->fingerprint) != 0 || have.dim != m->dim) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "the index in %s was made by another model: %s (fingerprint %.12s, "
        "dim %d), not %s (fingerprint %.12s, dim %d); use another index "
        "folder for this model", index_dir, have.model, have.fingerprint,
        have.dim, m->model, m->fingerprint, m->dim);
    goto out;
  }
  ok = TRUE;
out:
  clip_index_manifest_clear (&have);
  g_free (text);
  g_free (tmp);
  g_free (path);
  return ok;
}

void
clip_index_npy_header (gchar out[CLIP_INDEX_NPY_HEADER], guint64 n_rows,
    gint dim)
{
  const gsize dict_len = CLIP_INDEX_NPY_HEADER - 10;
  gint n;

  memcpy (out, "\x93NUMPY\x01\x00", 8);
  out[8] = dict_len & 0xff;
  out[9] = dict_len >> 8;
  n = g_snprintf (out + 10, dict_len, "{'descr': '<f2', 'fortran_order': "
      "False, 'shape': (%" G_GUINT64_FORMAT ", %d), }", n_rows, dim);
  memset (out + 10 + n, ' ', dict_len - n - 1);
  out[CLIP_INDEX_NPY_HEADER - 1] = '\n';
}

gboolean
clip_index_npy_parse (const guint8 * data, gsize size, guint64 * n_rows,
    gint * dim, gsize * data_offset, GError ** error)
{
  gsize hlen, start;
  gchar *dict, *shape;
  guint64 rows;
  gint cols;
  gboolean ok = FALSE;

  if (size < 10 || memcmp (data, "\x93NUMPY", 6) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not an .npy file");
    return FALSE;
  }
  if (data[6] == 1) {
    hlen = data[8] | (data[9] << 8);
    start = 10;
  } else if (size >= 12 && (data[6] == 2 || data[6] == 3)) {
    hlen = data[8] | (data[9] << 8) | ((gsize) data[10] << 16)
        | ((gsize) data[11] << 24);
    start = 12;
  } else {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        ".npy version %d.%d", data[6], data[7]);
    return FALSE;
  }
  if (start + hlen > size) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        ".npy header of %" G_GSIZE_FORMAT " bytes, file of %" G_GSIZE_FORMAT,
        hlen, size);
    return FALSE;
  }
  dict = g_strndup ((const gchar *) data + start, hlen);
  shape = strstr (dict, "'shape':");
  if (!strstr (dict, "'descr': '<f2'") || !strstr (dict,
          "'fortran_order': False") || !shape
      || sscanf (shape, "'shape': (%" G_GUINT64_FORMAT ", %d)", &rows,
          &cols) != 2 || cols <= 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "not a 2-D C-order float16 ('<f2') array: %s", g_strstrip (dict));
    goto out;
  }
  if ((size - start - hlen) / 2 / cols < rows) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
        "shape (%" G_GUINT64_FORMAT ", %d) needs more data than the file's "
        "%" G_GSIZE_FORMAT " bytes", rows, cols, size);
    goto out;
  }
  *n_rows = rows;
  *dim = cols;
  *data_offset = start + hlen;
  ok = TRUE;
out:
  g_free (dict);
  return ok;
}
