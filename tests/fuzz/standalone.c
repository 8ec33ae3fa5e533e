/* standalone.c - runs a fuzz target over files and folders given on the
 * command line, so the corpora are regression tests in every build, with or
 * without libFuzzer. */
#include <stdio.h>

#include <glib.h>

#include "fuzz-util.h"

static int
run_file (const char *path)
{
  char *data;
  gsize size;
  if (!g_file_get_contents (path, &data, &size, NULL)) {
    fprintf (stderr, "cannot read %s\n", path);
    return 0;
  }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
  g_free (data);
  return 1;
}

int
main (int argc, char **argv)
{
  int n = 0;
  for (int i = 1; i < argc; i++) {
    GDir *dir = g_dir_open (argv[i], 0, NULL);
    if (!dir) {
      n += run_file (argv[i]);
      continue;
    }
    const char *name;
    while ((name = g_dir_read_name (dir))) {
      char *path = g_build_filename (argv[i], name, NULL);
      n += run_file (path);
      g_free (path);
    }
    g_dir_close (dir);
  }
  printf ("%d passed, 0 failed\n", n);
  return n > 0 ? 0 : 1;
}
