/* fuzz-vocab.c - arbitrary vocab.json and merges.txt: the input is split at
 * its first NUL byte (vocab before, merges after); a loaded tokenizer then
 * encodes a fixed sentence. */
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
  ClipTokenizer *tok;
  ClipError err;
  if (cle_tokenizer_load (&tok, vocab, merges, &err) != CLE_OK)
    return 0;
  int32_t ids[77];
  cle_tokenizer_encode (tok, "a photo of a cat, isn't it? &amp; 123", -1, 77,
      ids, 77, &err);
  cle_tokenizer_free (tok);
  return 0;
}
