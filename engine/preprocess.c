/* preprocess.c - ClipFrame (any ClipPixelFormat, any stride) -> CLIP pixel
 * values, bit-exact with Hugging Face CLIPImageProcessor's PIL path: RGB,
 * Pillow BICUBIC resize (Resample.c, two fixed-point passes), center crop with
 * zero padding, rescale and normalize in float32. Only the pixels the crop
 * needs are converted and filtered. No other filters, no reducing_gap.
 *
 * Colour: packed formats take R, G, B and drop alpha/padding (PIL's
 * convert("RGB")); GRAY8 gives R = G = B. I420/NV12 are defined here as
 *   Y' = Y - yoff, U' = U - 128, V' = V - 128 (chroma sample (x/2, y/2))
 *   R = clamp8 ((cy * Y' + crv * V'            + 32768) >> 16)
 *   G = clamp8 ((cy * Y' - cgu * U' - cgv * V' + 32768) >> 16)
 *   B = clamp8 ((cy * Y' + cbu * U'            + 32768) >> 16)
 * with >> an arithmetic (floor) shift and each coefficient round(65536 * c),
 * c from Kr, Kb (BT.601 0.299/0.114, BT.709 0.2126/0.0722), Kg = 1 - Kr - Kb:
 *   limited range: yoff 16, cy 255/219, chroma scale s = 255/224; full: 0, 1, 1
 *   crv = s 2 (1 - Kr), cbu = s 2 (1 - Kb), cgu = s 2 (1 - Kb) Kb / Kg,
 *   cgv = s 2 (1 - Kr) Kr / Kg.
 * This is round-to-nearest of the real-valued conversion up to the 16-bit
 * coefficients (|error| < 0.01 before rounding). Then the same RGB path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "preprocess.h"

/* Filter weights must be computed as Pillow's C code does, without fused
 * multiply-adds (GCC contracts them on aarch64 or with -march=haswell). */
#if defined(__clang__)
#pragma clang fp contract(off)
#define CLE_NO_FMA
#elif defined(__GNUC__)
#define CLE_NO_FMA __attribute__ ((optimize ("fp-contract=off")))
#else
#define CLE_NO_FMA
#endif

#define MAX_SIDE 16384
/* |(Y + chroma terms) >> 16| < 600 for every Y, U, V byte and matrix. */
#define CLIP16_BIAS 1024
/* Pillow: 32 - 8 (result) - 2 (overflow of negative lobes) */
#define PRECISION_BITS 22
/* Accumulators of one kernel call: LANES contiguous bytes, each the same
 * sample of LANES rows (horizontal pass, on a transposed block of input
 * rows) or LANES bytes of one row (vertical pass). */
#define LANES 32
/* Input columns converted per strip: the strip's part of the transposed
 * block (3 * LANES bytes a column) stays in L1 while LANES rows fill it. */
#define CONVERT_STRIP 128

/* The two passes are plain C written for the auto-vectorizer, cloned per
 * ISA (CLE_CLONES: AVX-512, AVX2, baseline; picked at load time). The
 * result is the same integer arithmetic either way. */
#include "ops/vector-math.h"

void
cle_preprocess_config_init (ClipPreprocessConfig *cfg)
{
  static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
  static const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

  memset (cfg, 0, sizeof *cfg);
  cfg->do_resize = cfg->do_center_crop = 1;
  cfg->do_rescale = cfg->do_normalize = 1;
  cfg->resize_shortest_edge = 224;
  cfg->crop_height = cfg->crop_width = 224;
  cfg->rescale_factor = 1.0 / 255.0;
  memcpy (cfg->mean, mean, sizeof mean);
  memcpy (cfg->std, std, sizeof std);
}

/* ------------------------------------------------------------- scratch -- */

/* Filter taps of the output samples [first, first + n) of one resize axis,
 * as Pillow's precompute_coeffs + normalize_coeffs_8bpc make them. */
typedef struct {
  int first, n, ksize;
  int *start, *count;           /* (n) first input sample, number of taps */
  int32_t *coef;                /* (n, ksize) */
  size_t cap_start, cap_count, cap_coef;
} Taps;

/* Everything that depends only on the frame size and the config. */
typedef struct {
  int width, height;
  int do_resize, do_center_crop;
  int shortest_edge, resize_height, resize_width, crop_height, crop_width;
} GeometryKey;

typedef struct {
  GeometryKey key;
  int resized_w, resized_h;
  int out_w, out_h;
  int left, top;                /* crop origin in the resized image, <0 pads */
  int x0, x1, y0, y1;           /* resized columns / rows inside the crop */
  int need_h, need_v;           /* Pillow skips a pass whose size is equal */
  int cx0, cx1, cy0, cy1;       /* input columns / rows the filters read */
  int padded;                   /* the crop reaches outside the image */
  Taps htaps, vtaps;
} Geometry;

struct ClipPreprocessScratch {
  Geometry geo;
  int geo_valid;

  /* normalization: pixel value of each byte value, per channel */
  int lut_valid;
  int lut_do_rescale, lut_do_normalize;
  double lut_rescale;
  float lut_mean[3], lut_std[3];
  float lut[3][256];

