/* fuzz-util.c - see fuzz-util.h. */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "fuzz-util.h"

const char *
fuzz_write_file (const char *name, const uint8_t *data, size_t size)
{
  static char *dir;
  static GHashTable *paths;
  if (!dir) {
    dir = g_dir_make_tmp ("cle-fuzz-XXXXXX", NULL);
    paths = g_hash_table_new (g_str_hash, g_str_equal);
  }
  char *path = g_hash_table_lookup (paths, name);
  if (!path) {
    path = g_build_filename (dir, name, NULL);
    g_hash_table_insert (paths, g_strdup (name), path);
  }
  FILE *f = fopen (path, "wb");
  if (f) {
    fwrite (data, 1, size, f);
    fclose (f);
  }
  return path;
}
