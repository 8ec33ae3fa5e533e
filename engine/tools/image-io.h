/* image-io.h - still images for the CLI and the tests: PNG, JPEG and PPM/PGM
 * decoded to 8-bit RGB the way PIL's Image.open(path).convert("RGB") does,
 * and RGB written back as PNG. Not part of the engine API. */
#ifndef CLE_IMAGE_IO_H
#define CLE_IMAGE_IO_H

#include <stdint.h>

#include "clip.h"

/* Loads the image at path, detected by its first bytes (not its name):
 * PNG (every colour type and bit depth: palette expanded, gray replicated,
 * alpha dropped, 16-bit colour reduced to its high byte and 16-bit gray
 * clipped to 255, as PIL does), baseline/progressive JPEG (gray or YCbCr),
 * and binary or ASCII PPM/PGM (P6, P5, P3, P2).
 *
 * On success *rgb is a malloc()ed buffer of height rows of 3 * width bytes
 * that the caller releases with free(), and the status is CLE_OK. On error
 * *rgb is NULL and the status is CLE_ERROR_IO (cannot open or read),
 * CLE_ERROR_FORMAT (corrupt or truncated file), CLE_ERROR_UNSUPPORTED (e.g. a
 * CMYK JPEG) or CLE_ERROR_OUT_OF_MEMORY, with err naming the file. */
int image_load_rgb (const char *path, uint8_t **rgb, int *width, int *height,
    ClipError *err);

/* Writes rgb (h rows of 3 * w bytes, tightly packed) as an 8-bit RGB PNG.
 * Returns CLE_OK, or CLE_ERROR_IO / CLE_ERROR_INVALID_ARGUMENT. */
int image_save_png (const char *path, const uint8_t *rgb, int w, int h,
    ClipError *err);

#endif