  /* YUV -> RGB terms, rounding constant folded into ty */
  int yuv_valid;
  ClipColorMatrix yuv_matrix;
  ClipColorRange yuv_range;
  int32_t ty[256], tr_v[256], tg_u[256], tg_v[256], tb_u[256];
  /* the same as coefficients, for the SIMD conversion: ty[v] = cy * (v -
   * yoff) + 32768, tr_v[v] = crv * (v - 128), tg_u[v] = -cgu * (v - 128),
   * tg_v[v] = -cgv * (v - 128), tb_u[v] = cbu * (v - 128) */
  int32_t cy, yoff, crv, cgu, cgv, cbu;
  /* clamp8 of v >> 16 is clip16[(v >> 16) + CLIP16_BIAS] */
  uint8_t clip16[2 * CLIP16_BIAS];

  uint8_t *block;               /* (3, cx1 - cx0, LANES) transposed rows */
  size_t cap_block;
  uint8_t *tmp;                 /* (cy1 - cy0, tmp_stride) after pass one */
  size_t cap_tmp, tmp_stride;
  uint8_t *crop;                /* (out_h, out_w, 3) when the caller has none */
  size_t cap_crop;
  double *wbuf;                 /* (ksize) filter weights being built */
  size_t cap_wbuf;
};

ClipPreprocessScratch *
cle_preprocess_scratch_new (void)
{
  return calloc (1, sizeof (ClipPreprocessScratch));
}

void
cle_preprocess_scratch_free (ClipPreprocessScratch *s)
{
  if (!s)
    return;
  Taps *taps[2] = { &s->geo.htaps, &s->geo.vtaps };
  for (int i = 0; i < 2; i++) {
    free (taps[i]->start);
    free (taps[i]->count);
    free (taps[i]->coef);
  }
  free (s->block);
  free (s->tmp);
  free (s->crop);
  free (s->wbuf);
  free (s);
}

/* Grows *buf to at least n elements of size elem; never shrinks. New memory
 * is zeroed so that lanes read past the data are always initialized. */
static int
grow (void **buf, size_t *cap, size_t n, size_t elem)
{
  if (n <= *cap)
    return 1;
  void *p = realloc (*buf, n * elem);
  if (!p)
    return 0;
  memset ((char *) p + *cap * elem, 0, (n - *cap) * elem);
  *buf = p;
  *cap = n;
  return 1;
}

/* ---------------------------------------------------------- filter taps -- */

