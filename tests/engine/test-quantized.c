/* test-quantized.c - the bf16 and int8 paths (ops/quantized.c and the
 * kernels behind it): each kernel's blocks against the plain C ones over
 * many shapes, both against fp32, whole models loaded in each precision
 * against fp32 (embedding cosines and the top-1 label of every fixture
 * image), and the kernel choice (ops/kernel.c). Built twice: against the
 * engine, and with CLE_TEST_AMX_EMULATED against the engine whose AMX
 * blocks run over the emulated tile instructions (any CPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "clip.h"
#include "image-io.h"
#include "ops/kernel.h"
#include "ops/ops.h"
#include "ops/quantized.h"
#include "test-util.h"
#ifdef CLE_TEST_AMX_EMULATED
#define CLE_AMX_EMULATE 1       /* amx-tile.h: the emulation's functions */
#include "ops/amx-tile.h"
#endif

static float
frand (GRand *r)
{
  return (float) g_rand_double_range (r, -1.0, 1.0);
}

/* One shape: cle_linear_quantized on kernel's packing (threads, two
 * projections, strides) against the plain C reference on the same
 * quantized operands in the plain layout, and both against fp32. */
static void
check_shape (ClipKernel kernel, ClipPrecision precision, int n, int n_in,
    int n_out, GRand *r)
{
  const int ldx = n_in + 3, ldy = n_out + 5;
  float *x = g_new (float, (size_t) n * ldx);
  float *w[2], *b[2], *y[2];
  ClipPackedWeight pw[2], pw_c[2];
  for (size_t i = 0; i < (size_t) n * ldx; i++)
    x[i] = frand (r) * (i % 7 == 0 ? 4.0f : 1.0f);     /* some outliers */
  for (int p = 0; p < 2; p++) {
    w[p] = g_new (float, (size_t) n_out * n_in);
    b[p] = g_new (float, n_out);
    y[p] = g_new0 (float, (size_t) n * ldy);
    for (size_t i = 0; i < (size_t) n_out * n_in; i++)
      w[p][i] = frand (r) * 0.1f;
    for (int j = 0; j < n_out; j++)
      b[p][j] = frand (r);
    if (cle_packed_weight_init (&pw[p], w[p], n_out, n_in, precision, kernel,
            2) || cle_packed_weight_init (&pw_c[p], w[p], n_out, n_in,
            precision, CLE_KERNEL_C, 2))
      test_expect (0, "pack %d x %d", n_out, n_in);
  }
  const ClipPackedWeight *pws[2] = { &pw[0], &pw[1] };
  const float *bs[2] = { b[0], NULL };
  cle_linear_quantized (y, x, pws, bs, 2, n, ldx, ldy, 2);

  float *want = g_new (float, (size_t) n * n_out);
  float *exact = g_new (float, (size_t) n * n_out);
  double max_d = 0, max_ref = 0, max_q = 0;
  for (int p = 0; p < 2; p++) {
    cle_linear_quantized_naive (want, x, &pw_c[p], bs[p], n, ldx, n_out);
    cle_linear_naive (exact, x, w[p], bs[p], n, n_in, n_out, ldx, n_out);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n_out; j++) {
        const float got = y[p][(size_t) i * ldy + j];
        const float ref = want[(size_t) i * n_out + j];
        const float fp = exact[(size_t) i * n_out + j];
        max_d = fmax (max_d, fabs (got - ref));
        max_ref = fmax (max_ref, fabs (ref));
        max_q = fmax (max_q, fabs (ref - fp));
      }
  }
  /* int8 sums are exact integers, so AVX-512 and C differ only in how the
   * scales and bias are applied (an FMA or not: an ulp or two), and AMX,
   * which applies them as C does, not at all; bf16 sums are fp32 in
   * another order. */
  const int int8 = precision == CLE_PRECISION_INT8;
  const double tol = int8 && kernel != CLE_KERNEL_AVX512 ? 0.0
      : (int8 ? 1e-6 : 1e-5) * max_ref + 1e-6;
  /* against fp32: bf16 keeps 8 bits of mantissa, int8 7 bits of range */
  const double tol_fp = (precision == CLE_PRECISION_INT8 ? 0.03 : 0.01)
      * max_ref + 1e-3;
  test_expect (max_d <= tol && max_q <= tol_fp,
      "%s n=%d n_in=%d n_out=%d: max|kernel-c| %.3g (tol %.3g), "
      "max|c-fp32| %.3g (tol %.3g)", cle_kernel_name (kernel, precision), n,
      n_in, n_out, max_d, tol, max_q, tol_fp);
  for (int p = 0; p < 2; p++) {
    cle_packed_weight_clear (&pw[p]);
    cle_packed_weight_clear (&pw_c[p]);
    g_free (w[p]);
    g_free (b[p]);
    g_free (y[p]);
  }
  g_free (want);
  g_free (exact);
  g_free (x);
}

