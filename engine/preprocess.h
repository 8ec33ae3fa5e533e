/* preprocess.h - frame view -> CLIP pixel values, as CLIPImageProcessor does
 * (internal to the engine). */
#ifndef CLE_PREPROCESS_H
#define CLE_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

/* What preprocessor_config.json says (defaults: the OpenAI values). */
typedef struct {
  int do_resize, do_center_crop, do_rescale, do_normalize;
  int resize_shortest_edge;      /* or, when resize_height > 0, an exact size */
  int resize_height, resize_width;
  int crop_height, crop_width;
  double rescale_factor;         /* 1/255 */
  float mean[3], std[3];
} ClipPreprocessConfig;

void cle_preprocess_config_init (ClipPreprocessConfig *cfg);

/* Scratch memory of one caller, grown only when a larger frame arrives. */
typedef struct ClipPreprocessScratch ClipPreprocessScratch;
ClipPreprocessScratch *cle_preprocess_scratch_new (void);
void cle_preprocess_scratch_free (ClipPreprocessScratch *scratch);

/* pixel_values: (3, crop_height, crop_width) floats; crop_rgb (optional):
 * (crop_height, crop_width, 3) bytes. Validates the frame (format, sizes,
 * strides, planes) and returns a status naming the bad value. */
int cle_preprocess_frame (ClipPreprocessScratch *scratch,
    const ClipPreprocessConfig *cfg, const ClipFrame *frame,
    float *pixel_values, uint8_t *crop_rgb, ClipError *err);

#endif
