/* kernel.h - which implementation runs a precision's matrix products in
 * this process (internal to the engine). bf16 and int8 promise speed, not
 * a number format: where their kernels do not beat the fp32 one on this
 * CPU, the fp32 kernel runs instead (the original weights, no converted
 * copy), so that asking for less precision is never slower. */
#ifndef CLE_KERNEL_H
#define CLE_KERNEL_H

#include <stddef.h>

#include "clip.h"

typedef enum
{
  CLE_KERNEL_FP32,              /* cle_linear on the fp32 weights */
  CLE_KERNEL_C,                 /* quantized operands, plain C blocks */
  CLE_KERNEL_AVX512,            /* vdpbf16ps / vpdpbusd (quantized-avx512.c) */
  CLE_KERNEL_AMX,               /* tdpbf16ps / tdpbusd (quantized-amx.c) */
} ClipKernel;

/* "amx-bf16", "avx512-int8", "c-bf16", ...; for CLE_KERNEL_FP32 the fp32
 * path of this process ("avx512-fp32", "avx2-fp32", "c-fp32",
 * "openblas-fp32"). A static string. */
const char *cle_kernel_name (ClipKernel kernel, ClipPrecision precision);

/* Whether kernel can run precision's products on this CPU (AMX: the CPU
 * has the tiles, the OS saves them and let this process use them). */
int cle_kernel_supported (ClipKernel kernel, ClipPrecision precision);

/* The kernel for a model of precision (fp32 always gets CLE_KERNEL_FP32):
 * the environment variable CLE_KERNEL if it names one for this precision
 * (a comma-separated list of names as cle_kernel_name gives them, "fp32"
 * for the fp32 kernel at any precision; the first that fits wins), else
 * the fastest of the SIMD kernels the CPU has that computes a test
 * product right (cle_kernel_product_error), if it beats fp32 by 5% on
 * ViT-B/32's layer shapes at batch 1 and 4 (timed once per process: the
 * minimum of interleaved runs), else fp32. Errors: an unknown name in
 * CLE_KERNEL (CLE_ERROR_INVALID_ARGUMENT), a kernel this CPU lacks
 * (CLE_ERROR_UNSUPPORTED). */
int cle_kernel_choose (ClipKernel *out, ClipPrecision precision,
    ClipError *err);

/* The calibration's check of each kernel it times, on a ViT-B/32 layer
 * of the most rows: the largest |y - ref| over the largest |ref| (NaN
 * counts as wrong), and what a precision may lose against fp32. A kernel
 * above it is not used and a warning names it and the CPU: the AMX
 * kernels are tested on their emulation where they are built, so a CPU
 * that runs them otherwise costs speed, not labels. */
double cle_kernel_product_error (const float *y, const float *ref,
    size_t n);
double cle_kernel_tolerance (ClipPrecision precision);

/* The CPU has AMX-TILE, AMX-BF16 and AMX-INT8, XCR0 enables the tile state
 * and Linux granted this process the tile data (arch_prctl
 * ARCH_REQ_XCOMP_PERM, asked once). */
int cle_amx_usable (void);

/* Where the CPU and XCR0 have AMX but Linux refused the permission, why
 * (strerror of arch_prctl's errno); else NULL. */
const char *cle_amx_refused (void);

#endif
