/* safetensors.c - reads the safetensors format: an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
 * Files are memory-mapped and used in place; nothing here knows of CLIP. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "safetensors.h"

struct ClipSafetensors {
  GPtrArray *files;             /* GMappedFile*, one per shard */
  GPtrArray *buffers;           /* g_malloc'ed data (inflated zip entries) */
  GHashTable *tensors;          /* name -> ClipTensor* (owned) */
  GStringChunk *strings;        /* tensor names and paths */
};

static const struct {
  const char *name;
  ClipDtype dtype;
  size_t size;
} dtype_table[] = {
  { "F32", CLE_DTYPE_F32, 4 }, { "F16", CLE_DTYPE_F16, 2 },
  { "BF16", CLE_DTYPE_BF16, 2 }, { "F64", CLE_DTYPE_F64, 8 },
  { "I64", CLE_DTYPE_I64, 8 }, { "I32", CLE_DTYPE_I32, 4 },
  { "I16", CLE_DTYPE_I16, 2 }, { "I8", CLE_DTYPE_I8, 1 },
  { "U8", CLE_DTYPE_U8, 1 }, { "BOOL", CLE_DTYPE_BOOL, 1 },
};

const char *
cle_dtype_name (ClipDtype dtype)
{
  for (size_t i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].name;
  return "?";
}

size_t
cle_dtype_size (ClipDtype dtype)
{
  for (size_t i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].size;
  return 0;
}

static int
dtype_from_name (const char *name, ClipDtype *dtype)
{
  for (size_t i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (strcmp (dtype_table[i].name, name) == 0) {
      *dtype = dtype_table[i].dtype;
      return 1;
    }
  return 0;
}

void
cle_safetensors_free (ClipSafetensors *st)
{
  if (!st)
    return;
  if (st->files)
    g_ptr_array_free (st->files, TRUE);
  if (st->buffers)
    g_ptr_array_free (st->buffers, TRUE);
  g_hash_table_destroy (st->tensors);
  g_string_chunk_free (st->strings);
  g_free (st);
}

const ClipTensor *
cle_safetensors_find (const ClipSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->tensors, name);
}

static int
compare_offsets (const void *a, const void *b)
{
  const ClipTensor *ta = *(const ClipTensor * const *) a;
  const ClipTensor *tb = *(const ClipTensor * const *) b;
  const char *pa = ta->data, *pb = tb->data;
  return pa < pb ? -1 : pa > pb;
}

/* Parses one tensor entry of the header; data points at the data section. */
static int
parse_tensor (ClipSafetensors *st, const char *path, const char *name,
    JsonNode *node, const uint8_t *data, uint64_t data_size, ClipError *err)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': header entry is not an object", path, name);
  JsonObject *obj = json_node_get_object (node);
  JsonNode *dtype_node = json_object_get_member (obj, "dtype");
  JsonNode *shape_node = json_object_get_member (obj, "shape");
  JsonNode *offsets_node = json_object_get_member (obj, "data_offsets");
  if (!dtype_node || json_node_get_value_type (dtype_node) != G_TYPE_STRING
      || !shape_node || !JSON_NODE_HOLDS_ARRAY (shape_node)
      || !offsets_node || !JSON_NODE_HOLDS_ARRAY (offsets_node))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': needs a string 'dtype', an array 'shape' and an "
        "array 'data_offsets'", path, name);

  ClipTensor *t = g_new0 (ClipTensor, 1);
  t->name = g_string_chunk_insert (st->strings, name);
  t->path = g_string_chunk_insert_const (st->strings, path);
  g_hash_table_replace (st->tensors, (char *) t->name, t);

  const char *dtype = json_node_get_string (dtype_node);
  if (!dtype_from_name (dtype, &t->dtype))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': unknown dtype '%s'", path, name, dtype);

  JsonArray *shape = json_node_get_array (shape_node);
  guint n_dim = json_array_get_length (shape);
  if (n_dim > CLE_SAFETENSORS_MAX_DIMS)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': %u dimensions, at most %d supported", path, name,
        n_dim, CLE_SAFETENSORS_MAX_DIMS);
  t->n_dim = n_dim;
  /* Multiply with an overflow check: a hostile header must not wrap. */
  uint64_t n_elements = 1;
  for (guint i = 0; i < n_dim; i++) {
    JsonNode *d = json_array_get_element (shape, i);
    if (json_node_get_value_type (d) != G_TYPE_INT64
        || json_node_get_int (d) < 0)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': tensor '%s': shape entry %u is not a non-negative integer",
          path, name, i);
    t->shape[i] = json_node_get_int (d);
    if (t->shape[i] != 0 && n_elements > G_MAXINT64 / (uint64_t) t->shape[i])
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': tensor '%s': shape is too large", path, name);
    n_elements *= t->shape[i];
  }
  t->n_elements = n_elements;

  JsonArray *offsets = json_node_get_array (offsets_node);
  if (json_array_get_length (offsets) != 2)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': data_offsets must have 2 entries", path, name);
  int64_t begin = -1, end = -1;
  JsonNode *b = json_array_get_element (offsets, 0);
  JsonNode *e = json_array_get_element (offsets, 1);
  if (json_node_get_value_type (b) == G_TYPE_INT64)
    begin = json_node_get_int (b);
  if (json_node_get_value_type (e) == G_TYPE_INT64)
    end = json_node_get_int (e);
  if (begin < 0 || end < begin || (uint64_t) end > data_size)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': data_offsets [%" G_GINT64_FORMAT ", %"
        G_GINT64_FORMAT "] outside the data section of %" G_GUINT64_FORMAT
        " bytes", path, name, begin, end, data_size);
  uint64_t expected = n_elements * cle_dtype_size (t->dtype);
  if (n_elements > G_MAXINT64 / 8 || (uint64_t) (end - begin) != expected)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': tensor '%s': %" G_GINT64_FORMAT " data bytes, expected %"
        G_GUINT64_FORMAT " for its shape and dtype %s", path, name,
        end - begin, expected, dtype);
  t->data = data + begin;
  t->n_bytes = expected;
  return CLE_OK;
}