/* The products that prepare their rows (a LayerNorm of src into x, an
 * activation of x in place) give what the separate passes give, bit for
 * bit: the prepared input and the products, on 1 and 2 threads. */
static void
check_prepared (ClipKernel kernel, ClipPrecision precision, int n, int n_in,
    int n_out, int n_threads, GRand *r)
{
  const size_t nx = (size_t) n * n_in, ny = (size_t) n * n_out;
  float *src = g_new (float, nx), *g = g_new (float, n_in);
  float *beta = g_new (float, n_in), *w = g_new (float, (size_t) n_out * n_in);
  float *bias = g_new (float, n_out);
  float *x_want = g_new (float, nx), *x_got = g_new (float, nx);
  float *y_want = g_new (float, ny), *y_got = g_new (float, ny);
  for (size_t i = 0; i < nx; i++)
    src[i] = frand (r) * 3.0f + 0.5f;
  for (int j = 0; j < n_in; j++)
    g[j] = 1.0f + frand (r) * 0.2f, beta[j] = frand (r) * 0.1f;
  for (size_t i = 0; i < (size_t) n_out * n_in; i++)
    w[i] = frand (r) * 0.1f;
  for (int j = 0; j < n_out; j++)
    bias[j] = frand (r);
  ClipPackedWeight pw;
  test_expect (cle_packed_weight_init (&pw, w, n_out, n_in, precision,
          kernel, 2) == CLE_OK, "pack %d x %d", n_out, n_in);
  const ClipPackedWeight *pws = &pw;
  const float *bs = bias;
  /* the residual stream before and after an ADD_LAYER_NORM */
  float *res_want = g_new (float, nx), *res_got = g_new (float, nx);
  static const char *const names[] = {
    [CLE_PREPARE_LAYER_NORM] = "LayerNorm",
    [CLE_PREPARE_ADD_LAYER_NORM] = "residual add + LayerNorm",
    [CLE_PREPARE_ACTIVATION] = "quick_gelu",
  };
  for (int op = CLE_PREPARE_LAYER_NORM; op <= CLE_PREPARE_ACTIVATION; op++) {
    memcpy (res_want, src, nx * sizeof (float));
    memcpy (res_got, src, nx * sizeof (float));
    if (op == CLE_PREPARE_ACTIVATION) {
      memcpy (x_want, src, nx * sizeof (float));
      cle_activation (x_want, nx, CLE_ACT_QUICK_GELU, n_threads);
      memcpy (x_got, src, nx * sizeof (float));
    } else {
      if (op == CLE_PREPARE_ADD_LAYER_NORM) {
        /* x holds what is added to the stream, then its LayerNorm */
        for (size_t i = 0; i < nx; i++)
          x_got[i] = frand (r);
        for (size_t i = 0; i < nx; i++)
          res_want[i] += x_got[i];
      }
      cle_layer_norm (x_want, res_want, g, beta, n, n_in, 1e-5f, n_threads);
    }
    cle_linear_quantized (&y_want, x_want, &pws, &bs, 1, n, 0, 0, n_threads);
    const ClipRowPrepare prep = {
      .op = op, .x = x_got, .src = res_got, .g = g, .b = beta, .eps = 1e-5f,
      .act = CLE_ACT_QUICK_GELU,
    };
    cle_linear_quantized_prepared (&y_got, &prep, &pws, &bs, 1, n,
        n_threads);
    test_expect (memcmp (x_got, x_want, nx * sizeof (float)) == 0
        && memcmp (y_got, y_want, ny * sizeof (float)) == 0
        && memcmp (res_got, res_want, nx * sizeof (float)) == 0,
        "%s, %s prepared in the product: %d x %d -> %d on %d threads, the "
        "same bits as separate passes", cle_kernel_name (kernel, precision),
        names[op], n, n_in, n_out, n_threads);
  }
  g_free (res_want), g_free (res_got);
  cle_packed_weight_clear (&pw);
  g_free (src), g_free (g), g_free (beta), g_free (w), g_free (bias);
  g_free (x_want), g_free (x_got), g_free (y_want), g_free (y_got);
}

