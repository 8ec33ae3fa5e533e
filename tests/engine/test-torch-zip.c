/* test-torch-zip.c - the torch.save reader: a state dict as torch writes it
 * (shared tensors, offsets into a storage, F16/BF16/F64/I64, 0-d, an
 * OrderedDict with _metadata) read back value for value against what torch
 * printed (tests/data/torch-zip/state_dict.json); every hostile or
 * unsupported file refused with a message, and every truncation of a good
 * file refused without a crash. The same state dict re-zipped with deflated
 * entries reads the same; a corrupt stream, sizes or CRC that lie, a zip
 * bomb and other methods are refused (tests/data/gen/make_repacked.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "torch-zip.h"
#include "test-util.h"

static const char *const dtype_names[][2] = {
  { "float32", "F32" }, { "float16", "F16" }, { "bfloat16", "BF16" },
  { "float64", "F64" }, { "int64", "I64" },
};

static void
test_state_dict (const char *file)
{
  char *path = test_data_path (file);
  char *json = test_data_path ("torch-zip/state_dict.json");
  ClipSafetensors *st;
  ClipError err;
  int code = cle_torch_zip_open (&st, path, &err);
  test_expect (code == CLE_OK, "%s opens (%s)", file,
      code ? err.message : "ok");
  if (code)
    return;
  JsonParser *p = json_parser_new ();
  json_parser_load_from_file (p, json, NULL);
  JsonObject *want = json_node_get_object (json_parser_get_root (p));
  GList *names = json_object_get_members (want);
  int n_st;
  const ClipTensor **all = cle_safetensors_list (st, &n_st);
  test_expect (n_st == (int) g_list_length (names), "%d tensors, expected %u",
      n_st, g_list_length (names));
  g_free (all);
  for (GList *l = names; l; l = l->next) {
    JsonObject *w = json_object_get_object_member (want, l->data);
    const ClipTensor *t = cle_safetensors_find (st, l->data);
    if (!t) {
      test_expect (0, "tensor '%s' found", (const char *) l->data);
      continue;
    }
    JsonArray *shape = json_object_get_array_member (w, "shape");
    int same = t->n_dim == (int) json_array_get_length (shape);
    for (int i = 0; same && i < t->n_dim; i++)
      same = t->shape[i] == json_array_get_int_element (shape, i);
    const char *dt = json_object_get_string_member (w, "dtype"), *want_dt = "?";
    for (size_t i = 0; i < G_N_ELEMENTS (dtype_names); i++)
      if (strcmp (dtype_names[i][0], dt) == 0)
        want_dt = dtype_names[i][1];
    JsonArray *values = json_object_get_array_member (w, "values");
    double max_d = 0;
    for (int64_t i = 0; i < t->n_elements; i++) {
      double got;
      if (t->dtype == CLE_DTYPE_I64)
        got = ((const int64_t *) t->data)[i];
      else {
        float f;
        ClipTensor one = *t;
        one.n_elements = 1;
        one.data = (const uint8_t *) t->data + i * cle_dtype_size (t->dtype);
        cle_tensor_to_f32 (&f, &one);
        got = f;
      }
      double v = json_array_get_double_element (values, i);
      max_d = fmax (max_d, fabs (got - (t->dtype == CLE_DTYPE_F64 ? v
                  : (float) v)));
    }
    test_expect (same && strcmp (cle_dtype_name (t->dtype), want_dt) == 0
        && t->n_elements == (int64_t) json_array_get_length (values)
        && max_d == 0, "tensor '%s': %s, %d dims, values max|d| %g",
        (const char *) l->data, cle_dtype_name (t->dtype), t->n_dim, max_d);
  }
  const ClipTensor *a = cle_safetensors_find (st, "a.weight");
  const ClipTensor *c = cle_safetensors_find (st, "c");
  test_expect (a && c && a->data == c->data, "%s: shared tensors share data",
      file);
  g_list_free (names);
  g_object_unref (p);
  cle_safetensors_free (st);

  /* every prefix of the file: an error, never a crash */
  size_t size;
  uint8_t *bytes = test_read_file (path, &size);
  int refused = 0;
  for (size_t n = 0; n < size; n++) {
    ClipSafetensors *cut = NULL;
    if (cle_torch_zip_parse (&cut, bytes, n, "cut", &err) != CLE_OK
        && cut == NULL && err.message[0])
      refused++;
    cle_safetensors_free (cut);
  }
  test_expect (refused == (int) size, "%s: %d of %zu truncations refused",
      file, refused, size);
  free (bytes);
  g_free (path);
  g_free (json);
}

static void
expect_refused (const char *file, const char *const *words)
{
  char *path = test_data_path (file);
  ClipSafetensors *st;
  ClipError err;
  int code = cle_torch_zip_open (&st, path, &err);
  int ok = code == CLE_ERROR_FORMAT && st == NULL
      && strstr (err.message, path);
  for (int i = 0; ok && words[i]; i++)
    ok = strstr (err.message, words[i]) != NULL;
  test_expect (ok, "%s refused: %d \"%s\"", file, code, err.message);
  g_free (path);
}

int
main (void)
{
  test_state_dict ("torch-zip/state_dict.bin");
  test_state_dict ("torch-zip/deflated.bin");
  expect_refused ("torch-zip/deflate-corrupt.bin", (const char *[]) {
        "data.pkl", "corrupt deflate stream", "invalid block type", NULL });
  expect_refused ("torch-zip/deflate-size-short.bin", (const char *[]) {
        "data.pkl", "inflates to more than", "central directory", NULL });
  expect_refused ("torch-zip/deflate-size-long.bin", (const char *[]) {
        "data.pkl", "inflates to", "central directory entry says", NULL });
  expect_refused ("torch-zip/deflate-bad-crc.bin", (const char *[]) {
        "data.pkl", "CRC-32", NULL });
  expect_refused ("torch-zip/deflate-bomb.bin", (const char *[]) {
        "claims 3000000000 bytes", "more than deflate can expand", NULL });
  expect_refused ("torch-zip/bzip2.bin", (const char *[]) { "data.pkl",
        "method 12 (bzip2)", NULL });
  expect_refused ("torch-zip/legacy.bin", (const char *[]) { "legacy",
        "torch < 1.6", NULL });
  expect_refused ("torch-zip/os_system.bin", (const char *[]) { "GLOBAL",
        "'posix system'", "not a tensor state dict", NULL });
  expect_refused ("torch-zip/numpy.bin", (const char *[]) { "GLOBAL",
        "numpy", NULL });
  expect_refused ("torch-zip/transposed.bin", (const char *[]) {
        "not contiguous", NULL });
  expect_refused ("torch-zip/tensor.bin", (const char *[]) {
        "not a dict of tensors", NULL });
  ClipSafetensors *st;
  ClipError err;
  int code = cle_torch_zip_open (&st, "/nonexistent/pytorch_model.bin", &err);
  test_expect (code == CLE_ERROR_IO && strstr (err.message,
          "/nonexistent/pytorch_model.bin"), "a missing file: %d \"%s\"",
      code, err.message);
  return test_finish ();
}
