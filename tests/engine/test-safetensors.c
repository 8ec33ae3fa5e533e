/* test-safetensors.c - the format reader on good and corrupt files: each
 * corruption must give its exact error and never crash. Corrupt files are
 * made from the tiny fixture by editing its header. Sharded checkpoints
 * (safetensors and torch.save shards, tests/data/gen/make_repacked.py) read
 * the same tensors, byte for byte, as the single file they were split from;
 * broken indexes are refused naming the file and the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "safetensors.h"
#include "torch-zip.h"
#include "test-util.h"

static uint8_t *original;
static size_t original_size;
static uint64_t original_header_len;
static char *tmp_dir;

/* Writes a file of the original data with a new header. */
static char *
write_with_header (const char *name, const char *header)
{
  char *path = g_build_filename (tmp_dir, name, NULL);
  FILE *f = fopen (path, "wb");
  uint64_t len = strlen (header);
  uint8_t le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (len >> (8 * i)) & 0xff;
  fwrite (le, 1, 8, f);
  fwrite (header, 1, len, f);
  fwrite (original + 8 + original_header_len, 1,
      original_size - 8 - original_header_len, f);
  fclose (f);
  return path;
}

static char *
write_bytes (const char *name, const void *data, size_t n)
{
  char *path = g_build_filename (tmp_dir, name, NULL);
  g_file_set_contents (path, data, n, NULL);
  return path;
}

/* The original header as JSON, to edit. */
static JsonObject *
header_object (JsonParser **parser)
{
  *parser = json_parser_new ();
  json_parser_load_from_data (*parser, (const char *) original + 8,
      original_header_len, NULL);
  return json_node_get_object (json_parser_get_root (*parser));
}

static char *
header_string (JsonObject *obj)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, obj);
  char *s = json_to_string (node, FALSE);
  json_node_unref (node);
  return s;
}

static void
expect_error (const char *what, const char *path, int code,
    const char *message_part)
{
  ClipSafetensors *st = NULL;
  ClipError err = { 0 };
  int r = cle_safetensors_open (&st, path, &err);
  test_expect (r == code && st == NULL && strstr (err.message, message_part),
      "%s: status %d (want %d), \"%s\" (want \"%s\")", what, r, code,
      err.message, message_part);
  cle_safetensors_free (st);
}

static const char *victim = "vision_model.post_layernorm.weight";

static void
edit_victim (const char *file, const char *member, JsonNode *value,
    int code, const char *message_part)
{
  JsonParser *parser;
  JsonObject *obj = header_object (&parser);
  JsonObject *t = json_object_get_object_member (obj, victim);
  json_object_set_member (t, member, value);
  char *header = header_string (obj);
  char *path = write_with_header (file, header);
  expect_error (file, path, code, message_part);
  g_free (path);
  g_free (header);
  g_object_unref (parser);
}

static JsonNode *
int_array (int n, const int64_t *v)
{
  JsonArray *a = json_array_new ();
  for (int i = 0; i < n; i++)
    json_array_add_int_element (a, v[i]);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, a);
  return node;
}

/* The same tensors: names, dtypes, shapes and bytes. */
static void
expect_same_tensors (const char *what, const ClipSafetensors *a,
    const ClipSafetensors *b)
{
  int n_a, n_b, same = 0;
  const ClipTensor **ta = cle_safetensors_list (a, &n_a);
  const ClipTensor **tb = cle_safetensors_list (b, &n_b);
  for (int i = 0; n_a == n_b && i < n_a; i++) {
    int eq = strcmp (ta[i]->name, tb[i]->name) == 0
        && ta[i]->dtype == tb[i]->dtype && ta[i]->n_dim == tb[i]->n_dim
        && ta[i]->n_bytes == tb[i]->n_bytes
        && memcmp (ta[i]->shape, tb[i]->shape, sizeof ta[i]->shape) == 0
        && memcmp (ta[i]->data, tb[i]->data, ta[i]->n_bytes) == 0;
    if (!eq)
      printf ("# %s: tensor '%s' differs\n", what, ta[i]->name);
    same += eq;
  }
  test_expect (n_a > 0 && n_a == n_b && same == n_a,
      "%s: %d of %d tensors the same as the single file's %d", what, same,
      n_b, n_a);
  g_free (ta);
  g_free (tb);
}