/* The shapes of every kernel: rows across the edges of the AVX-512 tiles
 * (12) and of the AMX ones (16, and 32 a step), k across whole groups and
 * whole AMX tiles (32 bf16, 64 int8), columns across panels (16, an odd
 * one: 17, 40). */
static void
check_kernel (ClipKernel kernel)
{
  static const int ns[] = { 1, 2, 11, 12, 13, 16, 17, 33, 50, 97 };
  static const int ins[] = { 1, 3, 16, 64, 77, 130, 768 };
  static const int outs[] = { 1, 15, 16, 17, 40, 64 };
  GRand *r = g_rand_new_with_seed (7);
  for (int p = CLE_PRECISION_BF16; p <= CLE_PRECISION_INT8; p++)
    for (size_t a = 0; a < G_N_ELEMENTS (ns); a++)
      for (size_t c = 0; c < G_N_ELEMENTS (ins); c++)
        for (size_t d = 0; d < G_N_ELEMENTS (outs); d++)
          check_shape (kernel, p, ns[a], ins[c], outs[d], r);
  /* the widths of ViT-B/32 */
  check_shape (kernel, CLE_PRECISION_BF16, 50, 768, 3072, r);
  check_shape (kernel, CLE_PRECISION_INT8, 50, 3072, 768, r);
  for (int p = CLE_PRECISION_BF16; p <= CLE_PRECISION_INT8; p++)
    for (int t = 1; t <= 2; t++) {
      check_prepared (kernel, p, 13, 77, 40, t, r);
      check_prepared (kernel, p, 50, 768, 96, t, r);
    }
  /* a zero row: int8 scale 1, outputs the bias */
  float x[8] = { 0 }, w[8 * 3], y[3], b[3] = { 1, 2, 3 };
  for (int i = 0; i < 24; i++)
    w[i] = frand (r);
  ClipPackedWeight pw;
  cle_packed_weight_init (&pw, w, 3, 8, CLE_PRECISION_INT8, kernel, 1);
  const ClipPackedWeight *pws = &pw;
  float *ys = y;
  const float *bs = b;
  cle_linear_quantized (&ys, x, &pws, &bs, 1, 1, 0, 0, 1);
  test_expect (y[0] == 1 && y[1] == 2 && y[2] == 3,
      "%s: a zero row gives the bias: %g %g %g", cle_kernel_name (kernel,
          CLE_PRECISION_INT8), y[0], y[1], y[2]);
  cle_packed_weight_clear (&pw);
  g_rand_free (r);
}

/* Embeddings of the fixture images and prompts in one precision. */
typedef struct
{
  float *image, *text;
  int n_images, n_texts, dim;
} Embeddings;

