/* attention.c - scaled dot-product attention per (sequence, head): each
 * task gathers its head's queries, keys (transposed) and values into
 * contiguous blocks (positions may map to shared rows, see ClipSequences),
 * computes scores S = Q K^T, a softmax per row and O = P V as two small
 * products of the broadcast form (GemmNN: no horizontal sums, which cost
 * as much as the products at d_head 64), and scatters O to the rows it
 * owns. The projections around it are GEMMs elsewhere. */
#include <math.h>
#include <string.h>

#include "gemm-kernels.h"
#include "ops.h"
#include "vector-math.h"

/* Per thread: scores (max_len x max_len), then Q, K^T, V and O (max_len x
 * d_head each). */
size_t
cle_attention_scratch_size (int max_len, int max_d_head, int n_threads)
{
  return (size_t) cle_threads_resolve (n_threads) * (size_t) max_len
      * (size_t) (max_len + 4 * max_d_head);
}

/* y = x @ bm (GemmNN) in plain loops the compiler vectorizes over the
 * columns (no AVX2 or AVX-512, or CLE_GEMM=c), each output one running
 * sum over k; static clones behind cle_gemm_nn_c (norm.c says why). */
CLE_CLONES static void
gemm_nn_clones (float *y, const float *x, const float *bm, int m, int k, int n,
    int ldx, int ldb, int ldy)
{
  for (int i = 0; i < m; i++) {
    float *yi = y + (size_t) i * ldy;
    for (int j = 0; j < n; j++)
      yi[j] = 0.0f;
    for (int t = 0; t < k; t++) {
      const float a = x[(size_t) i * ldx + t];
      const float *bt = bm + (size_t) t * ldb;
      for (int j = 0; j < n; j++)
        yi[j] += a * bt[j];
    }
  }
}

void
cle_gemm_nn_c (float *y, const float *x, const float *bm, int m, int k, int n,
    int ldx, int ldb, int ldy)
{
  gemm_nn_clones (y, x, bm, m, k, n, ldx, ldb, ldy);
}

/* The single-threaded y = x @ bm block of the best path this CPU has and
 * CLE_GEMM allows (the attention products are small: one head of one
 * sequence). */
static GemmNN
gemm_nn_block (void)
{
#ifdef CLE_GEMM_HAVE_X86
  const ClipGemmPath path = cle_gemm_path_default ();
  if (path != CLE_GEMM_C && path != CLE_GEMM_AVX2
      && cle_gemm_path_supported (CLE_GEMM_AVX512))
    return cle_gemm_nn_avx512;
  if (path != CLE_GEMM_C && cle_gemm_path_supported (CLE_GEMM_AVX2))
    return cle_gemm_nn_avx2;
#endif
  return cle_gemm_nn_c;
}

static inline int
row_at (const ClipSequences *seqs, int p)
{
  return seqs->row_of ? seqs->row_of[p] : p;
}

/* dst: (n, d_head) = head h of rows row_at (p0 + i) of src: (rows, d). */
static inline __attribute__ ((always_inline)) void
gather_head (float *dst, const float *src, const ClipSequences *seqs,
    int p0, int n, int d, int d_head, int h)
{
  for (int i = 0; i < n; i++)
    memcpy (dst + (size_t) i * d_head,
        src + (size_t) row_at (seqs, p0 + i) * d + (size_t) h * d_head,
        d_head * sizeof (float));
}

/* dst: (d, n) with rows ld apart: rows[j]'s d values as column j (the
 * keys, transposed), in register blocks where the products are AVX-512's
 * (nn). */
static inline __attribute__ ((always_inline)) void
transpose_rows (float *dst, int ld, const float *const *rows, int n, int d,
    GemmNN nn)
{
#ifdef CLE_GEMM_HAVE_X86
  if (nn == cle_gemm_nn_avx512) {
    cle_gather_transposed_avx512 (dst, ld, rows, n, d);
    return;
  }
#endif
  (void) nn;
  for (int j = 0; j < n; j++)
    for (int t = 0; t < d; t++)
      dst[(size_t) t * ld + j] = rows[j][t];
}

#define LANES 16

/* p[0..n) = softmax (p * scale), in place. The maximum and the sum run
 * in LANES interleaved partial results (element j into lane j % LANES,
 * an order fixed by the code), so that they vectorize: a running float
 * sum or maximum does not. */
static inline __attribute__ ((always_inline)) void
softmax (float *p, int n, float scale)
{
  float lane[LANES];
  for (int j = 0; j < n; j++)
    p[j] *= scale;
  for (int l = 0; l < LANES; l++)
    lane[l] = -INFINITY;
  int j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++)
      lane[l] = p[j + l] > lane[l] ? p[j + l] : lane[l];
  for (int l = 0; j + l < n; l++)
    lane[l] = p[j + l] > lane[l] ? p[j + l] : lane[l];
  float max = -INFINITY;
  for (int l = 0; l < LANES; l++)
    max = lane[l] > max ? lane[l] : max;
  for (j = 0; j < n; j++)
    p[j] = cle_exp (p[j] - max);
  for (int l = 0; l < LANES; l++)
    lane[l] = 0.0f;
  for (j = 0; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++)
      lane[l] += p[j + l];
  for (int l = 0; j + l < n; l++)
    lane[l] += p[j + l];
  float sum = 0.0f;
  for (int l = 0; l < LANES; l++)
    sum += lane[l];
  const float inv = 1.0f / sum;
  for (j = 0; j < n; j++)
    p[j] *= inv;
}

