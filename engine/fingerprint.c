/* fingerprint.c - what identifies a model's embeddings: a SHA-256 over the
 * small files of its directory whole and samples of its weight files, so
 * that an index records the model that made it and a search with another
 * one is refused. Reads ~1.3 MB per weight file whatever its size; loads
 * nothing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "error.h"
#include "model.h"
#include "adapter.h"

#define HEAD_BYTES (1 << 20)
#define SAMPLE_BYTES 4096
#define N_SAMPLES 64

static const char *const whole_files[] = { "config.json", "vocab.json",
  "merges.txt", "preprocessor_config.json"
};

/* Adds name, then the file (whole, or size + head + samples); a file that
 * does not exist adds its name and a marker, so adding one changes the
 * fingerprint. */
static int
hash_file (GChecksum *sum, const char *dir, const char *name, int sampled,
    ClipError *err)
{
  char *path = g_build_filename (dir, name, NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC), code = CLE_OK;
  struct stat st;
  guchar *buf = NULL;

  g_checksum_update (sum, (const guchar *) name, strlen (name) + 1);
  if (fd < 0) {
    if (errno != ENOENT || sampled)
      code = cle_error_set (err, CLE_ERROR_IO, "%s: %s", path,
          g_strerror (errno));
    else
      g_checksum_update (sum, (const guchar *) "-", 1);
    g_free (path);
    return code;
  }
  if (fstat (fd, &st) != 0) {
    code = cle_error_set (err, CLE_ERROR_IO, "%s: %s", path,
        g_strerror (errno));
    goto out;
  }
  guint64 size = st.st_size;
  g_checksum_update (sum, (const guchar *) &size, sizeof size);
  size_t head = (!sampled || size < HEAD_BYTES) ? size : HEAD_BYTES;
  buf = g_malloc (head > SAMPLE_BYTES ? head : SAMPLE_BYTES);
  /* whole files are small (vocab.json ~1 MB); weight files are sampled */
  if (pread (fd, buf, head, 0) != (ssize_t) head) {
    code = cle_error_set (err, CLE_ERROR_IO, "%s: short read", path);
    goto out;
  }
  g_checksum_update (sum, buf, head);
  if (sampled && size > HEAD_BYTES + SAMPLE_BYTES) {
    for (int i = 1; i <= N_SAMPLES; i++) {
      /* the last sample ends the file */
      off_t at = i == N_SAMPLES ? (off_t) (size - SAMPLE_BYTES)
          : (off_t) (HEAD_BYTES + (size - HEAD_BYTES - SAMPLE_BYTES)
          / N_SAMPLES * i);
      if (pread (fd, buf, SAMPLE_BYTES, at) != SAMPLE_BYTES) {
        code = cle_error_set (err, CLE_ERROR_IO, "%s: short read", path);
        goto out;
      }
      g_checksum_update (sum, buf, SAMPLE_BYTES);
    }
  }
out:
  g_free (buf);
  close (fd);
  g_free (path);
  return code;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
cle_model_dir_fingerprint (const char *dir, char *out, size_t n_out,
    ClipError *err)
{
  GError *gerr = NULL;
  GDir *d;
  GPtrArray *weights, *bins;
  GChecksum *sum;
  const char *name;
  int code = CLE_OK;

  if (!dir || !out || n_out < 65)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "fingerprint: need a directory and 65 chars of output, got %zu",
        n_out);
  if (!(d = g_dir_open (dir, 0, &gerr))) {
    code = cle_error_set (err, CLE_ERROR_IO, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  weights = g_ptr_array_new_with_free_func (g_free);
  /* the weights the loader reads: safetensors, else pytorch_model.bin or
   * its shards (pytorch_model-00001-of-00002.bin, ...) */
  bins = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, ".safetensors"))
      g_ptr_array_add (weights, g_strdup (name));
    else if (g_str_has_prefix (name, "pytorch_model")
        && g_str_has_suffix (name, ".bin"))
      g_ptr_array_add (bins, g_strdup (name));
  g_dir_close (d);
  if (weights->len == 0)
    g_ptr_array_extend_and_steal (weights, bins);
  else
    g_ptr_array_unref (bins);
  g_ptr_array_sort (weights, compare_names);

  sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) "gst-clip model 1", 16);
  for (size_t i = 0; i < G_N_ELEMENTS (whole_files) && code == CLE_OK; i++)
    code = hash_file (sum, dir, whole_files[i], 0, err);
  if (code == CLE_OK && weights->len == 0)
    code = cle_error_set (err, CLE_ERROR_IO,
        "%s: no *.safetensors or pytorch_model*.bin file", dir);
  for (guint i = 0; i < weights->len && code == CLE_OK; i++)
    code = hash_file (sum, dir, weights->pdata[i], 1, err);
  if (code == CLE_OK)
    g_strlcpy (out, g_checksum_get_string (sum), n_out);
  g_checksum_free (sum);
  g_ptr_array_unref (weights);
  return code;
}

int
cle_model_fingerprint (const ClipModel *model, char *out, size_t n_out,
    ClipError *err)
{
  int code;

  if (!model)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "fingerprint: no model");
  code = cle_model_dir_fingerprint (model->dir, out, n_out, err);
  /* an adapter changes every embedding: it is part of the model */
  if (code == CLE_OK && model->adapter) {
    GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);

    g_checksum_update (sum, (const guchar *) out, strlen (out));
    g_checksum_update (sum, (const guchar *) "adapter", 7);
    g_checksum_update (sum, (const guchar *) cle_adapter_fingerprint
        (model->adapter), -1);
    g_strlcpy (out, g_checksum_get_string (sum), n_out);
    g_checksum_free (sum);
  }
  return code;
}
