/* GStreamer CLIP embedding index writer
 *
 * gstclipindex.c: a passthrough element that writes the frame embeddings
 * clipclassify attached (GstClipEmbeddingMeta) as one shard of an index
 * folder: float16 rows in an .npy file, one JSON line per row beside it,
 * and the folder's manifest naming the model. Layout: index-format.h.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clipindex
 * @title: clipindex
 *
 * Appends every #GstClipEmbeddingMeta it sees to the shard #GstClipIndex:shard
 * of the index folder #GstClipIndex:location:
 *
 * - `img_emb/SHARD.npy`: the embeddings, float16 (numpy '<f2'), shape
 *   (rows, dim), unit length as clipclassify computed them;
 * - `metadata/SHARD.jsonl`: one line per row, in the same order:
 *   `{"file":"a.mp4","pts":0,"stream_time":0,"running_time":0,"frame_number":0}`
 *   (times in nanoseconds, of the frame the embedding was computed on);
 * - `manifest.json`: the model directory and its fingerprint
 *   (cle_model_dir_fingerprint) and the dimension. The first shard writes
 *   it; a later one made by another model is refused with an error, so an
 *   index never mixes models.
 *
 * Both shard files are written aside (`*.part`) and renamed at EOS, the
 * `.npy` last: a shard whose `.npy` exists is complete, and a stream that
 * ends in an error or is stopped before EOS leaves nothing behind. This is
 * the layout of clip-retrieval's output; `clip-tool search` reads it.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=a.mp4 ! decodebin ! videoconvert ! \
 *     clipclassify model=models/tiny-demo-clip interval=25 ! \
 *     clipindex location=index shard=a file=a.mp4 ! fakesink
 * ]|
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "gstclipindex.h"
#include "gstclipmeta.h"
#include "index-format.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_index_debug);
#define GST_CAT_DEFAULT gst_clip_index_debug

#define DEFAULT_PROP_LOCATION NULL
#define DEFAULT_PROP_SHARD NULL
#define DEFAULT_PROP_FILE NULL

/* rows are written in blocks of this many bytes */
#define WRITE_BLOCK (256 * 1024)

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_SHARD,
  PROP_FILE,
};

static GstStaticPadTemplate gst_clip_index_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static GstStaticPadTemplate gst_clip_index_src_template =
GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

struct _GstClipIndex
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  gchar *location;
  gchar *shard;
  gchar *file;

  /* streaming state, from start() to stop() */
  gchar *dir, *name, *file_field;       /* copies of the properties */
  gchar *npy_path, *jsonl_path;         /* the final names; +".part" aside */
  gint npy_fd, jsonl_fd;                /* -1 when closed */
  GByteArray *npy_buf;                  /* f16 rows not yet written */
  GString *jsonl_buf;
  guint64 n_rows;
  gint dim;                             /* 0 until the first row */
  gchar *model_id;                      /* of the first row */
  gboolean finished;                    /* renamed at EOS */
  guint16 *half;                        /* one row, converted */
};

