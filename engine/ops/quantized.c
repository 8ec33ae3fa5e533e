/* quantized.c - bf16 and int8 Linear layers (layout in quantized.h): the
 * weight conversion at load, the activation conversion per call, the
 * thread split, and plain C blocks (the tests' reference, and what
 * CLE_KERNEL=c-bf16|c-int8 runs). The blocks of w->kernel do the rest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>


#include "ops.h"
#include "quantized.h"

#define PANEL 16                /* output columns per panel */

int
cle_precision_group (ClipPrecision precision)
{
  return precision == CLE_PRECISION_INT8 ? 4 : 2;
}

const char *
cle_precision_name (ClipPrecision precision)
{
  switch (precision) {
    case CLE_PRECISION_FP32:
      return "fp32";
    case CLE_PRECISION_BF16:
      return "bf16";
    case CLE_PRECISION_INT8:
      return "int8";
  }
  return "unknown";
}

int
cle_precision_from_string (const char *name, ClipPrecision *out)
{
  for (int p = CLE_PRECISION_FP32; p <= CLE_PRECISION_INT8; p++)
    if (name && strcmp (name, cle_precision_name (p)) == 0) {
      *out = p;
      return 1;
    }
  return 0;
}

int
cle_quantized_simd_supported (ClipPrecision precision)
{
#if defined(__x86_64__) || defined(__i386__)
  if (!__builtin_cpu_supports ("avx512f")
      || !__builtin_cpu_supports ("avx512bw"))
    return 0;
  if (precision == CLE_PRECISION_BF16)
    return __builtin_cpu_supports ("avx512bf16");
  if (precision == CLE_PRECISION_INT8)
    return __builtin_cpu_supports ("avx512vnni");
#endif
  (void) precision;
  return 0;
}

/* fp32 -> bf16, rounded to nearest even (as vcvtneps2bf16; the values
 * here are finite). */
static inline uint16_t
to_bf16 (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t) (u >> 16);
}

