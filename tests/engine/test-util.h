/* test-util.h - small helpers shared by the engine tests: fixture paths,
 * whole-file reads, tensor comparison with max abs diff and cosine. */
#ifndef CLE_TEST_UTIL_H
#define CLE_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* $CLE_TEST_DATA/rel (the tests/data folder; set by meson). Caller frees. */
char *test_data_path (const char *rel);

/* rm -rf dir (a test's temporary folder); prints why on failure. Returns 1
 * when it is gone. */
int test_remove_dir (const char *dir);

/* Reads a whole file; aborts the test with a message when it can't. */
void *test_read_file (const char *path, size_t *size);

typedef struct {
  double max_abs_diff, max_abs_ref, cosine;
} TestCompare;

TestCompare test_compare (const float *got, const float *ref, size_t n);

/* Prints "name: max|d| = .., max|ref| = .., cos = .." and returns 1 when
 * max|d| <= rel_tol * max|ref| and cosine >= min_cosine, else 0. */
int test_check_close (const char *name, const float *got, const float *ref,
    size_t n, double rel_tol, double min_cosine);

/* Counts failures; test_finish prints "N passed, N failed" and returns the
 * process exit status. */
void test_expect (int ok, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
int test_finish (void);

#endif
