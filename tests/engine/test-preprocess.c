/* test-preprocess.c - preprocess.c against HF CLIPImageProcessor's output
 * (tiny-clip/reference/pre and the Pillow-made fixtures in preprocess/), every
 * pixel format against its RGB twin, I420/NV12 against a naive full-frame
 * conversion, random geometries against a naive full-image Pillow resize;
 * frame validation; image-io decoding against PIL and on corrupt files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "image-io.h"
#include "preprocess.h"
#include "test-util.h"

static const char *ref_images[] = {
  "img0_224x224", "img1_640x480", "img2_1280x720", "img3_480x640",
  "img4_300x300", "img5_1920x1080", "img6_427x640", "img7_97x61",
};
#define N_REF (int) (sizeof ref_images / sizeof ref_images[0])

typedef struct {
  uint8_t *rgb;
  int w, h;
} Image;

static Image
load_image (const char *rel)
{
  Image im = { NULL, 0, 0 };
  char *path = test_data_path (rel);
  ClipError err;
  if (image_load_rgb (path, &im.rgb, &im.w, &im.h, &err) != CLE_OK) {
    fprintf (stderr, "cannot load fixture: %s\n", err.message);
    exit (1);
  }
  free (path);
  return im;
}

static ClipFrame
rgb_frame (const Image *im)
{
  ClipFrame f = { .format = CLE_PIXEL_RGB, .width = im->w, .height = im->h,
    .planes = { im->rgb }, .strides = { 3 * im->w } };
  return f;
}

/* Deterministic pseudo-random bytes (xorshift) for fixtures made here. */
static uint32_t rng_state = 2463534242u;

static uint32_t
rng_next (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static Image
random_image (int w, int h, int smooth)
{
  Image im = { malloc ((size_t) w * h * 3), w, h };
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        uint8_t *p = im.rgb + ((size_t) y * w + x) * 3 + c;
        *p = smooth ? (uint8_t) (128 + 100 * sin (x * 0.05 * (c + 1)
                + y * 0.031) + (rng_next () % 21) - 10) : rng_next () & 255;
      }
  return im;
}

static int
count_diff (const uint8_t *a, const uint8_t *b, size_t n, int *max_diff)
{
  int n_diff = 0;
  *max_diff = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs ((int) a[i] - b[i]);
    if (d) {
      n_diff++;
      if (d > *max_diff)
        *max_diff = d;
    }
  }
  return n_diff;
}

/* pixel_values[c][y][x] = (float32(u8 * (1/255 in float64)) - mean) / std,
 * written out here independently of the engine's table. */
static int
check_formula (const float *pv, const uint8_t *crop, int w, int h,
    const ClipPreprocessConfig *cfg)
{
  int bad = 0;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < w * h; i++) {
      float x = (float) (crop[3 * i + c] * (1.0 / 255.0));
      float want = (x - cfg->mean[c]) / cfg->std[c];
      if (memcmp (&want, &pv[(size_t) c * w * h + i], sizeof want) != 0)
        bad++;
    }
  return bad;
}

/* ------------------------------------------------ naive Pillow + HF crop -- */

/* Pillow's ImagingResample (BICUBIC, 8 bpc) on a whole RGB image the direct
 * way: all rows, all columns, then HF's padded center crop. */
static double
naive_bicubic (double x)
{
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * -0.5;
  return 0.0;
}

static void
naive_pass (uint8_t *dst, const uint8_t *src, int n_lines, int in_size,
    int out_size, size_t line_step, size_t sample_step_in,
    size_t sample_step_out, size_t line_step_out)
{
  double scale = (double) in_size / out_size;
  double fs = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * fs;
  int ksize = (int) ceil (support) * 2 + 1;
  double *w = malloc (ksize * sizeof (double));
  int *k = malloc (ksize * sizeof (int));
  for (int o = 0; o < out_size; o++) {
    double center = (o + 0.5) * scale, ww = 0;
    int lo = (int) (center - support + 0.5), hi;
    lo = lo < 0 ? 0 : lo;
    hi = (int) (center + support + 0.5);
    hi = hi > in_size ? in_size : hi;
    for (int i = lo; i < hi; i++)
      ww += w[i - lo] = naive_bicubic ((i - center + 0.5) / fs);
    for (int i = lo; i < hi; i++) {
      double v = ww != 0.0 ? w[i - lo] / ww : w[i - lo];
      k[i - lo] = (int) (v < 0 ? -0.5 + v * (1 << 22) : 0.5 + v * (1 << 22));
    }
    for (int line = 0; line < n_lines; line++)
      for (int c = 0; c < 3; c++) {
        int ss = 1 << 21;
        for (int i = lo; i < hi; i++)
          ss += src[line * line_step + i * sample_step_in + c] * k[i - lo];
        ss >>= 22;
        dst[line * line_step_out + o * sample_step_out + c] =
            ss < 0 ? 0 : ss > 255 ? 255 : ss;
      }
  }
  free (w);
  free (k);
}

