/* text-cache.c - an on-disk cache of text embeddings, so a restart with the
 * same prompts encodes nothing. One append-only file per model fingerprint;
 * a record is (length, prompt, embedding, CRC-32), written whole under an
 * flock; a torn tail (a crash mid-write) is cut off at the next open. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <zlib.h>

#include "context.h"
#include "adapter.h"
#include "error.h"
#include "model.h"

#define MAGIC "GSTCLIP-TEXTCACHE-1\n"
#define MAX_PROMPT_BYTES (1 << 20)

struct ClipTextCache {
  char *path;
  int fd;
  int dim;
  GHashTable *entries;          /* prompt -> float[dim] (owned) */
};

/* A cheap but sharp fingerprint of what determines a text embedding: the
 * text config, the tokenizer files and samples of every text weight (its
 * length, both ends and 64 evenly spaced runs), so another checkpoint or a
 * retrained one never matches. Hashing every byte would cost ~1 s on
 * ViT-L. */
static void
hash_floats (GChecksum *sum, const float *x, size_t n)
{
  guint64 len = n;
  g_checksum_update (sum, (const guchar *) &len, sizeof len);
  size_t run = MIN (n, 256);
  g_checksum_update (sum, (const guchar *) x, run * sizeof (float));
  g_checksum_update (sum, (const guchar *) (x + n - run), run * sizeof (float));
  for (int i = 1; i < 64 && n > 2 * run; i++) {
    size_t at = (n - run) / 64 * i;
    g_checksum_update (sum, (const guchar *) (x + at), run * sizeof (float));
  }
}

