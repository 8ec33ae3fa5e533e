/* fuzz-adapter-config.c - arbitrary bytes as an adapter_config.json of
 * either library, parsed and released. */
#include <glib.h>

#include "adapter.h"
#include "fuzz-util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_write_file ("adapter_config.json", data, size);
  char *dir = g_path_get_dirname (path);
  ClipAdapterConfig cfg;
  ClipError err;
  if (cle_adapter_config_load (&cfg, dir, &err) == CLE_OK)
    cle_adapter_name_matches ("vision_model.encoder.layers.3.mlp.fc1",
        cfg.targets, cfg.target_regex);
  cle_adapter_config_clear (&cfg);
  g_free (dir);
  return 0;
}