/* -> crop (cfg crop size, RGB). Returns 0 when the geometry is refused. */
static int
naive_preprocess (uint8_t *crop, const Image *im,
    const ClipPreprocessConfig *cfg)
{
  int rw = im->w, rh = im->h;
  if (cfg->do_resize && cfg->resize_height > 0) {
    rw = cfg->resize_width;
    rh = cfg->resize_height;
  } else if (cfg->do_resize) {
    int s = cfg->resize_shortest_edge;
    if (im->w <= im->h) {
      rw = s;
      rh = (int) ((double) s * im->h / im->w);
    } else {
      rh = s;
      rw = (int) ((double) s * im->w / im->h);
    }
  }
  uint8_t *a = malloc ((size_t) im->w * im->h * 3);
  memcpy (a, im->rgb, (size_t) im->w * im->h * 3);
  int aw = im->w;
  if (rw != im->w) {
    uint8_t *b = malloc ((size_t) rw * im->h * 3);
    naive_pass (b, a, im->h, im->w, rw, (size_t) im->w * 3, 3, 3,
        (size_t) rw * 3);
    free (a);
    a = b;
    aw = rw;
  }
  if (rh != im->h) {
    uint8_t *b = malloc ((size_t) aw * rh * 3);
    naive_pass (b, a, aw, im->h, rh, 3, (size_t) aw * 3, (size_t) aw * 3, 3);
    free (a);
    a = b;
  }
  int ch = cfg->crop_height, cw = cfg->crop_width;
  if (!cfg->do_center_crop && (ch != rh || cw != rw)) {
    free (a);
    return 0;
  }
  /* HF: top = (H - h) // 2; a smaller image is padded by ceil((h - H) / 2). */
  int top = (int) floor ((rh - ch) / 2.0), left = (int) floor ((rw - cw) / 2.0);
  for (int y = 0; y < ch; y++)
    for (int x = 0; x < cw; x++)
      for (int c = 0; c < 3; c++) {
        int sy = y + top, sx = x + left;
        crop[((size_t) y * cw + x) * 3 + c] = sy >= 0 && sy < rh && sx >= 0
            && sx < rw ? a[((size_t) sy * rw + sx) * 3 + c] : 0;
      }
  free (a);
  return 1;
}

/* ------------------------------------------------------------ YUV naive -- */

typedef struct {
  uint8_t *y, *u, *v, *uv;
  int ys, cs, nvs;
} Yuv;

/* Any RGB -> YUV will do for making test frames; this one spreads values. */
static Yuv
make_yuv (const Image *im, int pad)
{
  int cw = (im->w + 1) / 2, chh = (im->h + 1) / 2;
  Yuv t = { .ys = im->w + pad, .cs = cw + pad, .nvs = 2 * cw + pad };
  t.y = calloc ((size_t) t.ys * im->h, 1);
  t.u = calloc ((size_t) t.cs * chh, 1);
  t.v = calloc ((size_t) t.cs * chh, 1);
  t.uv = calloc ((size_t) t.nvs * chh, 1);
  for (int y = 0; y < im->h; y++)
    for (int x = 0; x < im->w; x++) {
      const uint8_t *p = im->rgb + ((size_t) y * im->w + x) * 3;
      t.y[y * t.ys + x] = (uint8_t) (0.299 * p[0] + 0.587 * p[1]
          + 0.114 * p[2]);
      if (!(x & 1) && !(y & 1)) {
        int u = 128 + (int) (0.5 * (p[2] - p[1])) + (int) (rng_next () % 7)
            - 3, v = 128 + (int) (0.5 * (p[0] - p[1]));
        u = u < 0 ? 0 : u > 255 ? 255 : u;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        t.u[(y / 2) * t.cs + x / 2] = u;
        t.v[(y / 2) * t.cs + x / 2] = v;
        t.uv[(y / 2) * t.nvs + x] = u;
        t.uv[(y / 2) * t.nvs + x + 1] = v;
      }
    }
  return t;
}

static void
yuv_free (Yuv *t)
{
  free (t->y);
  free (t->u);
  free (t->v);
  free (t->uv);
}

/* The conversion documented at the top of preprocess.c, one pixel at a time;
 * also returns the largest gap to the real-valued formula's rounding. */
