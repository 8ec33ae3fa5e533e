/* kernel.c - the choice of the kernel that runs bf16 and int8 products
 * (kernel.h): CLE_KERNEL, the CPU's features (AMX with the Linux
 * permission), and a one-time calibration that times the real kernels
 * against fp32. Knows nothing of the kernels' insides. */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "error.h"
#include "kernel.h"
#include "ops.h"
#include "quantized.h"

static const char *const fp32_names[] = {
  [CLE_GEMM_AUTO] = "fp32",
  [CLE_GEMM_C] = "c-fp32",
  [CLE_GEMM_AVX2] = "avx2-fp32",
  [CLE_GEMM_AVX512] = "avx512-fp32",
  [CLE_GEMM_OPENBLAS] = "openblas-fp32",
};

/* [kernel][precision == INT8] for the quantized kernels */
static const char *const quantized_names[][2] = {
  [CLE_KERNEL_C] = {"c-bf16", "c-int8"},
  [CLE_KERNEL_AVX512] = {"avx512-bf16", "avx512-int8"},
  [CLE_KERNEL_AMX] = {"amx-bf16", "amx-int8"},
};

const char *
cle_kernel_name (ClipKernel kernel, ClipPrecision precision)
{
  if (kernel == CLE_KERNEL_FP32 || precision == CLE_PRECISION_FP32)
    return fp32_names[cle_gemm_path_default ()];
  if (kernel < CLE_KERNEL_C || kernel > CLE_KERNEL_AMX)
    return "unknown";
  return quantized_names[kernel][precision == CLE_PRECISION_INT8];
}

#if defined(__x86_64__) && defined(__linux__)
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_state;
static int amx_refused_errno;   /* arch_prctl's errno where Linux said no */

static void
amx_detect (void)
{
  unsigned a, b, c, d;
  /* CPUID.(7,0):EDX bit 22 AMX-BF16, 24 AMX-TILE, 25 AMX-INT8 */
  if (!__get_cpuid_count (7, 0, &a, &b, &c, &d)
      || (d & (1u << 22 | 1u << 24 | 1u << 25)) != (1u << 22 | 1u << 24
          | 1u << 25))
    return;
  /* OSXSAVE, then XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the kernel
   * saves the tile state */
  if (!__get_cpuid (1, &a, &b, &c, &d) || !(c & (1u << 27)))
    return;
  unsigned lo, hi;
  __asm__ volatile ("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
  if ((lo & (3u << 17)) != (3u << 17))
    return;
  /* Linux (5.16+) hands the 8 KB of tile data to processes that ask;
   * without it the first tile instruction raises SIGILL */
  amx_state = syscall (SYS_arch_prctl, ARCH_REQ_XCOMP_PERM,
      XFEATURE_XTILEDATA) == 0;
  if (!amx_state) {
    /* e.g. EINVAL (a kernel before 5.16), EPERM, or ENOMEM: an installed
     * sigaltstack too small for the tile state */
    amx_refused_errno = errno;
    g_debug ("AMX: Linux refused the tile data (arch_prctl: %s)",
        g_strerror (amx_refused_errno));
  }
}

const char *
cle_amx_refused (void)
{
  /* an engine built without the AMX blocks never asks */
  if (cle_amx_build () != CLE_AMX_INSTRUCTIONS)
    return NULL;
  cle_amx_usable ();
  return amx_refused_errno ? g_strerror (amx_refused_errno) : NULL;
}

int
cle_amx_usable (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, amx_detect);
  return amx_state;
}
#else
int
cle_amx_usable (void)
{
  return 0;
}

const char *
cle_amx_refused (void)
{
  return NULL;
}
#endif

