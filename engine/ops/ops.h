/* ops.h - the numeric kernels of the towers: the only place BLAS appears.
 * Outputs first, then inputs, then sizes. Each fast kernel has a naive twin
 * (suffix _naive) that the tests compare it with. n_threads 0 means the
 * OpenMP default. */
#ifndef CLE_OPS_H
#define CLE_OPS_H

#include <stddef.h>

#include "model.h"

/* y = x @ w^T + b, as torch.nn.Linear.
 * y: (n, n_out)  x: (n, n_in)  w: (n_out, n_in)  b: (n_out) or NULL.
 * ldx/ldy: row strides of x and y (0 = dense). w is read in place (any
 * 4-byte alignment) and never packed; the output columns are split over
 * n_threads OpenMP threads. */
void cle_linear (float *y, const float *x, const float *w, const float *b,
    int n, int n_in, int n_out, int ldx, int ldy, int n_threads);
void cle_linear_naive (float *y, const float *x, const float *w,
    const float *b, int n, int n_in, int n_out, int ldx, int ldy);

/* y[i] = x @ w[i]^T + b[i] for i < n_proj, dense, as n_proj cle_linear
 * calls but with x packed once and one thread split over all outputs (the
 * q, k, v projections). y[i]: (n, n_out)  w[i]: (n_out, n_in)  b[i] or
 * NULL: (n_out). */
void cle_linear_multi (float *const *y, const float *x,
    const float *const *w, const float *const *b, int n_proj, int n,
    int n_in, int n_out, int n_threads);

/* The implementations behind cle_linear. AUTO is the best one the CPU has
 * (AVX-512F, then AVX2+FMA, then plain C), chosen once per process; the
 * environment variable CLE_GEMM=c|avx2|avx512|openblas forces one (if the
 * CPU has it). AUTO never picks OPENBLAS: measured on Zen 5 it is slower
 * at batch 1 (m = 50: 75 GFLOP/s a core with OPENBLAS_CORETYPE=Haswell,
 * 116 with its AVX-512 kernels, against 155-165 for AVX512), at best
 * level at m = 400 with its AVX-512 kernels (~190 both), and it runs
 * sgemm on its own pthreads pool, ignoring n_threads, whose threads
 * compete with OpenMP's spinning ones; calling it from inside an OpenMP
 * split is worse still (its pool serialises concurrent callers). */
typedef enum
{
  CLE_GEMM_AUTO,
  CLE_GEMM_C,
  CLE_GEMM_AVX2,
  CLE_GEMM_AVX512,
  CLE_GEMM_OPENBLAS,
} ClipGemmPath;

/* cle_linear on a given path; the caller checks cle_gemm_path_supported. */
void cle_linear_path (float *y, const float *x, const float *w,
    const float *b, int n, int n_in, int n_out, int ldx, int ldy,
    int n_threads, ClipGemmPath path);
int cle_gemm_path_supported (ClipGemmPath path);
ClipGemmPath cle_gemm_path_default (void);
const char *cle_gemm_path_name (ClipGemmPath path);

/* y = LayerNorm(x) * g + b over the last dimension; y may alias x.
 * y, x: (n, d)  g, b: (d). Statistics in double. */
void cle_layer_norm (float *y, const float *x, const float *g, const float *b,
    int n, int d, float eps, int n_threads);
/* Rows [r0, r1) of it, on this thread. */
void cle_layer_norm_rows (float *y, const float *x, const float *g,
    const float *b, int r0, int r1, int d, float eps);

/* x = act(x) elementwise. x: (n) */
void cle_activation (float *x, size_t n, ClipActivation act, int n_threads);
/* Elements [i0, i1) of it, on this thread. */
void cle_activation_range (float *x, size_t i0, size_t i1,
    ClipActivation act);

/* What a product does to each row of its input first, in the thread that
 * converts that row, while the row is in cache: one pass over x instead
 * of a pass of its own (with its wait for every thread) before the
 * product. The results are those of the separate passes, bit for bit. */
typedef enum
{
  CLE_PREPARE_LAYER_NORM,       /* x = LayerNorm(src) * g + b, row by row */
  CLE_PREPARE_ADD_LAYER_NORM,   /* src += x (a residual add), then as above */
  CLE_PREPARE_ACTIVATION,       /* x = act(x) in place */
} ClipPrepareOp;

