/* test-tokenizer.c - tokenizer.c against the ids of openai's simple_tokenizer
 * (tests/data/tokenizer/golden.jsonl: 200 strings, truncated to 77 and full),
 * Python-checked edge cases, truncation, concurrent use from threads, the
 * errors of load (missing and malformed files; vocab.json and merges.txt
 * that do not fit CLIP's construction) and encode (invalid UTF-8), and
 * vocab.json's flat reader against json-glib on escapes. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tokenizer.h"
#include "test-util.h"

#define START_ID 49406
#define END_ID 49407
#define MAX_IDS 4096
#define HUGE_CONTEXT (1 << 20)

typedef struct {
  char *name, *text;
  GArray *ids, *ids_77;         /* int32_t */
} Golden;

static GArray *
int_array (JsonArray *array)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (int32_t));
  for (guint i = 0; i < json_array_get_length (array); i++) {
    int32_t v = (int32_t) json_array_get_int_element (array, i);
    g_array_append_val (out, v);
  }
  return out;
}

static void
golden_free (gpointer p)
{
  Golden *g = p;
  g_free (g->name);
  g_free (g->text);
  g_array_unref (g->ids);
  g_array_unref (g->ids_77);
  g_free (g);
}

static GPtrArray *
golden_load (void)
{
  char *path = test_data_path ("tokenizer/golden.jsonl");
  char *data = test_read_file (path, NULL);
  GPtrArray *golden = g_ptr_array_new_with_free_func (golden_free);
  char **lines = g_strsplit (data, "\n", -1);
  JsonParser *parser = json_parser_new ();
  for (char **line = lines; *line; line++) {
    GError *gerr = NULL;
    if (!**line)
      continue;
    if (!json_parser_load_from_data (parser, *line, -1, &gerr)) {
      test_expect (0, "golden line parses: %s", gerr->message);
      g_error_free (gerr);
      continue;
    }
    JsonObject *o = json_node_get_object (json_parser_get_root (parser));
    Golden *g = g_new0 (Golden, 1);
    g->name = g_strdup (json_object_get_string_member (o, "id"));
    g->text = g_strdup (json_object_get_string_member (o, "text"));
    g->ids = int_array (json_object_get_array_member (o, "ids"));
    g->ids_77 = int_array (json_object_get_array_member (o, "ids_77"));
    g_ptr_array_add (golden, g);
  }
  g_object_unref (parser);
  g_strfreev (lines);
  free (data);
  free (path);
  return golden;
}

static int
same_ids (const int32_t *got, int n_got, const GArray *want)
{
  return n_got == (int) want->len
      && memcmp (got, want->data, want->len * sizeof (int32_t)) == 0;
}

static void
print_ids (const char *label, const int32_t *ids, int n)
{
  printf ("    %s (%d):", label, n);
  for (int i = 0; i < n && i < 40; i++)
    printf (" %d", ids[i]);
  printf ("%s\n", n > 40 ? " ..." : "");
}

/* Returns 1 when text gives want at context_length. */
static int
check_encode (const ClipTokenizer *tok, const char *name, const char *text,
    ptrdiff_t len, int context_length, const GArray *want)
{
  int32_t ids[MAX_IDS];
  ClipError err = { 0 };
  int n = cle_tokenizer_encode (tok, text, len, context_length, ids, MAX_IDS,
      &err);
  if (n < 0) {
    printf ("    %s: error %d: %s\n", name, n, err.message);
    return 0;
  }
  if (same_ids (ids, n, want))
    return 1;
  printf ("    %s (context %d) differs\n", name, context_length);
  print_ids ("got ", ids, n);
  print_ids ("want", (const int32_t *) want->data, want->len);
  return 0;
}

static void
test_golden (const ClipTokenizer *tok, GPtrArray *golden)
{
  int n_77 = 0, n_full = 0;
  for (guint i = 0; i < golden->len; i++) {
    Golden *g = golden->pdata[i];
    n_77 += check_encode (tok, g->name, g->text, -1, 77, g->ids_77);
    n_full += check_encode (tok, g->name, g->text, -1, HUGE_CONTEXT, g->ids);
  }
  printf ("golden: %d/%u match ids_77, %d/%u match the untruncated ids\n",
      n_77, golden->len, n_full, golden->len);
  test_expect (golden->len == 200, "golden.jsonl has 200 strings (%u)",
      golden->len);
  test_expect (n_77 == (int) golden->len, "golden ids_77: %d/%u", n_77,
      golden->len);
  test_expect (n_full == (int) golden->len, "golden ids (untruncated): %d/%u",
      n_full, golden->len);
}

/* Cases beyond golden.jsonl; ids from the FIXTURES.md pipeline run in Python
 * 3.11 (html, str.lower, the `regex` module) with simple_tokenizer's bpe. */