int
cle_kernel_supported (ClipKernel kernel, ClipPrecision precision)
{
  if (kernel == CLE_KERNEL_FP32 || kernel == CLE_KERNEL_C)
    return 1;
  if (precision == CLE_PRECISION_FP32)
    return 0;
  if (kernel == CLE_KERNEL_AVX512)
    return cle_quantized_simd_supported (precision);
  /* the AMX path converts activations with the AVX-512 code (its
   * emulation in the tests with either) */
  if (kernel == CLE_KERNEL_AMX)
    return cle_amx_build () == CLE_AMX_EMULATED
        || (cle_amx_build () == CLE_AMX_INSTRUCTIONS
        && cle_quantized_simd_supported (precision) && cle_amx_usable ());
  return 0;
}

/* ------------------------------------------------------- calibration -- */

/* A layer of ViT-B/32 (768 -> 768) at batch 1 (50 rows) and 4 (200 rows),
 * on one thread: about 1 ms per product in fp32 on AVX-512, so the whole
 * calibration takes ~20 ms once per process and precision. */
#define CAL_N_IN 768
#define CAL_N_OUT 768
#define CAL_REPS 5
static const int cal_rows[] = { 50, 200 };
#define CAL_N_SHAPES ((int) (sizeof cal_rows / sizeof cal_rows[0]))
/* a reduced precision must be this much faster: on a tie fp32 is exact */
#define CAL_MARGIN 0.95

static double
seconds_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct
{
  float *x, *w, *b, *y;
  float *ref;                   /* the fp32 product of the most rows */
  ClipPackedWeight packed[2];
  ClipKernel kernel[2];
  int n_kernel;
} Calibration;

/* Seconds of one product of m rows: fp32 (c < 0) or kernel c. */
static double
time_product (Calibration *cal, int c, int m)
{
  const double t0 = seconds_now ();
  if (c < 0)
    cle_linear (cal->y, cal->x, cal->w, cal->b, m, CAL_N_IN, CAL_N_OUT, 0, 0,
        1);
  else {
    const ClipPackedWeight *pw = &cal->packed[c];
    const float *b = cal->b;
    cle_linear_quantized (&cal->y, cal->x, &pw, &b, 1, m, 0, 0, 1);
  }
  return seconds_now () - t0;
}

double
cle_kernel_product_error (const float *y, const float *ref, size_t n)
{
  double max_d = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs ((double) y[i] - ref[i]);
    if (isnan (d))
      return INFINITY;
    max_d = fmax (max_d, d);
    max_ref = fmax (max_ref, fabs (ref[i]));
  }
  return max_ref > 0.0 ? max_d / max_ref : max_d;
}

double
cle_kernel_tolerance (ClipPrecision precision)
{
  /* twice what test-quantized allows against fp32 (bf16 keeps 8 bits of
   * mantissa, int8 7 bits of a row's range); a kernel that misreads its
   * operands is off by the size of the values */
  return precision == CLE_PRECISION_INT8 ? 0.06 : 0.02;
}

/* "model name" of /proc/cpuinfo into name (size bytes), for the warning
 * above. */
static const char *
cpu_model (char *name, size_t size)
{
  g_strlcpy (name, "unknown CPU", size);
  FILE *f = fopen ("/proc/cpuinfo", "r");
  char line[256];
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, "model name", 10) == 0 && strchr (line, ':')) {
      g_strlcpy (name, g_strstrip (strchr (line, ':') + 1), size);
      break;
    }
  if (f)
    fclose (f);
  return name;
}

