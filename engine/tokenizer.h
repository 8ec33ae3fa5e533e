/* tokenizer.h - CLIP's byte-level BPE (internal to the engine).
 * Text pipeline as openai's simple_tokenizer without ftfy; see
 * tests/data/FIXTURES.md for the exact steps. */
#ifndef CLE_TOKENIZER_H
#define CLE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef struct ClipTokenizer ClipTokenizer;

/* Loads vocab.json (token -> id) and merges.txt ("#version" line, then one
 * "a b" pair a line, rank = order; the first 48,894 are read, as by
 * CLIPTokenizer). The two must fit CLIP's construction: ids 0..n-1, the 512
 * byte symbols (plain and + "</w>"), one token per merge, the 2 special
 * tokens, nothing else. Errors name the file and the line/key. */
int cle_tokenizer_load (ClipTokenizer **out, const char *vocab_path,
    const char *merges_path, ClipError *err);
void cle_tokenizer_free (ClipTokenizer *tok);

/* For tests: the same load with vocab.json read by json-glib alone (what
 * cle_tokenizer_load falls back to for a text its flat reader declines),
 * and whether two tokenizers hold the same tables (encode the same). */
int cle_tokenizer_load_json_glib (ClipTokenizer **out,
    const char *vocab_path, const char *merges_path, ClipError *err);
int cle_tokenizer_equal (const ClipTokenizer *a, const ClipTokenizer *b);

/* Number of ids in the vocabulary (highest id + 1). */
int cle_tokenizer_vocab_size (const ClipTokenizer *tok);
/* Ids of <|startoftext|> and <|endoftext|>. */
int32_t cle_tokenizer_start_id (const ClipTokenizer *tok);
int32_t cle_tokenizer_end_id (const ClipTokenizer *tok);

/* ids = [start] + bpe(text) + [end], truncated to context_length as
 * ids[:context_length-1] + [end]. Writes min(n, max_ids) ids, returns n (the
 * truncated count) or a negative status (invalid UTF-8 -> ERROR_INVALID_ARGUMENT
 * naming the byte offset). len < 0 means NUL-terminated. Thread-safe: the
 * tokenizer is read-only after load. */
int cle_tokenizer_encode (const ClipTokenizer *tok, const char *text,
    ptrdiff_t len, int context_length, int32_t *ids, int max_ids,
    ClipError *err);

#endif
