/* fuzz-tokenizer.c - arbitrary bytes as a prompt, through the real CLIP
 * vocabulary (CLE_FUZZ_DATA or tests/data: tiny-clip/vocab.json and
 * merges.txt), at the usual context length and an unbounded one. */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "fuzz-util.h"
#include "tokenizer.h"

static ClipTokenizer *
load_once (void)
{
  static ClipTokenizer *tok;
  if (tok)
    return tok;
  const char *root = g_getenv ("CLE_TEST_DATA");
  char *vocab = g_build_filename (root ? root : "tests/data", "tiny-clip",
      "vocab.json", NULL);
  char *merges = g_build_filename (root ? root : "tests/data", "tiny-clip",
      "merges.txt", NULL);
  ClipError err;
  if (cle_tokenizer_load (&tok, vocab, merges, &err) != CLE_OK) {
    fprintf (stderr, "fuzz-tokenizer: %s (set CLE_TEST_DATA)\n", err.message);
    abort ();
  }
  g_free (vocab);
  g_free (merges);
  return tok;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ClipTokenizer *tok = load_once ();
  static int32_t ids[1 << 16];
  ClipError err;
  cle_tokenizer_encode (tok, (const char *) data, size, 77, ids, 77, &err);
  if (size < 4096)
    cle_tokenizer_encode (tok, (const char *) data, size, 1 << 16, ids,
        1 << 16, &err);
  return 0;
}