static const struct {
  const char *what, *text;
  int len;
  int32_t ids[32];
} extra_cases[] = {
  { "final sigma (Python's context rule)",
    "\316\243\316\221\316\243 \316\243 a\316\243 \316\243\314\201a "
    "\341\274\210\316\243'", 26,
    { 49406, 139, 225, 138, 109, 139, 480, 139, 481, 64, 139, 480, 139, 481,
      136, 479, 320, 157, 120, 222, 139, 480, 262, 49407 } },
  { "U+0130 -> i + U+0307, titlecase, sharp s",
    "\304\260STANBUL \307\205 \341\272\236\303\237", 18,
    { 49406, 328, 16384, 11231, 131, 484, 127, 253, 127, 509, 49407 } },
  { "roman numeral and circled letters lowered (GLib leaves them)",
    "\342\205\253 \342\222\266\342\222\267 \360\237\204\260", 15,
    { 49406, 158, 227, 375, 27400, 238, 27400, 495, 558, 226, 364, 49407 } },
  { "IGNORECASE: long s in 's and in a special literal",
    "it'\305\277 <|\305\277tartoftext|> <|startoftext|>", 38,
    { 49406, 585, 6, 129, 379, 27, 91, 129, 123, 2002, 6659, 18169, 91, 285,
      49406, 49407 } },
  { "IGNORECASE: U+0345 matches no alternative", "a\315\205b", 4,
    { 49406, 320, 321, 49407 } },
  { "numeric references: fix-ups, U+FFFD, dropped, saturation",
    "&#128;&#0;&#x110000;&#1;x &#xD800;&#13;&#99999999999999999999;", 62,
    { 49406, 34919, 47356, 39802, 343, 39802, 39802, 49407 } },
  { "named references: legacy prefixes, two code points, non-matches",
    "&notit; &amp &ampx &AElig &nGt; &#x; &# &", 41,
    { 49406, 126, 361, 585, 282, 261, 261, 343, 127, 355, 22684, 104, 2805,
      496, 5, 258, 343, 282, 5, 258, 261, 49407 } },
  { "U+001C..U+001F: stripped at the ends, not collapsed inside",
    "\034 a \037\036 b \035", 10,
    { 49406, 320, 219, 474, 321, 49407 } },
  { "double unescape into a special literal",
    "&#38;lt;|endoftext|&amp;gt;", 27,
    { 49406, 49407, 49407 } },
  { "reference name longer than 32",
    "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", 42,
    { 49406, 261, 23126, 23126, 23126, 23126, 6727, 19336, 282, 49407 } },
  { "embedded NUL with an explicit length", "a\000b", 3,
    { 49406, 320, 444, 321, 49407 } },
  { "empty string", "", 0, { 49406, 49407 } },
  { "whitespace only", " \t\n\034 ", 5, { 49406, 49407 } },
};

static void
test_extra (const ClipTokenizer *tok)
{
  for (size_t i = 0; i < G_N_ELEMENTS (extra_cases); i++) {
    GArray *want = g_array_new (FALSE, FALSE, sizeof (int32_t));
    const int32_t *ids = extra_cases[i].ids;
    int n = G_N_ELEMENTS (extra_cases[i].ids);
    while (ids[n - 1] == 0)     /* every list ends with END_ID */
      n--;
    g_array_append_vals (want, ids, n);
    test_expect (check_encode (tok, extra_cases[i].what, extra_cases[i].text,
            extra_cases[i].len, 77, want), "%s", extra_cases[i].what);
    g_array_unref (want);
  }
}

static void
test_truncation (const ClipTokenizer *tok, GPtrArray *golden)
{
  /* the longest golden string */
  const Golden *g = golden->pdata[0];
  for (guint i = 1; i < golden->len; i++)
    if (((Golden *) golden->pdata[i])->ids->len > g->ids->len)
      g = golden->pdata[i];
  const int32_t *full = (const int32_t *) g->ids->data;

  int32_t ids[MAX_IDS];
  ClipError err = { 0 };
  int ok = 1;
  for (int ctx = 2; ctx <= (int) g->ids->len + 2; ctx++) {
    int n = cle_tokenizer_encode (tok, g->text, -1, ctx, ids, MAX_IDS, &err);
    int want = MIN (ctx, (int) g->ids->len);
    if (n != want || ids[n - 1] != END_ID
        || memcmp (ids, full, (n - 1) * sizeof (int32_t)) != 0) {
      printf ("    context %d: got %d ids\n", ctx, n);
      ok = 0;
    }
  }
  test_expect (ok, "%s: every context length 2..%u gives ids[:ctx-1] + [end]",
      g->name, g->ids->len + 2);

  /* max_ids below the count: the count is returned, max_ids written */
  for (int i = 0; i < 8; i++)
    ids[i] = -7;
  int n = cle_tokenizer_encode (tok, g->text, -1, 77, ids, 3, &err);
  test_expect (n == 77 && ids[0] == START_ID && ids[1] == full[1]
      && ids[2] == full[2] && ids[3] == -7,
      "max_ids 3 < 77 ids: returns %d, writes 3", n);
  n = cle_tokenizer_encode (tok, g->text, -1, 77, NULL, 0, &err);
  test_expect (n == 77, "ids NULL, max_ids 0: returns the count (%d)", n);

  n = cle_tokenizer_encode (tok, "hello world", 5, 77, ids, MAX_IDS, &err);
  int32_t hello[4];
  int n_hello = cle_tokenizer_encode (tok, "hello", -1, 77, hello, 4, &err);
  test_expect (n == n_hello && n == 3 && memcmp (ids, hello, 3 * 4) == 0,
      "explicit length 5 of \"hello world\" == \"hello\"");

  n = cle_tokenizer_encode (tok, "a", -1, 1, ids, MAX_IDS, &err);
  test_expect (n == CLE_ERROR_INVALID_ARGUMENT,
      "context_length 1 is an invalid argument: %s", err.message);
}

