/* threads.c - what "n_threads = 0" means (the OpenMP default, never a
 * process-wide setting changed behind the caller's back), and the kernels'
 * per-thread scratch buffers. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#include "ops.h"

int
cle_threads_resolve (int n_threads)
{
  return n_threads > 0 ? n_threads : omp_get_max_threads ();
}

/* One thread's buffers, one per slot, grown on demand. */
typedef struct
{
  void *data[CLE_N_BUFFERS];
  size_t cap[CLE_N_BUFFERS];
} ThreadBuffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static int buffers_key_ok;

static void
thread_buffers_free (void *p)
{
  ThreadBuffers *tb = p;
  for (int i = 0; i < CLE_N_BUFFERS; i++)
    free (tb->data[i]);
  free (tb);
}

static void
buffers_key_create (void)
{
  buffers_key_ok = pthread_key_create (&buffers_key, thread_buffers_free)
      == 0;
}

void *
cle_thread_buffer (ClipThreadBufferSlot slot, size_t bytes)
{
  pthread_once (&buffers_once, buffers_key_create);
  if (!buffers_key_ok)
    return NULL;
  ThreadBuffers *tb = pthread_getspecific (buffers_key);
  if (!tb) {
    if (!(tb = calloc (1, sizeof *tb)))
      return NULL;
    if (pthread_setspecific (buffers_key, tb) != 0) {
      free (tb);
      return NULL;
    }
  }
  if (tb->cap[slot] < bytes) {
    /* a quarter more, so slowly growing batches do not reallocate often */
    size_t cap = (bytes + bytes / 4 + 63) & ~(size_t) 63;
    void *data = aligned_alloc (64, cap);
    if (!data)
      return NULL;
    free (tb->data[slot]);
    tb->data[slot] = data;
    tb->cap[slot] = cap;
  }
  return tb->data[slot];
}
