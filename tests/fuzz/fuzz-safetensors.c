/* fuzz-safetensors.c - arbitrary bytes as a .safetensors file (and, when
 * they start with '{', as a sharded index); every tensor found is decoded. */
#include "fuzz-util.h"
#include "safetensors.h"

static const char *const names[] = { "a", "b", "logit_scale",
  "vision_model.post_layernorm.weight" };

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_write_file (size && data[0] == '{'
      ? "model.safetensors.index.json" : "model.safetensors", data, size);
  ClipSafetensors *st;
  ClipError err;
  if (cle_safetensors_open (&st, path, &err) != CLE_OK)
    return 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const ClipTensor *t = cle_safetensors_find (st, names[i]);
    if (t && t->n_elements <= 4096) {
      float out[4096];
      cle_tensor_to_f32 (out, t);
    }
  }
  cle_safetensors_free (st);
  return 0;
}