static void
test_invalid_utf8 (const ClipTokenizer *tok)
{
  static const struct {
    const char *what, *text;
    int offset;
  } cases[] = {
    { "stray 0xff", "ab\377cd", 2 },
    { "truncated sequence at the end", "abc\342\202", 3 },
    { "surrogate U+D800", "\355\240\200", 0 },
    { "overlong '/'", "x\300\257", 1 },
    { "above U+10FFFF", "ok \364\220\200\200", 3 },
    { "bad continuation", "\303(", 0 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
    int32_t ids[8];
    ClipError err = { 0 };
    char expect[64];
    int n = cle_tokenizer_encode (tok, cases[i].text, -1, 77, ids, 8, &err);
    snprintf (expect, sizeof expect, "offset %d ", cases[i].offset);
    test_expect (n == CLE_ERROR_INVALID_ARGUMENT && err.code == n
        && strstr (err.message, expect), "invalid UTF-8, %s: %s",
        cases[i].what, err.message);
  }
}

typedef struct {
  const ClipTokenizer *tok;
  GPtrArray *golden;
  int n_wrong;
} ThreadJob;

static gpointer
thread_encode (gpointer data)
{
  ThreadJob *job = data;
  int32_t ids[MAX_IDS];
  for (int round = 0; round < 5; round++)
    for (guint i = 0; i < job->golden->len; i++) {
      const Golden *g = job->golden->pdata[i];
      int n = cle_tokenizer_encode (job->tok, g->text, -1, 77, ids, MAX_IDS,
          NULL);
      job->n_wrong += !same_ids (ids, n, g->ids_77);
    }
  return NULL;
}

static void
test_threads (const ClipTokenizer *tok, GPtrArray *golden)
{
  ThreadJob jobs[4];
  GThread *threads[4];
  int n_wrong = 0;
  for (int t = 0; t < 4; t++) {
    jobs[t] = (ThreadJob) { tok, golden, 0 };
    threads[t] = g_thread_new ("tokenize", thread_encode, &jobs[t]);
  }
  for (int t = 0; t < 4; t++) {
    g_thread_join (threads[t]);
    n_wrong += jobs[t].n_wrong;
  }
  test_expect (n_wrong == 0, "4 threads sharing one tokenizer: %d wrong",
      n_wrong);
}

/* Throughput, printed only (benchmarks never assert on time). */
static void
report_speed (const ClipTokenizer *tok, GPtrArray *golden)
{
  int32_t ids[77];
  int n_calls = 0;
  long n_ids = 0;
  gint64 t0 = g_get_monotonic_time ();
  for (int round = 0; round < 20; round++)
    for (guint i = 0; i < golden->len; i++, n_calls++)
      n_ids += cle_tokenizer_encode (tok,
          ((Golden *) golden->pdata[i])->text, -1, 77, ids, 77, NULL);
  double s = (g_get_monotonic_time () - t0) / 1e6;
  printf ("speed: %d texts (%ld ids) in %.3f s: %.0f texts/s\n", n_calls,
      n_ids, s, n_calls / s);
}

static char *
write_tmp (const char *dir, const char *name, const char *contents)
{
  char *path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, contents, -1, NULL);
  return path;
}

/* Loads vocab/merges with the flat reader and with json-glib alone: 1 when
 * both refuse with code and the same message (in err), which holds every
 * needle (needle2 may be NULL). */
static int
both_refuse (const char *vocab, const char *merges, int code,
    const char *needle1, const char *needle2, ClipError *err)
{
  ClipTokenizer *tok = NULL, *ref = NULL;
  ClipError ref_err = { 0 };
  int ret = cle_tokenizer_load (&tok, vocab, merges, err);
  int ref_ret = cle_tokenizer_load_json_glib (&ref, vocab, merges, &ref_err);
  if (ret == CLE_OK)
    snprintf (err->message, sizeof err->message, "loads");
  int ok = ret == code && err->code == code && tok == NULL
      && ref_ret == ret && ref == NULL
      && strcmp (err->message, ref_err.message) == 0
      && strstr (err->message, needle1)
      && (!needle2 || strstr (err->message, needle2));
  if (ret == CLE_OK)
    cle_tokenizer_free (tok);
  if (ref_ret == CLE_OK)
    cle_tokenizer_free (ref);
  return ok;
}

/* Expects code with every needle in the message, from both readers. */
static void
expect_load_error (const char *what, const char *vocab, const char *merges,
    int code, const char *needle1, const char *needle2)
{
  ClipError err = { 0 };
  int ok = both_refuse (vocab, merges, code, needle1, needle2, &err);
  test_expect (ok, "%s: %s", what, err.message);
}

/* Appends token as a JSON string: every code point as \uXXXX (astral ones
 * as a surrogate pair, hex case alternating) if escape_all, else raw UTF-8
 * with only '"', '\' and control characters escaped. */
static void
append_json_string (GString *s, const char *token, gboolean escape_all)
{
  g_string_append_c (s, '"');
  int k = 0;
  for (const char *p = token; *p; p = g_utf8_next_char (p), k++) {
    gunichar c = g_utf8_get_char (p);
    const char *fmt = k % 2 ? "\\u%04X" : "\\u%04x";
    if (escape_all && c >= 0x10000) {
      g_string_append_printf (s, fmt, 0xD800 + ((c - 0x10000) >> 10));
      g_string_append_printf (s, fmt, 0xDC00 + ((c - 0x10000) & 0x3FF));
    } else if (escape_all || c < 0x20)
      g_string_append_printf (s, fmt, c);
    else if (c == '"' || c == '\\')
      g_string_append_printf (s, "\\%c", (char) c);
    else
      g_string_append_len (s, p, g_utf8_next_char (p) - p);
  }
  g_string_append_c (s, '"');
}