static int
hash_file (GChecksum *sum, const char *path, ClipError *err)
{
  char *data;
  gsize size;
  GError *gerr = NULL;
  if (!g_file_get_contents (path, &data, &size, &gerr)) {
    int code = cle_error_set (err, CLE_ERROR_IO, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  g_checksum_update (sum, (const guchar *) data, size);
  g_free (data);
  return CLE_OK;
}

static int
model_fingerprint (const ClipModel *m, char **out, ClipError *err)
{
  const ClipTowerConfig *c = &m->config.text;
  const ClipTextWeights *w = &m->text;
  const size_t D = c->width, M = c->mlp;
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  const int header[] = { c->width, c->n_layer, c->n_head, c->mlp,
    c->vocab_size, c->context_length, c->eos_token_id, c->pool_at_argmax,
    c->act, m->config.projection_dim };
  g_checksum_update (sum, (const guchar *) header, sizeof header);
  g_checksum_update (sum, (const guchar *) &c->eps, sizeof c->eps);
  char *vocab = g_build_filename (m->dir, "vocab.json", NULL);
  char *merges = g_build_filename (m->dir, "merges.txt", NULL);
  int code = hash_file (sum, vocab, err);
  if (code == CLE_OK)
    code = hash_file (sum, merges, err);
  g_free (vocab);
  g_free (merges);
  hash_floats (sum, w->tok_emb, c->vocab_size * D);
  hash_floats (sum, w->pos_emb, c->context_length * D);
  hash_floats (sum, w->final_ln_w, D);
  hash_floats (sum, w->final_ln_b, D);
  hash_floats (sum, w->proj, m->config.projection_dim * D);
  for (int l = 0; l < c->n_layer; l++) {
    const ClipLayerWeights *lw = &w->layers[l];
    const float *const d_vectors[] = { lw->ln1_w, lw->ln1_b, lw->q_b, lw->k_b,
      lw->v_b, lw->o_b, lw->ln2_w, lw->ln2_b, lw->fc2_b };
    const float *const dd[] = { lw->q_w, lw->k_w, lw->v_w, lw->o_w };
    for (size_t i = 0; i < G_N_ELEMENTS (d_vectors); i++)
      hash_floats (sum, d_vectors[i], D);
    for (size_t i = 0; i < G_N_ELEMENTS (dd); i++)
      hash_floats (sum, dd[i], D * D);
    hash_floats (sum, lw->fc1_w, M * D);
    hash_floats (sum, lw->fc1_b, M);
    hash_floats (sum, lw->fc2_w, D * M);
  }
  /* an adapter, merged or run per layer: its files (the merged weights
   * above would do for LoRA, not for a bottleneck) */
  if (m->adapter) {
    const char *a = cle_adapter_fingerprint (m->adapter);
    g_checksum_update (sum, (const guchar *) "adapter", 7);
    g_checksum_update (sum, (const guchar *) a, strlen (a));
  }
  /* bf16/int8 embeddings differ from fp32 ones: their own cache file
   * (fp32 fingerprints stay as they were, and serve a reduced precision
   * whose products run in fp32 on this CPU) */
  if (m->precision != CLE_PRECISION_FP32 && m->kernel != CLE_KERNEL_FP32) {
    const char *name = cle_precision_name (m->precision);
    g_checksum_update (sum, (const guchar *) name, strlen (name));
  }
  *out = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return code;
}

/* Reads every complete record from the current position; returns the
 * offset just after the last good one. */
static off_t
load_records (ClipTextCache *cache, off_t start)
{
  off_t good = start;
  size_t emb_bytes = (size_t) cache->dim * sizeof (float);
  GByteArray *buf = g_byte_array_new ();
  for (;;) {
    guint32 len;
    if (pread (cache->fd, &len, 4, good) != 4 || len > MAX_PROMPT_BYTES)
      break;
    size_t rec = 4 + len + emb_bytes + 4;
    g_byte_array_set_size (buf, rec);
    if (pread (cache->fd, buf->data, rec, good) != (ssize_t) rec)
      break;
    guint32 stored;
    memcpy (&stored, buf->data + rec - 4, 4);
    if (crc32 (0, buf->data, rec - 4) != stored)
      break;
    char *text = g_strndup ((const char *) buf->data + 4, len);
    float *emb = g_memdup2 (buf->data + 4 + len, emb_bytes);
    g_hash_table_replace (cache->entries, text, emb);
    good += rec;
  }
  g_byte_array_unref (buf);
  return good;
}

void
cle_text_cache_free (ClipTextCache *cache)
{
  if (!cache)
    return;
  if (cache->fd >= 0)
    close (cache->fd);
  g_hash_table_destroy (cache->entries);
  g_free (cache->path);
  g_free (cache);
}

int
cle_text_cache_open (ClipTextCache **out, const ClipModel *model,
    const char *dir, ClipError *err)
{
  cle_error_clear (err);
  if (!out || !model || !dir)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_text_cache_open: NULL argument");
  *out = NULL;
  if (!(model->config.towers & CLE_TOWER_TEXT))
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "model '%s' was loaded without its text tower", model->dir);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return cle_error_set (err, CLE_ERROR_IO,
        "text cache directory '%s': %s", dir, g_strerror (errno));
  char *fingerprint;
  int code = model_fingerprint (model, &fingerprint, err);
  if (code)
    return code;

  ClipTextCache *cache = g_new0 (ClipTextCache, 1);
  cache->dim = model->config.projection_dim;
  cache->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  char *name = g_strconcat (fingerprint, ".textcache", NULL);
  cache->path = g_build_filename (dir, name, NULL);
  g_free (name);
  g_free (fingerprint);
  cache->fd = open (cache->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (cache->fd < 0) {
    code = cle_error_set (err, CLE_ERROR_IO, "text cache '%s': %s",
        cache->path, g_strerror (errno));
    cle_text_cache_free (cache);
    return code;
  }

  /* Under the lock: write the magic into a new file, or load the records
   * and cut a torn tail so later appends stay aligned. */
  flock (cache->fd, LOCK_EX);
  char magic[sizeof MAGIC - 1];
  ssize_t got = pread (cache->fd, magic, sizeof magic, 0);
  if (got == 0) {
    if (pwrite (cache->fd, MAGIC, sizeof magic, 0) != (ssize_t) sizeof magic)
      code = cle_error_set (err, CLE_ERROR_IO, "text cache '%s': %s",
          cache->path, g_strerror (errno));
  } else if (got != (ssize_t) sizeof magic
      || memcmp (magic, MAGIC, sizeof magic) != 0) {
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "text cache '%s' is not a gst-clip text cache", cache->path);
  } else {
    off_t end = load_records (cache, sizeof magic);
    if (end != lseek (cache->fd, 0, SEEK_END) && ftruncate (cache->fd, end))
      code = cle_error_set (err, CLE_ERROR_IO, "text cache '%s': %s",
          cache->path, g_strerror (errno));
  }
  flock (cache->fd, LOCK_UN);
  if (code) {
    cle_text_cache_free (cache);
    return code;
  }
  *out = cache;
  return CLE_OK;
}

int
cle_text_cache_size (const ClipTextCache *cache)
{
  return cache ? (int) g_hash_table_size (cache->entries) : 0;
}

/* Appends one record (skipped silently when the disk refuses: the cache is
 * an optimization, the embedding is already in memory). */
static void
append (ClipTextCache *cache, const char *text, const float *emb)
{
  size_t len = strlen (text), emb_bytes = (size_t) cache->dim * sizeof (float);
  if (len > MAX_PROMPT_BYTES)
    return;
  size_t rec = 4 + len + emb_bytes + 4;
  guint8 *buf = g_malloc (rec);
  guint32 len32 = len;
  memcpy (buf, &len32, 4);
  memcpy (buf + 4, text, len);
  memcpy (buf + 4 + len, emb, emb_bytes);
  guint32 crc = crc32 (0, buf, rec - 4);
  memcpy (buf + rec - 4, &crc, 4);
  flock (cache->fd, LOCK_EX);
  off_t end = lseek (cache->fd, 0, SEEK_END);
  if (pwrite (cache->fd, buf, rec, end) != (ssize_t) rec && end >= 0
      && ftruncate (cache->fd, end) != 0)
    g_warning ("text cache '%s': cannot undo a partial write", cache->path);
  flock (cache->fd, LOCK_UN);
  g_free (buf);
  g_hash_table_replace (cache->entries, g_strdup (text),
      g_memdup2 (emb, emb_bytes));
}

int
cle_encode_texts_cached (ClipContext *ctx, ClipTextCache *cache,
    const char *const *texts, int n_texts, float *embeds, size_t n_embeds,
    int *n_encoded, ClipError *err)
{
  cle_error_clear (err);
  if (n_encoded)
    *n_encoded = 0;
  if (!cache)
    return cle_encode_texts (ctx, texts, n_texts, embeds, n_embeds, err);
  if (!ctx || (!texts && n_texts > 0) || !embeds || n_texts < 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "cle_encode_texts_cached: NULL argument or negative count");
  const int P = cache->dim;
  if (ctx->model->config.projection_dim != P)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "text cache '%s' holds %d-float embeddings, the model makes %d",
        cache->path, P, ctx->model->config.projection_dim);
  if (n_embeds < (size_t) n_texts * P)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "output holds %zu floats, %d embeddings of %d need %zu", n_embeds,
        n_texts, P, (size_t) n_texts * P);

  /* Copy the hits, gather the misses and encode them in one call. */
  GPtrArray *missing = g_ptr_array_new ();
  GArray *where = g_array_new (FALSE, FALSE, sizeof (int));
  for (int i = 0; i < n_texts; i++) {
    if (!texts[i]) {
      g_ptr_array_free (missing, TRUE);
      g_array_free (where, TRUE);
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "prompt %d is NULL", i);
    }
    const float *hit = g_hash_table_lookup (cache->entries, texts[i]);
    if (hit) {
      memcpy (embeds + (size_t) i * P, hit, P * sizeof (float));
    } else {
      g_ptr_array_add (missing, (gpointer) texts[i]);
      g_array_append_val (where, i);
    }
  }
  int code = CLE_OK;
  if (missing->len > 0) {
    float *fresh = g_new (float, (size_t) missing->len * P);
    code = cle_encode_texts (ctx, (const char *const *) missing->pdata,
        missing->len, fresh, (size_t) missing->len * P, err);
    for (guint j = 0; code == CLE_OK && j < missing->len; j++) {
      int i = g_array_index (where, int, j);
      memcpy (embeds + (size_t) i * P, fresh + (size_t) j * P,
          P * sizeof (float));
      /* the same prompt twice in one call is encoded twice, stored once */
      if (!g_hash_table_contains (cache->entries, texts[i]))
        append (cache, texts[i], fresh + (size_t) j * P);
    }
    if (code == CLE_OK && n_encoded)
      *n_encoded = missing->len;
    g_free (fresh);
  }
  g_ptr_array_free (missing, TRUE);
  g_array_free (where, TRUE);
  return code;
}