static Image
naive_yuv_to_rgb (const Yuv *t, int w, int h, ClipColorMatrix m,
    ClipColorRange r, int *max_gap)
{
  double kr = m == CLE_MATRIX_BT709 ? 0.2126 : 0.299;
  double kb = m == CLE_MATRIX_BT709 ? 0.0722 : 0.114;
  double kg = 1 - kr - kb;
  int full = r == CLE_RANGE_FULL;
  double ys = full ? 1 : 255.0 / 219, cs = full ? 1 : 255.0 / 224;
  int yoff = full ? 0 : 16;
  double coef[5] = { ys, cs * 2 * (1 - kr), cs * 2 * (1 - kb),
    cs * 2 * (1 - kb) * kb / kg, cs * 2 * (1 - kr) * kr / kg
  };
  long q[5];
  for (int i = 0; i < 5; i++)
    q[i] = lround (coef[i] * 65536);
  Image im = { malloc ((size_t) w * h * 3), w, h };
  *max_gap = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      long Y = t->y[y * t->ys + x] - yoff;
      long U = t->u[(y / 2) * t->cs + x / 2] - 128;
      long V = t->v[(y / 2) * t->cs + x / 2] - 128;
      long fx[3] = { q[0] * Y + q[1] * V, q[0] * Y - q[3] * U - q[4] * V,
        q[0] * Y + q[2] * U
      };
      double real[3] = { coef[0] * Y + coef[1] * V,
        coef[0] * Y - coef[3] * U - coef[4] * V, coef[0] * Y + coef[2] * U
      };
      for (int c = 0; c < 3; c++) {
        long v = (long) floor ((fx[c] + 32768) / 65536.0);
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        long rv = lround (real[c]);
        rv = rv < 0 ? 0 : rv > 255 ? 255 : rv;
        if (labs (rv - v) > *max_gap)
          *max_gap = labs (rv - v);
        im.rgb[((size_t) y * w + x) * 3 + c] = v;
      }
    }
  return im;
}

/* ----------------------------------------------------------------- tests -- */

static void
test_config_defaults (void)
{
  ClipPreprocessConfig c;
  cle_preprocess_config_init (&c);
  char *path = test_data_path ("tiny-clip/preprocessor_config.json");
  char *json = test_read_file (path, NULL);
  free (path);
  /* The values as preprocessor_config.json spells them. */
  const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
  const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
  int ok = c.do_resize && c.do_center_crop && c.do_rescale && c.do_normalize
      && c.resize_shortest_edge == 224 && c.resize_height == 0
      && c.crop_height == 224 && c.crop_width == 224
      && c.rescale_factor == 1.0 / 255.0 && c.rescale_factor ==
      0.00392156862745098 && memcmp (mean, c.mean, sizeof mean) == 0
      && memcmp (std, c.std, sizeof std) == 0
      && strstr (json, "\"shortest_edge\": 224")
      && strstr (json, "0.48145466") && strstr (json, "0.27577711");
  test_expect (ok, "config defaults are the OpenAI / tiny-clip values");
  free (json);
}

static void
test_reference_crops (ClipPreprocessScratch *s)
{
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  int n_exact = 0;
  float *pv = malloc (3 * 224 * 224 * sizeof (float));
  uint8_t crop[224 * 224 * 3];
  for (int i = 0; i < N_REF; i++) {
    char rel[256];
    snprintf (rel, sizeof rel, "tiny-clip/reference/images/%s.png",
        ref_images[i]);
    Image im = load_image (rel);
    snprintf (rel, sizeof rel, "tiny-clip/reference/pre/%s.crop.png",
        ref_images[i]);
    Image want = load_image (rel);
    ClipFrame f = rgb_frame (&im);
    ClipError err;
    int st = cle_preprocess_frame (s, &cfg, &f, pv, crop, &err);
    int max_diff, n_diff = count_diff (crop, want.rgb, sizeof crop,
        &max_diff);
    int bad = check_formula (pv, crop, 224, 224, &cfg);
    test_expect (st == CLE_OK && n_diff == 0 && bad == 0,
        "%s: crop %d bytes differ (max %d), %d pixel values off the formula",
        ref_images[i], n_diff, max_diff, bad);
    n_exact += st == CLE_OK && n_diff == 0;

    /* The PPM twins decode to the same pixels. */
    snprintf (rel, sizeof rel, "tiny-clip/reference/images/%s.ppm",
        ref_images[i]);
    char *path = test_data_path (rel);
    if (access (path, R_OK) == 0) {
      Image ppm = load_image (rel);
      test_expect (ppm.w == im.w && ppm.h == im.h && memcmp (ppm.rgb, im.rgb,
              (size_t) im.w * im.h * 3) == 0, "%s.ppm == %s.png",
          ref_images[i], ref_images[i]);
      free (ppm.rgb);
    }
    free (path);
    free (im.rgb);
    free (want.rgb);
  }
  printf ("reference crops: %d/%d byte-exact\n", n_exact, N_REF);
  free (pv);
}