typedef struct
{
  ClipPrepareOp op;
  float *x;                     /* the product's input: (n, n_in), dense */
  float *src;                   /* LAYER_NORM: (n, n_in), written by ADD_ */
  const float *g, *b;           /* LAYER_NORM: (n_in) */
  float eps;
  ClipActivation act;           /* ACTIVATION */
} ClipRowPrepare;

/* cle_linear_quantized (quantized.h) on prep->x after prep (dense rows). */
void cle_linear_quantized_prepared (float *const *y,
    const ClipRowPrepare *prep, const ClipPackedWeight *const *w,
    const float *const *b, int n_proj, int n, int n_threads);

/* The sequences of a batch as attention sees them. Sequence s is positions
 * [start[s], start[s] + len[s]), and position p is row row_of[p] of q, k,
 * v and out (row_of NULL: row p). Prompts that begin with the same tokens
 * map those positions to the same rows, computed once (the causal mask
 * makes a position depend on the positions before it only): sequence s
 * computes the outputs of its positions from first_query[s] on, the rows
 * before are another sequence's (first_query NULL: all its own). */
typedef struct
{
  int n_seq;
  const int *start, *len;
  const int *row_of, *first_query;
} ClipSequences;

/* Multi-head scaled dot-product attention of the sequences.
 * out, q, k, v: (rows, d) with head h in columns [h*d_head, (h+1)*d_head).
 * causal: position i attends to positions <= i only (the text tower).
 * scratch: cle_attention_scratch_size (longest sequence, d_head, n_threads)
 * floats. */
void cle_attention (float *out, const float *q, const float *k,
    const float *v, const ClipSequences *seqs, int n_head, int d_head,
    int causal, float *scratch, int n_threads);
/* One query per sequence that attends to all of it (the pooled token: the
 * vision class token, first; the text end token, last, which the causal
 * mask lets see everything): q and out are dense, row s for sequence s. */
void cle_attention_pooled (float *out, const float *q, const float *k,
    const float *v, const ClipSequences *seqs, int n_head, int d_head,
    float *scratch, int n_threads);
/* cle_attention (pooled 0) or cle_attention_pooled (pooled 1) with the
 * prefix's keys and values first; the scratch is sized for the longest
 * sequence + prefix->n. */
void cle_attention_prefix (float *out, const float *q, const float *k,
    const float *v, const ClipSequences *seqs, const ClipPrefix *prefix,
    int n_head, int d_head, int causal, int pooled, float *scratch,
    int n_threads);
/* The reference: plain loops in double, sequences packed one after
 * another (sequence s has seq_len[s] rows from row seq_start[s]). */
void cle_attention_naive (float *out, const float *q, const float *k,
    const float *v, const int *seq_start, const int *seq_len, int n_seq,
    int n_head, int d_head, int causal);
size_t cle_attention_scratch_size (int max_len, int max_d_head,
    int n_threads);

/* The number of threads a kernel will use for n_threads (0 = default). */
int cle_threads_resolve (int n_threads);

/* Runs fn (arg, t, T) for every t < T on T threads and returns when all
 * have returned; the caller is t = 0. T is n_threads resolved, or fewer if
 * threads cannot be made (1: fn runs on the caller alone). Each calling
 * thread has its own workers; they spin briefly, then sleep (threads.c
 * says why this is not OpenMP). */
typedef void (*ClipParallelFn) (void *arg, int t, int T);
void cle_parallel (int n_threads, ClipParallelFn fn, void *arg);

/* The calling thread's scratch buffer for one use: at least bytes, 64-byte
 * aligned, kept for the next call and freed when the thread exits; NULL
 * when memory is short. */
typedef enum
{
  CLE_BUFFER_GEMM_PACK,         /* packed blocks of x (gemm.c) */
  CLE_BUFFER_QUANTIZED,         /* converted activations (quantized.c) */
  CLE_N_BUFFERS,
} ClipThreadBufferSlot;
void *cle_thread_buffer (ClipThreadBufferSlot slot, size_t bytes);

#endif
