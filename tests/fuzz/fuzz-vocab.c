/* fuzz-vocab.c - arbitrary vocab.json and merges.txt: the input is split at
 * its first NUL byte (vocab before, merges after); a loaded tokenizer then
 * encodes a fixed sentence. Each input is also loaded with vocab.json read
 * by json-glib alone: the flat reader must take only texts that json-glib
 * reads the same way, so both loads give the same status and message, or
 * the same tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "tokenizer.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr (data, 0, size);
  size_t vocab_size = nul ? (size_t) (nul - data) : size;
  const char *vocab = fuzz_write_file ("vocab.json", data, vocab_size);
  const char *merges = fuzz_write_file ("merges.txt", nul ? nul + 1 : data,
      nul ? size - vocab_size - 1 : 0);
  ClipTokenizer *tok, *ref;
  ClipError err, ref_err;
  int ret = cle_tokenizer_load (&tok, vocab, merges, &err);
  int ref_ret = cle_tokenizer_load_json_glib (&ref, vocab, merges, &ref_err);
  if (ret != ref_ret || (ret != CLE_OK
          && strcmp (err.message, ref_err.message) != 0)
      || (ret == CLE_OK && !cle_tokenizer_equal (tok, ref))) {
    fprintf (stderr, "flat reader: %d %s\njson-glib:   %d %s\n%s\n", ret,
        ret ? err.message : "", ref_ret, ref_ret ? ref_err.message : "",
        ret == CLE_OK && ref_ret == CLE_OK ? "the tables differ" : "");
    abort ();
  }
  cle_tokenizer_free (ref);
  if (ret != CLE_OK)
    return 0;
  int32_t ids[77];
  cle_tokenizer_encode (tok, "a photo of a cat, isn't it? &amp; 123", -1, 77,
      ids, 77, &err);
  cle_tokenizer_free (tok);
  return 0;
}