/* Crops of every packed format (shuffled from RGB, padded strides, junk
 * in alpha/padding) and GRAY8 must equal the RGB crop. */
static void
test_packed_formats (ClipPreprocessScratch *s)
{
  static const struct {
    ClipPixelFormat f;
    int bpp, r, g, b;
  } fmts[] = {
    { CLE_PIXEL_BGR, 3, 2, 1, 0 }, { CLE_PIXEL_RGBA, 4, 0, 1, 2 },
    { CLE_PIXEL_BGRA, 4, 2, 1, 0 }, { CLE_PIXEL_ARGB, 4, 1, 2, 3 },
    { CLE_PIXEL_ABGR, 4, 3, 2, 1 }, { CLE_PIXEL_RGBX, 4, 0, 1, 2 },
    { CLE_PIXEL_BGRX, 4, 2, 1, 0 }, { CLE_PIXEL_XRGB, 4, 1, 2, 3 },
    { CLE_PIXEL_XBGR, 4, 3, 2, 1 }, { CLE_PIXEL_RGB, 3, 0, 1, 2 },
  };
  const char *names[] = { "img1_640x480", "img6_427x640", "img7_97x61" };
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  uint8_t want[224 * 224 * 3], got[224 * 224 * 3];

  for (int n = 0; n < 3; n++) {
    char rel[256];
    snprintf (rel, sizeof rel, "tiny-clip/reference/images/%s.png", names[n]);
    Image im = load_image (rel);
    ClipFrame f = rgb_frame (&im);
    cle_preprocess_frame (s, &cfg, &f, NULL, want, NULL);
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
      int stride = im.w * fmts[k].bpp + 5 + 3 * n;
      uint8_t *buf = malloc ((size_t) stride * im.h);
      for (size_t i = 0; i < (size_t) stride * im.h; i++)
        buf[i] = rng_next ();
      for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++) {
          const uint8_t *p = im.rgb + ((size_t) y * im.w + x) * 3;
          uint8_t *q = buf + (size_t) y * stride + x * fmts[k].bpp;
          q[fmts[k].r] = p[0];
          q[fmts[k].g] = p[1];
          q[fmts[k].b] = p[2];
        }
      ClipFrame pf = { .format = fmts[k].f, .width = im.w, .height = im.h,
        .planes = { buf }, .strides = { stride } };
      ClipError err;
      int st = cle_preprocess_frame (s, &cfg, &pf, NULL, got, &err);
      test_expect (st == CLE_OK && memcmp (got, want, sizeof got) == 0,
          "%s as format %d (stride %d): crop equals RGB's", names[n],
          fmts[k].f, stride);
      free (buf);
    }

    /* GRAY8: the R channel as gray must equal RGB with R = G = B. */
    int gstride = im.w + 3;
    uint8_t *gray = malloc ((size_t) gstride * im.h);
    Image g3 = { malloc ((size_t) im.w * im.h * 3), im.w, im.h };
    for (int y = 0; y < im.h; y++)
      for (int x = 0; x < im.w; x++) {
        uint8_t v = im.rgb[((size_t) y * im.w + x) * 3];
        gray[(size_t) y * gstride + x] = v;
        memset (g3.rgb + ((size_t) y * im.w + x) * 3, v, 3);
      }
    ClipFrame gf = { .format = CLE_PIXEL_GRAY8, .width = im.w, .height = im.h,
      .planes = { gray }, .strides = { gstride } };
    ClipFrame g3f = rgb_frame (&g3);
    cle_preprocess_frame (s, &cfg, &g3f, NULL, want, NULL);
    int st = cle_preprocess_frame (s, &cfg, &gf, NULL, got, NULL);
    test_expect (st == CLE_OK && memcmp (got, want, sizeof got) == 0,
        "%s as GRAY8: crop equals gray RGB's", names[n]);
    free (gray);
    free (g3.rgb);
    free (im.rgb);
  }
}

