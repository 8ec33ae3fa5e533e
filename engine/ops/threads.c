/* threads.c - the kernels' threads: what "n_threads = 0" means (the OpenMP
 * default, never a process-wide setting changed behind the caller's back),
 * a small pool that runs one function on T threads, and per-thread scratch
 * buffers.
 *
 * Why not OpenMP's parallel regions: libgomp's threads spin up to ~300,000
 * iterations (milliseconds) at the end of every region before they sleep.
 * On a machine with other work (a decoder, a second pipeline) a spinning
 * thread keeps the core that the thread it waits for needs; a forward pass
 * has ~150 such joins and ran 10-20x slower (docs/benchmarks.md). Here
 * threads spin at most SPIN_NS, then sleep on a condition variable. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ops.h"

/* Long enough to bridge the gaps between the kernels of a forward pass on
 * an idle machine, short enough that a descheduled partner costs little. */
#define SPIN_NS 50000

int
cle_threads_resolve (int n_threads)
{
  return n_threads > 0 ? n_threads : omp_get_max_threads ();
}

/* --------------------------------------------------------------- pool -- */

/* One pool per calling thread (so that contexts used from different
 * threads never wait for each other); its workers live until that thread
 * exits. Worker w (1-based) runs fn (arg, w, T) for w < T. */
typedef struct
{
  int n_workers;
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  /* the job, published by bumping generation */
  ClipParallelFn fn;
  void *arg;
  int T;
  unsigned generation;
  int pending;                  /* workers still in the current job */
  int sleepers;                 /* workers waiting on wake */
  int caller_sleeping;
  int quit;
} Pool;

typedef struct
{
  Pool *pool;
  int index;
  unsigned generation;          /* the last job before this worker */
} WorkerArg;

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Spins until *p != value or SPIN_NS pass; returns whether it changed. */
static int
spin_while_equal (const unsigned *p, unsigned value)
{
  const int64_t end = now_ns () + SPIN_NS;
  for (int i = 0;; i++) {
    if (__atomic_load_n (p, __ATOMIC_ACQUIRE) != value)
      return 1;
    if ((i & 63) == 63 && now_ns () > end)
      return 0;
    cpu_relax ();
  }
}

static void *
worker_main (void *p)
{
  WorkerArg *wa = p;
  Pool *pool = wa->pool;
  const int index = wa->index;
  unsigned seen = wa->generation;
  free (wa);
  for (;;) {
    if (!spin_while_equal (&pool->generation, seen)) {
      pthread_mutex_lock (&pool->lock);
      __atomic_add_fetch (&pool->sleepers, 1, __ATOMIC_SEQ_CST);
      while (__atomic_load_n (&pool->generation, __ATOMIC_SEQ_CST) == seen)
        pthread_cond_wait (&pool->wake, &pool->lock);
      __atomic_sub_fetch (&pool->sleepers, 1, __ATOMIC_SEQ_CST);
      pthread_mutex_unlock (&pool->lock);
    }
    seen = __atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE);
    if (__atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE))
      return NULL;
    if (index < pool->T)
      pool->fn (pool->arg, index, pool->T);
    if (__atomic_sub_fetch (&pool->pending, 1, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n (&pool->caller_sleeping, __ATOMIC_SEQ_CST)) {
      pthread_mutex_lock (&pool->lock);
      pthread_cond_signal (&pool->done);
      pthread_mutex_unlock (&pool->lock);
    }
  }
}

/* Publishes the current job (or quit) to every worker. */
static void
pool_start (Pool *pool)
{
  __atomic_store_n (&pool->pending, pool->n_workers, __ATOMIC_SEQ_CST);
  __atomic_add_fetch (&pool->generation, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (&pool->sleepers, __ATOMIC_SEQ_CST) > 0) {
    pthread_mutex_lock (&pool->lock);
    pthread_cond_broadcast (&pool->wake);
    pthread_mutex_unlock (&pool->lock);
  }
}

static void
pool_wait (Pool *pool)
{
  const int64_t end = now_ns () + SPIN_NS;
  for (int i = 0; __atomic_load_n (&pool->pending, __ATOMIC_ACQUIRE); i++) {
    if ((i & 63) == 63 && now_ns () > end) {
      pthread_mutex_lock (&pool->lock);
      __atomic_store_n (&pool->caller_sleeping, 1, __ATOMIC_SEQ_CST);
      while (__atomic_load_n (&pool->pending, __ATOMIC_SEQ_CST))
        pthread_cond_wait (&pool->done, &pool->lock);
      __atomic_store_n (&pool->caller_sleeping, 0, __ATOMIC_SEQ_CST);
      pthread_mutex_unlock (&pool->lock);
      return;
    }
    cpu_relax ();
  }
}

