/* amx-tile.h - the AMX operations quantized-amx.c is written in, by tile
 * number (a constant): the instructions themselves, or, with
 * CLE_AMX_EMULATE, their plain C emulation (amx-emulate.c, built into the
 * tests only), so that the kernels' packing, edges and loops are tested on
 * CPUs without AMX too. */
#ifndef CLE_AMX_TILE_H
#define CLE_AMX_TILE_H

#include <stddef.h>
#include <stdint.h>

/* The 64-byte operand of ldtilecfg; palette 1 has 8 tiles of at most 16
 * rows of 64 bytes. */
typedef struct
{
  uint8_t palette_id, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} ClipTileConfig;

_Static_assert (sizeof (ClipTileConfig) == 64
    && offsetof (ClipTileConfig, colsb) == 16
    && offsetof (ClipTileConfig, rows) == 48,
    "ldtilecfg's 64-byte layout (SDM: palette 1)");

#ifdef CLE_AMX_EMULATE

void cle_amx_emu_load_config (const ClipTileConfig *cfg);
void cle_amx_emu_release (void);
void cle_amx_emu_zero (int t);
void cle_amx_emu_load (int t, const void *base, size_t stride);
void cle_amx_emu_store (int t, void *base, size_t stride);
void cle_amx_emu_dpbf16ps (int c, int a, int b);
void cle_amx_emu_dpbusd (int c, int a, int b);
/* Uses that a CPU would fault on (#GP: a configuration ldtilecfg refuses;
 * #UD: no configuration, shapes that do not fit, a tile given twice),
 * counted over all threads since the process started. */
int cle_amx_emu_faults (void);

#define TILE_LOAD_CONFIG(cfg) cle_amx_emu_load_config (cfg)
#define TILE_RELEASE() cle_amx_emu_release ()
#define TILE_ZERO(t) cle_amx_emu_zero (t)
#define TILE_LOAD(t, base, stride) cle_amx_emu_load (t, base, stride)
#define TILE_STORE(t, base, stride) cle_amx_emu_store (t, base, stride)
#define TILE_DPBF16PS(c, a, b) cle_amx_emu_dpbf16ps (c, a, b)
#define TILE_DPBUSD(c, a, b) cle_amx_emu_dpbusd (c, a, b)

#else

#include <immintrin.h>

/* Not GCC 12's _tile_loadconfig: its asm says it reads 8 bytes of the
 * configuration, which lets the compiler drop the stores of the rest. */
#define TILE_LOAD_CONFIG(cfg) __asm__ volatile ("ldtilecfg %0"            \
      :: "m" (*(const ClipTileConfig *) (cfg)))
#define TILE_RELEASE() _tile_release ()
#define TILE_ZERO(t) _tile_zero (t)
#define TILE_LOAD(t, base, stride) _tile_loadd (t, base, stride)
#define TILE_STORE(t, base, stride) _tile_stored (t, base, stride)
#define TILE_DPBF16PS(c, a, b) _tile_dpbf16ps (c, a, b)
#define TILE_DPBUSD(c, a, b) _tile_dpbusd (c, a, b)

#endif

#endif