#define gst_clip_index_parent_class parent_class
G_DEFINE_TYPE (GstClipIndex, gst_clip_index, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (clipindex, "clipindex", GST_RANK_NONE,
    GST_TYPE_CLIP_INDEX);

static gboolean
write_all (gint fd, const void *data, gsize length)
{
  const guint8 *p = data;

  while (length > 0) {
    gssize n = write (fd, p, length);

    if (n < 0) {
      if (errno == EINTR)
        continue;
      return FALSE;
    }
    p += n;
    length -= n;
  }
  return TRUE;
}

static gchar *
part_path (const gchar * path)
{
  return g_strconcat (path, ".part", NULL);
}

/* Closes the shard's files; removes the parts unless they were renamed. */
static void
gst_clip_index_close (GstClipIndex * self)
{
  gchar *part;

  if (self->npy_fd >= 0)
    close (self->npy_fd);
  if (self->jsonl_fd >= 0)
    close (self->jsonl_fd);
  self->npy_fd = self->jsonl_fd = -1;
  if (!self->finished && self->npy_path) {
    part = part_path (self->npy_path);
    g_unlink (part);
    g_free (part);
    part = part_path (self->jsonl_path);
    g_unlink (part);
    g_free (part);
  }
}

/* A shard name is a file name: letters, digits, '-', '_' and '.' (not
 * first); anything else becomes '_'. */
static gchar *
shard_name (const gchar * shard, const gchar * file)
{
  gchar *name, *p;

  if (shard && shard[0])
    name = g_strdup (shard);
  else if (file && file[0])
    name = g_path_get_basename (file);
  else
    name = g_strdup ("shard");
  for (p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_'
        && (*p != '.' || p == name))
      *p = '_';
  return name;
}

static gboolean
gst_clip_index_start (GstBaseTransform * trans)
{
  GstClipIndex *self = GST_CLIP_INDEX (trans);
  gchar *emb_dir = NULL, *meta_dir = NULL, *npy_part, *jsonl_part;
  gchar header[CLIP_INDEX_NPY_HEADER];
  gboolean ok = FALSE;

  GST_OBJECT_LOCK (self);
  self->dir = g_strdup (self->location);
  self->name = shard_name (self->shard, self->file);
  self->file_field = g_strdup (self->file ? self->file : "");
  GST_OBJECT_UNLOCK (self);

  if (!self->dir || !self->dir[0]) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No index folder: set the 'location' property"), (NULL));
    return FALSE;
  }
  emb_dir = g_build_filename (self->dir, CLIP_INDEX_EMB_DIR, NULL);
  meta_dir = g_build_filename (self->dir, CLIP_INDEX_META_DIR, NULL);
  if (g_mkdir_with_parents (emb_dir, 0777) != 0
      || g_mkdir_with_parents (meta_dir, 0777) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Could not create the index folder '%s': %s", self->dir,
            g_strerror (errno)), (NULL));
    goto out;
  }
  self->npy_path = g_strdup_printf ("%s/%s.npy", emb_dir, self->name);
  self->jsonl_path = g_strdup_printf ("%s/%s.jsonl", meta_dir, self->name);
  npy_part = part_path (self->npy_path);
  jsonl_part = part_path (self->jsonl_path);
  self->npy_fd = g_open (npy_part, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  self->jsonl_fd = g_open (jsonl_part, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  g_free (npy_part);
  g_free (jsonl_part);
  /* a header for 0 rows holds the place of the final one */
  clip_index_npy_header (header, 0, 0);
  if (self->npy_fd < 0 || self->jsonl_fd < 0
      || !write_all (self->npy_fd, header, sizeof header)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Could not write shard '%s' in '%s': %s", self->name, self->dir,
            g_strerror (errno)), (NULL));
    gst_clip_index_close (self);
    goto out;
  }
  self->npy_buf = g_byte_array_sized_new (WRITE_BLOCK);
  self->jsonl_buf = g_string_sized_new (4096);
  self->n_rows = 0;
  self->dim = 0;
  self->finished = FALSE;
  ok = TRUE;
out:
  g_free (emb_dir);
  g_free (meta_dir);
  return ok;
}

static void
gst_clip_index_clear (GstClipIndex * self)
{
  g_clear_pointer (&self->dir, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->file_field, g_free);
  g_clear_pointer (&self->npy_path, g_free);
  g_clear_pointer (&self->jsonl_path, g_free);
  g_clear_pointer (&self->model_id, g_free);
  g_clear_pointer (&self->half, g_free);
  if (self->npy_buf)
    g_byte_array_unref (self->npy_buf);
  self->npy_buf = NULL;
  if (self->jsonl_buf)
    g_string_free (self->jsonl_buf, TRUE);
  self->jsonl_buf = NULL;
}

static gboolean
gst_clip_index_stop (GstBaseTransform * trans)
{
  GstClipIndex *self = GST_CLIP_INDEX (trans);

  gst_clip_index_close (self);
  gst_clip_index_clear (self);
  return TRUE;
}

static gboolean
gst_clip_index_flush (GstClipIndex * self)
{
  if (!write_all (self->npy_fd, self->npy_buf->data, self->npy_buf->len)
      || !write_all (self->jsonl_fd, self->jsonl_buf->str,
          self->jsonl_buf->len)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write shard '%s' in '%s': %s", self->name, self->dir,
            g_strerror (errno)), (NULL));
    return FALSE;
  }
  g_byte_array_set_size (self->npy_buf, 0);
  g_string_truncate (self->jsonl_buf, 0);
  return TRUE;
}

/* The manifest for the model of the first row: created, or checked. The
 * model id is a model directory (what clipclassify puts there) or already
 * a fingerprint (64 hex digits). */