/* Tells every worker to quit and waits for them. */
static void
workers_join (Pool *pool)
{
  if (pool->n_workers > 0) {
    __atomic_store_n (&pool->quit, 1, __ATOMIC_RELEASE);
    pool_start (pool);
    for (int i = 0; i < pool->n_workers; i++)
      pthread_join (pool->workers[i], NULL);
    __atomic_store_n (&pool->quit, 0, __ATOMIC_RELEASE);
  }
  pool->n_workers = 0;
}

static void
pool_free (Pool *pool)
{
  workers_join (pool);
  free (pool->workers);
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->done);
  free (pool);
}

/* Replaces pool's workers by n of them; 0 when threads cannot be made. */
static int
pool_resize (Pool *pool, int n)
{
  workers_join (pool);
  pthread_t *w = realloc (pool->workers, (size_t) n * sizeof *w);
  if (!w)
    return 0;
  pool->workers = w;
  for (int i = 0; i < n; i++) {
    WorkerArg *wa = malloc (sizeof *wa);
    if (!wa)
      break;
    wa->pool = pool;
    wa->index = i + 1;
    wa->generation = __atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE);
    if (pthread_create (&pool->workers[i], NULL, worker_main, wa) != 0) {
      free (wa);
      break;
    }
    pool->n_workers++;
  }
  return pool->n_workers;
}

/* What each calling thread keeps between kernel calls: its pool and its
 * scratch buffers (one per slot, grown on demand), freed when it exits. */
typedef struct
{
  Pool *pool;
  void *data[CLE_N_BUFFERS];
  size_t cap[CLE_N_BUFFERS];
} ThreadState;

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static int state_key_ok;

static void
thread_state_free (void *p)
{
  ThreadState *ts = p;
  if (ts->pool)
    pool_free (ts->pool);
  for (int i = 0; i < CLE_N_BUFFERS; i++)
    free (ts->data[i]);
  free (ts);
}

static void
state_key_create (void)
{
  state_key_ok = pthread_key_create (&state_key, thread_state_free) == 0;
}

/* The calling thread's state, made on first use; NULL if it cannot be. */
static ThreadState *
thread_state (void)
{
  pthread_once (&state_once, state_key_create);
  if (!state_key_ok)
    return NULL;
  ThreadState *ts = pthread_getspecific (state_key);
  if (!ts) {
    if (!(ts = calloc (1, sizeof *ts)))
      return NULL;
    if (pthread_setspecific (state_key, ts) != 0) {
      free (ts);
      return NULL;
    }
  }
  return ts;
}

/* The calling thread's pool with at least n - 1 workers, or NULL. */
static Pool *
pool_get (int n)
{
  ThreadState *ts = thread_state ();
  if (!ts)
    return NULL;
  Pool *pool = ts->pool;
  if (!pool) {
    if (!(pool = calloc (1, sizeof *pool)))
      return NULL;
    pthread_mutex_init (&pool->lock, NULL);
    pthread_cond_init (&pool->wake, NULL);
    pthread_cond_init (&pool->done, NULL);
    ts->pool = pool;
  }
  if (pool->n_workers < n - 1)
    pool_resize (pool, n - 1);
  return pool;
}

void
cle_parallel (int n_threads, ClipParallelFn fn, void *arg)
{
  int T = cle_threads_resolve (n_threads);
  Pool *pool = T > 1 ? pool_get (T) : NULL;
  if (pool && pool->n_workers + 1 < T)
    T = pool->n_workers + 1;    /* fewer threads could be made */
  if (!pool || T <= 1) {
    fn (arg, 0, 1);
    return;
  }
  pool->fn = fn;
  pool->arg = arg;
  pool->T = T;
  pool_start (pool);
  fn (arg, 0, T);
  pool_wait (pool);
}

/* ------------------------------------------------------------ buffers -- */

void *
cle_thread_buffer (ClipThreadBufferSlot slot, size_t bytes)
{
  ThreadState *ts = thread_state ();
  if (!ts)
    return NULL;
  if (ts->cap[slot] < bytes) {
    /* a quarter more, so slowly growing batches do not reallocate often */
    size_t cap = (bytes + bytes / 4 + 63) & ~(size_t) 63;
    void *data = aligned_alloc (64, cap);
    if (!data)
      return NULL;
    free (ts->data[slot]);
    ts->data[slot] = data;
    ts->cap[slot] = cap;
  }
  return ts->data[slot];
}