/* Copies a fixture's file into tmp_dir under name. */
static void
copy_into_tmp (const char *rel, const char *name)
{
  char *src = test_data_path (rel);
  size_t n;
  void *bytes = test_read_file (src, &n);
  g_free (write_bytes (name, bytes, n));
  free (bytes);
  g_free (src);
}

static void
expect_index_error (const char *what, const char *index_name,
    const char *json, ClipShardOpen open_shard, int code,
    const char *const *words)
{
  char *path = write_bytes (index_name, json, strlen (json));
  ClipSafetensors *st = NULL;
  ClipError err = { 0 };
  int r = cle_safetensors_open_index (&st, path, open_shard, &err);
  int ok = r == code && st == NULL;
  for (int i = 0; ok && words[i]; i++)
    ok = strstr (err.message, words[i]) != NULL;
  test_expect (ok, "%s: status %d (want %d), \"%s\"", what, r, code,
      err.message);
  cle_safetensors_free (st);
  g_free (path);
}

#define WORDS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* Both sharded forms against their single files, then broken indexes over
 * copies of their shards in tmp_dir. */
static void
test_sharded (void)
{
  static const struct {
    const char *single, *index, *shard_fmt;
    ClipShardOpen open_shard, open_single;
  } forms[] = {
    { "gen/vision-only/model.safetensors",
      "gen/vision-only-sharded/model.safetensors.index.json",
      "model-%05d-of-00003.safetensors", NULL, cle_safetensors_open },
    { "gen/vision-only-bin/pytorch_model.bin",
      "gen/vision-only-bin-sharded/pytorch_model.bin.index.json",
      "pytorch_model-%05d-of-00003.bin", cle_torch_zip_open,
      cle_torch_zip_open },
  };
  for (size_t f = 0; f < G_N_ELEMENTS (forms); f++) {
    ClipSafetensors *one = NULL, *sharded = NULL;
    ClipError err = { 0 };
    char *single = test_data_path (forms[f].single);
    char *index = test_data_path (forms[f].index);
    int r1 = forms[f].open_single (&one, single, &err);
    test_expect (r1 == CLE_OK, "%s opens (%s)", forms[f].single,
        r1 ? err.message : "ok");
    int r2 = cle_safetensors_open_index (&sharded, index, forms[f].open_shard,
        &err);
    test_expect (r2 == CLE_OK, "%s opens (%s)", forms[f].index,
        r2 ? err.message : "ok");
    if (one && sharded)
      expect_same_tensors (forms[f].index, one, sharded);

    /* every tensor's path is its shard */
    const ClipTensor *first = sharded ? cle_safetensors_find (sharded,
        "vision_model.embeddings.class_embedding") : NULL;
    char *shard1 = g_strdup_printf (forms[f].shard_fmt, 1);
    test_expect (first && g_str_has_suffix (first->path, shard1),
        "class_embedding is from %s (%s)", shard1, first ? first->path : "-");

    char *name[3], *dir = g_path_get_dirname (forms[f].index);
    for (int k = 0; k < 3; k++) {
      name[k] = g_strdup_printf (forms[f].shard_fmt, k + 1);
      char *rel = g_build_filename (dir, name[k], NULL);
      copy_into_tmp (rel, name[k]);
      g_free (rel);
    }
    const char *index_name = forms[f].open_shard ? "x.bin.index.json"
        : "x.safetensors.index.json";
    const char *victim_name = "vision_model.embeddings.class_embedding";
    char *json;

    /* a tensor the index puts in shard 2, which is in shard 1 */
    json = g_strdup_printf ("{\"weight_map\": {\"%s\": \"%s\"}}",
        victim_name, name[1]);
    expect_index_error ("a tensor in another shard than listed", index_name,
        json, forms[f].open_shard, CLE_ERROR_FORMAT, WORDS (index_name,
            victim_name, "is not in shard", name[1]));
    g_free (json);
    /* a tensor that no shard has */
    json = g_strdup_printf ("{\"weight_map\": {\"no.such.tensor\": "
        "\"%s\"}}", name[0]);
    expect_index_error ("a listed tensor absent from its shard", index_name,
        json, forms[f].open_shard, CLE_ERROR_FORMAT, WORDS ("no.such.tensor",
            "is not in shard", name[0]));
    g_free (json);
    /* one shard twice under two names */
    char *twin = g_strdup_printf ("twin-%s", name[0]);
    {
      char *rel = g_build_filename (dir, name[0], NULL);
      copy_into_tmp (rel, twin);
      g_free (rel);
    }
    json = g_strdup_printf ("{\"weight_map\": {\"%s\": \"%s\", "
        "\"x\": \"%s\"}}", victim_name, name[0], twin);
    expect_index_error ("a tensor in two shards", index_name, json,
        forms[f].open_shard, CLE_ERROR_FORMAT, WORDS (victim_name,
            "is in two shards", name[0], twin));
    g_free (json);
    g_free (twin);
    /* shards that are not files of the directory */
    static const char *const escapes[] = { "../../etc/passwd", "/etc/passwd",
      "..", ".", "", "sub/dir.bin"
    };
    for (size_t e = 0; e < G_N_ELEMENTS (escapes); e++) {
      json = g_strdup_printf ("{\"weight_map\": {\"%s\": \"%s\"}}",
          victim_name, escapes[e]);
      expect_index_error (escapes[e], index_name, json, forms[f].open_shard,
          CLE_ERROR_FORMAT, WORDS (victim_name, "not a file name in the "
              "model directory"));
      g_free (json);
    }
    /* a missing shard: an I/O error naming it */
    json = g_strdup_printf ("{\"weight_map\": {\"%s\": \"%s\", "
        "\"a\": \"gone-00002.bin\"}}", victim_name, name[0]);
    expect_index_error ("a missing shard", index_name, json,
        forms[f].open_shard, CLE_ERROR_IO, WORDS (index_name,
            "shard of tensor 'a'", "gone-00002.bin"));
    g_free (json);
    expect_index_error ("an empty weight_map", index_name,
        "{\"weight_map\": {}}", forms[f].open_shard, CLE_ERROR_FORMAT,
        WORDS ("empty"));

    for (int k = 0; k < 3; k++)
      g_free (name[k]);
    g_free (dir);
    g_free (shard1);
    cle_safetensors_free (one);
    cle_safetensors_free (sharded);
    g_free (single);
    g_free (index);
  }
}