static gboolean
gst_clip_index_check_model (GstClipIndex * self, const GstClipEmbeddingMeta *
    meta)
{
  ClipIndexManifest m = { 0 };
  ClipError err = { 0 };
  GError *gerr = NULL;
  const gchar *id = meta->model_id ? meta->model_id : "";
  gboolean ok = TRUE;

  if (g_file_test (id, G_FILE_TEST_IS_DIR)) {
    m.model = g_canonicalize_filename (id, NULL);
    if (cle_model_dir_fingerprint (id, m.fingerprint, sizeof m.fingerprint,
            &err) < 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not fingerprint model '%s': %s", id, err.message), (NULL));
      ok = FALSE;
    }
  } else if (strlen (id) == 64 && strspn (id, "0123456789abcdef") == 64) {
    m.model = g_strdup (id);
    g_strlcpy (m.fingerprint, id, sizeof m.fingerprint);
  } else {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The embeddings name their model as '%s', which is neither a model "
            "folder nor a fingerprint: the index could not record it", id),
        (NULL));
    ok = FALSE;
  }
  m.dim = meta->dim;
  if (ok && !clip_index_manifest_ensure (self->dir, &m, &gerr)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("%s", gerr->message), (NULL));
    g_error_free (gerr);
    ok = FALSE;
  }
  clip_index_manifest_clear (&m);
  return ok;
}

static void
append_time (GString * s, const gchar * name, GstClockTime t)
{
  if (GST_CLOCK_TIME_IS_VALID (t))
    g_string_append_printf (s, ",\"%s\":%" G_GUINT64_FORMAT, name, t);
  else
    g_string_append_printf (s, ",\"%s\":null", name);
}

static GstFlowReturn
gst_clip_index_add (GstClipIndex * self, const GstClipEmbeddingMeta * meta)
{
  JsonNode *node;
  gchar *file_json;

  if (self->npy_fd < 0 || self->finished)
    return GST_FLOW_OK;
  if (self->dim == 0) {
    if (meta->dim == 0 || !gst_clip_index_check_model (self, meta))
      return GST_FLOW_ERROR;
    self->dim = meta->dim;
    self->model_id = g_strdup (meta->model_id);
    self->half = g_new (guint16, self->dim);
  } else if (meta->dim != (guint) self->dim
      || g_strcmp0 (meta->model_id, self->model_id) != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The model changed within the stream ('%s', dim %d, then '%s', dim "
            "%u): one shard holds one model's embeddings", self->model_id,
            self->dim, meta->model_id, meta->dim), (NULL));
    return GST_FLOW_ERROR;
  }

  cle_f32_to_f16 (self->half, meta->embedding, self->dim);
  g_byte_array_append (self->npy_buf, (const guint8 *) self->half,
      self->dim * sizeof (guint16));

  node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, self->file_field);
  file_json = json_to_string (node, FALSE);
  json_node_unref (node);
  g_string_append_printf (self->jsonl_buf, "{\"file\":%s", file_json);
  g_free (file_json);
  append_time (self->jsonl_buf, "pts", meta->scored_pts);
  append_time (self->jsonl_buf, "stream_time", meta->scored_stream_time);
  append_time (self->jsonl_buf, "running_time", meta->scored_running_time);
  if (meta->scored_frame_number != GST_CLIP_FRAME_NUMBER_NONE)
    g_string_append_printf (self->jsonl_buf, ",\"frame_number\":%"
        G_GUINT64_FORMAT "}\n", meta->scored_frame_number);
  else
    g_string_append (self->jsonl_buf, ",\"frame_number\":null}\n");
  self->n_rows++;

  if (self->npy_buf->len >= WRITE_BLOCK && !gst_clip_index_flush (self))
    return GST_FLOW_ERROR;
  return GST_FLOW_OK;
}

/* At EOS: the rest of the rows, the real header, and the renames (.jsonl
 * first: a shard is complete once its .npy exists). */
static gboolean
gst_clip_index_finish (GstClipIndex * self)
{
  gchar header[CLIP_INDEX_NPY_HEADER];
  gchar *npy_part = part_path (self->npy_path);
  gchar *jsonl_part = part_path (self->jsonl_path);
  gboolean ok = FALSE;

  if (!gst_clip_index_flush (self))
    goto out;
  clip_index_npy_header (header, self->n_rows, self->dim);
  if (pwrite (self->npy_fd, header, sizeof header, 0) != sizeof header
      || fsync (self->npy_fd) != 0 || fsync (self->jsonl_fd) != 0
      || close (self->jsonl_fd) != 0 || close (self->npy_fd) != 0) {
    self->npy_fd = self->jsonl_fd = -1;
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not complete shard '%s' in '%s': %s", self->name, self->dir,
            g_strerror (errno)), (NULL));
    goto out;
  }
  self->npy_fd = self->jsonl_fd = -1;
  if (g_rename (jsonl_part, self->jsonl_path) != 0
      || g_rename (npy_part, self->npy_path) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not rename shard '%s' in '%s': %s", self->name, self->dir,
            g_strerror (errno)), (NULL));
    goto out;
  }
  self->finished = TRUE;
  GST_INFO_OBJECT (self, "shard %s: %" G_GUINT64_FORMAT " rows", self->name,
      self->n_rows);
  ok = TRUE;
