/* search.c - exact search over float16 rows: every row's dot product with
 * the query (ops/f16.c) and the k best kept in a min-heap per thread, then
 * merged. Knows nothing of files: the caller maps the shards; moments and
 * metadata are the caller's too. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops/f16.h"
#include "ops/ops.h"

/* rows scored per kernel call: the scores stay in L1 */
#define CHUNK 512

typedef struct
{
  const ClipRowBlock *blocks;
  int n_blocks, dim, k;
  size_t n_total;
  const float *query;
  ClipSearchHit *heaps;         /* (T, k) */
  int *n_heap;                  /* (T) */
} SearchJob;

/* worse: lower score, or equal score and later row */
static inline int
hit_worse (const ClipSearchHit *a, const ClipSearchHit *b)
{
  return a->score < b->score || (a->score == b->score && a->row > b->row);
}

/* min-heap of the k best so far: heap[0] is the worst of them */
static void
heap_sift_down (ClipSearchHit *heap, int n, int i)
{
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && hit_worse (&heap[l], &heap[m]))
      m = l;
    if (r < n && hit_worse (&heap[r], &heap[m]))
      m = r;
    if (m == i)
      return;
    ClipSearchHit t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
}

static void
heap_push (ClipSearchHit *heap, int *n, int k, size_t row, float score)
{
  ClipSearchHit h = { row, score };
  if (*n < k) {
    int i = (*n)++;
    heap[i] = h;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!hit_worse (&heap[i], &heap[p]))
        break;
      ClipSearchHit t = heap[i];
      heap[i] = heap[p];
      heap[p] = t;
      i = p;
    }
  } else if (hit_worse (&heap[0], &h)) {
    heap[0] = h;
    heap_sift_down (heap, *n, 0);
  }
}

static void
search_range (void *arg, int t, int T)
{
  SearchJob *job = arg;
  const size_t begin = job->n_total * t / T, end = job->n_total * (t + 1) / T;
  ClipSearchHit *heap = job->heaps + (size_t) t * job->k;
  int n_heap = 0;
  float scores[CHUNK];
  size_t base = 0;

  for (int b = 0; b < job->n_blocks && base < end; b++) {
    const ClipRowBlock *blk = &job->blocks[b];
    size_t lo = begin > base ? begin - base : 0;
    size_t hi = end - base < blk->n_rows ? end - base : blk->n_rows;
    for (size_t i = lo; i < hi; i += CHUNK) {
      size_t n = hi - i < CHUNK ? hi - i : CHUNK;
      cle_dot_f16 (scores, blk->rows + i * (size_t) job->dim, job->query, n,
          job->dim);
      /* once the heap is full, most rows lose to its worst at once */
      for (size_t j = 0; j < n; j++)
        if (n_heap < job->k || scores[j] >= heap[0].score)
          heap_push (heap, &n_heap, job->k, base + i + j, scores[j]);
    }
    base += blk->n_rows;
  }
  job->n_heap[t] = n_heap;
}

static int
hit_compare (const void *pa, const void *pb)
{
  const ClipSearchHit *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

int
cle_search_f16 (ClipSearchHit *hits, int k, const ClipRowBlock *blocks,
    int n_blocks, int dim, const float *query, int n_threads, ClipError *err)
{
  SearchJob job = { blocks, n_blocks, dim, k, 0, query, NULL, NULL };
  int T, n_out = 0;

  if (!hits || k < 1 || (n_blocks > 0 && !blocks) || n_blocks < 0 || dim < 1
      || !query)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "search: k %d, %d blocks, dim %d: need k >= 1, dim >= 1, a query "
        "and the blocks", k, n_blocks, dim);
  for (int b = 0; b < n_blocks; b++) {
    if (blocks[b].n_rows && !blocks[b].rows)
      return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
          "search: block %d has %zu rows and no data", b, blocks[b].n_rows);
    job.n_total += blocks[b].n_rows;
  }
  if (job.n_total == 0)
    return 0;

  /* a thread per 64 Ki rows at least: below that, waking one costs more */
  T = cle_threads_resolve (n_threads);
  if ((size_t) T > job.n_total / 65536 + 1)
    T = (int) (job.n_total / 65536 + 1);
  job.heaps = malloc ((size_t) T * k * sizeof *job.heaps);
  job.n_heap = calloc (T, sizeof *job.n_heap);
  if (!job.heaps || !job.n_heap) {
    free (job.heaps);
    free (job.n_heap);
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "search: no memory for %d threads' %d best hits", T, k);
  }
  cle_parallel (T, search_range, &job);

  /* the threads' bests, gathered, sorted, cut to k */
  for (int t = 0; t < T; t++) {
    memmove (job.heaps + n_out, job.heaps + (size_t) t * k,
        job.n_heap[t] * sizeof *job.heaps);
    n_out += job.n_heap[t];
  }
  qsort (job.heaps, n_out, sizeof *job.heaps, hit_compare);
  if (n_out > k)
    n_out = k;
  memcpy (hits, job.heaps, n_out * sizeof *hits);
  free (job.heaps);
  free (job.n_heap);
  return n_out;
}