static int
encode_all (const char *dir, ClipPrecision precision, JsonObject *ref,
    Embeddings *e)
{
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.precision = precision;
  ClipModel *model;
  ClipError err;
  if (cle_model_load (&model, dir, &mp, &err) != CLE_OK) {
    test_expect (0, "load %s in %s: %s", dir, cle_precision_name (precision),
        err.message);
    return 0;
  }
  ClipModelInfo info;
  cle_model_get_info (model, &info);
  const int fp32_kernel = g_str_has_suffix (info.kernel, "-fp32");
  test_expect (info.precision == precision
      && (precision != CLE_PRECISION_FP32 || fp32_kernel)
      && fp32_kernel == (info.quantized_bytes == 0),
      "%s: info says %s on %s, %zu converted bytes",
      cle_precision_name (precision), cle_precision_name (info.precision),
      info.kernel, info.quantized_bytes);
  printf ("# %s %s: kernel %s\n", dir, cle_precision_name (precision),
      info.kernel);
  ClipContext *ctx;
  cle_context_new (&ctx, model, NULL, &err);
  JsonArray *images = json_object_get_array_member (ref, "images");
  JsonArray *prompts = json_object_get_array_member (ref, "prompts");
  e->dim = info.projection_dim;
  e->n_images = json_array_get_length (images);
  e->n_texts = json_array_get_length (prompts);
  e->image = g_new (float, (size_t) e->n_images * e->dim);
  e->text = g_new (float, (size_t) e->n_texts * e->dim);
  for (int i = 0; i < e->n_images; i++) {
    char *rel_png = g_strdup_printf ("tiny-clip/reference/images/%s.png",
        json_array_get_string_element (images, i));
    char *png = test_data_path (rel_png);
    uint8_t *rgb;
    int w, h;
    /* an image not encoded would leave its row uninitialized */
    int ok = image_load_rgb (png, &rgb, &w, &h, &err) == CLE_OK;
    if (ok) {
      ClipFrame f = { .format = CLE_PIXEL_RGB, .width = w, .height = h,
        .planes = { rgb }, .strides = { 3 * w } };
      ok = cle_encode_frames (ctx, &f, 1, e->image + (size_t) i * e->dim,
          e->dim, &err) == CLE_OK;
      free (rgb);
    }
    if (!ok) {
      test_expect (0, "encode %s: %s", png, err.message);
      memset (e->image + (size_t) i * e->dim, 0, e->dim * sizeof (float));
    }
    g_free (png);
    g_free (rel_png);
  }
  const char **texts = g_new (const char *, e->n_texts);
  for (int t = 0; t < e->n_texts; t++)
    texts[t] = json_array_get_string_element (prompts, t);
  if (cle_encode_texts (ctx, texts, e->n_texts, e->text,
          (size_t) e->n_texts * e->dim, &err) != CLE_OK) {
    test_expect (0, "encode the prompts: %s", err.message);
    memset (e->text, 0, (size_t) e->n_texts * e->dim * sizeof (float));
  }
  g_free (texts);
  cle_context_free (ctx);
  cle_model_free (model);
  return 1;
}

static double
cosine (const float *a, const float *b, int n)
{
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++) {
    ab += (double) a[i] * b[i];
    aa += (double) a[i] * a[i];
    bb += (double) b[i] * b[i];
  }
  return ab / sqrt (aa * bb);
}

static double
min_cosine (const float *a, const float *b, int count, int dim)
{
  double m = 1.0;
  for (int i = 0; i < count; i++)
    m = fmin (m, cosine (a + (size_t) i * dim, b + (size_t) i * dim, dim));
  return m;
}

/* The prompt each image matches best (logits are cosines times a positive
 * scale, so the argmax of the cosines). */
static int
top1 (const Embeddings *e, int image)
{
  int best = 0;
  double best_c = -2;
  for (int t = 0; t < e->n_texts; t++) {
    double c = cosine (e->image + (size_t) image * e->dim,
        e->text + (size_t) t * e->dim, e->dim);
    if (c > best_c) {
      best_c = c;
      best = t;
    }
  }
  return best;
}

/* The fixtures' embeddings in bf16 and int8 against fp32, with the
 * kernels CLE_KERNEL names (NULL: as the engine chooses). */
static void
check_model (const char *rel, const char *kernels)
{
  char *dir = test_data_path (rel);
  char *ref_json = test_data_path ("tiny-clip/reference/reference.json");
  JsonParser *parser = json_parser_new ();
  json_parser_load_from_file (parser, ref_json, NULL);
  JsonObject *ref = json_node_get_object (json_parser_get_root (parser));
  Embeddings fp = { 0 };
  if (encode_all (dir, CLE_PRECISION_FP32, ref, &fp)) {
    if (kernels)
      g_setenv ("CLE_KERNEL", kernels, TRUE);
    for (int p = CLE_PRECISION_BF16; p <= CLE_PRECISION_INT8; p++) {
      Embeddings q = { 0 };
      if (!encode_all (dir, p, ref, &q))
        continue;
      const double want = p == CLE_PRECISION_BF16 ? 0.999 : 0.99;
      const double ci = min_cosine (q.image, fp.image, fp.n_images, fp.dim);
      const double ct = min_cosine (q.text, fp.text, fp.n_texts, fp.dim);
      test_expect (ci >= want && ct >= want, "%s %s: min cosine to fp32: "
          "images %.6f, texts %.6f (>= %g)", rel, cle_precision_name (p), ci,
          ct, want);
      int same = 0;
      for (int i = 0; i < fp.n_images; i++)
        same += top1 (&q, i) == top1 (&fp, i);
      test_expect (same == fp.n_images, "%s %s: top-1 prompt as fp32 for "
          "%d of %d images", rel, cle_precision_name (p), same, fp.n_images);
      g_free (q.image);
      g_free (q.text);
    }
    g_unsetenv ("CLE_KERNEL");
  }
  g_free (fp.image);
  g_free (fp.text);
  g_object_unref (parser);
  g_free (ref_json);
  g_free (dir);
}

