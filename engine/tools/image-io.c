/* image-io.c - PNG (libpng), JPEG (libjpeg) and PPM/PGM files to 8-bit RGB,
 * matching PIL's open().convert("RGB") pixel for pixel; RGB to PNG. No colour
 * management: gAMA, iCCP and sBIT are ignored, as PIL ignores them. Library
 * errors longjmp back here and become a status, never an abort. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

#include "error.h"
#include "image-io.h"

/* Larger images are refused before anything is allocated for them. */
#define MAX_SIDE 65535
#define MAX_PIXELS (1 << 28)


static int
check_size (const char *path, long w, long h, ClipError *err)
{
  if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE
      || (long long) w * h > MAX_PIXELS)
    return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "'%s': image size %ldx%ld is outside 1x1 .. %dx%d (at most %d pixels)",
        path, w, h, MAX_SIDE, MAX_SIDE, MAX_PIXELS);
  return CLE_OK;
}

/* ------------------------------------------------------------------ PNG -- */

typedef struct {
  jmp_buf jmp;
  char message[200];
} PngErrorState;

static void
png_on_error (png_structp png, png_const_charp msg)
{
  PngErrorState *st = png_get_error_ptr (png);
  snprintf (st->message, sizeof st->message, "%s", msg);
  longjmp (st->jmp, 1);
}

static void
png_on_warning (png_structp png, png_const_charp msg)
{
  /* Warnings (bad ancillary chunk CRC, unknown chunk) do not change pixels. */
}

/* One decoded row (after palette and low-bit-depth gray expansion) to RGB.
 * PIL keeps the high byte of 16-bit colour samples ("RGB;16B") but opens
 * 16-bit gray as mode "I", whose conversion to RGB clips at 255. */
static void
png_row_to_rgb (uint8_t *dst, const uint8_t *src, int w, int channels,
    int depth16)
{
  int bps = depth16 ? 2 : 1;
  for (int x = 0; x < w; x++, src += channels * bps, dst += 3) {
    if (channels <= 2) {
      uint8_t v = src[0];
      if (depth16 && channels == 1)
        v = src[0] ? 255 : src[1];
      dst[0] = dst[1] = dst[2] = v;
    } else {
      dst[0] = src[0];
      dst[1] = src[bps];
      dst[2] = src[2 * bps];
    }
  }
}

static int
load_png (FILE *f, const char *path, uint8_t **rgb, int *width, int *height,
    ClipError *err)
{
  PngErrorState st = { .message = "" };
  png_structp png;
  png_infop info = NULL;
  uint8_t *volatile out = NULL;
  uint8_t *volatile rows_mem = NULL;
  png_bytep *volatile rows = NULL;
  int status;

  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &st, png_on_error,
      png_on_warning);
  if (png)
    info = png_create_info_struct (png);
  if (!png || !info) {
    png_destroy_read_struct (&png, NULL, NULL);
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY, "'%s': libpng init", path);
  }

  if (setjmp (st.jmp)) {
    status = cle_error_set (err, CLE_ERROR_FORMAT, "'%s': corrupt PNG: %s", path,
        st.message);
    goto done;
  }

  png_set_user_limits (png, MAX_SIDE, MAX_SIDE);
  png_init_io (png, f);
  png_read_info (png, info);

  png_uint_32 w, h;
  int depth, color_type, interlace;
  png_get_IHDR (png, info, &w, &h, &depth, &color_type, &interlace, NULL,
      NULL);
  status = check_size (path, w, h, err);
  if (status != CLE_OK)
    goto done;

  /* Expand what PIL expands; the 16-bit and alpha cases are handled per row
   * below because PIL treats 16-bit gray differently from 16-bit colour.
   * tRNS is never turned into alpha (convert("RGB") ignores it). */
  if (color_type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb (png);
  if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8)
    png_set_expand_gray_1_2_4_to_8 (png);
  png_set_interlace_handling (png);
  png_read_update_info (png, info);

  int channels = png_get_channels (png, info);
  int depth16 = png_get_bit_depth (png, info) == 16;
  size_t rowbytes = png_get_rowbytes (png, info);
  if (channels < 1 || channels > 4
      || rowbytes < (size_t) w * channels * (depth16 ? 2 : 1)) {
    status = cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "'%s': PNG decodes to %d channels of %zu bytes a row", path, channels,
        rowbytes);
    goto done;
  }

  out = malloc ((size_t) w * h * 3);
  rows_mem = malloc (rowbytes * h);
  rows = malloc (h * sizeof (png_bytep));
  if (!out || !rows_mem || !rows) {
    status = cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "'%s': %ux%u PNG", path, (unsigned) w, (unsigned) h);
    goto done;
  }
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = rows_mem + y * rowbytes;
  png_read_image (png, rows);
  png_read_end (png, NULL);

  for (png_uint_32 y = 0; y < h; y++)
    png_row_to_rgb (out + (size_t) y * w * 3, rows[y], w, channels, depth16);
  *rgb = out;
  out = NULL;
  *width = w;
  *height = h;
  status = CLE_OK;

