/* fuzz-safetensors.c - arbitrary bytes as a .safetensors file, or, when
 * they start with '{', as a sharded index, opened once with safetensors
 * shards and once with torch.save shards; shards named 1..3.safetensors and
 * 1..3.bin (copies of fixtures: three shards of one checkpoint, and two
 * torch.save files holding the same tensors) lie beside it. Every tensor
 * found is decoded. */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "fuzz-util.h"
#include "safetensors.h"
#include "torch-zip.h"

static const char *const names[] = { "a", "b", "logit_scale",
  "vision_model.post_layernorm.weight", "vision_model.embeddings.class_embedding"
};

/* The shards an index may name, written once per process. */
static void
write_shards_once (void)
{
  static const char *const shards[][2] = {
    { "gen/vision-only-sharded/model-00001-of-00003.safetensors", "1.safetensors" },
    { "gen/vision-only-sharded/model-00002-of-00003.safetensors", "2.safetensors" },
    { "gen/vision-only-sharded/model-00003-of-00003.safetensors", "3.safetensors" },
    { "torch-zip/state_dict.bin", "1.bin" },
    { "torch-zip/deflated.bin", "2.bin" },
    { "gen/vision-only-bin-sharded/pytorch_model-00003-of-00003.bin", "3.bin" },
  };
  static int done;
  if (done)
    return;
  done = 1;
  const char *root = g_getenv ("CLE_TEST_DATA");
  for (size_t i = 0; i < G_N_ELEMENTS (shards); i++) {
    char *src = g_build_filename (root ? root : "tests/data", shards[i][0],
        NULL);
    gchar *bytes;
    gsize n;
    if (!g_file_get_contents (src, &bytes, &n, NULL)) {
      fprintf (stderr, "fuzz-safetensors: cannot read %s (set "
          "CLE_TEST_DATA)\n", src);
      abort ();
    }
    fuzz_write_file (shards[i][1], (const uint8_t *) bytes, n);
    g_free (bytes);
    g_free (src);
  }
}

static void
decode_some (ClipSafetensors *st)
{
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++) {
    const ClipTensor *t = cle_safetensors_find (st, names[i]);
    if (t && t->n_elements <= 4096) {
      float out[4096];
      cle_tensor_to_f32 (out, t);
    }
  }
  cle_safetensors_free (st);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ClipSafetensors *st;
  ClipError err;
  if (size && data[0] == '{') {
    write_shards_once ();
    const char *path = fuzz_write_file ("model.safetensors.index.json", data,
        size);
    if (cle_safetensors_open (&st, path, &err) == CLE_OK)
      decode_some (st);
    if (cle_safetensors_open_index (&st, path, cle_torch_zip_open,
            &err) == CLE_OK)
      decode_some (st);
    return 0;
  }
  const char *path = fuzz_write_file ("model.safetensors", data, size);
  if (cle_safetensors_open (&st, path, &err) == CLE_OK)
    decode_some (st);
  return 0;
}