#ifndef CLE_TEST_AMX_EMULATED
static void
check_bad_precision (void)
{
  char *dir = test_data_path ("tiny-clip");
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.precision = (ClipPrecision) 7;
  ClipModel *model = NULL;
  ClipError err;
  int code = cle_model_load (&model, dir, &mp, &err);
  test_expect (code == CLE_ERROR_INVALID_ARGUMENT && !model
      && strcmp (err.message, "precision is 7, expected CLE_PRECISION_FP32, "
          "_BF16 or _INT8") == 0, "bad precision: %s", err.message);
  ClipPrecision p;
  test_expect (cle_precision_from_string ("int8", &p) && p ==
      CLE_PRECISION_INT8 && !cle_precision_from_string ("fp16", &p)
      && !cle_precision_from_string (NULL, &p), "precision names");
  g_free (dir);
}

/* The calibration's check (ops/kernel.c): a kernel's product against the
 * fp32 one, relative to its largest value; NaN is wrong. */
static void
check_product_error (void)
{
  float ref[4] = { 2.0f, -4.0f, 1.0f, 0.5f }, y[4];
  memcpy (y, ref, sizeof y);
  test_expect (cle_kernel_product_error (y, ref, 4) == 0.0,
      "the same product is off by 0");
  y[2] += 0.2f;                 /* 5% of the largest |value| */
  const double e = cle_kernel_product_error (y, ref, 4);
  test_expect (fabs (e - 0.05) < 1e-6
      && e <= cle_kernel_tolerance (CLE_PRECISION_INT8)
      && e > cle_kernel_tolerance (CLE_PRECISION_BF16),
      "off by 5%%: %g, within int8's tolerance, not bf16's", e);
  y[1] = NAN;
  test_expect (!(cle_kernel_product_error (y, ref, 4)
          <= cle_kernel_tolerance (CLE_PRECISION_INT8)), "NaN is wrong");
}

/* Loads tiny-clip in precision with CLE_KERNEL set to kernels; returns
 * the status and the kernel that runs (into *name). */
static int
load_with (const char *kernels, ClipPrecision precision, const char **name,
    ClipError *err)
{
  char *dir = test_data_path ("tiny-clip");
  g_setenv ("CLE_KERNEL", kernels, TRUE);
  ClipModelParams mp;
  cle_model_params_init (&mp);
  mp.precision = precision;
  mp.towers = CLE_TOWER_VISION;
  ClipModel *model = NULL;
  int code = cle_model_load (&model, dir, &mp, err);
  *name = "";
  if (code == CLE_OK) {
    ClipModelInfo info;
    cle_model_get_info (model, &info);
    *name = info.kernel;
    cle_model_free (model);
  }
  g_unsetenv ("CLE_KERNEL");
  g_free (dir);
  return code;
}

static void
count_warnings (const char *domain, GLogLevelFlags level,
    const char *message, void *data)
{
  if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL))
    ++*(int *) data;
  g_log_default_handler (domain, level, message, NULL);
}

/* CLE_KERNEL forces a kernel, or fp32, per precision; unknown names and
 * kernels this CPU lacks fail the load; unforced, the choice is never
 * the plain C one (slower than fp32 wherever fp32 has SIMD). */