done:
  png_destroy_read_struct (&png, &info, NULL);
  free (rows);
  free (rows_mem);
  free (out);
  return status;
}

/* ----------------------------------------------------------------- JPEG -- */

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jmp;
  int truncated;
} JpegErrorState;

static void
jpeg_on_error (j_common_ptr cinfo)
{
  JpegErrorState *st = (JpegErrorState *) cinfo->err;
  longjmp (st->jmp, 1);
}

/* Warnings are corrupt-data notices; PIL refuses a truncated file ("image
 * file is truncated") and accepts the rest, so only premature EOF counts. */
static void
jpeg_on_message (j_common_ptr cinfo, int level)
{
  JpegErrorState *st = (JpegErrorState *) cinfo->err;
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    st->truncated = 1;
}

static int
load_jpeg (FILE *f, const char *path, uint8_t **rgb, int *width, int *height,
    ClipError *err)
{
  struct jpeg_decompress_struct cinfo;
  JpegErrorState st;
  uint8_t *volatile out = NULL;
  uint8_t *volatile row = NULL;
  int status;

  cinfo.err = jpeg_std_error (&st.mgr);
  st.mgr.error_exit = jpeg_on_error;
  st.mgr.emit_message = jpeg_on_message;
  st.truncated = 0;
  if (setjmp (st.jmp)) {
    char msg[JMSG_LENGTH_MAX];
    st.mgr.format_message ((j_common_ptr) & cinfo, msg);
    status = cle_error_set (err, CLE_ERROR_FORMAT, "'%s': corrupt JPEG: %s", path,
        msg);
    goto done;
  }
  jpeg_create_decompress (&cinfo);
  jpeg_stdio_src (&cinfo, f);
  jpeg_read_header (&cinfo, TRUE);

  status = check_size (path, cinfo.image_width, cinfo.image_height, err);
  if (status != CLE_OK)
    goto done;
  int gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  if (!gray && cinfo.jpeg_color_space != JCS_YCbCr
      && cinfo.jpeg_color_space != JCS_RGB) {
    status = cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "'%s': JPEG colour space %d (CMYK/YCCK) is not supported", path,
        (int) cinfo.jpeg_color_space);
    goto done;
  }
  /* PIL decodes with libjpeg's defaults (islow IDCT, fancy upsampling). */
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress (&cinfo);

  int w = cinfo.output_width, h = cinfo.output_height;
  out = malloc ((size_t) w * h * 3);
  row = malloc ((size_t) w * cinfo.output_components);
  if (!out || !row) {
    status = cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY, "'%s': %dx%d JPEG", path,
        w, h);
    goto done;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t *dst = out + (size_t) cinfo.output_scanline * w * 3;
    JSAMPROW rows[1] = { row };
    jpeg_read_scanlines (&cinfo, rows, 1);
    if (gray) {
      for (int x = 0; x < w; x++)
        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else {
      memcpy (dst, row, (size_t) w * 3);
    }
  }
  if (st.truncated) {
    status = cle_error_set (err, CLE_ERROR_FORMAT, "'%s': truncated JPEG", path);
    goto done;
  }
  jpeg_finish_decompress (&cinfo);
  *rgb = out;
  out = NULL;
  *width = w;
  *height = h;
  status = CLE_OK;

done:
  jpeg_destroy_decompress (&cinfo);
  free (row);
  free (out);
  return status;
}

/* ------------------------------------------------------------------ PPM -- */

/* Reads the next header number, skipping whitespace and '#' comments. */
static int
pnm_number (FILE *f, long *value)
{
  int c = fgetc (f);
  for (;;) {
    if (c == '#') {
      while (c != EOF && c != '\n' && c != '\r')
        c = fgetc (f);
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
        || c == '\f') {
      c = fgetc (f);
    } else {
      break;
    }
  }
  if (c < '0' || c > '9')
    return 0;
  long v = 0;
  while (c >= '0' && c <= '9') {
    if (v > 100000000)
      return 0;
    v = v * 10 + (c - '0');
    c = fgetc (f);
  }
  *value = v;
  /* A header's last number is followed by exactly one whitespace byte, which
   * has just been consumed; anything else is not whitespace and is bad. */
  return c == EOF || c == ' ' || c == '\t' || c == '\n' || c == '\r'
      || c == '\v' || c == '\f';
}

/* P6/P3 (colour) and P5/P2 (gray) with maxval <= 255. A maxval other than
 * 255 is scaled as PIL 9 does: round(v / maxval * 255), ties to even. */
