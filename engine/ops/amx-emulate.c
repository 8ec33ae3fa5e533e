/* amx-emulate.c - the AMX tile instructions quantized-amx.c uses, in plain
 * C with the semantics of Intel's SDM pseudo-code (tdpbf16ps: per output,
 * even and odd bf16 products accumulate in two fp32 sums, each step one
 * FMA rounded to nearest even with denormals in and out as zero, then
 * both are added to the destination; tdpbusd: u8 x s8 quads into int32,
 * wrapping). Built into the tests only: the engine runs the real ones. */
#include <math.h>
#include <string.h>

#include "amx-tile.h"

#define N_TILES 8
#define MAX_ROWS 16
#define MAX_COLSB 64

typedef struct
{
  int configured;
  int rows[N_TILES], colsb[N_TILES];
  uint8_t data[N_TILES][MAX_ROWS][MAX_COLSB];
} TileState;

static _Thread_local TileState state;
static int faults;              /* of all threads */

static void
fault (void)
{
  __atomic_fetch_add (&faults, 1, __ATOMIC_RELAXED);
}

int
cle_amx_emu_faults (void)
{
  return __atomic_load_n (&faults, __ATOMIC_RELAXED);
}

/* ldtilecfg: #GP, the configuration unchanged, for an unknown palette,
 * reserved bytes (2-15) or the names past palette 1's 8 tiles not zero,
 * or a tile over 16 rows or 64 bytes, or with rows but no bytes (or
 * bytes but no rows). */
void
cle_amx_emu_load_config (const ClipTileConfig *cfg)
{
  int valid = cfg->palette_id <= 1;
  for (size_t i = 0; i < sizeof cfg->reserved; i++)
    valid = valid && cfg->reserved[i] == 0;
  for (int t = 0; t < 16; t++) {
    const int rows = cfg->rows[t], colsb = cfg->colsb[t];
    if (t >= N_TILES)
      valid = valid && rows == 0 && colsb == 0;
    else
      valid = valid && rows <= MAX_ROWS && colsb <= MAX_COLSB
          && (rows == 0) == (colsb == 0);
  }
  if (!valid) {
    fault ();
    return;
  }
  memset (state.data, 0, sizeof state.data);
  state.configured = cfg->palette_id == 1;  /* palette 0: the init state */
  for (int t = 0; t < N_TILES; t++) {
    state.rows[t] = cfg->rows[t];
    state.colsb[t] = cfg->colsb[t];
  }
}

void
cle_amx_emu_release (void)
{
  memset (state.data, 0, sizeof state.data);
  state.configured = 0;
}

/* Tile t is configured (a real CPU faults otherwise). */
static int
usable (int t)
{
  if (state.configured && t >= 0 && t < N_TILES && state.rows[t] > 0)
    return 1;
  fault ();
  return 0;
}

void
cle_amx_emu_zero (int t)
{
  if (usable (t))
    memset (state.data[t], 0, sizeof state.data[t]);
}

/* Rows past the configured ones and bytes past colsb read as zeros. */
void
cle_amx_emu_load (int t, const void *base, size_t stride)
{
  if (!usable (t))
    return;
  memset (state.data[t], 0, sizeof state.data[t]);
  for (int r = 0; r < state.rows[t]; r++)
    memcpy (state.data[t][r], (const uint8_t *) base + r * stride,
        state.colsb[t]);
}

void
cle_amx_emu_store (int t, void *base, size_t stride)
{
  if (!usable (t))
    return;
  for (int r = 0; r < state.rows[t]; r++)
    memcpy ((uint8_t *) base + r * stride, state.data[t][r], state.colsb[t]);
}

/* c (M x N) += a (M x K groups) . b (K x N groups): three different
 * tiles (#UD otherwise) whose shapes fit. */
static int
shapes_fit (int c, int a, int b)
{
  if (!usable (c) || !usable (a) || !usable (b))
    return 0;
  if (c == a || c == b || a == b) {
    fault ();
    return 0;
  }
  if (state.rows[c] == state.rows[a] && state.colsb[c] == state.colsb[b]
      && state.colsb[a] / 4 == state.rows[b] && state.colsb[a] % 4 == 0
      && state.colsb[c] % 4 == 0)
    return 1;
  fault ();
  return 0;
}

static float
bits_to_float (uint32_t u)
{
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

static uint32_t
float_to_bits (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

/* Denormals as zeros of their sign (DAZ on inputs, FTZ on outputs). */
static float
flush (float f)
{
  const uint32_t u = float_to_bits (f);
  return (u & 0x7f800000u) == 0 ? bits_to_float (u & 0x80000000u) : f;
}

static float
bf16_at (const uint8_t *p)
{
  uint16_t h;
  memcpy (&h, p, 2);
  return flush (bits_to_float ((uint32_t) h << 16));
}

void
cle_amx_emu_dpbf16ps (int c, int a, int b)
{
  if (!shapes_fit (c, a, b))
    return;
  const int n_k = state.colsb[a] / 4, n_n = state.colsb[c] / 4;
  for (int m = 0; m < state.rows[c]; m++) {
    float even[MAX_COLSB / 4] = { 0 }, odd[MAX_COLSB / 4] = { 0 };
    for (int k = 0; k < n_k; k++)
      for (int n = 0; n < n_n; n++) {
        const uint8_t *pa = state.data[a][m] + 4 * k;
        const uint8_t *pb = state.data[b][k] + 4 * n;
        even[n] = flush (fmaf (bf16_at (pa), bf16_at (pb), flush (even[n])));
        odd[n] = flush (fmaf (bf16_at (pa + 2), bf16_at (pb + 2),
                flush (odd[n])));
      }
    for (int n = 0; n < n_n; n++) {
      float dst;
      memcpy (&dst, state.data[c][m] + 4 * n, 4);
      const float sum = flush (flush (even[n]) + flush (odd[n]));
      dst = flush (flush (dst) + sum);
      memcpy (state.data[c][m] + 4 * n, &dst, 4);
    }
  }
}

void
cle_amx_emu_dpbusd (int c, int a, int b)
{
  if (!shapes_fit (c, a, b))
    return;
  const int n_k = state.colsb[a] / 4, n_n = state.colsb[c] / 4;
  for (int m = 0; m < state.rows[c]; m++)
    for (int n = 0; n < n_n; n++) {
      int32_t acc;
      memcpy (&acc, state.data[c][m] + 4 * n, 4);
      uint32_t sum = (uint32_t) acc;    /* wraps, as the instruction */
      for (int k = 0; k < n_k; k++)
        for (int e = 0; e < 4; e++)
          sum += (uint32_t) ((int32_t) state.data[a][m][4 * k + e]
              * (int8_t) state.data[b][k][4 * n + e]);
      acc = (int32_t) sum;
      memcpy (state.data[c][m] + 4 * n, &acc, 4);
    }
}