/* The tokens (id = index) as vocab.json, spelled with every character
 * \u-escaped (escape_all) or raw with CRLF and tabs between members. head
 * and tail (may be NULL) are members spelled by the caller, put first with
 * their ", " after and last with their ", " before. */
static char *
vocab_text (const GPtrArray *tokens, gboolean escape_all, const char *head,
    const char *tail)
{
  GString *s = g_string_new (escape_all ? "{" : "{\r\n\t");
  if (head)
    g_string_append (s, head);
  for (guint id = 0; id < tokens->len; id++) {
    if (id > 0)
      g_string_append (s, escape_all ? ", " : ",\r\n\t");
    append_json_string (s, tokens->pdata[id], escape_all);
    g_string_append_printf (s, escape_all ? ": %u" : " :\t%u", id);
  }
  if (tail)
    g_string_append (s, tail);
  g_string_append (s, escape_all ? "}" : "\r\n}\r\n");
  return g_string_free (s, FALSE);
}

/* vocab.json's tokens by id; NULL unless its ids are 0..n-1. */
static GPtrArray *
read_tokens (const char *vocab_path)
{
  JsonParser *parser = json_parser_new ();
  GPtrArray *tokens = NULL;
  if (json_parser_load_from_file (parser, vocab_path, NULL)) {
    JsonObject *object = json_node_get_object (json_parser_get_root (parser));
    guint n = json_object_get_size (object);
    tokens = g_ptr_array_new_full (n, g_free);
    g_ptr_array_set_size (tokens, n);
    JsonObjectIter iter;
    const char *name;
    JsonNode *node;
    json_object_iter_init (&iter, object);
    while (json_object_iter_next (&iter, &name, &node)) {
      gint64 id = json_node_get_int (node);
      if (id >= 0 && id < n)
        tokens->pdata[id] = g_strdup (name);
    }
    for (guint id = 0; id < n && tokens; id++)
      if (!tokens->pdata[id])
        g_clear_pointer (&tokens, g_ptr_array_unref);
  }
  g_object_unref (parser);
  return tokens;
}

/* simple_tokenizer's bytes_to_unicode() values: the printable Latin-1
 * characters stand for their byte, U+0100..U+0143 for the 68 others. */
static gboolean
is_byte_symbol (gunichar c)
{
  return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC)
      || (c >= 0xAE && c <= 0x143);
}

/* CLIP's vocabulary for these merges ("left right"), token by id: the byte
 * symbols in code point order, the same + "</w>", one token per merge,
 * <|startoftext|>, <|endoftext|> (the order of the real one). */
static GPtrArray *
small_tokens (const char *const *merges, int n_merges)
{
  GPtrArray *tokens = g_ptr_array_new_with_free_func (g_free);
  for (int end = 0; end < 2; end++)
    for (gunichar c = 0; c <= 0x143; c++)
      if (is_byte_symbol (c)) {
        char sym[8] = { 0 };
        g_unichar_to_utf8 (c, sym);
        g_ptr_array_add (tokens, g_strconcat (sym, end ? "</w>" : "", NULL));
      }
  for (int i = 0; i < n_merges; i++) {
    char **pair = g_strsplit (merges[i], " ", 2);
    g_ptr_array_add (tokens, g_strconcat (pair[0], pair[1], NULL));
    g_strfreev (pair);
  }
  g_ptr_array_add (tokens, g_strdup ("<|startoftext|>"));
  g_ptr_array_add (tokens, g_strdup ("<|endoftext|>"));
  return tokens;
}

/* merges.txt: the "#version" line, the merges, then more (may be NULL). */
static char *
merges_text (const char *const *merges, int n_merges, const char *more)
{
  GString *s = g_string_new ("#version: 0.2\n");
  for (int i = 0; i < n_merges; i++)
    g_string_append_printf (s, "%s\n", merges[i]);
  if (more)
    g_string_append (s, more);
  return g_string_free (s, FALSE);
}

/* The small tokenizer of the tests: 512 byte symbols, th (512), the</w>
 * (513), <|startoftext|> (514), <|endoftext|> (515). */
static const char *const small_merges[] = { "t h", "th e</w>" };
#define N_SMALL_MERGES 2
#define SMALL_SIZE (512 + N_SMALL_MERGES + 2)