static ClipKernel
calibrate (ClipPrecision precision)
{
  Calibration cal = { 0 };
  if (cle_kernel_supported (CLE_KERNEL_AMX, precision))
    cal.kernel[cal.n_kernel++] = CLE_KERNEL_AMX;
  if (cle_kernel_supported (CLE_KERNEL_AVX512, precision))
    cal.kernel[cal.n_kernel++] = CLE_KERNEL_AVX512;
  /* the plain C blocks never beat a SIMD fp32 path */
  if (cal.n_kernel == 0)
    return CLE_KERNEL_FP32;

  const int m_max = cal_rows[CAL_N_SHAPES - 1];
  cal.x = malloc ((size_t) m_max * CAL_N_IN * sizeof (float));
  cal.w = malloc ((size_t) CAL_N_OUT * CAL_N_IN * sizeof (float));
  cal.b = malloc ((size_t) CAL_N_OUT * sizeof (float));
  cal.y = malloc ((size_t) m_max * CAL_N_OUT * sizeof (float));
  cal.ref = malloc ((size_t) m_max * CAL_N_OUT * sizeof (float));
  ClipKernel choice = CLE_KERNEL_FP32;
  int n_packed = 0;
  if (!cal.x || !cal.w || !cal.b || !cal.y || !cal.ref)
    goto out;
  /* weights and activations of a trained layer's magnitudes (any finite
   * values time the same) */
  uint32_t s = 12345;
  for (size_t i = 0; i < (size_t) m_max * CAL_N_IN; i++, s = s * 1664525u
      + 1013904223u)
    cal.x[i] = (float) (s >> 8) / (1 << 24) * 4.0f - 2.0f;
  for (size_t i = 0; i < (size_t) CAL_N_OUT * CAL_N_IN; i++, s = s
      * 1664525u + 1013904223u)
    cal.w[i] = (float) (s >> 8) / (1 << 24) * 0.1f - 0.05f;
  memset (cal.b, 0, CAL_N_OUT * sizeof (float));
  for (; n_packed < cal.n_kernel; n_packed++)
    if (cle_packed_weight_init (&cal.packed[n_packed], cal.w, CAL_N_OUT,
            CAL_N_IN, precision, cal.kernel[n_packed], 1) != CLE_OK)
      goto out;

  /* a kernel that does not compute this product is not timed, let alone
   * chosen */
  cle_linear (cal.ref, cal.x, cal.w, cal.b, m_max, CAL_N_IN, CAL_N_OUT, 0, 0,
      1);
  int n_ok = 0;
  for (int c = 0; c < cal.n_kernel; c++) {
    time_product (&cal, c, m_max);
    const double error = cle_kernel_product_error (cal.y, cal.ref,
        (size_t) m_max * CAL_N_OUT);
    if (error <= cle_kernel_tolerance (precision)) {
      cal.kernel[n_ok] = cal.kernel[c];
      cal.packed[n_ok++] = cal.packed[c];
    } else {
      char cpu[128];
      g_warning ("the %s kernel is off by %.3g of the largest value on a "
          "test product (at most %.3g expected), so fp32 or another kernel "
          "runs %s; please report this CPU (%s)", cle_kernel_name
          (cal.kernel[c], precision), error, cle_kernel_tolerance
          (precision), cle_precision_name (precision), cpu_model (cpu,
              sizeof cpu));
      cle_packed_weight_clear (&cal.packed[c]);
    }
  }
  cal.n_kernel = n_packed = n_ok;
  if (n_ok == 0)
    goto out;

  /* the minimum of interleaved runs: another process taking the core
   * slows some runs of every kernel, rarely all of one */
  double best[3][CAL_N_SHAPES];
  for (int c = 0; c <= cal.n_kernel; c++)
    for (int i = 0; i < CAL_N_SHAPES; i++)
      best[c][i] = INFINITY;
  for (int rep = 0; rep <= CAL_REPS; rep++)
    for (int i = 0; i < CAL_N_SHAPES; i++)
      for (int c = -1; c < cal.n_kernel; c++) {
        const double t = time_product (&cal, c, cal_rows[i]);
        /* run 0 warms the caches and the thread buffers */
        if (rep > 0 && t < best[c + 1][i])
          best[c + 1][i] = t;
      }
  double best_ratio = CAL_MARGIN;
  for (int c = 0; c < cal.n_kernel; c++) {
    double worst = 0.0;         /* its worst ratio to fp32 over the shapes */
    for (int i = 0; i < CAL_N_SHAPES; i++)
      worst = fmax (worst, best[c + 1][i] / best[0][i]);
    if (worst < best_ratio) {
      best_ratio = worst;
      choice = cal.kernel[c];
    }
  }
out:
  for (int c = 0; c < n_packed; c++)
    cle_packed_weight_clear (&cal.packed[c]);
  free (cal.x);
  free (cal.w);
  free (cal.b);
  free (cal.y);
  free (cal.ref);
  return choice;
}