out:
  g_free (npy_part);
  g_free (jsonl_part);
  return ok;
}

static GstFlowReturn
gst_clip_index_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipIndex *self = GST_CLIP_INDEX (trans);
  GstClipEmbeddingMeta *meta = gst_buffer_get_clip_embedding_meta (buf);

  return meta ? gst_clip_index_add (self, meta) : GST_FLOW_OK;
}

static gboolean
gst_clip_index_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipIndex *self = GST_CLIP_INDEX (trans);
  const GstStructure *s = gst_event_get_structure (event);

  /* async mode: results that no frame was left to carry, before EOS */
  if (s && gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT)) {
    const GValue *v = gst_structure_get_value (s, "buffer");
    GstBuffer *carrier = v ? gst_value_get_buffer (v) : NULL;
    GstClipEmbeddingMeta *meta =
        carrier ? gst_buffer_get_clip_embedding_meta (carrier) : NULL;

    if (meta)
      gst_clip_index_add (self, meta);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->npy_fd >= 0
      && !self->finished) {
    if (!gst_clip_index_finish (self)) {
      gst_event_unref (event);
      return FALSE;
    }
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
gst_clip_index_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipIndex *self = GST_CLIP_INDEX (object);
  gchar **field;

  switch (prop_id) {
    case PROP_LOCATION:
      field = &self->location;
      break;
    case PROP_SHARD:
      field = &self->shard;
      break;
    case PROP_FILE:
      field = &self->file;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
  }
  GST_OBJECT_LOCK (self);
  g_free (*field);
  *field = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_index_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipIndex *self = GST_CLIP_INDEX (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_SHARD:
      g_value_set_string (value, self->shard);
      break;
    case PROP_FILE:
      g_value_set_string (value, self->file);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_index_finalize (GObject * object)
{
  GstClipIndex *self = GST_CLIP_INDEX (object);

  g_free (self->location);
  g_free (self->shard);
  g_free (self->file);
  gst_clip_index_clear (self);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_clip_index_class_init (GstClipIndexClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_clip_index_debug, "clipindex", 0,
      "CLIP embeddings to an index shard");

  gobject_class->set_property = gst_clip_index_set_property;
  gobject_class->get_property = gst_clip_index_get_property;
  gobject_class->finalize = gst_clip_index_finalize;

  /**
   * GstClipIndex:location:
   *
   * The index folder (created if needed). Required.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Index folder: img_emb/SHARD.npy, metadata/SHARD.jsonl and "
          "manifest.json go there", DEFAULT_PROP_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipIndex:shard:
   *
   * Name of this stream's shard (its two file names without extension).
   * Characters other than letters, digits, '-', '_' and '.' become '_'.
   * Unset: the base name of #GstClipIndex:file, else "shard". A shard of
   * the same name is replaced at EOS.
   */
  g_object_class_install_property (gobject_class, PROP_SHARD,
      g_param_spec_string ("shard", "Shard",
          "Name of the shard this stream writes (default: the base name of "
          "'file')", DEFAULT_PROP_SHARD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstClipIndex:file:
   *
   * What the "file" field of every row says: the video the stream comes
   * from, as the search should report it. Unset: "".
   */
  g_object_class_install_property (gobject_class, PROP_FILE,
      g_param_spec_string ("file", "File",
          "Source file named in every row's \"file\" field",
          DEFAULT_PROP_FILE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_index_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_index_src_template);

  gst_element_class_set_static_metadata (element_class,
      "CLIP embedding index writer", "Filter/Analyzer/Video",
      "Writes each frame's CLIP embedding as a float16 row of an index "
      "shard (.npy + JSON Lines), for clip-tool search",
      "gst-clip developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_index_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_index_stop);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_index_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_index_sink_event);
}

static void
gst_clip_index_init (GstClipIndex * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->npy_fd = self->jsonl_fd = -1;
  gst_base_transform_set_passthrough (trans, TRUE);
  gst_base_transform_set_in_place (trans, TRUE);
}
