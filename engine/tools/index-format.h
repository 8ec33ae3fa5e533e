/* index-format.h - the on-disk layout of an embedding index, shared by its
 * writer (the clipindex element) and its readers (clip-tool search):
 *
 *   INDEX/manifest.json            {"format":"gst-clip-index","version":1,
 *                                   "model":DIR,"model_fingerprint":HEX,
 *                                   "dim":N,"dtype":"float16",...}
 *   INDEX/img_emb/SHARD.npy        float16 rows, shape (n, dim), '<f2',
 *                                   numpy format 1.0 (a 128-byte header)
 *   INDEX/metadata/SHARD.jsonl     one JSON object per row, same order
 *
 * as clip-retrieval lays out img_emb/ and metadata/ (autofaiss reads the
 * .npy folder as it is). A shard is complete when its .npy exists: both
 * files are written as *.part and renamed, the .jsonl first. */
#ifndef CLIP_INDEX_FORMAT_H
#define CLIP_INDEX_FORMAT_H

#include <glib.h>

G_BEGIN_DECLS

#define CLIP_INDEX_FORMAT "gst-clip-index"
#define CLIP_INDEX_VERSION 1
#define CLIP_INDEX_MANIFEST "manifest.json"
#define CLIP_INDEX_EMB_DIR "img_emb"
#define CLIP_INDEX_META_DIR "metadata"
#define CLIP_INDEX_NPY_HEADER 128       /* bytes before the rows */

typedef struct
{
  gchar *model;                 /* the model directory, as recorded */
  gchar fingerprint[65];        /* cle_model_dir_fingerprint */
  gint dim;
} ClipIndexManifest;

void clip_index_manifest_clear (ClipIndexManifest * m);

/* Reads INDEX/manifest.json; FALSE with error naming the file and what is
 * wrong with it. */
gboolean clip_index_manifest_read (const gchar * index_dir,
    ClipIndexManifest * m, GError ** error);

/* Creates INDEX/manifest.json for m if there is none (atomically: any
 * number of writers may race, one wins), else reads it and checks that it
 * names the same fingerprint and dim; FALSE with error saying which model
 * made the index when it does not. */
gboolean clip_index_manifest_ensure (const gchar * index_dir,
    const ClipIndexManifest * m, GError ** error);

/* The numpy 1.0 header of a (n_rows, dim) '<f2' array, exactly
 * CLIP_INDEX_NPY_HEADER bytes (spaces pad it, so it can be rewritten in
 * place once n_rows is known). */
void clip_index_npy_header (gchar out[CLIP_INDEX_NPY_HEADER],
    guint64 n_rows, gint dim);

/* Parses an .npy header of a 2-D C-order '<f2' array (any header length):
 * shape and the offset of the data. FALSE with error otherwise. */
gboolean clip_index_npy_parse (const guint8 * data, gsize size,
    guint64 * n_rows, gint * dim, gsize * data_offset, GError ** error);

G_END_DECLS

#endif