/* Pillow's bicubic_filter, a = -0.5, same operation order. */
CLE_NO_FMA static double
bicubic (double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* Taps of outputs [first, first + n) of an in_size -> out_size resize, as
 * Pillow's precompute_coeffs (box = whole image) then normalize_coeffs_8bpc.
 * Each output's taps depend on its index alone, so a sub-range is exact. */
CLE_NO_FMA static int
taps_build (ClipPreprocessScratch *s, Taps *t, int in_size, int out_size,
    int first, int n)
{
  double scale = (double) in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;
  int ksize = (int) ceil (support) * 2 + 1;
  double ss = 1.0 / filterscale;

  if (!grow ((void **) &t->start, &t->cap_start, n, sizeof (int))
      || !grow ((void **) &t->count, &t->cap_count, n, sizeof (int))
      || !grow ((void **) &t->coef, &t->cap_coef, (size_t) n * ksize,
          sizeof (int32_t))
      || !grow ((void **) &s->wbuf, &s->cap_wbuf, ksize, sizeof (double)))
    return 0;
  t->first = first;
  t->n = n;
  t->ksize = ksize;

  double *w = s->wbuf;
  for (int i = 0; i < n; i++) {
    int xx = first + i;
    double center = (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = (int) (center - support + 0.5);
    if (xmin < 0)
      xmin = 0;
    int xmax = (int) (center + support + 0.5);
    if (xmax > in_size)
      xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      w[x] = bicubic ((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t *k = t->coef + (size_t) i * ksize;
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS))
          : (int) (0.5 + v * (1 << PRECISION_BITS));
    }
    t->start[i] = xmin;
    t->count[i] = xmax;
  }
  return 1;
}

/* ------------------------------------------------------------- geometry -- */

static int
floor_div2 (int v)
{
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

static int
geometry_update (ClipPreprocessScratch *s, const ClipPreprocessConfig *cfg,
    int width, int height, ClipError *err)
{
  GeometryKey key = {
    .width = width, .height = height,
    .do_resize = cfg->do_resize != 0, .do_center_crop = cfg->do_center_crop != 0,
    .shortest_edge = cfg->resize_shortest_edge,
    .resize_height = cfg->resize_height, .resize_width = cfg->resize_width,
    .crop_height = cfg->crop_height, .crop_width = cfg->crop_width,
  };
  Geometry *g = &s->geo;
  if (s->geo_valid && memcmp (&key, &g->key, sizeof key) == 0)
    return CLE_OK;
  s->geo_valid = 0;
  g->key = key;

  /* HF get_resize_output_image_size: the short side becomes S, the long one
   * int(S * long / short) in float64; or an exact {height, width}. */
  if (!key.do_resize) {
    g->resized_w = width;
    g->resized_h = height;
  } else if (key.resize_height > 0) {
    g->resized_w = key.resize_width;
    g->resized_h = key.resize_height;
  } else if (width <= height) {
    g->resized_w = key.shortest_edge;
    g->resized_h = (int) ((double) key.shortest_edge * height / width);
  } else {
    g->resized_h = key.shortest_edge;
    g->resized_w = (int) ((double) key.shortest_edge * width / height);
  }
  if (g->resized_w > 4 * MAX_SIDE || g->resized_h > 4 * MAX_SIDE)
    return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
        "preprocess: frame %dx%d resizes to %dx%d, larger than %d",
        width, height, g->resized_w, g->resized_h, 4 * MAX_SIDE);

  /* HF center_crop: top = (H - h) // 2 (Python floor); when the image is
   * smaller it is zero-padded by ceil((h - H) / 2) first, which lands on the
   * same formula with out-of-image rows reading as 0. */
  if (key.do_center_crop) {
    g->out_w = key.crop_width;
    g->out_h = key.crop_height;
    g->left = floor_div2 (g->resized_w - g->out_w);
    g->top = floor_div2 (g->resized_h - g->out_h);
  } else {
    if (g->resized_w != key.crop_width || g->resized_h != key.crop_height)
      return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
          "preprocess: do_center_crop is off and frame %dx%d resizes to "
          "%dx%d, but the model input is %dx%d", width, height,
          g->resized_w, g->resized_h, key.crop_width, key.crop_height);
    g->out_w = g->resized_w;
    g->out_h = g->resized_h;
    g->left = g->top = 0;
  }
  g->x0 = g->left > 0 ? g->left : 0;
  g->y0 = g->top > 0 ? g->top : 0;
  g->x1 = g->left + g->out_w < g->resized_w ? g->left + g->out_w
      : g->resized_w;
  g->y1 = g->top + g->out_h < g->resized_h ? g->top + g->out_h
      : g->resized_h;
  g->padded = g->left < 0 || g->top < 0 || g->x1 - g->x0 < g->out_w
      || g->y1 - g->y0 < g->out_h;

  g->need_h = g->resized_w != width;
  g->need_v = g->resized_h != height;
  if (g->need_h) {
    if (!taps_build (s, &g->htaps, width, g->resized_w, g->x0,
            g->x1 - g->x0))
      goto oom;
    g->cx0 = g->htaps.start[0];
    g->cx1 = g->htaps.start[g->htaps.n - 1] + g->htaps.count[g->htaps.n - 1];
  } else {
    g->cx0 = g->x0;
    g->cx1 = g->x1;
  }
  if (g->need_v) {
    if (!taps_build (s, &g->vtaps, height, g->resized_h, g->y0,
            g->y1 - g->y0))
      goto oom;
    g->cy0 = g->vtaps.start[0];
    g->cy1 = g->vtaps.start[g->vtaps.n - 1] + g->vtaps.count[g->vtaps.n - 1];
  } else {
    g->cy0 = g->y0;
    g->cy1 = g->y1;
  }

  /* Pass-one rows, padded to whole LANES so the vertical pass reads full
   * vectors; the horizontal pass needs the columns of LANES rows. */
  s->tmp_stride = ((size_t) (g->x1 - g->x0) * 3 + LANES - 1) / LANES * LANES;
  if (!grow ((void **) &s->tmp, &s->cap_tmp,
          s->tmp_stride * (g->cy1 - g->cy0 + 1), 1)
      || !grow ((void **) &s->block, &s->cap_block,
          (size_t) (g->cx1 - g->cx0) * LANES * 3, 1)
      || !grow ((void **) &s->crop, &s->cap_crop,
          (size_t) g->out_w * g->out_h * 3, 1))
    goto oom;
  s->geo_valid = 1;
  return CLE_OK;

oom:
  return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
      "preprocess: scratch for frame %dx%d -> %dx%d", width, height,
      g->resized_w, g->resized_h);
}

/* --------------------------------------------------------------- colour -- */

