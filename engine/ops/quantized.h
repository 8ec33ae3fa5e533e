/* quantized.h - Linear layers in bf16 and int8 (internal to the engine).
 *
 * The weights are converted once, at model load, into column panels:
 * 16 output columns by the whole input, g consecutive k values of one
 * column side by side (g = 2 for bf16, the pairs vdpbf16ps multiplies;
 * g = 4 for int8, the quads vpdpbusd multiplies):
 *   data[panel][k / g][column % 16][k % g]
 * k is padded with zeros to a multiple of g (AMX: of 16 g, a whole tile:
 * 16 k-groups of a panel are the 16 x 64-byte tile that tdpbf16ps and
 * tdpbusd take as their second operand), the last panel's columns with
 * zero weights. The activations are converted per call (bf16: rounded to
 * nearest even; int8: per row, scale max|x| / 127, stored as unsigned
 * q + 128) into tiles of MR rows, one 32-bit group per row and k-group:
 *   xq[tile][k / g][row % MR]   (rows past the last padded with zeros)
 * or, for AMX, into rows of 16 tiles (the tiles' first operand):
 *   xq[row][k / g]              (rows padded to a multiple of 16)
 * and the products accumulate in fp32 (bf16) or int32 (int8).
 *
 * int8: y[i][j] = sx[i] * sw[j] * (sum_k (qx[i][k] + 128) qw[j][k]
 *                                  - 128 * sum_k qw[j][k]) + b[j]
 * so col_sum holds sum_k qw[j][k] for the unsigned-offset correction. */
#ifndef CLE_QUANTIZED_H
#define CLE_QUANTIZED_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "kernel.h"

typedef struct
{
  ClipPrecision precision;      /* CLE_PRECISION_BF16 or _INT8 */
  ClipKernel kernel;            /* the blocks that multiply it */
  int n_out, n_in, k_pad;       /* k_pad: n_in rounded up (see above) */
  void *data;                   /* (n_out + 15) / 16 panels of 16 * k_pad */
  float *scale;                 /* int8: per output column */
  int32_t *col_sum;             /* int8: per output column */
} ClipPackedWeight;

/* k values side by side in one 32-bit lane. */
int cle_precision_group (ClipPrecision precision);
const char *cle_precision_name (ClipPrecision precision);

/* Converts w: (n_out, n_in) into pw for kernel (CLE_KERNEL_C, _AVX512 or
 * _AMX; the caller checks cle_kernel_supported). Returns CLE_OK or
 * CLE_ERROR_OUT_OF_MEMORY; pw is then empty (safe to clear). */
int cle_packed_weight_init (ClipPackedWeight *pw, const float *w, int n_out,
    int n_in, ClipPrecision precision, ClipKernel kernel, int n_threads);
void cle_packed_weight_clear (ClipPackedWeight *pw);
size_t cle_packed_weight_bytes (const ClipPackedWeight *pw);

/* y[p] = x @ w[p]^T + b[p] for p < n_proj, all w of the same shape:
 * x (n, n_in) row stride ldx (0 = dense), y[p] (n, n_out) stride ldy. */
void cle_linear_quantized (float *const *y, const float *x,
    const ClipPackedWeight *const *w, const float *const *b, int n_proj,
    int n, int ldx, int ldy, int n_threads);

/* The same with plain loops over the same quantized operands, whatever
 * w's kernel (the tests' reference for the SIMD kernels). */
void cle_linear_quantized_naive (float *y, const float *x,
    const ClipPackedWeight *w, const float *b, int n, int ldx, int ldy);

/* Whether this CPU runs the AVX-512 kernels of a precision. */
int cle_quantized_simd_supported (ClipPrecision precision);

#define CLE_QUANTIZED_MR 12     /* rows per tile of converted x */

/* Per-ISA blocks (quantized-avx512.c): rows [0, m) of converted x (tiled
 * as above; sx: int8 row scales) by panels [p0, p1) of w into y (row
 * stride ldy), y = x w^T + b. */
void cle_quantized_block_bf16 (float *y, const uint8_t *xq,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy);
void cle_quantized_block_int8 (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy);

/* The AMX blocks (quantized-amx.c), the same contract on xq in rows, and
 * what they were built over: nothing (a compiler without AMX: they do
 * nothing), the instructions, or their emulation (a build for the tests,
 * which runs on any CPU). */
typedef enum
{
  CLE_AMX_NONE,
  CLE_AMX_INSTRUCTIONS,
  CLE_AMX_EMULATED,
} ClipAmxBuild;
ClipAmxBuild cle_amx_build (void);
void cle_amx_block_bf16 (float *y, const uint8_t *xq,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy);
void cle_amx_block_int8 (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy);

/* One row of x into its groups at dst (group q at dst + q * stride bytes:
 * MR * 4 in tiles, 4 in rows), zero padded to kq groups: as convert_rows
 * in quantized.c. The int8 one returns the row's scale. */
void cle_quantized_convert_bf16 (uint8_t *dst, const float *x, int n_in,
    int kq, int stride);
float cle_quantized_convert_int8 (uint8_t *dst, const float *x, int n_in,
    int kq, int stride);

#endif
