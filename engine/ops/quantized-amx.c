/* quantized-amx.c - the bf16 (tdpbf16ps) and int8 (tdpbusd) blocks of
 * cle_linear_quantized on AMX tiles: 32 rows of x by 2 panels of w (4
 * accumulator tiles of 16 x 16) per step, 16 k-groups a step. The panels
 * of w are already the tiles' second operand (quantized.h), x comes in
 * rows; the sums leave the tiles once, at the end, for the scales and the
 * bias. Written over amx-tile.h: built with the AMX flags for the engine,
 * and over the instructions' emulation for the tests. */
#include <string.h>

#include "amx-tile.h"
#include "quantized.h"

#if defined(__AMX_TILE__) || defined(CLE_AMX_EMULATE)

#define PANEL 16                /* output columns per panel and tile */
#define TILE_ROWS 16
#define TILE_BYTES 64           /* per row: 16 groups of 4 bytes */

/* The tiles: accumulators C[row block][panel], x's A[row block], w's
 * B[panel]. */
#define C00 0
#define C01 1
#define C10 2
#define C11 3
#define A0 4
#define A1 5
#define B0 6
#define B1 7

/* One accumulator tile as it leaves the tiles. */
typedef union
{
  float f[TILE_ROWS * PANEL];
  int32_t i[TILE_ROWS * PANEL];
} TileSums;

static inline int
imin (int a, int b)
{
  return a < b ? a : b;
}

/* Palette 1, all 8 tiles 16 rows of 64 bytes: one shape for every
 * operand, so one configuration serves both precisions and every edge
 * (x is padded to whole tiles of rows, k to whole tiles). */
static void
configure (void)
{
  ClipTileConfig cfg;
  memset (&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = TILE_ROWS;
    cfg.colsb[t] = TILE_BYTES;
  }
  TILE_LOAD_CONFIG (&cfg);
}

/* 16 lanes of a tile row, in GNU vector extensions: AVX-512 in the
 * engine's build, SSE in the emulated one, the same lanewise arithmetic. */
typedef float v16sf __attribute__ ((vector_size (64)));
typedef int32_t v16si __attribute__ ((vector_size (64)));

/* The sums of one accumulator tile into y: rows [0, rows) and the
 * panel's columns from j0 below n_out, with the same arithmetic as
 * quantized.c's block_c (this file is built with -ffp-contract=off), so
 * int8 results equal the plain C ones. Vectors: a scalar loop here would
 * take longer than the tile products of k = 768. */
static inline __attribute__ ((always_inline)) void
finish (int int8, float *y, const TileSums *sums, const float *sx,
    const ClipPackedWeight *w, const float *b, int rows, int j0, int ldy)
{
  const int n_cols = imin (PANEL, w->n_out - j0);
  /* the columns' terms, zero past n_out */
  float bias[PANEL] = { 0 }, scale[PANEL] = { 0 };
  int32_t offset[PANEL] = { 0 };
  for (int c = 0; c < n_cols; c++) {
    bias[c] = b ? b[j0 + c] : 0.0f;
    if (int8) {
      scale[c] = w->scale[j0 + c];
      offset[c] = 128 * w->col_sum[j0 + c];
    }
  }
  v16sf vbias, vscale;
  v16si voffset;
  memcpy (&vbias, bias, sizeof vbias);
  memcpy (&vscale, scale, sizeof vscale);
  memcpy (&voffset, offset, sizeof voffset);
  for (int r = 0; r < rows; r++) {
    v16sf v;
    if (int8) {
      v16si acc;
      memcpy (&acc, sums->i + r * PANEL, sizeof acc);
      v = sx[r] * vscale * __builtin_convertvector (acc - voffset, v16sf);
    } else
      memcpy (&v, sums->f + r * PANEL, sizeof v);
    v = v + vbias;
    memcpy (y + (size_t) r * ldy + j0, &v, (size_t) n_cols * sizeof (float));
  }
}

#define DOT(int8, c, a, b) do {                                               \
    if (int8)                                                                 \
      TILE_DPBUSD (c, a, b);                                                  \
    else                                                                      \
      TILE_DPBF16PS (c, a, b);                                                \
  } while (0)

/* Rows [0, rows) (at most 16 ma) of y by panels p .. p + nb - 1 (ma, nb:
 * 1 or 2, constants after inlining): xa is the rows' converted x (lda
 * bytes a row, kq groups of 4). While the tiles are configured nothing
 * is called but memcpy (the tile registers are not preserved across
 * calls). */