static void
yuv_tables_update (ClipPreprocessScratch *s, ClipColorMatrix matrix,
    ClipColorRange range)
{
  if (s->yuv_valid && s->yuv_matrix == matrix && s->yuv_range == range)
    return;
  double kr = matrix == CLE_MATRIX_BT709 ? 0.2126 : 0.299;
  double kb = matrix == CLE_MATRIX_BT709 ? 0.0722 : 0.114;
  double kg = 1.0 - kr - kb;
  int limited = range == CLE_RANGE_LIMITED;
  double ys = limited ? 255.0 / 219.0 : 1.0;
  double cs = limited ? 255.0 / 224.0 : 1.0;
  int yoff = limited ? 16 : 0;
  int32_t cy = lround (65536 * ys);
  int32_t crv = lround (65536 * cs * 2 * (1 - kr));
  int32_t cbu = lround (65536 * cs * 2 * (1 - kb));
  int32_t cgu = lround (65536 * cs * 2 * (1 - kb) * kb / kg);
  int32_t cgv = lround (65536 * cs * 2 * (1 - kr) * kr / kg);
  s->cy = cy;
  s->yoff = yoff;
  s->crv = crv;
  s->cgu = cgu;
  s->cgv = cgv;
  s->cbu = cbu;
  for (int v = 0; v < 256; v++) {
    s->ty[v] = cy * (v - yoff) + 32768;
    s->tr_v[v] = crv * (v - 128);
    s->tg_u[v] = -cgu * (v - 128);
    s->tg_v[v] = -cgv * (v - 128);
    s->tb_u[v] = cbu * (v - 128);
  }
  for (int v = 0; v < 2 * CLIP16_BIAS; v++)
    s->clip16[v] = v < CLIP16_BIAS ? 0 : v > CLIP16_BIAS + 255 ? 255
        : v - CLIP16_BIAS;
  s->yuv_matrix = matrix;
  s->yuv_range = range;
  s->yuv_valid = 1;
}

/* One YUV pixel: luma term l (ty), chroma terms of R, G, B. */
static inline __attribute__ ((always_inline)) void
put_yuv (uint8_t *dst, size_t cs, const uint8_t *clip, int32_t l, int32_t r,
    int32_t g, int32_t b)
{
  dst[0] = clip[(l + r) >> 16];
  dst[cs] = clip[(l + g) >> 16];
  dst[2 * cs] = clip[(l + b) >> 16];
}

/* Byte offsets of R, G, B and bytes per pixel of the packed formats. */
static int
packed_layout (ClipPixelFormat f, int *r, int *g, int *b)
{
  switch (f) {
    case CLE_PIXEL_RGB: *r = 0; *g = 1; *b = 2; return 3;
    case CLE_PIXEL_BGR: *r = 2; *g = 1; *b = 0; return 3;
    case CLE_PIXEL_RGBA: case CLE_PIXEL_RGBX: *r = 0; *g = 1; *b = 2; return 4;
    case CLE_PIXEL_BGRA: case CLE_PIXEL_BGRX: *r = 2; *g = 1; *b = 0; return 4;
    case CLE_PIXEL_ARGB: case CLE_PIXEL_XRGB: *r = 1; *g = 2; *b = 3; return 4;
    case CLE_PIXEL_ABGR: case CLE_PIXEL_XBGR: *r = 3; *g = 2; *b = 1; return 4;
    case CLE_PIXEL_GRAY8: *r = 0; *g = 0; *b = 0; return 1;
    default: return 0;
  }
}

/* Input row y, columns [cx0, cx1), as RGB into dst: pixel i at
 * dst[i * px_step], its G and B cs and 2 * cs bytes further (row-major RGB:
 * 3, 1; transposed block: LANES, plane size). */
static inline __attribute__ ((always_inline)) void
convert_row (const ClipPreprocessScratch *s, const ClipFrame *f, int y,
    int cx0, int cx1, uint8_t *dst, const int px_step, const size_t cs)
{
  const uint8_t *row = f->planes[0] + (size_t) y * f->strides[0];

  if (f->format == CLE_PIXEL_I420 || f->format == CLE_PIXEL_NV12) {
    const uint8_t *u, *v;
    int cstep;
    if (f->format == CLE_PIXEL_I420) {
      u = f->planes[1] + (size_t) (y >> 1) * f->strides[1];
      v = f->planes[2] + (size_t) (y >> 1) * f->strides[2];
      cstep = 1;
    } else {
      u = f->planes[1] + (size_t) (y >> 1) * f->strides[1];
      v = u + 1;
      cstep = 2;
    }
    /* pixel pairs (2j, 2j + 1) share chroma sample j */
    const uint8_t *clip = s->clip16 + CLIP16_BIAS;
    for (int x = cx0; x < cx1;) {
      int c = (x >> 1) * cstep;
      int32_t r = s->tr_v[v[c]], b = s->tb_u[u[c]];
      int32_t g = s->tg_u[u[c]] + s->tg_v[v[c]];
      put_yuv (dst, cs, clip, s->ty[row[x]], r, g, b);
      dst += px_step;
      if (!(x & 1) && x + 1 < cx1) {
        put_yuv (dst, cs, clip, s->ty[row[x + 1]], r, g, b);
        dst += px_step;
        x++;
      }
      x++;
    }
    return;
  }

  int ro = 0, go = 0, bo = 0;
  int bpp = packed_layout (f->format, &ro, &go, &bo);
  const uint8_t *p = row + (size_t) cx0 * bpp;
  if (bpp == 3 && ro == 0) {
    for (int x = cx0; x < cx1; x++, p += 3, dst += px_step) {
      dst[0] = p[0];
      dst[cs] = p[1];
      dst[2 * cs] = p[2];
    }
  } else {
    for (int x = cx0; x < cx1; x++, p += bpp, dst += px_step) {
      dst[0] = p[ro];
      dst[cs] = p[go];
      dst[2 * cs] = p[bo];
    }
  }
}