static void
check_kernel_choice (void)
{
  const char *fp32 = cle_kernel_name (CLE_KERNEL_FP32, CLE_PRECISION_FP32);
  const char *name;
  ClipError err;
  int code = load_with ("fp32", CLE_PRECISION_BF16, &name, &err);
  test_expect (code == CLE_OK && strcmp (name, fp32) == 0,
      "CLE_KERNEL=fp32 runs bf16 on %s (want %s)", name, fp32);
  code = load_with ("avx512-bf16,c-int8", CLE_PRECISION_INT8, &name, &err);
  test_expect (code == CLE_OK && strcmp (name, "c-int8") == 0,
      "CLE_KERNEL=avx512-bf16,c-int8 runs int8 on %s", name);
  code = load_with ("c-int8", CLE_PRECISION_FP32, &name, &err);
  test_expect (code == CLE_OK && strcmp (name, fp32) == 0,
      "CLE_KERNEL=c-int8 leaves fp32 on %s", name);
  code = load_with ("c-bf16,avx9-bf16", CLE_PRECISION_BF16, &name, &err);
  test_expect (code == CLE_ERROR_INVALID_ARGUMENT
      && strstr (err.message, "'avx9-bf16' is not a kernel"),
      "CLE_KERNEL with an unknown name: %s", err.message);
  for (int k = CLE_KERNEL_AVX512; k <= CLE_KERNEL_AMX; k++)
    if (!cle_kernel_supported (k, CLE_PRECISION_INT8)) {
      const char *want = cle_kernel_name (k, CLE_PRECISION_INT8);
      code = load_with (want, CLE_PRECISION_INT8, &name, &err);
      test_expect (code == CLE_ERROR_UNSUPPORTED
          && strstr (err.message, want),
          "CLE_KERNEL=%s on a CPU without it: %s", want, err.message);
    }
  /* the calibration below warns of a kernel that failed its check */
  int n_warnings = 0;
  GLogFunc previous = g_log_set_default_handler (count_warnings, &n_warnings);
  for (int p = CLE_PRECISION_BF16; p <= CLE_PRECISION_INT8; p++) {
    code = load_with ("", p, &name, &err);
    test_expect (code == CLE_OK && (!g_str_has_prefix (name, "c-")
            || !cle_gemm_path_supported (CLE_GEMM_AVX2)),
        "%s runs on %s", cle_precision_name (p), name);
    printf ("# %s: the engine chooses %s\n", cle_precision_name (p), name);
  }
  g_log_set_default_handler (previous, NULL);
  test_expect (n_warnings == 0, "every kernel this CPU has passed the "
      "calibration's check (%d warnings)", n_warnings);
}

#endif

#ifdef CLE_TEST_AMX_EMULATED
static uint16_t
bf16_bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, 4);
  return (uint16_t) (u >> 16);  /* the values below are exact in bf16 */
}

/* The emulation against the SDM's pseudo-code on values where it
 * matters: tdpbf16ps sums the even and the odd products of a row apart
 * (2^24 + 1 - 2^24 + 1 gives 2 there, 1 in one running sum), treats
 * denormal inputs as zero and flushes denormal results; tdpbusd is u8 x
 * s8 into a wrapping int32. C: 1 x 1, A: 1 x 2 groups, B: 2 x 1. */