int
main (void)
{
  char *path = test_data_path ("tiny-clip/model.safetensors");
  original = test_read_file (path, &original_size);
  for (int i = 7; i >= 0; i--)
    original_header_len = (original_header_len << 8) | original[i];
  tmp_dir = g_dir_make_tmp ("cle-safetensors-XXXXXX", NULL);

  /* The good file: all tensors found, F16, shapes as in the header. */
  ClipSafetensors *st;
  ClipError err;
  int r = cle_safetensors_open (&st, path, &err);
  test_expect (r == CLE_OK, "open the fixture (%s)", r ? err.message : "ok");
  const ClipTensor *t = st ? cle_safetensors_find (st, victim) : NULL;
  test_expect (t && t->dtype == CLE_DTYPE_F16 && t->n_dim == 1
      && t->shape[0] == 64 && t->n_bytes == 128, "find %s: F16 [64]", victim);
  test_expect (st && !cle_safetensors_find (st, "no.such.tensor"),
      "absent tensor -> NULL");
  if (t) {
    float v[64];
    cle_tensor_to_f32 (v, t);
    int finite = 1;
    for (int i = 0; i < 64; i++)
      finite &= v[i] > -100 && v[i] < 100;
    test_expect (finite, "F16 decodes to finite values");
  }
  cle_safetensors_free (st);

  /* F16 special values decode exactly. */
  {
    static const uint16_t h[] = { 0x3c00, 0xc000, 0x0001, 0x7bff, 0x0000 };
    static const float want[] = { 1.0f, -2.0f, 5.9604645e-08f, 65504.0f, 0 };
    ClipTensor ft = { .dtype = CLE_DTYPE_F16, .n_elements = 5, .data = h };
    float v[5];
    cle_tensor_to_f32 (v, &ft);
    test_expect (memcmp (v, want, sizeof v) == 0,
        "F16 1, -2, smallest subnormal, max, 0 decode exactly");
    static const uint16_t b[] = { 0x3f80, 0xc0a0 };
    ClipTensor bt = { .dtype = CLE_DTYPE_BF16, .n_elements = 2, .data = b };
    cle_tensor_to_f32 (v, &bt);
    test_expect (v[0] == 1.0f && v[1] == -5.0f, "BF16 decodes exactly");
  }

  /* The catalogue of corrupt files. */
  char *p = g_build_filename (tmp_dir, "absent.safetensors", NULL);
  expect_error ("missing file", p, CLE_ERROR_IO, "absent.safetensors");
  g_free (p);
  p = write_bytes ("short.safetensors", original, 5);
  expect_error ("5-byte file", p, CLE_ERROR_FORMAT, "too short");
  g_free (p);
  p = write_bytes ("truncated.safetensors", original, original_header_len / 2);
  expect_error ("truncated in the header", p, CLE_ERROR_FORMAT,
      "goes beyond the file");
  g_free (p);
  p = write_bytes ("truncated-data.safetensors", original, original_size - 1);
  expect_error ("truncated in the data", p, CLE_ERROR_FORMAT,
      "outside the data section");
  g_free (p);
  {
    uint8_t *huge = g_memdup2 (original, original_size);
    memset (huge, 0xff, 8);
    p = write_bytes ("huge-header.safetensors", huge, original_size);
    expect_error ("header length 2^64-1", p, CLE_ERROR_FORMAT,
        "goes beyond the file");
    g_free (p);
    g_free (huge);
  }
  p = write_with_header ("not-json.safetensors", "{\"a\": [1, 2");
  expect_error ("broken JSON header", p, CLE_ERROR_FORMAT, "header:");
  g_free (p);
  p = write_with_header ("array.safetensors", "[1, 2, 3]");
  expect_error ("header not an object", p, CLE_ERROR_FORMAT,
      "not a JSON object");
  g_free (p);

  edit_victim ("dtype.safetensors", "dtype", json_node_init_string (
          json_node_alloc (), "F8_E9"), CLE_ERROR_FORMAT,
      "tensor 'vision_model.post_layernorm.weight': unknown dtype 'F8_E9'");
  {
    int64_t shape[] = { 65 };
    edit_victim ("shape.safetensors", "shape", int_array (1, shape),
        CLE_ERROR_FORMAT, "128 data bytes, expected 130");
    int64_t neg[] = { -64 };
    edit_victim ("negative.safetensors", "shape", int_array (1, neg),
        CLE_ERROR_FORMAT, "not a non-negative integer");
    int64_t big[] = { 1LL << 40, 1LL << 40, 1LL << 40 };
    edit_victim ("overflow.safetensors", "shape", int_array (3, big),
        CLE_ERROR_FORMAT, "shape is too large");
    int64_t range[] = { 0, (int64_t) original_size * 2 };
    edit_victim ("range.safetensors", "data_offsets", int_array (2, range),
        CLE_ERROR_FORMAT, "outside the data section");
    int64_t backwards[] = { 200, 72 };
    edit_victim ("backwards.safetensors", "data_offsets",
        int_array (2, backwards), CLE_ERROR_FORMAT, "outside the data");
    int64_t overlap[] = { 64, 192 };
    edit_victim ("overlap.safetensors", "data_offsets",
        int_array (2, overlap), CLE_ERROR_FORMAT, "overlap");
  }
  edit_victim ("no-shape.safetensors", "shape", json_node_init_int (
          json_node_alloc (), 3), CLE_ERROR_FORMAT, "array 'shape'");

  /* A sharded index naming a shard that is not there, or a path outside. */
  const char *missing = "{\"weight_map\": {\"a\": \"missing.safetensors\"}}";
  p = write_bytes ("bad.safetensors.index.json", missing, strlen (missing));
  expect_error ("index with a missing shard", p, CLE_ERROR_IO,
      "missing.safetensors");
  g_free (p);
  const char *escape = "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}";
  p = write_bytes ("escape.safetensors.index.json", escape, strlen (escape));
  expect_error ("index pointing outside the directory", p, CLE_ERROR_FORMAT,
      "not a file name in the model directory");
  g_free (p);
  p = write_bytes ("nomap.safetensors.index.json", "{}", 2);
  expect_error ("index without weight_map", p, CLE_ERROR_FORMAT,
      "no 'weight_map'");
  g_free (p);

  test_sharded ();

  g_free (path);
  g_free (original);
  test_remove_dir (tmp_dir);
  g_free (tmp_dir);
  return test_finish ();
}