/* Rows y (even) and y + 1 of an I420/NV12 frame share their chroma row;
 * converted together into the transposed block (channel planes cs bytes
 * apart, LANES bytes per column), their bytes are adjacent: one 16-bit
 * store per channel and pixel pair, chroma terms once per 2x2 pixels. */
static inline __attribute__ ((always_inline)) void
convert_yuv_row_pair (const ClipPreprocessScratch *s, const ClipFrame *f,
    int y, int cx0, int cx1, uint8_t *dst, const size_t cs)
{
  const uint8_t *row0 = f->planes[0] + (size_t) y * f->strides[0];
  const uint8_t *row1 = row0 + f->strides[0];
  const uint8_t *u = f->planes[1] + (size_t) (y >> 1) * f->strides[1];
  const uint8_t *v;
  int cstep;
  if (f->format == CLE_PIXEL_I420) {
    v = f->planes[2] + (size_t) (y >> 1) * f->strides[2];
    cstep = 1;
  } else {
    v = u + 1;
    cstep = 2;
  }
  const uint8_t *clip = s->clip16 + CLIP16_BIAS;
  for (int x = cx0; x < cx1; x++, dst += LANES) {
    int c = (x >> 1) * cstep;
    int32_t r = s->tr_v[v[c]], b = s->tb_u[u[c]];
    int32_t g = s->tg_u[u[c]] + s->tg_v[v[c]];
    int32_t l0 = s->ty[row0[x]], l1 = s->ty[row1[x]];
    uint16_t pr = clip[(l0 + r) >> 16] | clip[(l1 + r) >> 16] << 8;
    uint16_t pg = clip[(l0 + g) >> 16] | clip[(l1 + g) >> 16] << 8;
    uint16_t pb = clip[(l0 + b) >> 16] | clip[(l1 + b) >> 16] << 8;
    memcpy (dst, &pr, 2);
    memcpy (dst + cs, &pg, 2);
    memcpy (dst + 2 * cs, &pb, 2);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CLE_HAVE_YUV_AVX512 1
#include <immintrin.h>

#define ATTR512 __attribute__ ((target ("avx512f,avx512bw,avx512vl")))

/* 16 chroma samples for pixels x0 .. x0 + 15 of a chroma row (sample
 * (x >> 1) * step + offset), as int32 lanes minus 128. */
static inline __attribute__ ((always_inline, target ("avx512f,avx512bw,avx512vl")))
__m512i
chroma16 (const uint8_t *row, int x0, int n, int step, int offset)
{
  /* the samples x0 >> 1 .. (x0 + n - 1) >> 1: at most 9 (18 bytes NV12) */
  const int c0 = x0 >> 1, nc = ((x0 + n - 1) >> 1) - c0 + 1;
  const __mmask32 m = (__mmask32) ((1ull << (nc * step)) - 1);
  __m256i raw = _mm256_maskz_loadu_epi8 (m, row + (size_t) c0 * step);
  /* lane i takes byte ((x0 + i) >> 1 - c0) * step + offset */
  const __m512i lane = _mm512_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      11, 12, 13, 14, 15);
  __m512i idx = _mm512_sub_epi32 (_mm512_srli_epi32 (_mm512_add_epi32 (lane,
              _mm512_set1_epi32 (x0)), 1), _mm512_set1_epi32 (c0));
  idx = _mm512_add_epi32 (_mm512_mullo_epi32 (idx, _mm512_set1_epi32 (step)),
      _mm512_set1_epi32 (offset));
  /* bytes 0..31 of raw as int32 in two halves, picked by idx (< 32) */
  const __m512i lo = _mm512_cvtepu8_epi32 (_mm256_castsi256_si128 (raw));
  const __m512i hi = _mm512_cvtepu8_epi32 (_mm256_extracti128_si256 (raw, 1));
  return _mm512_sub_epi32 (_mm512_permutex2var_epi32 (lo, idx, hi),
      _mm512_set1_epi32 (128));
}

/* clamp8 (v >> 16), as clip16 */
static inline __attribute__ ((always_inline, target ("avx512f,avx512bw,avx512vl")))
__m512i
clamp16 (__m512i v)
{
  v = _mm512_srai_epi32 (v, 16);
  return _mm512_min_epi32 (_mm512_max_epi32 (v, _mm512_setzero_si512 ()),
      _mm512_set1_epi32 (255));
}

/* Rows y .. y + 3 (y even) of an I420/NV12 frame, columns [cx0, cx1), into
 * the transposed block like convert_yuv_row_pair twice: the four bytes of
 * a column and channel are adjacent, so 16 columns are one 32-bit scatter.
 * The same integer arithmetic as the tables. */
ATTR512 static void
convert_yuv_rows4_avx512 (const ClipPreprocessScratch *s, const ClipFrame *f,
    int y, int cx0, int cx1, uint8_t *dst, const size_t cs)
{
  const int nv12 = f->format == CLE_PIXEL_NV12, step = nv12 ? 2 : 1;
  const uint8_t *yr[4], *ur[2], *vr[2];
  for (int i = 0; i < 4; i++)
    yr[i] = f->planes[0] + (size_t) (y + i) * f->strides[0];
  for (int i = 0; i < 2; i++) {
    ur[i] = f->planes[1] + (size_t) ((y >> 1) + i) * f->strides[1];
    vr[i] = nv12 ? ur[i] : f->planes[2] + (size_t) ((y >> 1) + i)
        * f->strides[2];
  }
  const __m512i cy = _mm512_set1_epi32 (s->cy);
  const __m512i l0 = _mm512_set1_epi32 (32768 - s->cy * s->yoff);
  const __m512i crv = _mm512_set1_epi32 (s->crv);
  const __m512i cgu = _mm512_set1_epi32 (s->cgu);
  const __m512i cgv = _mm512_set1_epi32 (s->cgv);
  const __m512i cbu = _mm512_set1_epi32 (s->cbu);
  const __m512i index = _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, 2, 3,
          4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32 (LANES));
  for (int x = cx0; x < cx1; x += 16) {
    const int n = cx1 - x < 16 ? cx1 - x : 16;
    const __mmask16 m = (__mmask16) ((1u << n) - 1);
    __m512i out[3] = { _mm512_setzero_si512 (), _mm512_setzero_si512 (),
      _mm512_setzero_si512 () };
    for (int p = 0; p < 2; p++) {
      const __m512i u = chroma16 (ur[p], x, n, step, 0);
      const __m512i v = chroma16 (vr[p], x, n, step, nv12);
      const __m512i r = _mm512_mullo_epi32 (crv, v);
      const __m512i g = _mm512_sub_epi32 (_mm512_setzero_si512 (),
          _mm512_add_epi32 (_mm512_mullo_epi32 (cgu, u),
              _mm512_mullo_epi32 (cgv, v)));
      const __m512i b = _mm512_mullo_epi32 (cbu, u);
      for (int i = 0; i < 2; i++) {
        const int row = 2 * p + i;
        const __m512i yv = _mm512_cvtepu8_epi32 (_mm_maskz_loadu_epi8 (m,
                yr[row] + x));
        const __m512i l = _mm512_add_epi32 (_mm512_mullo_epi32 (cy, yv), l0);
        out[0] = _mm512_or_si512 (out[0], _mm512_slli_epi32 (clamp16
                (_mm512_add_epi32 (l, r)), 8 * row));
        out[1] = _mm512_or_si512 (out[1], _mm512_slli_epi32 (clamp16
                (_mm512_add_epi32 (l, g)), 8 * row));
        out[2] = _mm512_or_si512 (out[2], _mm512_slli_epi32 (clamp16
                (_mm512_add_epi32 (l, b)), 8 * row));
      }
    }
    uint8_t *d = dst + (size_t) (x - cx0) * LANES;
    for (int c = 0; c < 3; c++)
      _mm512_mask_i32scatter_epi32 (d + c * cs, m, index, out[c], 1);
  }
}
#endif

