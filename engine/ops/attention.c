/* attention.c - scaled dot-product attention per (sequence, head), one query
 * row at a time: scores, softmax, weighted sum of values. The projections
 * around it are GEMMs elsewhere; the work here is small next to them. */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "ops.h"

size_t
cle_attention_scratch_size (int max_len, int n_threads)
{
  return (size_t) cle_threads_resolve (n_threads) * (size_t) max_len;
}

/* One query row i of sequence (q, k, v at its first row) and head h. */
static void
attend_row (float *out, const float *q, const float *k, const float *v,
    int i, int len, int causal, int d, int d_head, int h, float *p)
{
  const float scale = 1.0f / sqrtf ((float) d_head);
  const float *qi = q + (size_t) i * d + h * d_head;
  int n = causal ? i + 1 : len;
  float max = -INFINITY;
  for (int j = 0; j < n; j++) {
    const float *kj = k + (size_t) j * d + h * d_head;
    float s = 0.0f;
    for (int t = 0; t < d_head; t++)
      s += qi[t] * kj[t];
    p[j] = s * scale;
    if (p[j] > max)
      max = p[j];
  }
  float sum = 0.0f;
  for (int j = 0; j < n; j++) {
    p[j] = expf (p[j] - max);
    sum += p[j];
  }
  float *oi = out + (size_t) i * d + h * d_head;
  memset (oi, 0, d_head * sizeof (float));
  for (int j = 0; j < n; j++) {
    const float *vj = v + (size_t) j * d + h * d_head;
    float pj = p[j] / sum;
    for (int t = 0; t < d_head; t++)
      oi[t] += pj * vj[t];
  }
}

void
cle_attention (float *out, const float *q, const float *k, const float *v,
    const int *seq_start, const int *seq_len, int n_seq, int n_head,
    int d_head, int causal, float *scratch, int n_threads)
{
  const int d = n_head * d_head;
  int nt = cle_threads_resolve (n_threads);
  int max_len = 0;
  for (int s = 0; s < n_seq; s++)
    max_len = seq_len[s] > max_len ? seq_len[s] : max_len;
  const int n_tasks = n_seq * n_head;
#pragma omp parallel num_threads(nt)
  {
    float *p = scratch + (size_t) omp_get_thread_num () * max_len;
#pragma omp for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
      int s = task / n_head, h = task % n_head;
      size_t row = (size_t) seq_start[s] * d;
      for (int i = 0; i < seq_len[s]; i++)
        attend_row (out + row, q + row, k + row, v + row, i, seq_len[s],
            causal, d, d_head, h, p);
    }
  }
}

void
cle_attention_first_row (float *out, const float *q, const float *k,
    const float *v, const int *seq_start, const int *seq_len, int n_seq,
    int n_head, int d_head, float *scratch, int n_threads)
{
  const int d = n_head * d_head;
  int nt = cle_threads_resolve (n_threads);
  int max_len = 0;
  for (int s = 0; s < n_seq; s++)
    max_len = seq_len[s] > max_len ? seq_len[s] : max_len;
  const int n_tasks = n_seq * n_head;
#pragma omp parallel num_threads(nt)
  {
    float *p = scratch + (size_t) omp_get_thread_num () * max_len;
#pragma omp for schedule(static)
    for (int task = 0; task < n_tasks; task++) {
      int s = task / n_head, h = task % n_head;
      size_t row = (size_t) seq_start[s] * d;
      attend_row (out + row, q + row, k + row, v + row, 0, seq_len[s], 0, d,
          d_head, h, p);
    }
  }
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