/* Maps one file and adds its tensors. */
static int
open_file (ClipSafetensors *st, const char *path, ClipError *err)
{
  GError *gerr = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &gerr);
  if (!file) {
    int code = cle_error_set (err, CLE_ERROR_IO, "'%s': %s", path,
        gerr->message);
    g_error_free (gerr);
    return code;
  }
  g_ptr_array_add (st->files, file);

  const uint8_t *bytes = (const uint8_t *) g_mapped_file_get_contents (file);
  uint64_t size = g_mapped_file_get_length (file);
  if (size < 8)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': %" G_GUINT64_FORMAT " bytes, too short for a safetensors "
        "header", path, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': header length %" G_GUINT64_FORMAT " goes beyond the file (%"
        G_GUINT64_FORMAT " bytes)", path, header_len, size);

  JsonParser *parser = json_parser_new ();
  int code = CLE_OK;
  if (!json_parser_load_from_data (parser, (const char *) bytes + 8,
          header_len, &gerr)) {
    code = cle_error_set (err, CLE_ERROR_FORMAT, "'%s': header: %s", path,
        gerr->message);
    g_error_free (gerr);
    goto out;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': header is not a JSON object", path);
    goto out;
  }
  JsonObject *obj = json_node_get_object (root);
  GList *names = json_object_get_members (obj);
  const uint8_t *data = bytes + 8 + header_len;
  uint64_t data_size = size - 8 - header_len;
  GPtrArray *mine = g_ptr_array_new ();
  for (GList *l = names; l && code == CLE_OK; l = l->next) {
    const char *name = l->data;
    if (strcmp (name, "__metadata__") == 0)
      continue;
    code = parse_tensor (st, path, name, json_object_get_member (obj, name),
        data, data_size, err);
    if (code == CLE_OK)
      g_ptr_array_add (mine, g_hash_table_lookup (st->tensors, name));
  }
  g_list_free (names);

  /* Tensors of one file must not share bytes. */
  if (code == CLE_OK && mine->len > 1) {
    g_ptr_array_sort (mine, compare_offsets);
    for (guint i = 1; i < mine->len; i++) {
      const ClipTensor *prev = mine->pdata[i - 1], *cur = mine->pdata[i];
      if ((const uint8_t *) prev->data + prev->n_bytes
          > (const uint8_t *) cur->data) {
        code = cle_error_set (err, CLE_ERROR_FORMAT,
            "'%s': tensors '%s' and '%s' overlap", path, prev->name,
            cur->name);
        break;
      }
    }
  }
  g_ptr_array_free (mine, TRUE);
out:
  g_object_unref (parser);
  return code;
}

/* A shard name must be a file in the index's directory: no folder, no
 * "..", nothing absolute. (A shard may be a symbolic link, as in the Hugging
 * Face cache, where snapshots link to blobs.) */
static int
is_plain_file_name (const char *name)
{
  return name[0] && strcmp (name, ".") != 0 && strcmp (name, "..") != 0
      && !strchr (name, '/') && !strchr (name, '\\');
}

