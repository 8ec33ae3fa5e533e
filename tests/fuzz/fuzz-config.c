/* fuzz-config.c - arbitrary bytes as config.json (every tower combination)
 * and as preprocessor_config.json. */
#include "fuzz-util.h"
#include "model.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_write_file ("config.json", data, size);
  ClipConfig cfg;
  ClipError err;
  for (unsigned towers = 1; towers <= CLE_TOWER_BOTH; towers++)
    cle_config_load (&cfg, path, towers, &err);
  ClipPreprocessConfig pre;
  path = fuzz_write_file ("preprocessor_config.json", data, size);
  cle_preprocess_config_load (&pre, path, 224, &err);
  return 0;
}