static inline __attribute__ ((always_inline)) void
tiles (int int8, int ma, int nb, float *y, const uint8_t *xa, size_t lda,
    int kq, const float *sx, const ClipPackedWeight *w, const float *b,
    int rows, int p, int ldy)
{
  const size_t panel_bytes = (size_t) TILE_BYTES * kq;
  const uint8_t *wp = (const uint8_t *) w->data + (size_t) p * panel_bytes;
  TILE_ZERO (C00);
  if (nb == 2)
    TILE_ZERO (C01);
  if (ma == 2) {
    TILE_ZERO (C10);
    if (nb == 2)
      TILE_ZERO (C11);
  }
  for (int q = 0; q < kq; q += TILE_ROWS) {
    TILE_LOAD (A0, xa + (size_t) q * 4, lda);
    if (ma == 2)
      TILE_LOAD (A1, xa + TILE_ROWS * lda + (size_t) q * 4, lda);
    TILE_LOAD (B0, wp + (size_t) q * TILE_BYTES, TILE_BYTES);
    if (nb == 2)
      TILE_LOAD (B1, wp + panel_bytes + (size_t) q * TILE_BYTES, TILE_BYTES);
    DOT (int8, C00, A0, B0);
    if (nb == 2)
      DOT (int8, C01, A0, B1);
    if (ma == 2) {
      DOT (int8, C10, A1, B0);
      if (nb == 2)
        DOT (int8, C11, A1, B1);
    }
  }
  /* [row block][panel] */
  _Alignas (64) TileSums sums[2][2];
  TILE_STORE (C00, &sums[0][0], TILE_BYTES);
  if (nb == 2)
    TILE_STORE (C01, &sums[0][1], TILE_BYTES);
  if (ma == 2) {
    TILE_STORE (C10, &sums[1][0], TILE_BYTES);
    if (nb == 2)
      TILE_STORE (C11, &sums[1][1], TILE_BYTES);
  }
  for (int ra = 0; ra < ma; ra++)
    for (int pb = 0; pb < nb; pb++)
      finish (int8, y + (size_t) ra * TILE_ROWS * ldy, &sums[ra][pb],
          sx ? sx + ra * TILE_ROWS : NULL, w, b,
          imin (TILE_ROWS, rows - ra * TILE_ROWS), (p + pb) * PANEL, ldy);
}

/* Panels [p0, p1) two at a time (their tiles of w stay in L1 while the
 * rows pass), rows 32 at a time; the odd panel and the last 16 rows with
 * fewer tiles. */
static inline __attribute__ ((always_inline)) void
amx_block (int int8, float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  const int kq = w->k_pad / cle_precision_group (w->precision);
  const size_t lda = (size_t) kq * 4;
  configure ();
  for (int p = p0; p < p1; p += 2) {
    const int two_panels = p + 1 < p1;
    for (int i = 0; i < m; i += 2 * TILE_ROWS) {
      float *yi = y + (size_t) i * ldy;
      const uint8_t *xi = xq + (size_t) i * lda;
      const float *si = sx ? sx + i : NULL;
      const int rows = imin (2 * TILE_ROWS, m - i);
      if (rows > TILE_ROWS && two_panels)
        tiles (int8, 2, 2, yi, xi, lda, kq, si, w, b, rows, p, ldy);
      else if (rows > TILE_ROWS)
        tiles (int8, 2, 1, yi, xi, lda, kq, si, w, b, rows, p, ldy);
      else if (two_panels)
        tiles (int8, 1, 2, yi, xi, lda, kq, si, w, b, rows, p, ldy);
      else
        tiles (int8, 1, 1, yi, xi, lda, kq, si, w, b, rows, p, ldy);
    }
  }
  TILE_RELEASE ();
}

ClipAmxBuild
cle_amx_build (void)
{
#ifdef CLE_AMX_EMULATE
  return CLE_AMX_EMULATED;
#else
  return CLE_AMX_INSTRUCTIONS;
#endif
}

void
cle_amx_block_bf16 (float *y, const uint8_t *xq, const ClipPackedWeight *w,
    const float *b, int m, int p0, int p1, int ldy)
{
  amx_block (0, y, xq, NULL, w, b, m, p0, p1, ldy);
}

void
cle_amx_block_int8 (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  amx_block (1, y, xq, sx, w, b, m, p0, p1, ldy);
}

#else

/* A compiler without AMX: cle_kernel_supported never offers the kernel. */
ClipAmxBuild
cle_amx_build (void)
{
  return CLE_AMX_NONE;
}

void
cle_amx_block_bf16 (float *y, const uint8_t *xq, const ClipPackedWeight *w,
    const float *b, int m, int p0, int p1, int ldy)
{
  (void) y, (void) xq, (void) w, (void) b, (void) m, (void) p0, (void) p1;
  (void) ldy;
}

void
cle_amx_block_int8 (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  (void) y, (void) xq, (void) sx, (void) w, (void) b, (void) m, (void) p0;
  (void) p1, (void) ldy;
}

#endif
