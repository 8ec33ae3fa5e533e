/* fuzz-torch-zip.c - arbitrary bytes as a torch.save file (zip + pickle);
 * every tensor found is decoded. */
#include <glib.h>

#include "fuzz-util.h"
#include "torch-zip.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ClipSafetensors *st;
  ClipError err;
  if (cle_torch_zip_parse (&st, data, size, "fuzz.bin", &err) != CLE_OK)
    return 0;
  int n;
  const ClipTensor **all = cle_safetensors_list (st, &n);
  for (int i = 0; i < n; i++) {
    const ClipTensor *t = all[i];
    if (t->n_elements <= 4096 && (t->dtype == CLE_DTYPE_F32
            || t->dtype == CLE_DTYPE_F16 || t->dtype == CLE_DTYPE_BF16
            || t->dtype == CLE_DTYPE_F64)) {
      float out[4096];
      cle_tensor_to_f32 (out, t);
    }
  }
  g_free (all);
  cle_safetensors_free (st);
  return 0;
}