static void
check_emulation (void)
{
  ClipTileConfig cfg = { .palette_id = 1 };
  cfg.rows[0] = 1, cfg.colsb[0] = 4;
  cfg.rows[1] = 1, cfg.colsb[1] = 8;
  cfg.rows[2] = 2, cfg.colsb[2] = 4;
  cle_amx_emu_load_config (&cfg);
  const float cases[][9] = {
    /* a0 a1 a2 a3, b0 b1 b2 b3, want */
    {4096, 1, -4096, 1, 4096, 1, 4096, 1, 2},
    {0x1p-127f, 1, 0, 0, 0x1p100f, 0, 0, 0, 0},        /* DAZ */
    {0x1p-70f, 0, 0, 0, 0x1p-70f, 0, 0, 0, 0},         /* FTZ */
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
    uint16_t a[4], b[4];
    for (int e = 0; e < 4; e++) {
      a[e] = bf16_bits (cases[i][e]);
      b[e] = bf16_bits (cases[i][4 + e]);
    }
    float c = 0.0f;
    cle_amx_emu_load (0, &c, 4);
    cle_amx_emu_load (1, a, 8);
    cle_amx_emu_load (2, b, 4);
    cle_amx_emu_dpbf16ps (0, 1, 2);
    cle_amx_emu_store (0, &c, 4);
    test_expect (c == cases[i][8], "emulated tdpbf16ps case %zu: %g (want "
        "%g)", i, c, cases[i][8]);
  }
  const uint8_t ua[8] = { 255, 255, 255, 255, 1, 2, 3, 4 };
  const int8_t sb[8] = { -128, -128, -128, -128, 1, -1, 1, -1 };
  int32_t c = INT32_MIN + 100000;
  cle_amx_emu_load (0, &c, 4);
  cle_amx_emu_load (1, ua, 8);
  cle_amx_emu_load (2, sb, 4);
  cle_amx_emu_dpbusd (0, 1, 2);
  cle_amx_emu_store (0, &c, 4);
  /* 4 * 255 * -128 + (1 - 2 + 3 - 4) wraps past INT32_MIN */
  const int32_t want = (int32_t) ((uint32_t) (INT32_MIN + 100000)
      - 130560u - 2u);
  test_expect (c == want, "emulated tdpbusd: %d (want %d)", c, want);
  /* B with 3 rows cannot meet A's 2 groups: a CPU raises #UD */
  const int before = cle_amx_emu_faults ();
  cfg.rows[2] = 3;
  cle_amx_emu_load_config (&cfg);
  cle_amx_emu_dpbusd (0, 1, 2);
  test_expect (cle_amx_emu_faults () == before + 1, "emulated shapes that "
      "do not fit fault");
  /* a tile given twice (#UD); configurations ldtilecfg refuses (#GP),
   * each leaving the one before in place */
  cfg.rows[2] = 2;
  cle_amx_emu_load_config (&cfg);
  cle_amx_emu_dpbusd (0, 1, 1);
  ClipTileConfig bad[3] = { cfg, cfg, cfg };
  bad[0].reserved[5] = 1;
  bad[1].rows[9] = 1, bad[1].colsb[9] = 4;      /* palette 1 has 8 tiles */
  bad[2].rows[3] = 17, bad[2].colsb[3] = 4;
  for (int i = 0; i < 3; i++)
    cle_amx_emu_load_config (&bad[i]);
  cle_amx_emu_dpbusd (0, 1, 2);         /* still configured as cfg */
  test_expect (cle_amx_emu_faults () == before + 5, "emulated: a tile given "
      "twice and 3 refused configurations fault, the configuration stays "
      "(%d faults, want %d)", cle_amx_emu_faults () - before, 5);
  cle_amx_emu_release ();
}

/* The AMX blocks over the emulated instructions, and a whole model (the
 * choice is not tested here: it would time the emulation). */
int
main (void)
{
  printf ("# AMX: emulated tile instructions\n");
  check_kernel (CLE_KERNEL_AMX);
  test_expect (cle_amx_emu_faults () == 0, "the AMX blocks used the tiles "
      "as a CPU allows: %d faults", cle_amx_emu_faults ());
  check_emulation ();
  check_model ("tiny-clip", "amx-bf16,amx-int8");
  check_model ("gen/f32-gelu", "amx-bf16,amx-int8");
  return test_finish ();
}
#else
int
main (void)
{
  for (int k = CLE_KERNEL_C; k <= CLE_KERNEL_AMX; k++) {
    const int on = cle_kernel_supported (k, CLE_PRECISION_BF16)
        && cle_kernel_supported (k, CLE_PRECISION_INT8);
    printf ("# kernels %s, %s: %s\n", cle_kernel_name (k, CLE_PRECISION_BF16),
        cle_kernel_name (k, CLE_PRECISION_INT8), on ? "tested" :
        "not on this CPU");
    if (on)
      check_kernel (k);
  }
  check_model ("tiny-clip", NULL);
  check_model ("gen/f32-gelu", NULL);
  if (cle_kernel_supported (CLE_KERNEL_AMX, CLE_PRECISION_BF16))
    check_model ("tiny-clip", "amx-bf16,amx-int8");
  check_product_error ();
  check_kernel_choice ();
  check_bad_precision ();
  return test_finish ();
}
#endif
