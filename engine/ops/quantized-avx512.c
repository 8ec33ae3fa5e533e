/* quantized-avx512.c - the bf16 (vdpbf16ps) and int8 (vpdpbusd) blocks of
 * cle_linear_quantized. Both have one shape: per step of k, each panel of
 * w gives one 64-byte vector (16 columns x 2 bf16 or 4 int8) and each row
 * of x one broadcast 32-bit group, so a tile of MR rows by 2 panels keeps
 * 2 * MR accumulators of 16 columns in registers (MR = 12: 24). Built for baseline
 * x86-64 with per-function target attributes; quantized.c checks the CPU. */
#include <string.h>

#include "quantized.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define PANEL 16
#define MR CLE_QUANTIZED_MR

static inline int
imin (int a, int b)
{
  return a < b ? a : b;
}

/* Stamps a tile and a block for one instruction set. ACC is the
 * accumulator type, DOT(acc, x, w) accumulates one k-group, FINISH(acc, r,
 * j0, mask) turns the sums of row r at columns j0.. into fp32 (before the
 * bias). x comes in tiles of MR rows, one 32-bit group per row and k-group
 * (quantized.h), so a tile's broadcasts walk one pointer. */
#define DEFINE_QUANTIZED_BLOCK(NAME, TARGET, ACC, ZERO, DOT, FINISH)          \
static inline __attribute__ ((always_inline, target (TARGET))) void           \
NAME##_tile (int mr, int np, float *y, const uint8_t *xt, const float *sx,    \
    const ClipPackedWeight *w, const float *b, int p, int ldy)                \
{                                                                             \
  const int kq = w->k_pad / cle_precision_group (w->precision);              \
  const size_t panel_bytes = (size_t) PANEL * kq * 4;                         \
  const uint8_t *w0 = (const uint8_t *) w->data + (size_t) p * panel_bytes;   \
  const uint8_t *w1 = w0 + panel_bytes;                                       \
  ACC acc0[MR], acc1[MR];                                                     \
  _Pragma ("GCC unroll 12")                                                   \
  for (int r = 0; r < mr; r++)                                                \
    acc0[r] = acc1[r] = ZERO;                                                 \
  for (int q = 0; q < kq; q++) {                                              \
    const __m512i v0 = _mm512_load_si512 (w0 + (size_t) q * 64);             \
    const __m512i v1 = np == 2 ? _mm512_load_si512 (w1 + (size_t) q * 64)    \
        : _mm512_setzero_si512 ();                                            \
    const uint8_t *xq = xt + (size_t) q * MR * 4;                             \
    _Pragma ("GCC unroll 12")                                                 \
    for (int r = 0; r < mr; r++) {                                            \
      int32_t g;                                                              \
      memcpy (&g, xq + r * 4, 4);                                             \
      const __m512i a = _mm512_set1_epi32 (g);                                \
      acc0[r] = DOT (acc0[r], a, v0);                                         \
      if (np == 2)                                                            \
        acc1[r] = DOT (acc1[r], a, v1);                                       \
    }                                                                         \
  }                                                                           \
  _Pragma ("GCC unroll 2")                                                    \
  for (int pp = 0; pp < np; pp++) {                                           \
    const int j0 = (p + pp) * PANEL, nc = imin (PANEL, w->n_out - j0);        \
    const __mmask16 mask = (__mmask16) ((1u << nc) - 1);                      \
    const __m512 bias = b ? _mm512_maskz_loadu_ps (mask, b + j0)              \
        : _mm512_setzero_ps ();                                               \
    _Pragma ("GCC unroll 12")                                                 \
    for (int r = 0; r < mr; r++) {                                            \
      __m512 v = FINISH (pp ? acc1[r] : acc0[r], r, j0, mask);                \
      _mm512_mask_storeu_ps (y + (size_t) r * ldy + j0, mask,                 \
          _mm512_add_ps (v, bias));                                           \
    }                                                                         \
  }                                                                           \
  (void) sx;                                                                  \
}                                                                             \
                                                                              \