static void
test_yuv (ClipPreprocessScratch *s)
{
  static const int sizes[][2] = { { 640, 480 }, { 97, 61 }, { 301, 225 },
    { 224, 224 }, { 1, 1 }, { 3, 500 }
  };
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  uint8_t want[224 * 224 * 3], got[224 * 224 * 3];
  float pv[3 * 224 * 224];

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    Image src = random_image (sizes[i][0], sizes[i][1], i != 2);
    Yuv t = make_yuv (&src, (int) i % 3 * 7);
    for (int m = 0; m < 2; m++)
      for (int r = 0; r < 2; r++) {
        int gap;
        Image rgb = naive_yuv_to_rgb (&t, src.w, src.h, m, r, &gap);
        ClipFrame rf = rgb_frame (&rgb);
        cle_preprocess_frame (s, &cfg, &rf, NULL, want, NULL);
        ClipFrame i420 = { .format = CLE_PIXEL_I420, .width = src.w,
          .height = src.h, .planes = { t.y, t.u, t.v },
          .strides = { t.ys, t.cs, t.cs }, .matrix = m, .range = r };
        ClipFrame nv12 = { .format = CLE_PIXEL_NV12, .width = src.w,
          .height = src.h, .planes = { t.y, t.uv }, .strides = { t.ys, t.nvs },
          .matrix = m, .range = r };
        int st1 = cle_preprocess_frame (s, &cfg, &i420, pv, got, NULL);
        int d1 = memcmp (got, want, sizeof got);
        int bad = check_formula (pv, got, 224, 224, &cfg);
        int st2 = cle_preprocess_frame (s, &cfg, &nv12, NULL, got, NULL);
        int d2 = memcmp (got, want, sizeof got);
        test_expect (st1 == CLE_OK && st2 == CLE_OK && !d1 && !d2 && !bad
            && gap <= 1, "%dx%d %s %s: I420 %s, NV12 %s vs naive conversion "
            "(fixed point within %d of real rounding)", src.w, src.h,
            m ? "BT.709" : "BT.601", r ? "full" : "limited",
            d1 ? "differs" : "equal", d2 ? "differs" : "equal", gap);
        free (rgb.rgb);
      }
    yuv_free (&t);
    free (src.rgb);
  }

  /* Random sizes and configs: odd first rows, partial row blocks, one pass
   * skipped, padding; I420 and NV12 against the naive RGB twin. */
  int n_ok = 0, n = 60;
  for (int iter = 0; iter < n; iter++) {
    Image src = random_image (1 + rng_next () % 300, 1 + rng_next () % 300,
        iter & 1);
    Yuv t = make_yuv (&src, iter % 5);
    ClipColorMatrix m = rng_next () & 1;
    ClipColorRange r = rng_next () & 1;
    ClipPreprocessConfig c;
    cle_preprocess_config_init (&c);
    c.resize_shortest_edge = 1 + rng_next () % 120;
    c.crop_height = 1 + rng_next () % 130;
    c.crop_width = 1 + rng_next () % 130;
    if (rng_next () % 3 == 0) {
      c.resize_height = rng_next () & 1 ? src.h : (int) (1 + rng_next () % 200);
      c.resize_width = rng_next () & 1 ? src.w : (int) (1 + rng_next () % 200);
    }
    int gap;
    Image rgb = naive_yuv_to_rgb (&t, src.w, src.h, m, r, &gap);
    size_t len = (size_t) c.crop_height * c.crop_width * 3;
    uint8_t *a = malloc (len), *b = malloc (len), *d = malloc (len);
    ClipFrame rf = rgb_frame (&rgb);
    ClipFrame i420 = { .format = CLE_PIXEL_I420, .width = src.w,
      .height = src.h, .planes = { t.y, t.u, t.v },
      .strides = { t.ys, t.cs, t.cs }, .matrix = m, .range = r };
    ClipFrame nv12 = { .format = CLE_PIXEL_NV12, .width = src.w,
      .height = src.h, .planes = { t.y, t.uv }, .strides = { t.ys, t.nvs },
      .matrix = m, .range = r };
    int ok = cle_preprocess_frame (s, &c, &rf, NULL, a, NULL) == CLE_OK
        && cle_preprocess_frame (s, &c, &i420, NULL, b, NULL) == CLE_OK
        && cle_preprocess_frame (s, &c, &nv12, NULL, d, NULL) == CLE_OK
        && memcmp (a, b, len) == 0 && memcmp (a, d, len) == 0;
    if (!ok)
      printf ("FAIL yuv random %dx%d shortest %d resize %dx%d crop %dx%d\n",
          src.w, src.h, c.resize_shortest_edge, c.resize_width,
          c.resize_height, c.crop_width, c.crop_height);
    n_ok += ok;
    free (a);
    free (b);
    free (d);
    free (rgb.rgb);
    yuv_free (&t);
    free (src.rgb);
  }
  test_expect (n_ok == n, "random geometries, I420/NV12 vs naive conversion: "
      "%d/%d exact", n_ok, n);
}