static void
test_load_errors (const ClipTokenizer *ref, const char *vocab_path,
    const char *merges_path)
{
  GError *gerr = NULL;
  char *dir = g_dir_make_tmp ("cle-tokenizer-XXXXXX", &gerr);
  test_expect (dir != NULL, "temporary folder: %s", dir ? dir : gerr->message);
  if (!dir) {
    g_error_free (gerr);
    return;
  }
  char *missing = g_build_filename (dir, "no-such-vocab.json", NULL);
  expect_load_error ("missing vocab.json", missing, merges_path, CLE_ERROR_IO,
      missing, NULL);
  g_free (missing);
  missing = g_build_filename (dir, "no-such-merges.txt", NULL);
  expect_load_error ("missing merges.txt", vocab_path, missing, CLE_ERROR_IO,
      missing, NULL);
  g_free (missing);

  char *bad = write_tmp (dir, "bad-line.txt",
      "#version: 0.2\nt h\nth e\nthis-line-has-one-field\na b\n");
  expect_load_error ("merges.txt with a one-field line", vocab_path, bad,
      CLE_ERROR_FORMAT, bad, "line 4");
  g_free (bad);
  bad = write_tmp (dir, "three-fields.txt", "#version: 0.2\nt h\na b c\n");
  expect_load_error ("merges.txt with a three-field line", vocab_path, bad,
      CLE_ERROR_FORMAT, bad, "line 3");
  g_free (bad);
  bad = write_tmp (dir, "blank-inside.txt", "#version: 0.2\nt h\n\ni n\n");
  expect_load_error ("merges.txt with a blank line inside", vocab_path, bad,
      CLE_ERROR_FORMAT, bad, "line 3");
  g_free (bad);
  bad = write_tmp (dir, "unknown.txt", "#version: 0.2\nt h\n\342\230\203 x\n");
  expect_load_error ("merges.txt with a symbol not in the vocabulary",
      vocab_path, bad, CLE_ERROR_FORMAT, bad, "line 3: symbol '\342\230\203'");
  g_free (bad);

  static const char with_nul[] = "#version: 0.2\nt h\nt\0x h\n";
  bad = g_build_filename (dir, "nul.txt", NULL);
  g_file_set_contents (bad, with_nul, sizeof with_nul - 1, NULL);
  expect_load_error ("merges.txt with a NUL byte in a symbol", vocab_path,
      bad, CLE_ERROR_FORMAT, bad, "line 3: a NUL byte at column 2");
  g_free (bad);

  bad = write_tmp (dir, "bad.json", "{\"a\": 1,\n \"b\": }\n");
  expect_load_error ("vocab.json with a syntax error", bad, merges_path,
      CLE_ERROR_FORMAT, bad, "line 2");
  g_free (bad);
  bad = write_tmp (dir, "string-id.json", "{\"a\": 1, \"b\\u00e9\": \"x\"}");
  expect_load_error ("vocab.json with a string id", bad, merges_path,
      CLE_ERROR_FORMAT, bad, "'b\303\251'");
  g_free (bad);
  bad = write_tmp (dir, "array.json", "[1, 2]");
  expect_load_error ("vocab.json that is not an object", bad, merges_path,
      CLE_ERROR_FORMAT, bad, NULL);
  g_free (bad);

  /* a small pair of files: "the" is t + h -> th, th + e</w> -> the</w> */
  GPtrArray *small = small_tokens (small_merges, N_SMALL_MERGES);
  char *text = vocab_text (small, FALSE, NULL, NULL);
  char *small_vocab = write_tmp (dir, "small.json", text);
  g_free (text);
  text = merges_text (small_merges, N_SMALL_MERGES, NULL);
  char *small_txt = write_tmp (dir, "small.txt", text);
  g_free (text);
  ClipTokenizer *tok = NULL;
  ClipError err = { 0 };
  int ret = cle_tokenizer_load (&tok, small_vocab, small_txt, &err);
  int32_t ids[8];
  int n = ret == CLE_OK ?
      cle_tokenizer_encode (tok, "the", -1, 77, ids, 8, &err) : ret;
  test_expect (ret == CLE_OK && n == 3 && ids[0] == 514 && ids[1] == 513
      && ids[2] == 515, "a 2-merge tokenizer: \"the\" -> %d ids, [1] = %d %s",
      n, n > 1 ? ids[1] : -1, ret ? err.message : "");
  cle_tokenizer_free (tok);

  /* the real merges.txt with CRLF and trailing blank lines */
  char *merges = test_read_file (merges_path, NULL);
  char **lines = g_strsplit (merges, "\n", -1);
  char *crlf = g_strjoinv ("\r\n", lines);
  char *blanks = g_strconcat (crlf, "\n \n\r\n", NULL);
  char *ok = write_tmp (dir, "crlf.txt", blanks);
  tok = NULL;
  ret = cle_tokenizer_load (&tok, vocab_path, ok, &err);
  test_expect (ret == CLE_OK && cle_tokenizer_equal (tok, ref),
      "merges.txt with CRLF and trailing blank lines loads as without: %s",
      ret ? err.message : "the same tables");
  cle_tokenizer_free (tok);
  g_free (ok);
  g_free (blanks);
  g_free (crlf);
  g_strfreev (lines);
  free (merges);
  g_free (small_vocab);
  g_free (small_txt);
  g_ptr_array_unref (small);
  test_remove_dir (dir);
  g_free (dir);
}

/* Writes the tokens as vocab.json and the merges (+ more) as merges.txt
 * into dir, for expect_load_error. */
static void
write_pair (const char *dir, const GPtrArray *tokens, const char *tail,
    const char *const *merges, int n_merges, const char *more,
    char **vocab_path, char **merges_path)
{
  char *text = vocab_text (tokens, FALSE, NULL, tail);
  *vocab_path = write_tmp (dir, "vocab.json", text);
  g_free (text);
  text = merges_text (merges, n_merges, more);
  *merges_path = write_tmp (dir, "merges.txt", text);
  g_free (text);
}

/* vocab.json and merges.txt must fit CLIP's construction (512 byte symbols,
 * one token per merge, 2 special tokens, ids 0..n-1): the files that do not
 * are refused, naming the file and what does not fit. */
