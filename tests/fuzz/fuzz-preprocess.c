/* fuzz-preprocess.c - arbitrary frames: the first 8 bytes choose format,
 * size (up to 300x300), stride padding, colour matrix/range and output size;
 * the rest fills the planes (repeated as needed). */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "preprocess.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 9)
    return 0;
  ClipFrame f = { 0 };
  f.format = data[0] % (CLE_PIXEL_NV12 + 1);
  f.width = 1 + (data[1] | (data[2] & 1) << 8) % 300;
  f.height = 1 + (data[3] | (data[2] & 2) << 7) % 300;
  int pad = data[4] % 17;
  f.matrix = data[5] & 1;
  f.range = (data[5] >> 1) & 1;
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  cfg.resize_shortest_edge = cfg.crop_width = cfg.crop_height =
      8 + data[6] % 120;
  if (data[7] & 1) {            /* exact-size resize, as {"height","width"} */
    cfg.resize_height = cfg.crop_height;
    cfg.resize_width = cfg.crop_width;
  }
  cfg.do_center_crop = !(data[7] & 2);
  const uint8_t *payload = data + 8;
  size_t payload_size = size - 8;

  static const int bpp[] = { 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 1, 1, 1 };
  int n_planes = f.format == CLE_PIXEL_I420 ? 3
      : f.format == CLE_PIXEL_NV12 ? 2 : 1;
  int cw = (f.width + 1) / 2, ch = (f.height + 1) / 2;
  uint8_t *planes[3] = { NULL, NULL, NULL };
  for (int p = 0; p < n_planes; p++) {
    int row = p == 0 ? f.width * bpp[f.format]
        : f.format == CLE_PIXEL_NV12 ? 2 * cw : cw;
    int rows = p == 0 ? f.height : ch;
    f.strides[p] = row + pad;
    size_t n = (size_t) f.strides[p] * rows;
    planes[p] = malloc (n);
    for (size_t i = 0; i < n; i++)
      planes[p][i] = payload[i % payload_size];
    f.planes[p] = planes[p];
  }
  size_t n_out = (size_t) 3 * cfg.crop_width * cfg.crop_height;
  float *pixels = malloc (n_out * sizeof (float));
  uint8_t *crop = malloc (n_out);
  ClipPreprocessScratch *scratch = cle_preprocess_scratch_new ();
  ClipError err;
  cle_preprocess_frame (scratch, &cfg, &f, pixels, crop, &err);
  cle_preprocess_scratch_free (scratch);
  free (pixels);
  free (crop);
  for (int p = 0; p < n_planes; p++)
    free (planes[p]);
  return 0;
}