/* ------------------------------------------------------------- resample -- */

static inline uint8_t
clip8 (int32_t acc)
{
  int32_t v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* acc[l] = 0.5 + sum_t src[t * step + l] * k[t] in PRECISION_BITS fixed point,
 * the inner sum of both Pillow passes; exact in int32 as in Pillow. */
static inline __attribute__ ((always_inline)) void
sum_taps (int32_t *restrict acc, const uint8_t *restrict src, size_t step,
    const int32_t *restrict k, int n)
{
  for (int l = 0; l < LANES; l++)
    acc[l] = 1 << (PRECISION_BITS - 1);
  for (int t = 0; t < n; t++, src += step) {
    int32_t kt = k[t];
    for (int l = 0; l < LANES; l++)
      acc[l] += src[l] * kt;
  }
}

/* Pass one (ImagingResampleHorizontal_8bpc) for the input rows [cy0, cy1):
 * row y goes to dst + (y - cy0) * dst_stride, outputs x0 .. x1 - 1. Blocks
 * of LANES rows are converted into the transposed block, channel planes of
 * (column, row), so that every tap is one contiguous vector. */
CLE_CLONES static void
resample_horizontal (ClipPreprocessScratch *s, const ClipFrame *f,
    uint8_t *dst, size_t dst_stride)
{
  const Geometry *g = &s->geo;
  const Taps *t = &g->htaps;
  size_t plane = (size_t) (g->cx1 - g->cx0) * LANES;
  int yuv = f->format == CLE_PIXEL_I420 || f->format == CLE_PIXEL_NV12;

#ifdef CLE_HAVE_YUV_AVX512
  const int yuv4 = yuv && __builtin_cpu_supports ("avx512f")
      && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512vl");
#endif
  for (int y = g->cy0; y < g->cy1; y += LANES) {
    int n_rows = g->cy1 - y < LANES ? g->cy1 - y : LANES;
    for (int xs = g->cx0; xs < g->cx1; xs += CONVERT_STRIP) {
      int xe = g->cx1 - xs < CONVERT_STRIP ? g->cx1 : xs + CONVERT_STRIP;
      uint8_t *d = s->block + (size_t) (xs - g->cx0) * LANES;
      for (int r = 0; r < n_rows; r++) {
#ifdef CLE_HAVE_YUV_AVX512
        if (yuv4 && !((y + r) & 1) && r + 3 < n_rows) {
          convert_yuv_rows4_avx512 (s, f, y + r, xs, xe, d + r, plane);
          r += 3;
          continue;
        }
#endif
        if (yuv && !((y + r) & 1) && r + 1 < n_rows) {
          convert_yuv_row_pair (s, f, y + r, xs, xe, d + r, plane);
          r++;
        } else {
          convert_row (s, f, y + r, xs, xe, d + r, LANES, plane);
        }
      }
    }
    uint8_t *drow = dst + (size_t) (y - g->cy0) * dst_stride;
    for (int i = 0; i < t->n; i++) {
      const uint8_t *src = s->block + (size_t) (t->start[i] - g->cx0) * LANES;
      const int32_t *k = t->coef + (size_t) i * t->ksize;
      for (int c = 0; c < 3; c++) {
        int32_t acc[LANES];
        uint8_t out[LANES];
        sum_taps (acc, src + c * plane, LANES, k, t->count[i]);
        for (int r = 0; r < LANES; r++)       /* vectorized */
          out[r] = clip8 (acc[r]);
        uint8_t *d = drow + i * 3 + c;
        for (int r = 0; r < n_rows; r++, d += dst_stride)
          *d = out[r];
      }
    }
  }
}

/* Pass two (ImagingResampleVertical_8bpc): rows of src (first one = input
 * row cy0, stride src_stride, len bytes used) to the crop rows y0 .. y1 - 1
 * at dst (stride dst_stride). */
CLE_CLONES static void
resample_vertical (const ClipPreprocessScratch *s, const uint8_t *src,
    size_t src_stride, int len, uint8_t *dst, size_t dst_stride)
{
  const Geometry *g = &s->geo;
  const Taps *t = &g->vtaps;

  for (int i = 0; i < t->n; i++, dst += dst_stride) {
    const uint8_t *rows = src + (size_t) (t->start[i] - g->cy0) * src_stride;
    const int32_t *k = t->coef + (size_t) i * t->ksize;
    for (int off = 0; off < len; off += LANES) {
      int32_t acc[LANES];
      sum_taps (acc, rows + off, src_stride, k, t->count[i]);
      int m = len - off < LANES ? len - off : LANES;
      for (int l = 0; l < m; l++)
        dst[off + l] = clip8 (acc[l]);
    }
  }
}

/* ----------------------------------------------------------- validation -- */

static const char *
format_name (ClipPixelFormat f)
{
  static const char *names[] = { "RGB", "BGR", "RGBA", "BGRA", "ARGB", "ABGR",
    "RGBx", "BGRx", "xRGB", "xBGR", "GRAY8", "I420", "NV12"
  };
  return (unsigned) f < sizeof names / sizeof names[0] ? names[f] : "?";
}

static int
validate_frame (const ClipFrame *f, ClipError *err)
{
  if ((unsigned) f->format > CLE_PIXEL_NV12)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "frame format %d is not a ClipPixelFormat (0..%d)", (int) f->format,
        (int) CLE_PIXEL_NV12);
  const char *name = format_name (f->format);
  if (f->width <= 0 || f->height <= 0 || f->width > MAX_SIDE
      || f->height > MAX_SIDE)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "%s frame size %dx%d, expected 1x1 .. %dx%d", name, f->width,
        f->height, MAX_SIDE, MAX_SIDE);

  int n_planes = 1;
  int row_bytes[3] = { 0 };
  int cw = (f->width + 1) / 2;
  int ro = 0, go = 0, bo = 0;
  if (f->format == CLE_PIXEL_I420) {
    n_planes = 3;
    row_bytes[0] = f->width;
    row_bytes[1] = row_bytes[2] = cw;
  } else if (f->format == CLE_PIXEL_NV12) {
    n_planes = 2;
    row_bytes[0] = f->width;
    row_bytes[1] = 2 * cw;
  } else {
    row_bytes[0] = f->width * packed_layout (f->format, &ro, &go, &bo);
  }
  for (int p = 0; p < n_planes; p++) {
    if (!f->planes[p])
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "%s frame %dx%d: plane %d is NULL", name, f->width, f->height, p);
    if (f->strides[p] < row_bytes[p])
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "%s frame %dx%d: stride %d of plane %d is smaller than its row of "
          "%d bytes", name, f->width, f->height, f->strides[p], p,
          row_bytes[p]);
  }
  if (n_planes > 1) {
    if ((unsigned) f->matrix > CLE_MATRIX_BT709)
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "%s frame: colour matrix %d is not a ClipColorMatrix", name,
          (int) f->matrix);
    if ((unsigned) f->range > CLE_RANGE_FULL)
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "%s frame: colour range %d is not a ClipColorRange", name,
          (int) f->range);
  }
  return CLE_OK;
}

