/* fuzz-image.c - arbitrary bytes as an image file for clip-tool's decoder
 * (PNG, JPEG, PPM/PGM by magic bytes). */
#include <stdlib.h>

#include "fuzz-util.h"
#include "image-io.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *path = fuzz_write_file ("image", data, size);
  uint8_t *rgb = NULL;
  int w, h;
  ClipError err;
  if (image_load_rgb (path, &rgb, &w, &h, &err) == 0)
    free (rgb);
  return 0;
}
