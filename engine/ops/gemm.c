/* gemm.c - torch.nn.Linear through OpenBLAS sgemm, weights read in place
 * ((out, in) row-major = the transposed operand sgemm wants). */
#include <string.h>

#include <cblas.h>

#include "ops.h"

void
cle_linear (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy)
{
  if (ldx == 0)
    ldx = n_in;
  if (ldy == 0)
    ldy = n_out;
  if (n <= 0 || n_out <= 0)
    return;
  /* The bias goes in first so sgemm adds the product to it (beta = 1). */
  float beta = 0.0f;
  if (b) {
    for (int i = 0; i < n; i++)
      memcpy (y + (size_t) i * ldy, b, n_out * sizeof (float));
    beta = 1.0f;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n_out, n_in, 1.0f,
      x, ldx, w, n_in, beta, y, ldy);
}

void
cle_linear_naive (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy)
{
  if (ldx == 0)
    ldx = n_in;
  if (ldy == 0)
    ldy = n_out;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < n_out; o++) {
      double acc = b ? b[o] : 0.0;
      for (int k = 0; k < n_in; k++)
        acc += (double) x[(size_t) i * ldx + k] * w[(size_t) o * n_in + k];
      y[(size_t) i * ldy + o] = (float) acc;
    }
}
