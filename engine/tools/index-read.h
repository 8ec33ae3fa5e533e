/* index-read.h - an embedding index opened for search: its manifest, every
 * complete shard's rows mapped in place (no copy, no conversion), and each
 * row's metadata line read only when a hit needs it. */
#ifndef CLIP_INDEX_READ_H
#define CLIP_INDEX_READ_H

#include <glib.h>

#include "clip.h"
#include "index-format.h"

G_BEGIN_DECLS

typedef struct
{
  gchar *name;                  /* shard name */
  GMappedFile *npy, *jsonl;
  guint64 first_row, n_rows;    /* its rows' place among all rows */
  const gchar **lines;          /* n_rows line starts, once needed */
  gint64 spacing_ns;            /* mean pts step between rows, or 0 */
} ClipIndexShard;

typedef struct
{
  gchar *dir;
  ClipIndexManifest manifest;
  ClipIndexShard *shards;
  guint n_shards;
  ClipRowBlock *blocks;         /* one per shard, for cle_search_f16 */
  guint64 n_rows;
} ClipIndexReader;

/* Opens dir: the manifest and every img_emb/NAME.npy with its
 * metadata/NAME.jsonl (name order). A shard whose .npy is not a
 * (n, dim) float16 array, or without its .jsonl, fails the open, naming
 * the file. */
gboolean clip_index_reader_open (ClipIndexReader * r, const gchar * dir,
    GError ** error);
void clip_index_reader_close (ClipIndexReader * r);

/* The shard holding global row `row`. */
ClipIndexShard *clip_index_reader_shard_of (ClipIndexReader * r,
    guint64 row);

/* Row `row` of shard s: its "file" (g_free it) and "pts"; FALSE with
 * error when the .jsonl has fewer lines than the .npy rows, or the line is
 * not such an object. Also sets s->spacing_ns the first time. */
gboolean clip_index_reader_row (ClipIndexShard * s, guint64 row,
    gchar ** file, gint64 * pts, GError ** error);

/* What an approximate index built on r depends on: every shard's name and
 * rows, one a line (g_free it). */
gchar *clip_index_reader_stamp (const ClipIndexReader * r);

/* where clip-tool ann-build puts the approximate index, in the folder */
#define CLIP_ANN_DIR "ann"
#define CLIP_ANN_FILE "ann/ivf-sq8.faiss"
#define CLIP_ANN_STAMP "ann/shards.txt"

G_END_DECLS

#endif
