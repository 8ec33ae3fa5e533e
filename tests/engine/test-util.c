/* test-util.c - see test-util.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "test-util.h"

static int n_passed, n_failed;

char *
test_data_path (const char *rel)
{
  const char *root = getenv ("CLE_TEST_DATA");
  if (!root)
    root = "tests/data";
  /* Absolute, so that symlinks made by the tests resolve. */
  char *joined = g_build_filename (root, rel, NULL);
  char *path = g_canonicalize_filename (joined, NULL);
  g_free (joined);
  return path;
}

void *
test_read_file (const char *path, size_t *size)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    fprintf (stderr, "cannot open fixture '%s'\n", path);
    exit (1);
  }
  fseek (f, 0, SEEK_END);
  long n = ftell (f);
  fseek (f, 0, SEEK_SET);
  char *buf = malloc (n + 1);
  if (fread (buf, 1, n, f) != (size_t) n) {
    fprintf (stderr, "cannot read fixture '%s'\n", path);
    exit (1);
  }
  buf[n] = '\0';
  fclose (f);
  if (size)
    *size = n;
  return buf;
}

TestCompare
test_compare (const float *got, const float *ref, size_t n)
{
  TestCompare c = { 0, 0, 0 };
  double dot = 0, gg = 0, rr = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) got[i] - ref[i]);
    if (d > c.max_abs_diff || isnan (d))
      c.max_abs_diff = isnan (d) ? INFINITY : d;
    if (fabs (ref[i]) > c.max_abs_ref)
      c.max_abs_ref = fabs (ref[i]);
    dot += (double) got[i] * ref[i];
    gg += (double) got[i] * got[i];
    rr += (double) ref[i] * ref[i];
  }
  c.cosine = (gg > 0 && rr > 0) ? dot / sqrt (gg * rr) : (gg == rr ? 1 : 0);
  return c;
}

int
test_check_close (const char *name, const float *got, const float *ref,
    size_t n, double rel_tol, double min_cosine)
{
  TestCompare c = test_compare (got, ref, n);
  int ok = c.max_abs_diff <= rel_tol * c.max_abs_ref && c.cosine >= min_cosine;
  printf ("%s %s: max|d| = %.3g (%.3g of max|ref| = %.3g), cos = %.9f\n",
      ok ? "ok  " : "FAIL", name, c.max_abs_diff,
      c.max_abs_ref > 0 ? c.max_abs_diff / c.max_abs_ref : 0.0, c.max_abs_ref,
      c.cosine);
  ok ? n_passed++ : n_failed++;
  return ok;
}

void
test_expect (int ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s ", ok ? "ok  " : "FAIL");
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  ok ? n_passed++ : n_failed++;
}

int
test_finish (void)
{
  printf ("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}

int
test_remove_dir (const char *dir)
{
  char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  int ok = system (cmd) == 0;
  if (!ok)
    fprintf (stderr, "could not remove %s\n", dir);
  g_free (cmd);
  return ok;
}
