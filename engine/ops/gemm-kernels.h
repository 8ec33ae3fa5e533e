/* gemm-kernels.h - the per-ISA blocks behind cle_linear (internal to ops/).
 * Each computes one thread's share, single-threaded:
 *   y[i][j] = b[j] + sum_k x[i][k] * w[j][k]   (i < m, j < n)
 * y: (m, n) stride ldy  x: (m, k) stride ldx  w: (n, k) stride ldw
 * b: (n) or NULL. w is read in place (any 4-byte alignment), never packed. */
#ifndef CLE_GEMM_KERNELS_H
#define CLE_GEMM_KERNELS_H

void cle_gemm_nt_c (float *y, const float *x, const float *w, const float *b,
    int m, int k, int n, int ldx, int ldw, int ldy);

#if defined(__x86_64__) || defined(__i386__)
#define CLE_GEMM_HAVE_X86 1
/* Compiled with target attributes: call only when the CPU has the ISA. */
void cle_gemm_nt_avx2 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy);
void cle_gemm_nt_avx512 (float *y, const float *x, const float *w,
    const float *b, int m, int k, int n, int ldx, int ldw, int ldy);

/* The packed form, for m >= the panel height P (16 for AVX-512, 8 for
 * AVX2): ap holds rows [0, P * (m / P)) of x as P-row panels,
 * ap[p][k][r] = x[P p + r][k] (64-byte aligned, P * k floats a panel),
 * written by cle_gemm_pack_* for panels [p0, p1). The rows below the last
 * panel come from x itself. */
void cle_gemm_pack_avx512 (float *ap, const float *x, int ldx, int k, int p0,
    int p1);
void cle_gemm_packed_avx512 (float *y, const float *ap, const float *x,
    const float *w, const float *b, int m, int k, int n, int ldx, int ldw,
    int ldy);
void cle_gemm_pack_avx2 (float *ap, const float *x, int ldx, int k, int p0,
    int p1);
void cle_gemm_packed_avx2 (float *y, const float *ap, const float *x,
    const float *w, const float *b, int m, int k, int n, int ldx, int ldw,
    int ldy);
#endif

#endif