static ClipKernel calibrated_bf16, calibrated_int8;

static void
calibrate_bf16 (void)
{
  calibrated_bf16 = calibrate (CLE_PRECISION_BF16);
}

static void
calibrate_int8 (void)
{
  calibrated_int8 = calibrate (CLE_PRECISION_INT8);
}

/* The calibrated kernel of a reduced precision, timed on first use. */
static ClipKernel
kernel_calibrated (ClipPrecision precision)
{
  static pthread_once_t once_bf16 = PTHREAD_ONCE_INIT;
  static pthread_once_t once_int8 = PTHREAD_ONCE_INIT;
  if (precision == CLE_PRECISION_BF16) {
    pthread_once (&once_bf16, calibrate_bf16);
    return calibrated_bf16;
  }
  pthread_once (&once_int8, calibrate_int8);
  return calibrated_int8;
}

/* ---------------------------------------------------------- override -- */

/* CLE_KERNEL's entry [name, name + len) -> *kernel, *entry_precision
 * (CLE_PRECISION_FP32 for the fp32 kernel, which fits any precision).
 * Returns 0 for an unknown name. */
static int
parse_entry (const char *name, size_t len, ClipKernel *kernel,
    ClipPrecision *entry_precision)
{
  const char *fp32 = cle_kernel_name (CLE_KERNEL_FP32, CLE_PRECISION_FP32);
  if ((len == 4 && memcmp (name, "fp32", 4) == 0)
      || (len == strlen (fp32) && memcmp (name, fp32, len) == 0)) {
    *kernel = CLE_KERNEL_FP32;
    *entry_precision = CLE_PRECISION_FP32;
    return 1;
  }
  for (int k = CLE_KERNEL_C; k <= CLE_KERNEL_AMX; k++)
    for (int p = CLE_PRECISION_BF16; p <= CLE_PRECISION_INT8; p++) {
      const char *n = cle_kernel_name (k, p);
      if (len == strlen (n) && memcmp (name, n, len) == 0) {
        *kernel = k;
        *entry_precision = p;
        return 1;
      }
    }
  return 0;
}

int
cle_kernel_choose (ClipKernel *out, ClipPrecision precision, ClipError *err)
{
  *out = CLE_KERNEL_FP32;
  const char *env = getenv ("CLE_KERNEL");
  int forced = 0;
  for (const char *e = env; e && *e;) {
    const size_t len = strcspn (e, ",");
    ClipKernel k;
    ClipPrecision p;
    if (len > 0 && !parse_entry (e, len, &k, &p))
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "CLE_KERNEL: '%.*s' is not a kernel (expected fp32, %s, c-bf16, "
          "c-int8, avx512-bf16, avx512-int8, amx-bf16 or amx-int8)",
          (int) len, e, cle_kernel_name (CLE_KERNEL_FP32,
              CLE_PRECISION_FP32));
    if (len > 0 && !forced && precision != CLE_PRECISION_FP32
        && (p == precision || p == CLE_PRECISION_FP32)) {
      if (!cle_kernel_supported (k, precision)) {
        const char *refused = k == CLE_KERNEL_AMX ? cle_amx_refused ()
            : NULL;
        return cle_error_set (err, CLE_ERROR_UNSUPPORTED,
            "CLE_KERNEL: this CPU cannot run %s%s%s%s", cle_kernel_name (k,
                precision), refused ? " (the CPU has AMX, but Linux refused "
            "this process its tile state: " : "", refused ? refused : "",
            refused ? ")" : "");
      }
      *out = k;
      forced = 1;
    }
    e += len + (e[len] == ',');
  }
  if (!forced && precision != CLE_PRECISION_FP32)
    *out = kernel_calibrated (precision);
  return CLE_OK;
}