typedef struct
{
  float *out;
  const float *q, *k, *v;
  const ClipSequences *seqs;
  const ClipPrefix *prefix;
  int n_head, d_head, causal, pooled, max_len;
  float *scratch;
  GemmNN nn;
  int next_task;                /* (sequence, head) pairs handed out */
} AttentionJob;

/* Thread t takes (sequence, head) tasks one at a time until none is left
 * (dynamic: sequences differ in length). */
CLE_CLONES static void
attention_part (void *arg, int t, int T)
{
  AttentionJob *job = arg;
  const ClipSequences *seqs = job->seqs;
  const int n_head = job->n_head, d_head = job->d_head, d = n_head * d_head;
  const int n_tasks = seqs->n_seq * n_head, max_len = job->max_len;
  const int P = job->prefix ? job->prefix->n : 0;
  const float scale = 1.0f / sqrtf ((float) d_head);
  float *s = job->scratch + (size_t) t * max_len * (max_len + 4 * d_head);
  float *qh = s + (size_t) max_len * max_len;
  float *kt = qh + (size_t) max_len * d_head;
  float *vh = kt + (size_t) max_len * d_head;
  float *oh = vh + (size_t) max_len * d_head;
  const float *rows[max_len > 0 ? max_len : 1];        /* a task's keys */
  (void) T;
  for (;;) {
    const int task = __atomic_fetch_add (&job->next_task, 1,
        __ATOMIC_RELAXED);
    if (task >= n_tasks)
      break;
    const int seq = task / n_head, h = task % n_head;
    const int p0 = seqs->start[seq], len = seqs->len[seq];
    /* queries: positions [first, len) of the sequence, or (pooled) row seq
     * of q, which attends to all of it */
    const int first = job->pooled ? len - 1
        : seqs->first_query ? seqs->first_query[seq] : 0;
    const int nq = len - first;
    if (nq <= 0)
      continue;
    if (job->pooled)
      memcpy (qh, job->q + (size_t) seq * d + (size_t) h * d_head,
          d_head * sizeof (float));
    else
      gather_head (qh, job->q, seqs, p0 + first, nq, d, d_head, h);
    /* keys and values: the P prefix positions (adapters' prefix tuning,
     * visible to every query), then the sequence's */
    const int nk = P + len;
    for (int j = 0; j < P; j++)
      rows[j] = job->prefix->k + ((size_t) h * P + j) * d_head;
    for (int j = 0; j < len; j++)
      rows[P + j] = job->k + (size_t) row_at (seqs, p0 + j) * d
          + (size_t) h * d_head;
    transpose_rows (kt, nk, rows, nk, d_head, job->nn);
    if (P)
      memcpy (vh, job->prefix->v + (size_t) h * P * d_head,
          (size_t) P * d_head * sizeof (float));
    gather_head (vh + (size_t) P * d_head, job->v, seqs, p0, len, d, d_head,
        h);

    job->nn (s, qh, kt, nq, d_head, nk, d_head, nk, nk);
    for (int i = 0; i < nq; i++) {
      float *p = s + (size_t) i * nk;
      const int n = P + (job->causal ? first + i + 1 : len);
      softmax (p, n, scale);
      for (int j = n; j < nk; j++)
        p[j] = 0.0f;
    }
    job->nn (oh, s, vh, nq, nk, d_head, nk, d_head, d_head);

    for (int i = 0; i < nq; i++) {
      const size_t row = job->pooled ? (size_t) seq
          : (size_t) row_at (seqs, p0 + first + i);
      memcpy (job->out + row * d + (size_t) h * d_head,
          oh + (size_t) i * d_head, d_head * sizeof (float));
    }
  }
}

static void
attention_run (float *out, const float *q, const float *k, const float *v,
    const ClipSequences *seqs, const ClipPrefix *prefix, int n_head,
    int d_head, int causal, int pooled, float *scratch, int n_threads)
{
  int max_len = 0;
  for (int s = 0; s < seqs->n_seq; s++)
    max_len = seqs->len[s] > max_len ? seqs->len[s] : max_len;
  if (prefix && prefix->n)
    max_len += prefix->n;
  else
    prefix = NULL;
  AttentionJob job = { out, q, k, v, seqs, prefix, n_head, d_head, causal,
    pooled, max_len, scratch, gemm_nn_block (), 0
  };
  /* the scratch has room for cle_threads_resolve (n_threads) threads */
  cle_parallel (n_threads, attention_part, &job);
}

void
cle_attention (float *out, const float *q, const float *k, const float *v,
    const ClipSequences *seqs, int n_head, int d_head, int causal,
    float *scratch, int n_threads)
{
  attention_run (out, q, k, v, seqs, NULL, n_head, d_head, causal, 0,
      scratch, n_threads);
}

void
cle_attention_pooled (float *out, const float *q, const float *k,
    const float *v, const ClipSequences *seqs, int n_head, int d_head,
    float *scratch, int n_threads)
{
  attention_run (out, q, k, v, seqs, NULL, n_head, d_head, 0, 1, scratch,
      n_threads);
}

void
cle_attention_prefix (float *out, const float *q, const float *k,
    const float *v, const ClipSequences *seqs, const ClipPrefix *prefix,
    int n_head, int d_head, int causal, int pooled, float *scratch,
    int n_threads)
{
  attention_run (out, q, k, v, seqs, prefix, n_head, d_head,
      pooled ? 0 : causal, pooled, scratch, n_threads);
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