static int
validate_config (const ClipPreprocessConfig *c, ClipError *err)
{
  if (c->crop_width <= 0 || c->crop_height <= 0 || c->crop_width > MAX_SIDE
      || c->crop_height > MAX_SIDE)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "preprocess config: crop size %dx%d, expected 1x1 .. %dx%d",
        c->crop_width, c->crop_height, MAX_SIDE, MAX_SIDE);
  if (c->do_resize && c->resize_height > 0) {
    if (c->resize_width <= 0 || c->resize_width > MAX_SIDE
        || c->resize_height > MAX_SIDE)
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "preprocess config: resize size %dx%d, expected 1x1 .. %dx%d",
          c->resize_width, c->resize_height, MAX_SIDE, MAX_SIDE);
  } else if (c->do_resize && (c->resize_shortest_edge <= 0
          || c->resize_shortest_edge > MAX_SIDE)) {
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "preprocess config: shortest_edge %d, expected 1 .. %d",
        c->resize_shortest_edge, MAX_SIDE);
  }
  for (int i = 0; i < 3; i++)
    if (c->do_normalize && !(c->std[i] != 0.0f))
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "preprocess config: image_std[%d] is %g", i, c->std[i]);
  return CLE_OK;
}

/* ----------------------------------------------------------------- main -- */