static int
load_pnm (FILE *f, const char *path, int kind, uint8_t **rgb, int *width,
    int *height, ClipError *err)
{
  long w, h, maxval;
  int colour = kind == '6' || kind == '3';
  int ascii = kind == '3' || kind == '2';
  if (!pnm_number (f, &w) || !pnm_number (f, &h) || !pnm_number (f, &maxval))
    return cle_error_set (err, CLE_ERROR_FORMAT, "'%s': bad P%c header", path,
        kind);
  int status = check_size (path, w, h, err);
  if (status != CLE_OK)
    return status;
  if (maxval < 1 || maxval > 255)
    return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "'%s': P%c maxval %ld, supported 1..255", path, kind, maxval);

  size_t n = (size_t) w * h * (colour ? 3 : 1);
  uint8_t *out = malloc ((size_t) w * h * 3);
  if (!out)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY, "'%s': %ldx%ld", path, w,
        h);
  uint8_t *samples = colour ? out : out + (size_t) w * h * 2;
  if (!ascii) {
    if (fread (samples, 1, n, f) != n) {
      free (out);
      return cle_error_set (err, CLE_ERROR_FORMAT, "'%s': truncated P%c raster",
          path, kind);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      long v;
      if (!pnm_number (f, &v) || v > maxval) {
        free (out);
        return cle_error_set (err, CLE_ERROR_FORMAT,
            "'%s': bad P%c sample %zu of %zu", path, kind, i, n);
      }
      samples[i] = v;
    }
  }
  if (maxval != 255) {
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
      lut[v] = v > maxval ? 255 : (uint8_t) nearbyint ((double) v / maxval
          * 255.0);
    for (size_t i = 0; i < n; i++)
      samples[i] = lut[samples[i]];
  }
  if (!colour) {
    /* Gray samples were read into the last third; expand front to back. */
    for (size_t i = 0; i < (size_t) w * h; i++)
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = samples[i];
  }
  *rgb = out;
  *width = w;
  *height = h;
  return CLE_OK;
}

/* --------------------------------------------------------------- public -- */

int
image_load_rgb (const char *path, uint8_t **rgb, int *width, int *height,
    ClipError *err)
{
  static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a,
    0x1a, 0x0a
  };
  uint8_t magic[8] = { 0 };
  int status;

  if (!path || !rgb || !width || !height)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "image_load_rgb: NULL argument");
  *rgb = NULL;
  FILE *f = fopen (path, "rb");
  if (!f)
    return cle_error_set (err, CLE_ERROR_IO, "'%s': %s", path, strerror (errno));
  size_t got = fread (magic, 1, sizeof magic, f);
  rewind (f);

  if (got == 8 && memcmp (magic, png_magic, 8) == 0) {
    status = load_png (f, path, rgb, width, height, err);
  } else if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8
      && magic[2] == 0xff) {
    status = load_jpeg (f, path, rgb, width, height, err);
  } else if (got >= 3 && magic[0] == 'P' && (magic[1] == '6'
          || magic[1] == '5' || magic[1] == '3' || magic[1] == '2')) {
    fseek (f, 2, SEEK_SET);
    status = load_pnm (f, path, magic[1], rgb, width, height, err);
  } else {
    status = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': not a PNG, JPEG or PPM/PGM file (first bytes %02x %02x %02x)",
        path, magic[0], magic[1], magic[2]);
  }
  fclose (f);
  return status;
}

int
image_save_png (const char *path, const uint8_t *rgb, int w, int h,
    ClipError *err)
{
  PngErrorState st = { .message = "" };
  png_structp png;
  png_infop info = NULL;
  FILE *volatile f = NULL;
  int status;

  if (!path || !rgb || w <= 0 || h <= 0)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "image_save_png: bad argument (path %s, size %dx%d)",
        path ? path : "NULL", w, h);
  f = fopen (path, "wb");
  if (!f)
    return cle_error_set (err, CLE_ERROR_IO, "'%s': %s", path, strerror (errno));
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &st, png_on_error,
      png_on_warning);
  if (png)
    info = png_create_info_struct (png);
  if (!png || !info) {
    png_destroy_write_struct (&png, NULL);
    fclose (f);
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY, "'%s': libpng init", path);
  }
  if (setjmp (st.jmp)) {
    status = cle_error_set (err, CLE_ERROR_IO, "'%s': writing PNG: %s", path,
        st.message);
    goto done;
  }
  png_init_io (png, f);
  png_set_IHDR (png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
      PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  for (int y = 0; y < h; y++)
    png_write_row (png, rgb + (size_t) y * w * 3);
  png_write_end (png, NULL);
  status = CLE_OK;

done:
  png_destroy_write_struct (&png, &info);
  if (fclose (f) != 0 && status == CLE_OK)
    status = cle_error_set (err, CLE_ERROR_IO, "'%s': %s", path, strerror (errno));
  return status;
}