/* The fixtures of tests/data/gen/make_preprocess_fixtures.py (Pillow). */
static void
test_pillow_fixtures (ClipPreprocessScratch *s)
{
  char *path = test_data_path ("preprocess/cases.txt");
  char *text = test_read_file (path, NULL);
  free (path);
  int n_cases = 0, n_exact = 0;
  for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
    char name[128], src[256], size[32];
    int ch, cw;
    if (line[0] == '#' || sscanf (line, "%127s %255s %31s %d %d", name, src,
            size, &ch, &cw) != 5)
      continue;
    ClipPreprocessConfig cfg;
    cle_preprocess_config_init (&cfg);
    if (sscanf (size, "%dx%d", &cfg.resize_height, &cfg.resize_width) != 2) {
      cfg.resize_height = cfg.resize_width = 0;
      cfg.resize_shortest_edge = atoi (size);
    }
    cfg.crop_height = ch;
    cfg.crop_width = cw;
    Image im = load_image (src);
    char rel[200];
    snprintf (rel, sizeof rel, "preprocess/%s.crop.png", name);
    Image want = load_image (rel);
    size_t n = (size_t) ch * cw * 3;
    uint8_t *got = malloc (n), *naive = malloc (n);
    float *pv = malloc (n * sizeof (float));
    ClipFrame f = rgb_frame (&im);
    ClipError err = { 0, "" };
    int st = cle_preprocess_frame (s, &cfg, &f, pv, got, &err);
    int max_diff, n_diff = count_diff (got, want.rgb, n, &max_diff);
    naive_preprocess (naive, &im, &cfg);
    int naive_ok = memcmp (naive, want.rgb, n) == 0;
    int bad = check_formula (pv, got, cw, ch, &cfg);
    test_expect (st == CLE_OK && want.w == cw && want.h == ch && n_diff == 0
        && naive_ok && bad == 0, "pillow %s (%s, size %s, crop %dx%d): "
        "%d bytes differ (max %d), naive %s, %d values off %s", name, src, size,
        cw, ch, n_diff, max_diff, naive_ok ? "equal" : "DIFFERS", bad,
        err.message);
    n_cases++;
    n_exact += st == CLE_OK && n_diff == 0;
    free (got);
    free (naive);
    free (pv);
    free (im.rgb);
    free (want.rgb);
  }
  printf ("pillow fixtures: %d/%d byte-exact\n", n_exact, n_cases);
  free (text);
}

/* Random sizes and configs against the naive full-image twin; one scratch
 * for all, so geometry changes and repeats go through the cache. */
static void
test_random_geometries (ClipPreprocessScratch *s)
{
  int n_ok = 0, n = 0;
  for (int iter = 0; iter < 120; iter++) {
    int w = 1 + rng_next () % (iter < 60 ? 64 : 700);
    int h = 1 + rng_next () % (iter < 60 ? 64 : 700);
    ClipPreprocessConfig cfg;
    cle_preprocess_config_init (&cfg);
    cfg.resize_shortest_edge = 1 + rng_next () % 160;
    cfg.crop_height = 1 + rng_next () % 170;
    cfg.crop_width = rng_next () % 4 ? cfg.crop_height
        : (int) (1 + rng_next () % 170);
    switch (rng_next () % 5) {
      case 0:
        cfg.resize_height = 1 + rng_next () % 150;
        cfg.resize_width = 1 + rng_next () % 150;
        break;
      case 1:
        cfg.do_resize = 0;
        break;
      case 2:
        cfg.do_center_crop = 0;
        cfg.do_resize = 1;
        cfg.resize_height = cfg.crop_height;
        cfg.resize_width = cfg.crop_width;
        break;
      default:
        break;
    }
    Image im = random_image (w, h, iter & 1);
    size_t len = (size_t) cfg.crop_height * cfg.crop_width * 3;
    uint8_t *got = malloc (len), *want = malloc (len);
    ClipFrame f = rgb_frame (&im);
    ClipError err = { 0, "" };
    int ok = naive_preprocess (want, &im, &cfg);
    int st = cle_preprocess_frame (s, &cfg, &f, NULL, got, &err);
    /* twice: the cached geometry must give the same bytes */
    int st2 = ok ? cle_preprocess_frame (s, &cfg, &f, NULL, got, &err) : st;
    int good = ok ? st == CLE_OK && st2 == CLE_OK && memcmp (got, want,
        len) == 0 : st == CLE_ERROR_UNSUPPORTED;
    if (!good)
      printf ("FAIL random %dx%d, shortest %d, resize %dx%d (%d), crop %dx%d "
          "(%d): status %d %s\n", w, h, cfg.resize_shortest_edge,
          cfg.resize_width, cfg.resize_height, cfg.do_resize, cfg.crop_width,
          cfg.crop_height, cfg.do_center_crop, st, err.message);
    n_ok += good;
    n++;
    free (got);
    free (want);
    free (im.rgb);
  }
  test_expect (n_ok == n, "random geometries vs naive Pillow: %d/%d exact",
      n_ok, n);
}