static inline __attribute__ ((always_inline, target (TARGET))) void           \
NAME##_rows (int np, float *y, const uint8_t *xq, const float *sx,            \
    const ClipPackedWeight *w, const float *b, int m, int p, int ldy)         \
{                                                                             \
  const size_t tile_bytes = (size_t) MR * w->k_pad                            \
      / cle_precision_group (w->precision) * 4;                               \
  for (int i = 0; i < m; i += MR) {                                           \
    float *yi = y + (size_t) i * ldy;                                         \
    const uint8_t *xi = xq + (size_t) (i / MR) * tile_bytes;                  \
    const float *si = sx ? sx + i : NULL;                                     \
    switch (imin (MR, m - i)) {                                               \
      case 12: NAME##_tile (12, np, yi, xi, si, w, b, p, ldy); break;         \
      case 11: NAME##_tile (11, np, yi, xi, si, w, b, p, ldy); break;         \
      case 10: NAME##_tile (10, np, yi, xi, si, w, b, p, ldy); break;         \
      case 9: NAME##_tile (9, np, yi, xi, si, w, b, p, ldy); break;           \
      case 8: NAME##_tile (8, np, yi, xi, si, w, b, p, ldy); break;           \
      case 7: NAME##_tile (7, np, yi, xi, si, w, b, p, ldy); break;           \
      case 6: NAME##_tile (6, np, yi, xi, si, w, b, p, ldy); break;           \
      case 5: NAME##_tile (5, np, yi, xi, si, w, b, p, ldy); break;           \
      case 4: NAME##_tile (4, np, yi, xi, si, w, b, p, ldy); break;           \
      case 3: NAME##_tile (3, np, yi, xi, si, w, b, p, ldy); break;           \
      case 2: NAME##_tile (2, np, yi, xi, si, w, b, p, ldy); break;           \
      default: NAME##_tile (1, np, yi, xi, si, w, b, p, ldy); break;          \
    }                                                                         \
  }                                                                           \
}                                                                             \
                                                                              \
__attribute__ ((noinline, target (TARGET))) static void                       \
NAME##_rows2 (float *y, const uint8_t *xq, const float *sx,                   \
    const ClipPackedWeight *w, const float *b, int m, int p, int ldy)         \
{                                                                             \
  NAME##_rows (2, y, xq, sx, w, b, m, p, ldy);                                \
}                                                                             \
                                                                              \
__attribute__ ((noinline, target (TARGET))) static void                       \
NAME##_rows1 (float *y, const uint8_t *xq, const float *sx,                   \
    const ClipPackedWeight *w, const float *b, int m, int p, int ldy)         \
{                                                                             \
  NAME##_rows (1, y, xq, sx, w, b, m, p, ldy);                                \
}                                                                             \
                                                                              \
/* Panels two at a time (their 2 x 16 x k_pad weights stay in L2 while      \
 * every row passes), then the odd one. */                                    \
__attribute__ ((target (TARGET))) static void                                 \
NAME##_block (float *y, const uint8_t *xq, const float *sx,                   \
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,         \
    int ldy)                                                                  \
{                                                                             \
  int p = p0;                                                                 \
  for (; p + 2 <= p1; p += 2)                                                 \
    NAME##_rows2 (y, xq, sx, w, b, m, p, ldy);                                \
  if (p < p1)                                                                 \
    NAME##_rows1 (y, xq, sx, w, b, m, p, ldy);                                \
}

/* bf16: pairs of k, fp32 sums. */
/* The dot instructions as inline assembly: GCC 12 copies the accumulator
 * around the intrinsics' forms (a register move per instruction, and spills
 * with 24 accumulators). AT&T order: w, x, accumulator. */
#define DOT_BF16(acc, a, v) ({ __m512 acc_ = (acc);                            \
      __asm__ ("vdpbf16ps %2, %1, %0" : "+v" (acc_) : "v" (a), "v" (v));      \
      acc_; })
#define FINISH_BF16(acc, r, j0, mask) (acc)

DEFINE_QUANTIZED_BLOCK (bf16, "avx512f,avx512bw,avx512bf16", __m512,
    _mm512_setzero_ps (), DOT_BF16, FINISH_BF16)

/* int8: quads of k, unsigned x (q + 128) by signed w, int32 sums; the
 * offset comes out with the column sums, then both scales. */
#define DOT_INT8(acc, a, v) ({ __m512i acc_ = (acc);                           \
      __asm__ ("vpdpbusd %2, %1, %0" : "+v" (acc_) : "v" (a), "v" (v));       \
      acc_; })
#define FINISH_INT8(acc, r, j0, mask) _mm512_mul_ps (                         \
    _mm512_cvtepi32_ps (_mm512_sub_epi32 (acc, _mm512_slli_epi32 (            \
            _mm512_maskz_loadu_epi32 (mask, w->col_sum + j0), 7))),           \
    _mm512_mul_ps (_mm512_set1_ps (sx[r]),                                    \
        _mm512_maskz_loadu_ps (mask, w->scale + j0)))

DEFINE_QUANTIZED_BLOCK (int8, "avx512f,avx512bw,avx512vnni", __m512i,
    _mm512_setzero_si512 (), DOT_INT8, FINISH_INT8)

/* The lanes' destinations: k-group q of a row is stride bytes (a multiple
 * of 4) after group q - 1. */
#define SCATTER_INDEX(stride) _mm512_mullo_epi32 (_mm512_setr_epi32 (0, 1, \
        2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),                      \
    _mm512_set1_epi32 ((stride) / 4))