/* HF rescale: float32(u8 * factor) computed in float64; normalize:
 * (x - float32(mean)) / float32(std) in float32. One table per channel. */
static void
lut_update (ClipPreprocessScratch *s, const ClipPreprocessConfig *c)
{
  if (s->lut_valid && s->lut_do_rescale == c->do_rescale
      && s->lut_do_normalize == c->do_normalize
      && s->lut_rescale == c->rescale_factor
      && memcmp (s->lut_mean, c->mean, sizeof c->mean) == 0
      && memcmp (s->lut_std, c->std, sizeof c->std) == 0)
    return;
  for (int ch = 0; ch < 3; ch++) {
    for (int v = 0; v < 256; v++) {
      float x = c->do_rescale ? (float) (v * c->rescale_factor) : (float) v;
      if (c->do_normalize)
        x = (x - c->mean[ch]) / c->std[ch];
      s->lut[ch][v] = x;
    }
  }
  s->lut_do_rescale = c->do_rescale;
  s->lut_do_normalize = c->do_normalize;
  s->lut_rescale = c->rescale_factor;
  memcpy (s->lut_mean, c->mean, sizeof c->mean);
  memcpy (s->lut_std, c->std, sizeof c->std);
  s->lut_valid = 1;
}

int
cle_preprocess_frame (ClipPreprocessScratch *s,
    const ClipPreprocessConfig *cfg, const ClipFrame *frame,
    float *pixel_values, uint8_t *crop_rgb, ClipError *err)
{
  if (!s || !cfg || !frame)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "preprocess: NULL %s", !s ? "scratch" : !cfg ? "config" : "frame");
  int status = validate_frame (frame, err);
  if (status == CLE_OK)
    status = validate_config (cfg, err);
  if (status == CLE_OK)
    status = geometry_update (s, cfg, frame->width, frame->height, err);
  if (status != CLE_OK)
    return status;
  if (frame->format == CLE_PIXEL_I420 || frame->format == CLE_PIXEL_NV12)
    yuv_tables_update (s, frame->matrix, frame->range);
  lut_update (s, cfg);

  const Geometry *g = &s->geo;
  uint8_t *crop = crop_rgb ? crop_rgb : s->crop;
  size_t crop_stride = (size_t) g->out_w * 3;
  if (g->padded)
    memset (crop, 0, crop_stride * g->out_h);
  /* the crop pixel of resized (x0, y0) */
  uint8_t *inside = crop + (size_t) (g->y0 - g->top) * crop_stride
      + (size_t) (g->x0 - g->left) * 3;
  int len = (g->x1 - g->x0) * 3;

  /* Pass one writes straight into the crop when there is no pass two; with
   * neither pass the converted pixels are the crop. */
  if (g->need_h && g->need_v) {
    resample_horizontal (s, frame, s->tmp, s->tmp_stride);
    resample_vertical (s, s->tmp, s->tmp_stride, len, inside, crop_stride);
  } else if (g->need_h) {
    resample_horizontal (s, frame, inside, crop_stride);
  } else if (g->need_v) {
    for (int y = g->cy0; y < g->cy1; y++)
      convert_row (s, frame, y, g->cx0, g->cx1,
          s->tmp + (size_t) (y - g->cy0) * s->tmp_stride, 3, 1);
    resample_vertical (s, s->tmp, s->tmp_stride, len, inside, crop_stride);
  } else {
    for (int y = g->cy0; y < g->cy1; y++)
      convert_row (s, frame, y, g->cx0, g->cx1,
          inside + (size_t) (y - g->cy0) * crop_stride, 3, 1);
  }

  if (pixel_values) {
    size_t plane = (size_t) g->out_w * g->out_h;
    for (int ch = 0; ch < 3; ch++) {
      const float *lut = s->lut[ch];
      float *out = pixel_values + ch * plane;
      const uint8_t *p = crop + ch;
      for (size_t i = 0; i < plane; i++, p += 3)
        out[i] = lut[*p];
    }
  }
  return CLE_OK;
}