static void
test_rescale_normalize_flags (ClipPreprocessScratch *s)
{
  Image im = random_image (50, 70, 0);
  ClipFrame f = rgb_frame (&im);
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  cfg.resize_shortest_edge = cfg.crop_height = cfg.crop_width = 32;
  uint8_t crop[32 * 32 * 3];
  float pv[3 * 32 * 32];
  int bad = 0;
  for (int mode = 0; mode < 4; mode++) {
    cfg.do_rescale = mode & 1;
    cfg.do_normalize = mode >> 1;
    cfg.rescale_factor = mode == 1 ? 0.5 : 1.0 / 255.0;
    cle_preprocess_frame (s, &cfg, &f, pv, crop, NULL);
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 32 * 32; i++) {
        float x = cfg.do_rescale ? (float) (crop[3 * i + c]
            * cfg.rescale_factor) : (float) crop[3 * i + c];
        if (cfg.do_normalize)
          x = (x - cfg.mean[c]) / cfg.std[c];
        bad += x != pv[c * 32 * 32 + i];
      }
  }
  test_expect (bad == 0, "do_rescale/do_normalize combinations: %d off", bad);
  free (im.rgb);
}

static void
expect_error (ClipPreprocessScratch *s, const ClipFrame *f, const char *what,
    const char *needle)
{
  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  ClipError err = { 0, "" };
  float pv[3 * 224 * 224];
  int st = cle_preprocess_frame (s, &cfg, f, pv, NULL, &err);
  test_expect (st == CLE_ERROR_INVALID_ARGUMENT && err.code == st
      && strstr (err.message, needle), "%s -> %d '%s'", what, st,
      err.message);
}

static void
test_errors (ClipPreprocessScratch *s)
{
  static uint8_t buf[64 * 64 * 4];
  ClipFrame ok = { .format = CLE_PIXEL_RGBA, .width = 64, .height = 64,
    .planes = { buf }, .strides = { 256 } };
  ClipFrame f = ok;
  f.strides[0] = 255;
  expect_error (s, &f, "stride below the row", "255");
  f = ok;
  f.width = 0;
  expect_error (s, &f, "zero width", "0x64");
  f = ok;
  f.height = -3;
  expect_error (s, &f, "negative height", "64x-3");
  f = ok;
  f.width = 16385;
  f.strides[0] = 16385 * 4;
  expect_error (s, &f, "width over 16384", "16385");
  f = ok;
  f.planes[0] = NULL;
  expect_error (s, &f, "NULL plane", "NULL");
  f = ok;
  f.format = (ClipPixelFormat) 42;
  expect_error (s, &f, "unknown format", "42");
  ClipFrame y = { .format = CLE_PIXEL_I420, .width = 7, .height = 5,
    .planes = { buf, buf, NULL }, .strides = { 7, 4, 4 } };
  expect_error (s, &y, "I420 without V plane", "plane 2");
  y.planes[2] = buf;
  y.strides[1] = 3;
  expect_error (s, &y, "I420 chroma stride 3 < ceil(7/2)", "stride 3");
  y.strides[1] = 4;
  y.matrix = (ClipColorMatrix) 9;
  expect_error (s, &y, "bad matrix", "9");
  ClipFrame nv = { .format = CLE_PIXEL_NV12, .width = 7, .height = 5,
    .planes = { buf, buf }, .strides = { 7, 7 } };
  expect_error (s, &nv, "NV12 UV stride 7 < 8", "stride 7");

  ClipPreprocessConfig cfg;
  cle_preprocess_config_init (&cfg);
  cfg.do_center_crop = 0;
  ClipError err;
  int st = cle_preprocess_frame (s, &cfg, &ok, NULL, NULL, &err);
  test_expect (st == CLE_OK, "no crop, 64x64 resized to 224x224: ok");
  ClipFrame wide = ok;
  wide.width = 32;
  st = cle_preprocess_frame (s, &cfg, &wide, NULL, NULL, &err);
  test_expect (st == CLE_ERROR_UNSUPPORTED, "no crop, 32x64 -> 224x448 is "
      "not the model size: %d '%s'", st, err.message);
  test_expect (cle_preprocess_frame (NULL, &cfg, &ok, NULL, NULL, &err)
      == CLE_ERROR_INVALID_ARGUMENT, "NULL scratch: %s", err.message);
}

/* ------------------------------------------------------------- image-io -- */

