/* attention.c - scaled dot-product attention per (sequence, head), one query
 * row at a time: scores, softmax, weighted sum of values. The projections
 * around it are GEMMs elsewhere. */
#include <math.h>
#include <string.h>

#include "gemm-kernels.h"
#include "ops.h"
#include "vector-math.h"

/* The loops below are written so that the compiler vectorizes them without
 * reassociating sums (the result is the same on every path): K of a head is
 * transposed once so that the scores of a query row accumulate over j. */
size_t
cle_attention_scratch_size (int max_len, int max_d_head, int n_threads)
{
  return (size_t) cle_threads_resolve (n_threads) * (size_t) max_len
      * (size_t) (max_len + max_d_head + 1);
}

/* The single-threaded y = x w^T block of the best GEMM path this CPU has
 * (the attention products are small: one head of one sequence). */
static GemmNT
gemm_nt_block (void)
{
#ifdef CLE_GEMM_HAVE_X86
  if (cle_gemm_path_supported (CLE_GEMM_AVX512))
    return cle_gemm_nt_avx512;
  if (cle_gemm_path_supported (CLE_GEMM_AVX2))
    return cle_gemm_nt_avx2;
#endif
  return cle_gemm_nt_c;
}

/* kt: (d_head, len) = the head's columns of k: (len, d) */
static inline __attribute__ ((always_inline)) void
transpose_head (float *kt, const float *k, int len, int d, int d_head, int h)
{
  for (int j = 0; j < len; j++) {
    const float *kj = k + (size_t) j * d + h * d_head;
    for (int t = 0; t < d_head; t++)
      kt[(size_t) t * len + j] = kj[t];
  }
}

/* p[0..n) = softmax (p * scale), in place. */
static inline __attribute__ ((always_inline)) void
softmax (float *p, int n, float scale)
{
  float max = -INFINITY;
  for (int j = 0; j < n; j++) {
    p[j] *= scale;
    max = p[j] > max ? p[j] : max;
  }
  for (int j = 0; j < n; j++)   /* vectorized: no sum in this loop */
    p[j] = cle_exp (p[j] - max);
  float sum = 0.0f;
  for (int j = 0; j < n; j++)
    sum += p[j];
  const float inv = 1.0f / sum;
  for (int j = 0; j < n; j++)
    p[j] *= inv;
}

/* One query row i of a sequence (q, v at its first row; kt its transposed
 * keys) and head h; p: len floats of scratch. */
static inline __attribute__ ((always_inline)) void
attend_row (float *out, const float *q, const float *kt, const float *v,
    int i, int len, int causal, int d, int d_head, int h, float *p)
{
  const float scale = 1.0f / sqrtf ((float) d_head);
  const float *qi = q + (size_t) i * d + h * d_head;
  const int n = causal ? i + 1 : len;
  for (int j = 0; j < n; j++)
    p[j] = 0.0f;
  for (int t = 0; t < d_head; t++) {
    const float qt = qi[t], *kt_t = kt + (size_t) t * len;
    for (int j = 0; j < n; j++)
      p[j] += qt * kt_t[j];
  }
  softmax (p, n, scale);
  float *oi = out + (size_t) i * d + h * d_head;
  for (int t = 0; t < d_head; t++)
    oi[t] = 0.0f;
  for (int j = 0; j < n; j++) {
    const float *vj = v + (size_t) j * d + h * d_head;
    const float pj = p[j];
    for (int t = 0; t < d_head; t++)
      oi[t] += pj * vj[t];
  }
}

/* All query rows of a sequence (q, k, v, out at its first row) for head h,
 * as two products: scores S = Q K^T (len x len), softmax per row (the
 * causal mask zeroes j > i), then out = P V. s: len * len floats, vt:
 * d_head * len. */
static inline __attribute__ ((always_inline)) void
attend_head (float *out, const float *q, const float *k, const float *v,
    int len, int causal, int d, int d_head, int h, float *s, float *vt,
    GemmNT nt)
{
  const float scale = 1.0f / sqrtf ((float) d_head);
  const size_t off = (size_t) h * d_head;
  nt (s, q + off, k + off, NULL, len, d_head, len, d, d, len);
  for (int i = 0; i < len; i++) {
    float *p = s + (size_t) i * len;
    const int n = causal ? i + 1 : len;
    softmax (p, n, scale);
    for (int j = n; j < len; j++)
      p[j] = 0.0f;
  }
  transpose_head (vt, v, len, d, d_head, h);
  nt (out + off, s, vt, NULL, len, len, d_head, len, len, d);
}

typedef struct
{
  float *out;
  const float *q, *k, *v;
  const int *seq_start, *seq_len;
  int n_seq, n_head, d_head, causal, n_rows, max_len;
  float *scratch;
  GemmNT nt;
  int next_task;                /* (sequence, head) pairs handed out */
} AttentionJob;

