/* f16.h - half-precision kernels of the exact search (f16.c): conversions
 * and the dot products of float16 rows with a float query. Each fast path
 * has the plain C twin (suffix _naive) that the tests compare it with. */
#ifndef CLE_OPS_F16_H
#define CLE_OPS_F16_H

#include <stddef.h>
#include <stdint.h>

float cle_f16_to_f32_one (uint16_t h);
/* round to nearest even; overflow gives infinity */
uint16_t cle_f32_to_f16_one (float f);
void cle_f32_to_f16_naive (uint16_t *out, const float *in, size_t n);

/* scores[i] = rows[i] . q (float sums).
 * scores: (n)  rows: (n, dim) float16, any 2-byte alignment  q: (dim) */
void cle_dot_f16 (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim);
void cle_dot_f16_naive (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim);

/* The implementations behind cle_dot_f16: AVX-512F (which implies the
 * 512-bit vcvtph2ps), AVX2+FMA+F16C, plain C; the best the CPU has is used. */
typedef enum
{
  CLE_DOT_C,
  CLE_DOT_AVX2,
  CLE_DOT_AVX512,
} ClipDotPath;

void cle_dot_f16_path (float *scores, const uint16_t *rows, const float *q,
    size_t n, int dim, ClipDotPath path);
int cle_dot_f16_path_supported (ClipDotPath path);
ClipDotPath cle_dot_f16_path_default (void);

#endif
