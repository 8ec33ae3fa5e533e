/* threads.c - what "n_threads = 0" means: the OpenMP default, never a
 * process-wide setting changed behind the caller's back. */
#include <omp.h>

#include "ops.h"

int
cle_threads_resolve (int n_threads)
{
  return n_threads > 0 ? n_threads : omp_get_max_threads ();
}