/* The first n of v's 16 groups to dst, stride bytes apart (index:
 * SCATTER_INDEX (stride)): one store where they are contiguous (rows, for
 * AMX), a scatter into the tiles of MR rows. */
static inline __attribute__ ((always_inline, target ("avx512f"))) void
store_groups (uint8_t *dst, __m512i v, int n, int stride, __m512i index)
{
  const __mmask16 mask = (__mmask16) ((1u << n) - 1);
  if (stride == 4)
    _mm512_mask_storeu_epi32 (dst, mask, v);
  else
    _mm512_mask_i32scatter_epi32 (dst, mask, index, v, 4);
}

__attribute__ ((target ("avx512f,avx512bw,avx512bf16"))) void
cle_quantized_convert_bf16 (uint8_t *dst, const float *x, int n_in, int kq,
    int stride)
{
  const __m512i index = SCATTER_INDEX (stride);
  for (int q0 = 0; q0 < kq; q0 += 16) {
    const int k0 = 2 * q0, n = imin (32, n_in - k0);
    const __mmask16 m_lo = n >= 16 ? 0xffff : (__mmask16) ((1u << n) - 1);
    const __mmask16 m_hi = n >= 32 ? 0xffff : n <= 16 ? 0
        : (__mmask16) ((1u << (n - 16)) - 1);
    const __m512 lo = _mm512_maskz_loadu_ps (m_lo, x + k0);
    const __m512 hi = _mm512_maskz_loadu_ps (m_hi, x + k0 + 16);
    /* 32 bf16, k0 .. k0 + 31 in order (rounded to nearest even) */
    const __m512i v = (__m512i) _mm512_cvtne2ps_pbh (hi, lo);
    store_groups (dst + (size_t) q0 * stride, v, imin (16, kq - q0), stride,
        index);
  }
}

__attribute__ ((target ("avx512f,avx512bw"))) float
cle_quantized_convert_int8 (uint8_t *dst, const float *x, int n_in, int kq,
    int stride)
{
  __m512 amax = _mm512_setzero_ps ();
  for (int k = 0; k < n_in; k += 16) {
    const __mmask16 m = n_in - k >= 16 ? 0xffff
        : (__mmask16) ((1u << (n_in - k)) - 1);
    amax = _mm512_max_ps (amax, _mm512_abs_ps (_mm512_maskz_loadu_ps (m,
                x + k)));
  }
  const float a = _mm512_reduce_max_ps (amax);
  const float scale = a > 0.0f ? a / 127.0f : 1.0f;
  /* as quantized.c: floor(x * (1 / scale) + 128.5), multiply and add
   * rounded separately; masked-off (padding) lanes give 128 */
  const __m512 inv = _mm512_set1_ps (1.0f / scale);
  const __m512 half = _mm512_set1_ps (128.5f);
  const __m512i lo = _mm512_set1_epi32 (1), hi = _mm512_set1_epi32 (255);
  const __m512i index = SCATTER_INDEX (stride);
  for (int q0 = 0; q0 < kq; q0 += 16) {
    __m128i bytes[4];           /* 16 k values each */
    for (int c = 0; c < 4; c++) {
      const int k = 4 * q0 + 16 * c, n = n_in - k;
      const __mmask16 m = n >= 16 ? 0xffff : n <= 0 ? 0
          : (__mmask16) ((1u << n) - 1);
      __m512 f = _mm512_mul_ps (_mm512_maskz_loadu_ps (m, x + k), inv);
      /* keeps GCC from fusing the multiply and add into an FMA (one
       * rounding), which the plain C path (no FMA on baseline x86-64)
       * cannot match */
      __asm__ ("" : "+v" (f));
      f = _mm512_add_ps (f, half);
      __m512i q = _mm512_cvttps_epi32 (f);
      q = _mm512_min_epi32 (_mm512_max_epi32 (q, lo), hi);
      bytes[c] = _mm512_cvtepi32_epi8 (q);
    }
    __m512i v = _mm512_castsi128_si512 (bytes[0]);
    v = _mm512_inserti32x4 (v, bytes[1], 1);
    v = _mm512_inserti32x4 (v, bytes[2], 2);
    v = _mm512_inserti32x4 (v, bytes[3], 3);
    store_groups (dst + (size_t) q0 * stride, v, imin (16, kq - q0), stride,
        index);
  }
  return scale;
}

void
cle_quantized_block_bf16 (float *y, const uint8_t *xq,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  bf16_block (y, xq, NULL, w, b, m, p0, p1, ldy);
}

void
cle_quantized_block_int8 (float *y, const uint8_t *xq, const float *sx,
    const ClipPackedWeight *w, const float *b, int m, int p0, int p1,
    int ldy)
{
  int8_block (y, xq, sx, w, b, m, p0, p1, ldy);
}

#endif