/* Moves every tensor of part (a shard opened on its own) into st, whose
 * tensors came from the shards before it, and the mappings and buffers
 * they live in. */
static int
merge_shard (ClipSafetensors *st, ClipSafetensors *part,
    const char *index_path, ClipError *err)
{
  int n, code = CLE_OK;
  const ClipTensor **all = cle_safetensors_list (part, &n);
  for (int i = 0; i < n && code == CLE_OK; i++) {
    const ClipTensor *before = cle_safetensors_find (st, all[i]->name);
    if (before) {
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': tensor '%s' is in two shards, '%s' and '%s'", index_path,
          all[i]->name, before->path, all[i]->path);
      break;
    }
    ClipTensor *t = cle_safetensors_add (st, all[i]->name, all[i]->path);
    const char *name = t->name, *path = t->path;
    *t = *all[i];
    t->name = name;
    t->path = path;
  }
  g_free (all);
  g_ptr_array_extend_and_steal (st->files, part->files);
  part->files = NULL;
  g_ptr_array_extend_and_steal (st->buffers, part->buffers);
  part->buffers = NULL;
  return code;
}

static int
open_single (ClipSafetensors **out, const char *path, ClipError *err)
{
  ClipSafetensors *st = cle_safetensors_new ();
  int code = open_file (st, path, err);
  if (code != CLE_OK) {
    cle_safetensors_free (st);
    st = NULL;
  }
  *out = st;
  return code;
}

/* Reads a Hugging Face index, {"weight_map": {tensor: shard}}, and opens
 * its shards in name order; the message of the first error names the file
 * and the tensor. */
static int
open_index (ClipSafetensors *st, const char *index_path,
    ClipShardOpen open_shard, ClipError *err)
{
  GError *gerr = NULL;
  JsonParser *parser = json_parser_new ();
  int code = CLE_OK;
  if (!json_parser_load_from_mapped_file (parser, index_path, &gerr)) {
    code = cle_error_set (err,
        gerr->domain == G_FILE_ERROR ? CLE_ERROR_IO : CLE_ERROR_FORMAT,
        "'%s': %s", index_path, gerr->message);
    g_error_free (gerr);
    g_object_unref (parser);
    return code;
  }
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *map = NULL;
  if (root && JSON_NODE_HOLDS_OBJECT (root)) {
    JsonNode *m = json_object_get_member (json_node_get_object (root),
        "weight_map");
    if (m && JSON_NODE_HOLDS_OBJECT (m))
      map = json_node_get_object (m);
  }
  if (!map) {
    g_object_unref (parser);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': no 'weight_map' object", index_path);
  }

  /* shard file name -> set of the tensor names the index puts there */
  GHashTable *shards = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      (GDestroyNotify) g_hash_table_unref);
  GList *names = json_object_get_members (map);
  for (GList *l = names; l; l = l->next) {
    JsonNode *v = json_object_get_member (map, l->data);
    if (json_node_get_value_type (v) != G_TYPE_STRING) {
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': weight_map entry '%s' is not a file name", index_path,
          (const char *) l->data);
      break;
    }
    const char *shard = json_node_get_string (v);
    if (!is_plain_file_name (shard)) {
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': tensor '%s': shard '%s' is not a file name in the model "
          "directory", index_path, (const char *) l->data, shard);
      break;
    }
    GHashTable *set = g_hash_table_lookup (shards, shard);
    if (!set) {
      set = g_hash_table_new (g_str_hash, g_str_equal);
      g_hash_table_insert (shards, (char *) shard, set);
    }
    g_hash_table_add (set, l->data);
  }
  g_list_free (names);
  if (code == CLE_OK && g_hash_table_size (shards) == 0)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': the weight_map is empty", index_path);

  /* Every tensor of every shard is read (as transformers does), once; every
   * tensor the index lists must be in the shard it names. */
  char *dir = g_path_get_dirname (index_path);
  GList *order = g_list_sort (g_hash_table_get_keys (shards),
      (GCompareFunc) strcmp);
  for (GList *l = order; l && code == CLE_OK; l = l->next) {
    char *path = g_build_filename (dir, l->data, NULL);
    ClipSafetensors *part = NULL;
    code = open_shard (&part, path, err);
    if (code != CLE_OK && err) {
      /* the shard's own message, and which index wanted which tensor */
      GList *wanted = g_list_sort (g_hash_table_get_keys (g_hash_table_lookup
              (shards, l->data)), (GCompareFunc) strcmp);
      char *msg = g_strdup (err->message);
      cle_error_set (err, code, "'%s': shard of tensor '%s': %s", index_path,
          (const char *) wanted->data, msg);
      g_free (msg);
      g_list_free (wanted);
    }
    if (code == CLE_OK)
      code = merge_shard (st, part, index_path, err);
    cle_safetensors_free (part);
    GHashTableIter it;
    gpointer name;
    g_hash_table_iter_init (&it, g_hash_table_lookup (shards, l->data));
    while (code == CLE_OK && g_hash_table_iter_next (&it, &name, NULL)) {
      const ClipTensor *t = cle_safetensors_find (st, name);
      if (!t || strcmp (t->path, path) != 0)
        code = cle_error_set (err, CLE_ERROR_FORMAT,
            "'%s': tensor '%s' listed in the index is not in shard '%s'%s%s",
            index_path, (const char *) name, (const char *) l->data,
            t ? " but in " : "", t ? t->path : "");
    }
    g_free (path);
  }
  g_list_free (order);
  g_free (dir);
  g_hash_table_destroy (shards);
  g_object_unref (parser);
  return code;
}