/* Thread t takes (sequence, head) tasks one at a time until none is left
 * (dynamic: sequences differ in length). */
CLE_CLONES static void
attention_part (void *arg, int t, int T)
{
  AttentionJob *job = arg;
  const int n_head = job->n_head, d_head = job->d_head, d = n_head * d_head;
  const int n_rows = job->n_rows, n_tasks = job->n_seq * n_head;
  const int max_len = job->max_len;
  float *p = job->scratch + (size_t) t * max_len * (max_len + d_head + 1);
  float *kt = p + max_len;      /* also V^T of attend_head */
  float *scores = kt + (size_t) d_head * max_len;
  (void) T;
  for (;;) {
    const int task = __atomic_fetch_add (&job->next_task, 1,
        __ATOMIC_RELAXED);
    if (task >= n_tasks)
      break;
    const int s = task / n_head, h = task % n_head, len = job->seq_len[s];
    const size_t row = (size_t) job->seq_start[s] * d;
    const int rows = n_rows > 0 && n_rows < len ? n_rows : len;
    if (n_rows == 0) {
      attend_head (job->out + row, job->q + row, job->k + row, job->v + row,
          len, job->causal, d, d_head, h, scores, kt, job->nt);
      continue;
    }
    transpose_head (kt, job->k + row, len, d, d_head, h);
    if (n_rows < 0) {
      attend_row (job->out + (size_t) s * d, job->q + (size_t) s * d, kt,
          job->v + row, 0, len, 0, d, d_head, h, p);
      continue;
    }
    for (int i = 0; i < rows; i++)
      attend_row (job->out + row, job->q + row, kt, job->v + row, i, len,
          job->causal, d, d_head, h, p);
  }
}

/* Rows [0, n_rows) of every sequence (n_rows 0: all of them); n_rows -1:
 * one query per sequence, row s of q and out, attending to all of it. */
static void
attention_rows (float *out, const float *q, const float *k, const float *v,
    const int *seq_start, const int *seq_len, int n_seq, int n_head,
    int d_head, int causal, int n_rows, float *scratch, int n_threads)
{
  int max_len = 0;
  for (int s = 0; s < n_seq; s++)
    max_len = seq_len[s] > max_len ? seq_len[s] : max_len;
  AttentionJob job = { out, q, k, v, seq_start, seq_len, n_seq, n_head,
    d_head, causal, n_rows, max_len, scratch, gemm_nt_block (), 0
  };
  /* the scratch has room for cle_threads_resolve (n_threads) threads */
  cle_parallel (n_threads, attention_part, &job);
}

void
cle_attention (float *out, const float *q, const float *k, const float *v,
    const int *seq_start, const int *seq_len, int n_seq, int n_head,
    int d_head, int causal, float *scratch, int n_threads)
{
  attention_rows (out, q, k, v, seq_start, seq_len, n_seq, n_head, d_head,
      causal, 0, scratch, n_threads);
}

void
cle_attention_pooled (float *out, const float *q, const float *k,
    const float *v, const int *seq_start, const int *seq_len, int n_seq,
    int n_head, int d_head, float *scratch, int n_threads)
{
  attention_rows (out, q, k, v, seq_start, seq_len, n_seq, n_head, d_head, 0,
      -1, scratch, n_threads);
}

void
cle_attention_naive (float *out, const float *q, const float *k,
    const float *v, const int *seq_start, const int *seq_len, int n_seq,
    int n_head, int d_head, int causal)
{
  const int d = n_head * d_head;
  const double scale = 1.0 / sqrt ((double) d_head);
  for (int s = 0; s < n_seq; s++) {
    int len = seq_len[s];
    size_t base = (size_t) seq_start[s] * d;
    for (int h = 0; h < n_head; h++)
      for (int i = 0; i < len; i++) {
        double scores[len], max = -INFINITY, sum = 0.0;
        int n = causal ? i + 1 : len;
        for (int j = 0; j < n; j++) {
          double acc = 0.0;
          for (int t = 0; t < d_head; t++)
            acc += (double) q[base + (size_t) i * d + h * d_head + t]
                * k[base + (size_t) j * d + h * d_head + t];
          scores[j] = acc * scale;
          max = scores[j] > max ? scores[j] : max;
        }
        for (int j = 0; j < n; j++)
          sum += scores[j] = exp (scores[j] - max);
        for (int t = 0; t < d_head; t++) {
          double acc = 0.0;
          for (int j = 0; j < n; j++)
            acc += scores[j] / sum * v[base + (size_t) j * d + h * d_head + t];
          out[base + (size_t) i * d + h * d_head + t] = (float) acc;
        }
      }
  }
}