static void
test_image_io (void)
{
  static const char *files[] = {
    "png-gray1.png", "png-gray2.png", "png-gray4.png", "png-gray8-trns.png",
    "png-gray16.png", "png-graya8.png", "png-graya16.png", "png-rgb16.png",
    "png-rgba8.png", "png-rgba16.png", "png-rgb8-adam7.png",
    "png-pal4-trns.png", "png-pal8.png", "jpeg-rgb420.jpg", "jpeg-gray.jpg",
    "pnm-p3.ppm", "pnm-p5.pgm",
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char rel[200];
    snprintf (rel, sizeof rel, "preprocess/%s", files[i]);
    Image got = load_image (rel);
    snprintf (rel, sizeof rel, "preprocess/%s.expect.ppm", files[i]);
    Image want = load_image (rel);
    int max_diff = -1, n_diff = -1;
    if (got.w == want.w && got.h == want.h)
      n_diff = count_diff (got.rgb, want.rgb, (size_t) got.w * got.h * 3,
          &max_diff);
    test_expect (n_diff == 0, "image-io %s: %dx%d, %d bytes differ from PIL "
        "(max %d)", files[i], got.w, got.h, n_diff, max_diff);
    free (got.rgb);
    free (want.rgb);
  }

  /* Corrupt files: a status, no crash, no output. */
  char *png_path = test_data_path ("tiny-clip/reference/images/img7_97x61.png");
  char *jpg_path = test_data_path ("preprocess/jpeg-rgb420.jpg");
  size_t png_n, jpg_n;
  uint8_t *png = test_read_file (png_path, &png_n);
  uint8_t *jpg = test_read_file (jpg_path, &jpg_n);
  struct {
    const char *what;
    const uint8_t *data;
    size_t n;
    int flip;
  } cases[] = {
    { "empty file", png, 0, -1 },
    { "PNG signature only", png, 8, -1 },
    { "PNG cut in half", png, png_n / 2, -1 },
    { "PNG with a flipped IDAT byte", png, png_n, (int) png_n / 2 },
    { "PNG with a huge width", png, png_n, 17 },
    { "JPEG cut in half", jpg, jpg_n / 2, -1 },
    { "JPEG header only", jpg, 200, -1 },
    { "PPM truncated", (const uint8_t *) "P6\n4 4\n255\nabc", 15, -1 },
    { "PPM bad header", (const uint8_t *) "P6\n4 x\n255\n", 11, -1 },
    { "PPM maxval 0", (const uint8_t *) "P5 1 1 0\n\001", 10, -1 },
    { "not an image", (const uint8_t *) "hello world", 11, -1 },
  };
  char tmpl[] = "/tmp/test-preprocess-XXXXXX";
  int fd = mkstemp (tmpl);
  close (fd);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    FILE *f = fopen (tmpl, "wb");
    uint8_t *copy = malloc (cases[i].n + 1);
    memcpy (copy, cases[i].data, cases[i].n);
    if (cases[i].flip >= 0)
      copy[cases[i].flip] ^= 0x40;
    fwrite (copy, 1, cases[i].n, f);
    fclose (f);
    free (copy);
    uint8_t *rgb = (uint8_t *) 1;
    int w, h;
    ClipError err = { 0, "" };
    int st = image_load_rgb (tmpl, &rgb, &w, &h, &err);
    test_expect (st < 0 && rgb == NULL && err.code == st,
        "image-io %s -> %d '%s'", cases[i].what, st, err.message);
  }
  uint8_t *rgb;
  int w, h;
  ClipError err;
  int st = image_load_rgb ("/nonexistent/x.png", &rgb, &w, &h, &err);
  test_expect (st == CLE_ERROR_IO, "image-io missing file -> %d '%s'", st,
      err.message);

  /* save -> load round trip */
  Image im = random_image (31, 17, 0);
  st = image_save_png (tmpl, im.rgb, im.w, im.h, &err);
  Image back = { NULL, 0, 0 };
  if (st == CLE_OK)
    st = image_load_rgb (tmpl, &back.rgb, &back.w, &back.h, &err);
  test_expect (st == CLE_OK && back.w == 31 && back.h == 17
      && memcmp (back.rgb, im.rgb, 31 * 17 * 3) == 0,
      "image-io save/load round trip");
  unlink (tmpl);
  free (back.rgb);
  free (im.rgb);
  free (png);
  free (jpg);
  free (png_path);
  free (jpg_path);
}

int
main (void)
{
  ClipPreprocessScratch *s = cle_preprocess_scratch_new ();
  test_config_defaults ();
  test_reference_crops (s);
  test_packed_formats (s);
  test_yuv (s);
  test_pillow_fixtures (s);
  test_random_geometries (s);
  test_rescale_normalize_flags (s);
  test_errors (s);
  test_image_io ();
  cle_preprocess_scratch_free (s);
  return test_finish ();
}