ClipSafetensors *
cle_safetensors_new (void)
{
  ClipSafetensors *st = g_new0 (ClipSafetensors, 1);
  st->files = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_mapped_file_unref);
  st->buffers = g_ptr_array_new_with_free_func (g_free);
  st->tensors = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  st->strings = g_string_chunk_new (4096);
  return st;
}

void
cle_safetensors_keep_mapping (ClipSafetensors *st, void *mapped_file)
{
  g_ptr_array_add (st->files, mapped_file);
}

void
cle_safetensors_keep_buffer (ClipSafetensors *st, void *buffer)
{
  g_ptr_array_add (st->buffers, buffer);
}

ClipTensor *
cle_safetensors_add (ClipSafetensors *st, const char *name, const char *path)
{
  ClipTensor *t = g_hash_table_lookup (st->tensors, name);
  if (t)
    return t;
  t = g_new0 (ClipTensor, 1);
  t->name = g_string_chunk_insert (st->strings, name);
  t->path = g_string_chunk_insert_const (st->strings, path);
  g_hash_table_replace (st->tensors, (char *) t->name, t);
  return t;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp ((*(const ClipTensor * const *) a)->name,
      (*(const ClipTensor * const *) b)->name);
}

const ClipTensor **
cle_safetensors_list (const ClipSafetensors *st, int *n)
{
  guint len = g_hash_table_size (st->tensors), i = 0;
  const ClipTensor **values = g_new (const ClipTensor *, MAX (len, 1));
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, st->tensors);
  while (g_hash_table_iter_next (&it, NULL, &value))
    values[i++] = value;
  qsort (values, len, sizeof *values, compare_names);
  *n = len;
  return values;
}

int
cle_safetensors_open_index (ClipSafetensors **out, const char *index_path,
    ClipShardOpen open_shard, ClipError *err)
{
  ClipSafetensors *st = cle_safetensors_new ();
  int code = open_index (st, index_path, open_shard ? open_shard
      : open_single, err);
  if (code != CLE_OK) {
    cle_safetensors_free (st);
    st = NULL;
  }
  *out = st;
  return code;
}

int
cle_safetensors_open (ClipSafetensors **out, const char *path, ClipError *err)
{
  if (g_str_has_suffix (path, ".index.json"))
    return cle_safetensors_open_index (out, path, NULL, err);
  return open_single (out, path, err);
}

static float
f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);    /* Inf / NaN */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {                      /* subnormal: renormalize */
    exp = 113;
    while (!(mant & 0x400)) {
      mant <<= 1;
      exp--;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

void
cle_tensor_to_f32 (float *out, const ClipTensor *t)
{
  const uint8_t *p = t->data;
  for (int64_t i = 0; i < t->n_elements; i++) {
    switch (t->dtype) {
      case CLE_DTYPE_F32:
        memcpy (&out[i], p + 4 * i, 4);
        break;
      case CLE_DTYPE_F16:{
        uint16_t h;
        memcpy (&h, p + 2 * i, 2);
        out[i] = f16_to_f32 (GUINT16_FROM_LE (h));
        break;
      }
      case CLE_DTYPE_BF16:{
        uint16_t h;
        memcpy (&h, p + 2 * i, 2);
        uint32_t bits = (uint32_t) GUINT16_FROM_LE (h) << 16;
        memcpy (&out[i], &bits, 4);
        break;
      }
      case CLE_DTYPE_F64:{
        double d;
        memcpy (&d, p + 8 * i, 8);
        out[i] = (float) d;
        break;
      }
      default:
        out[i] = 0.0f;
        break;
    }
  }
}