static inline float
from_bf16 (uint16_t h)
{
  uint32_t u = (uint32_t) h << 16;
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

/* max|x| / 127 (1 for a zero row): the int8 step of a row. */
static float
row_scale (const float *x, int n)
{
  float amax = 0.0f;
  for (int k = 0; k < n; k++) {
    const float a = fabsf (x[k]);
    amax = a > amax ? a : amax;
  }
  return amax > 0.0f ? amax / 127.0f : 1.0f;
}

static size_t
panel_elements (const ClipPackedWeight *pw)
{
  return (size_t) PANEL * pw->k_pad;
}

void
cle_packed_weight_clear (ClipPackedWeight *pw)
{
  free (pw->data);
  free (pw->scale);
  free (pw->col_sum);
  memset (pw, 0, sizeof *pw);
}

size_t
cle_packed_weight_bytes (const ClipPackedWeight *pw)
{
  const size_t n_panel = (pw->n_out + PANEL - 1) / PANEL;
  const size_t elem = pw->precision == CLE_PRECISION_INT8 ? 1 : 2;
  size_t bytes = n_panel * panel_elements (pw) * elem;
  if (pw->precision == CLE_PRECISION_INT8)
    bytes += (size_t) pw->n_out * (sizeof (float) + sizeof (int32_t));
  return bytes;
}

/* rint for |v| < 2^22 without a libm call: round to nearest even by
 * adding and removing 1.5 * 2^23. */
static inline float
round_even (float v)
{
  return (v + 12582912.0f) - 12582912.0f;
}

/* Panel p of w, written in order (every byte, padding included), so that
 * fresh pages are touched once and sequentially. int8: the columns'
 * scales are computed first. */
static void
pack_panel (ClipPackedWeight *pw, const float *w, int p)
{
  const int g = cle_precision_group (pw->precision), kq = pw->k_pad / g;
  const int n_in = pw->n_in;
  const float *rows[PANEL];
  float inv[PANEL];
  int32_t sum[PANEL] = { 0 };
  for (int c = 0; c < PANEL; c++) {
    const int j = p * PANEL + c;
    rows[c] = j < pw->n_out ? w + (size_t) j * n_in : NULL;
    if (pw->precision == CLE_PRECISION_INT8 && rows[c]) {
      /* symmetric per column, scale max|w| / 127 */
      pw->scale[j] = row_scale (rows[c], n_in);
      inv[c] = 1.0f / pw->scale[j];
    }
  }
  if (pw->precision == CLE_PRECISION_BF16) {
    uint16_t *d = (uint16_t *) pw->data + (size_t) p * panel_elements (pw);
    for (int q = 0; q < kq; q++)
      for (int c = 0; c < PANEL; c++)
        for (int e = 0; e < 2; e++, d++) {
          const int k = q * 2 + e;
          *d = rows[c] && k < n_in ? to_bf16 (rows[c][k]) : 0;
        }
    return;
  }
  int8_t *d = (int8_t *) pw->data + (size_t) p * panel_elements (pw);
  for (int q = 0; q < kq; q++)
    for (int c = 0; c < PANEL; c++)
      for (int e = 0; e < 4; e++, d++) {
        const int k = q * 4 + e;
        int v = 0;
        if (rows[c] && k < n_in) {
          v = (int) round_even (rows[c][k] * inv[c]);
          v = v < -127 ? -127 : v > 127 ? 127 : v;
        }
        *d = (int8_t) v;
        sum[c] += v;
      }
  for (int c = 0; c < PANEL && p * PANEL + c < pw->n_out; c++)
    pw->col_sum[p * PANEL + c] = sum[c];
}

typedef struct
{
  ClipPackedWeight *pw;
  const float *w;
  int n_panel;
} PackJob;

static void
pack_part (void *arg, int t, int T)
{
  const PackJob *job = arg;
  for (int p = job->n_panel * t / T; p < job->n_panel * (t + 1) / T; p++)
    pack_panel (job->pw, job->w, p);
}

/* Memory for converted weights: 2 MB aligned when large, with transparent
 * huge pages asked for, since a first touch costs ~10 us per 4 KB page in
 * the VMs measured (a ViT-B/32 in bf16 is 175 MB: 0.4 s of faults). */
static void *
weight_alloc (size_t bytes)
{
  const size_t huge = (size_t) 2 << 20;
  if (bytes < huge)
    return aligned_alloc (64, (bytes + 63) & ~(size_t) 63);
  void *p = aligned_alloc (huge, (bytes + huge - 1) & ~(huge - 1));
#ifdef MADV_HUGEPAGE
  if (p)
    madvise (p, (bytes + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
#endif
  return p;
}

/* The AMX tiles: 16 rows of 64 bytes. */
#define AMX_ROWS 16

int
cle_packed_weight_init (ClipPackedWeight *pw, const float *w, int n_out,
    int n_in, ClipPrecision precision, ClipKernel kernel, int n_threads)
{
  memset (pw, 0, sizeof *pw);
  pw->precision = precision;
  pw->kernel = kernel;
  pw->n_out = n_out;
  pw->n_in = n_in;
  const int g = cle_precision_group (precision);
  const int k_align = kernel == CLE_KERNEL_AMX ? AMX_ROWS * g : g;
  pw->k_pad = (n_in + k_align - 1) / k_align * k_align;
  const int n_panel = (n_out + PANEL - 1) / PANEL;
  const size_t elem = precision == CLE_PRECISION_INT8 ? 1 : 2;
  pw->data = weight_alloc ((size_t) n_panel * panel_elements (pw) * elem);
  if (precision == CLE_PRECISION_INT8) {
    pw->scale = malloc ((size_t) n_out * sizeof (float));
    pw->col_sum = malloc ((size_t) n_out * sizeof (int32_t));
  }
  if (!pw->data || (precision == CLE_PRECISION_INT8
          && (!pw->scale || !pw->col_sum))) {
    cle_packed_weight_clear (pw);
    return CLE_ERROR_OUT_OF_MEMORY;
  }
#ifdef MADV_POPULATE_READ
  /* w is usually a mapped checkpoint read for the first time: map its
   * pages in one call rather than fault them in one by one (a no-op error
   * on kernels before 5.14) */
  const uintptr_t page = 4096, a0 = (uintptr_t) w & ~(page - 1);
  const uintptr_t a1 = (uintptr_t) (w + (size_t) n_out * n_in);
  madvise ((void *) a0, a1 - a0, MADV_POPULATE_READ);
#endif
  PackJob job = { pw, w, n_panel };
  cle_parallel (n_threads, pack_part, &job);
  return CLE_OK;
}

#define MR CLE_QUANTIZED_MR

/* Converted x comes in whole tiles of this many rows. */
static inline int
tile_rows (const ClipPackedWeight *w)
{
  return w->kernel == CLE_KERNEL_AMX ? AMX_ROWS : MR;
}

/* Bytes of converted x for n rows. */
static size_t
converted_bytes (const ClipPackedWeight *w, int n)
{
  const int rows = tile_rows (w);
  return (size_t) (n + rows - 1) / rows * rows * w->k_pad
      * (w->precision == CLE_PRECISION_INT8 ? 1 : 2);
}

/* Bytes from one k-group of a converted row to the next. */
static inline int
group_stride (const ClipPackedWeight *w)
{
  return w->kernel == CLE_KERNEL_AMX ? 4 : MR * 4;
}

/* The 32-bit group of row r, k-group q (the layouts of quantized.h). */
static inline size_t
group_offset (const ClipPackedWeight *w, int r, int q)
{
  const int kq = w->k_pad / cle_precision_group (w->precision);
  if (w->kernel == CLE_KERNEL_AMX)
    return ((size_t) r * kq + q) * 4;
  return (((size_t) (r / MR) * kq + q) * MR + r % MR) * 4;
}

/* Row r of prep->x, before it is converted. */
static void
prepare_row (const ClipRowPrepare *prep, int r, int n_in)
{
  if (prep->op == CLE_PREPARE_ADD_LAYER_NORM) {
    float *s = prep->src + (size_t) r * n_in;
    const float *h = prep->x + (size_t) r * n_in;
    for (int j = 0; j < n_in; j++)
      s[j] += h[j];
  }
  if (prep->op != CLE_PREPARE_ACTIVATION)
    cle_layer_norm_rows (prep->x, prep->src, prep->g, prep->b, r, r + 1, n_in,
        prep->eps);
  else
    cle_activation_range (prep->x + (size_t) r * n_in, 0, n_in, prep->act);
}

/* Rows [0, n) of prep->x, where they are not converted (no product to
 * run, or no memory for the converted rows). */
static void
prepare_rows (const ClipRowPrepare *prep, int n, int n_in)
{
  for (int r = 0; prep && r < n; r++)
    prepare_row (prep, r, n_in);
}

/* Rows [r0, r1) of x into xq in w's layout and, for int8, their scales
 * into sx; with the AVX-512 code if simd; each row prepared first (prep:
 * x is prep->x) unless prep is NULL. Rows from n_rows up to the end of
 * their tile read as zeros. */
static void
convert_rows (uint8_t *xq, float *sx, const float *x, int ldx,
    const ClipPackedWeight *w, int n_rows, int r0, int r1, int simd,
    const ClipRowPrepare *prep)
{
  const int n_in = w->n_in, g = cle_precision_group (w->precision);
  const int kq = w->k_pad / g, stride = group_stride (w);
  /* a padding row's groups: zeros after the offset (bf16 0, int8 128) */
  const uint8_t pad = w->precision == CLE_PRECISION_INT8 ? 128 : 0;
  for (int r = r0; r < r1; r++) {
    uint8_t *d = xq + group_offset (w, r, 0);
    if (r >= n_rows) {
      /* filled, not converted: a tile's padding rows (up to 15 of a
       * 16-row AMX tile) would cost the last thread as much as its rows */
      if (stride == 4)
        memset (d, pad, (size_t) kq * 4);
      else
        for (int q = 0; q < kq; q++, d += stride)
          memset (d, pad, 4);
      continue;
    }
    const float *xr = x + (size_t) r * ldx;
    if (prep)
      prepare_row (prep, r, n_in);
#if defined(__x86_64__) || defined(__i386__)
    if (simd) {
      if (w->precision == CLE_PRECISION_BF16)
        cle_quantized_convert_bf16 (d, xr, n_in, kq, stride);
      else
        sx[r] = cle_quantized_convert_int8 (d, xr, n_in, kq, stride);
      continue;
    }
#endif
    if (w->precision == CLE_PRECISION_BF16) {
      for (int q = 0; q < kq; q++, d += stride) {
        const int k = 2 * q;
        const uint16_t pair[2] = {
          k < n_in ? to_bf16 (xr[k]) : 0,
          k + 1 < n_in ? to_bf16 (xr[k + 1]) : 0,
        };
        memcpy (d, pair, 4);
      }
      continue;
    }
    const float scale = row_scale (xr, n_in), inv = 1.0f / scale;
    for (int q = 0; q < kq; q++, d += stride)
      for (int e = 0; e < 4; e++) {
        const int k = q * 4 + e;
        /* q + 128 = floor(x / scale + 128.5): round half up, in [1, 255];
         * k past n_in is 128, a zero after the offset */
        const int v = k < n_in ? (int) (xr[k] * inv + 128.5f) : 128;
        d[e] = (uint8_t) (v < 1 ? 1 : v > 255 ? 255 : v);
      }
    sx[r] = scale;
  }
}

/* Plain C: rows [0, m) by panels [p0, p1), the same sums as the SIMD
 * blocks (bf16 products summed in fp32, int8 in int32). */
static void
block_c (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  const int g = cle_precision_group (w->precision), kq = w->k_pad / g;
  for (int p = p0; p < p1; p++)
    for (int c = 0; c < PANEL && p * PANEL + c < w->n_out; c++) {
      const int j = p * PANEL + c;
      const size_t base = (size_t) p * panel_elements (w) + (size_t) c * g;
      for (int i = 0; i < m; i++) {
        float v;
        if (w->precision == CLE_PRECISION_BF16) {
          const uint16_t *wd = w->data;
          float acc = 0.0f;
          for (int q = 0; q < kq; q++) {
            uint16_t pair[2];
            memcpy (pair, xq + group_offset (w, i, q), 4);
            for (int e = 0; e < 2; e++)
              acc += from_bf16 (pair[e])
                  * from_bf16 (wd[base + (size_t) q * PANEL * g + e]);
          }
          v = acc;
        } else {
          const int8_t *wd = w->data;
          int32_t acc = 0;
          for (int q = 0; q < kq; q++) {
            const uint8_t *quad = xq + group_offset (w, i, q);
            for (int e = 0; e < 4; e++)
              acc += quad[e] * wd[base + (size_t) q * PANEL * g + e];
          }
          v = sx[i] * w->scale[j] * (float) (acc - 128 * w->col_sum[j]);
        }
        y[(size_t) i * ldy + j] = v + (b ? b[j] : 0.0f);
      }
    }
}

static void
block (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  const int int8 = w->precision == CLE_PRECISION_INT8;
  switch (w->kernel) {
#if defined(__x86_64__) || defined(__i386__)
    case CLE_KERNEL_AVX512:
      if (int8)
        cle_quantized_block_int8 (y, xq, sx, w, b, m, p0, p1, ldy);
      else
        cle_quantized_block_bf16 (y, xq, w, b, m, p0, p1, ldy);
      return;
    case CLE_KERNEL_AMX:
      if (int8)
        cle_amx_block_int8 (y, xq, sx, w, b, m, p0, p1, ldy);
      else
        cle_amx_block_bf16 (y, xq, w, b, m, p0, p1, ldy);
      return;
#endif
    default:
      block_c (y, xq, sx, w, b, m, p0, p1, ldy);
  }
}

void
cle_linear_quantized_naive (float *y, const float *x,
    const ClipPackedWeight *w, const float *b, int n, int ldx, int ldy)
{
  if (ldx == 0)
    ldx = w->n_in;
  if (ldy == 0)
    ldy = w->n_out;
  /* one row at a time: a tile's worth of memory */
  uint8_t *xq = malloc (converted_bytes (w, 1));
  float sx;
  if (!xq)
    return;
  for (int i = 0; i < n; i++) {
    convert_rows (xq, &sx, x + (size_t) i * ldx, ldx, w, 1, 0, tile_rows (w),
        0, NULL);
    block_c (y + (size_t) i * ldy, xq, &sx, w, b, 1, 0,
        (w->n_out + PANEL - 1) / PANEL, ldy);
  }
  free (xq);
}

typedef struct
{
  float *const *y;
  const float *x;
  const ClipPackedWeight *const *w;
  const float *const *b;
  int n, ldx, ldy;
  uint8_t *xq;
  float *sx;
  int simd, n_panel, n_work;
  const ClipRowPrepare *prep;
} QuantizedJob;

static void
convert_part (void *arg, int t, int T)
{
  const QuantizedJob *job = arg;
  const int n = job->n;
  /* the last thread converts the padding of the last tile too */
  const int rows = tile_rows (job->w[0]);
  const int n_padded = (n + rows - 1) / rows * rows;
  convert_rows (job->xq, job->sx, job->x, job->ldx, job->w[0], n,
      (int) ((long) n * t / T),
      t + 1 == T ? n_padded : (int) ((long) n * (t + 1) / T), job->simd,
      job->prep);
}

static void
multiply_part (void *arg, int t, int T)
{
  const QuantizedJob *job = arg;
  const int n_panel = job->n_panel;
  const int q1 = (int) ((long) job->n_work * (t + 1) / T);
  for (int q = (int) ((long) job->n_work * t / T); q < q1;) {
    const int p = q / n_panel, first = q % n_panel;
    const int last = first + (q1 - q) < n_panel ? first + (q1 - q) : n_panel;
    block (job->y[p], job->xq, job->sx, job->w[p], job->b[p], job->n, first,
        last, job->ldy);
    q += last - first;
  }
}

static void linear_quantized (float *const *y, const float *x,
    const ClipPackedWeight *const *w, const float *const *b, int n_proj,
    int n, int ldx, int ldy, const ClipRowPrepare *prep, int n_threads);

void
cle_linear_quantized (float *const *y, const float *x,
    const ClipPackedWeight *const *w, const float *const *b, int n_proj,
    int n, int ldx, int ldy, int n_threads)
{
  linear_quantized (y, x, w, b, n_proj, n, ldx, ldy, NULL, n_threads);
}

void
cle_linear_quantized_prepared (float *const *y, const ClipRowPrepare *prep,
    const ClipPackedWeight *const *w, const float *const *b, int n_proj,
    int n, int n_threads)
{
  linear_quantized (y, prep->x, w, b, n_proj, n, 0, 0, prep, n_threads);
}

static void
linear_quantized (float *const *y, const float *x,
    const ClipPackedWeight *const *w, const float *const *b, int n_proj,
    int n, int ldx, int ldy, const ClipRowPrepare *prep, int n_threads)
{
  const ClipPackedWeight *w0 = w[0];
  if (ldx == 0)
    ldx = w0->n_in;
  if (ldy == 0)
    ldy = w0->n_out;
  if (n <= 0 || w0->n_out <= 0) {
    prepare_rows (prep, n, w0->n_in);
    return;
  }
  const size_t xq_bytes = converted_bytes (w0, n);
  uint8_t *xq = cle_thread_buffer (CLE_BUFFER_QUANTIZED,
      xq_bytes + (size_t) n * sizeof (float));
  if (!xq) {
    /* memory is short: one row at a time, on this thread */
    prepare_rows (prep, n, w0->n_in);
    for (int p = 0; p < n_proj; p++)
      cle_linear_quantized_naive (y[p], x, w[p], b[p], n, ldx, ldy);
    return;
  }
  float *sx = (float *) (xq + xq_bytes);
  /* the AMX blocks convert x with the AVX-512 code too, where it runs
   * (their emulation in the tests may run without) */
  const int simd = w0->kernel != CLE_KERNEL_C
      && cle_quantized_simd_supported (w0->precision);
  const int n_panel = (w0->n_out + PANEL - 1) / PANEL;
  const int n_work = n_panel * n_proj;
  const double flops = 2.0 * n * w0->n_in * w0->n_out * n_proj;
  const int nt = cle_threads_resolve (n_threads);
  QuantizedJob job = { y, x, w, b, n, ldx, ldy, xq, sx, simd, n_panel,
    n_work, prep
  };

  /* The threads convert their shares of the rows, then (once all are
   * converted) multiply all rows by their shares of the panels, each read
   * once. */
  const int use = flops < 2e5 ? 1 : nt < n_work ? nt : n_work;
  cle_parallel (use, convert_part, &job);
  cle_parallel (use, multiply_part, &job);
}