static void
test_clip_construction (const ClipTokenizer *ref, const char *vocab_path,
    const char *merges_path)
{
  char *dir = g_dir_make_tmp ("cle-construction-XXXXXX", NULL);
  test_expect (dir != NULL, "temporary folder");
  if (!dir)
    return;
  char *real = test_read_file (merges_path, NULL);

  /* merges.txt against the real vocab.json */
  static const struct {
    const char *what, *name, *text, *needle;
  } merges_cases[] = {
    { "an empty merges.txt", "empty.txt", "", "no merges (empty file)" },
    { "a merges.txt of blank lines", "blank.txt", " \n\r\n\n",
      "no merges (empty file)" },
    { "a merges.txt with the '#version' line only", "header.txt",
      "#version: 0.2\n", "no merges after the '#version' line" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (merges_cases); i++) {
    char *path = write_tmp (dir, merges_cases[i].name, merges_cases[i].text);
    expect_load_error (merges_cases[i].what, vocab_path, path,
        CLE_ERROR_FORMAT, path, merges_cases[i].needle);
    g_free (path);
  }
  /* without its first line: CLIP would skip the first merge */
  char *path = write_tmp (dir, "no-header.txt", strchr (real, '\n') + 1);
  expect_load_error ("a merges.txt without the '#version' line", vocab_path,
      path, CLE_ERROR_FORMAT, path,
      "line 1: expected the '#version' header (CLIP skips the first line), "
      "got 'i n'");
  g_free (path);
  /* CLIPTokenizer reads merges[1:49152-256-2+1]: what follows merge 48,894
   * is never read */
  char *longer = g_strconcat (real, "not a merge\n", NULL);
  path = write_tmp (dir, "longer.txt", longer);
  ClipTokenizer *tok = NULL;
  ClipError err = { 0 };
  int ret = cle_tokenizer_load (&tok, vocab_path, path, &err);
  test_expect (ret == CLE_OK && cle_tokenizer_equal (tok, ref),
      "a line after merge 48,894 is not read: %s",
      ret ? err.message : "the same tables");
  cle_tokenizer_free (tok);
  g_free (longer);
  g_free (path);
  /* the first 1000 merges: 48,394 tokens no merge makes */
  char *cut = real;
  for (int i = 0; i < 1001; i++)
    cut = strchr (cut, '\n') + 1;
  *cut = '\0';
  path = write_tmp (dir, "first-1000.txt", real);
  expect_load_error ("a merges.txt cut after 1000 merges", vocab_path, path,
      CLE_ERROR_FORMAT, "has 49408 tokens, but CLIP's vocabulary for the 1000 "
      "merges", "= 1514: token '\"@</w>' (id 1512) is none of them");
  g_free (path);

  /* small vocabularies, each with one thing wrong */
  GPtrArray *small = small_tokens (small_merges, N_SMALL_MERGES);
  char *vocab, *merges;
  write_pair (dir, small, ", \"zzz\": 516", small_merges, N_SMALL_MERGES,
      NULL, &vocab, &merges);
  expect_load_error ("a token no merge makes", vocab, merges,
      CLE_ERROR_FORMAT, "has 517 tokens, but CLIP's vocabulary for the 2 "
      "merges", "512 byte symbols + 2 + 2 special tokens = 516: token 'zzz' "
      "(id 516) is none of them");
  g_free (vocab);
  g_free (merges);
  write_pair (dir, small, ", \"zzz\": 600", small_merges, N_SMALL_MERGES,
      NULL, &vocab, &merges);
  expect_load_error ("an id past the tokens", vocab, merges, CLE_ERROR_FORMAT,
      vocab, "token 'zzz' has id 600, but its 517 tokens should take the "
      "ids 0..516");
  g_free (vocab);
  g_free (merges);
  write_pair (dir, small, ", \"zzz\": 7", small_merges, N_SMALL_MERGES,
      NULL, &vocab, &merges);
  expect_load_error ("an id given twice", vocab, merges, CLE_ERROR_FORMAT,
      vocab, "tokens '(' and 'zzz' both have id 7");
  g_free (vocab);
  g_free (merges);
  write_pair (dir, small, NULL, small_merges, N_SMALL_MERGES, "h e\n",
      &vocab, &merges);
  expect_load_error ("a merge whose token is not in vocab.json", vocab,
      merges, CLE_ERROR_FORMAT, merges,
      "line 4: 'h e' makes 'he', which is not in vocab");
  g_free (vocab);
  g_free (merges);
  write_pair (dir, small, NULL, small_merges, N_SMALL_MERGES, "t h\n",
      &vocab, &merges);
  expect_load_error ("a merge listed twice", vocab, merges, CLE_ERROR_FORMAT,
      merges, "line 4: 't h' makes 'th', which line 2 makes too");
  g_free (vocab);
  g_free (merges);
  write_pair (dir, small, NULL, small_merges, 1, NULL, &vocab, &merges);
  expect_load_error ("a merges.txt without the last merge", vocab, merges,
      CLE_ERROR_FORMAT, "for the 1 merges", "'the</w>' (id 513) is none");
  g_free (vocab);
  g_free (merges);

  static const struct {
    const char *what, *token, *needle;
  } renamed[] = {
    { "a byte symbol missing", "x", "byte symbol 'x' (byte 0x78) is missing" },
    { "a byte symbol + </w> missing", "\304\200</w>",
      "byte symbol '\304\200</w>' (byte 0x00) is missing" },
    { "a special token missing", "<|endoftext|>",
      "special token '<|endoftext|>' is missing" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (renamed); i++) {
    guint id;
    g_ptr_array_find_with_equal_func (small, renamed[i].token, g_str_equal,
        &id);
    char *saved = small->pdata[id];
    small->pdata[id] = "zz";
    write_pair (dir, small, NULL, small_merges, N_SMALL_MERGES, NULL, &vocab,
        &merges);
    small->pdata[id] = saved;
    expect_load_error (renamed[i].what, vocab, merges, CLE_ERROR_FORMAT,
        vocab, renamed[i].needle);
    g_free (vocab);
    g_free (merges);
  }
  g_ptr_array_unref (small);

  /* a merge that makes a byte symbol: "</w>" from "</" + "w>", then
   * "a" + "</w>" */
  static const char *const to_byte[] = { "< /", "w >", "</ w>" };
  small = small_tokens (to_byte, 3);
  write_pair (dir, small, NULL, to_byte, 3, "a </w>\n", &vocab, &merges);
  expect_load_error ("a merge that makes a byte symbol", vocab, merges,
      CLE_ERROR_FORMAT, merges,
      "line 5: 'a </w>' makes 'a</w>', which is a byte symbol");
  g_free (vocab);
  g_free (merges);
  g_ptr_array_unref (small);

  free (real);
  test_remove_dir (dir);
  g_free (dir);
}

/* The real vocabulary spelled two ways (every character \u-escaped, with
 * alternating hex case; raw UTF-8 with CRLF and tabs between members) loads
 * into the same tables through the flat reader and json-glib. Tokens
 * outside the byte symbols (an emoji, by a surrogate pair; the short
 * escapes) cannot be in a CLIP vocabulary: they are refused, by a message
 * that quotes them as decoded. */
static void
test_vocab_spellings (const ClipTokenizer *ref, const char *vocab_path,
    const char *merges_path)
{
  char *dir = g_dir_make_tmp ("cle-vocab-XXXXXX", NULL);
  GPtrArray *real = dir ? read_tokens (vocab_path) : NULL;
  test_expect (real != NULL, "vocab spellings: setup");
  if (!real) {
    g_free (dir);
    return;
  }
  char *paths[2];
  for (int k = 0; k < 2; k++) {
    char *text = vocab_text (real, k == 0, NULL, NULL);
    paths[k] = write_tmp (dir, k ? "raw.json" : "escaped.json", text);
    g_free (text);
  }
  for (int k = 0; k < 4; k++) {
    ClipTokenizer *tok = NULL;
    ClipError err = { 0 };
    int ret = (k < 2 ? cle_tokenizer_load : cle_tokenizer_load_json_glib)
        (&tok, paths[k % 2], merges_path, &err);
    test_expect (ret == CLE_OK && cle_tokenizer_equal (tok, ref),
        "vocab spelled %s, read by %s: %s", k % 2 ? "raw" : "escaped",
        k < 2 ? "the flat reader" : "json-glib",
        ret ? err.message : "loads, the same tables");
    cle_tokenizer_free (tok);
  }
  for (int k = 0; k < 2; k++) {
    g_remove (paths[k]);
    g_free (paths[k]);
  }
  g_ptr_array_unref (real);

  GPtrArray *small = small_tokens (small_merges, N_SMALL_MERGES);
  char *text = merges_text (small_merges, N_SMALL_MERGES, NULL);
  char *merges = write_tmp (dir, "merges.txt", text);
  g_free (text);
  char *vocab = g_build_filename (dir, "vocab.json", NULL);
  static const struct {
    const char *escaped, *raw, *decoded;
  } extra[] = {
    { "\\ud83d\\ude00", "\360\237\230\200", "\360\237\230\200" },
    { "\\uD83D\\uDE00\\ud83d\\uDe00", "\360\237\230\200\360\237\230\200",
      "\360\237\230\200\360\237\230\200" },
    { "q\\\"\\\\\\/\\b\\f\\n\\r\\tq",
      "q\\\"\\\\/\\u0008\\u000c\\u000a\\u000D\\u0009q",
      "q\"\\/\b\f\n\r\tq" },
  };
  int n_wrong = 0;
  for (size_t i = 0; i < G_N_ELEMENTS (extra); i++)
    for (int k = 0; k < 2; k++) {
      char *tail = g_strdup_printf (", \"%s\": %d",
          k ? extra[i].raw : extra[i].escaped, SMALL_SIZE);
      char *needle = g_strdup_printf ("token '%s' (id %d) is none of them",
          extra[i].decoded, SMALL_SIZE);
      text = vocab_text (small, k == 0, NULL, tail);
      g_file_set_contents (vocab, text, -1, NULL);
      ClipError err = { 0 };
      if (!both_refuse (vocab, merges, CLE_ERROR_FORMAT, needle, NULL,
              &err)) {
        n_wrong++;
        printf ("    %s: %s\n", tail, err.message);
      }
      g_free (text);
      g_free (needle);
      g_free (tail);
    }
  test_expect (n_wrong == 0, "tokens outside the byte symbols, \\u-escaped "
      "and raw: %d of %d not refused by name", n_wrong,
      (int) G_N_ELEMENTS (extra) * 2);

  /* what the flat reader leaves to json-glib: a repeated token keeps its
   * last id (the other one is no id of the vocabulary) */
  ClipTokenizer *small_tok = NULL, *tok = NULL;
  ClipError err = { 0 };
  text = vocab_text (small, FALSE, NULL, NULL);
  g_file_set_contents (vocab, text, -1, NULL);
  g_free (text);
  int ret = cle_tokenizer_load (&small_tok, vocab, merges, &err);
  text = vocab_text (small, FALSE, "\"th\": 60000, ", NULL);
  g_file_set_contents (vocab, text, -1, NULL);
  g_free (text);
  if (ret == CLE_OK)
    ret = cle_tokenizer_load (&tok, vocab, merges, &err);
  test_expect (ret == CLE_OK && cle_tokenizer_equal (tok, small_tok),
      "a token listed twice, first with id 60000: %s",
      ret ? err.message : "the last id counts");
  cle_tokenizer_free (tok);
  cle_tokenizer_free (small_tok);
  text = vocab_text (small, FALSE, NULL, ", \"th\": 60000");
  g_file_set_contents (vocab, text, -1, NULL);
  g_free (text);
  expect_load_error ("a token listed twice, last with id 60000", vocab,
      merges, CLE_ERROR_FORMAT, vocab,
      "token 'th' has id 60000, but its 516 tokens should take the ids "
      "0..515");

  /* each escape against other spellings of the same character (the raw
   * one where JSON allows it), one pair a file: the flat reader must see a
   * token repeated and leave the text to json-glib, where the last id
   * (SMALL_SIZE, one past CLIP's) wins. A mistaken decoding would make two
   * tokens, one with id 60,000. */
  static const char *const same[][4] = {
    { "\\\"", "\\u0022", "\\u0022", "\"" },
    { "\\\\", "\\u005c", "\\u005C", "\\" },
    { "\\/", "\\u002f", "/", "/" },
    { "\\b", "\\u0008", "\\u0008", "\b" },
    { "\\f", "\\u000c", "\\u000C", "\f" },
    { "\\n", "\\u000a", "\\u000A", "\n" },
    { "\\r", "\\u000d", "\\u000D", "\r" },
    { "\\t", "\\u0009", "\\u0009", "\t" },
    { "\\u00e9", "\\u00E9", "\303\251", "\303\251" },
    { "\\ud83d\\ude00", "\\uD83D\\uDE00", "\360\237\230\200",
      "\360\237\230\200" } };
  n_wrong = 0;
  for (guint k = 0; k < G_N_ELEMENTS (same); k++)
    for (int j = 1; j < 3; j++) {
      char *head = g_strdup_printf ("\"q%sq\": 60000, \"q%sq\": %d, ",
          same[k][0], same[k][j], SMALL_SIZE);
      char *needle = g_strdup_printf ("token 'q%sq' (id %d) is none of them",
          same[k][3], SMALL_SIZE);
      text = vocab_text (small, FALSE, head, NULL);
      g_file_set_contents (vocab, text, -1, NULL);
      if (!both_refuse (vocab, merges, CLE_ERROR_FORMAT, needle, NULL,
              &err)) {
        n_wrong++;
        printf ("    %s: %s\n", head, err.message);
      }
      g_free (text);
      g_free (needle);
      g_free (head);
    }
  test_expect (n_wrong == 0, "each escape reads as its other spellings: %d "
      "of %d differ", n_wrong, (int) G_N_ELEMENTS (same) * 2);

  char *lone = write_tmp (dir, "lone.json", "{\"a\": 1, \"\\ud83d\": 2}");
  expect_load_error ("a lone surrogate", lone, merges, CLE_ERROR_FORMAT,
      lone, "line 1, column");

  g_free (lone);
  g_free (vocab);
  g_free (merges);
  g_ptr_array_unref (small);
  test_remove_dir (dir);
  g_free (dir);
}

int
main (void)
{
  char *vocab_path = test_data_path ("tiny-clip/vocab.json");
  char *merges_path = test_data_path ("tiny-clip/merges.txt");
  ClipTokenizer *tok = NULL;
  ClipError err = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  int ret = cle_tokenizer_load (&tok, vocab_path, merges_path, &err);
  printf ("load: %.1f ms\n", (g_get_monotonic_time () - t0) / 1e3);
  test_expect (ret == CLE_OK, "load %s: %s", vocab_path, err.message);
  if (ret != CLE_OK)
    return test_finish ();
  test_expect (cle_tokenizer_vocab_size (tok) == 49408
      && cle_tokenizer_start_id (tok) == START_ID
      && cle_tokenizer_end_id (tok) == END_ID,
      "vocab size %d, start %d, end %d", cle_tokenizer_vocab_size (tok),
      cle_tokenizer_start_id (tok), cle_tokenizer_end_id (tok));

  GPtrArray *golden = golden_load ();
  test_golden (tok, golden);
  test_extra (tok);
  test_truncation (tok, golden);
  test_invalid_utf8 (tok);
  test_threads (tok, golden);
  report_speed (tok, golden);
  test_load_errors (tok, vocab_path, merges_path);
  test_clip_construction (tok, vocab_path, merges_path);
  test_vocab_spellings (tok, vocab_path, merges_path);

  g_ptr_array_unref (golden);
  cle_tokenizer_free (tok);
  free (vocab_path);
  free (merges_path);
  return test_finish ();
}
