/* test-tokenizer.c - tokenizer.c against the ids of openai's simple_tokenizer
 * (tests/data/tokenizer/golden.jsonl: 200 strings, truncated to 77 and full),
 * Python-checked edge cases, truncation, concurrent use from threads, the
 * errors of load (missing and malformed files) and encode (invalid UTF-8),
 * and vocab.json's flat reader against json-glib on escapes. */
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

/* Loads vocab/merges and expects code with every needle in the message. */
static void
expect_load_error (const char *what, const char *vocab, const char *merges,
    int code, const char *needle1, const char *needle2)
{
  ClipTokenizer *tok = (ClipTokenizer *) &tok;
  ClipError err = { 0 };
  int ret = cle_tokenizer_load (&tok, vocab, merges, &err);
  test_expect (ret == code && err.code == code && tok == NULL
      && strstr (err.message, needle1)
      && (!needle2 || strstr (err.message, needle2)), "%s: %d: %s", what,
      ret, err.message);
  cle_tokenizer_free (tok);
}

static void
test_load_errors (const char *vocab_path, const char *merges_path)
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
  g_remove (bad);
  g_free (bad);
  bad = write_tmp (dir, "three-fields.txt", "#version: 0.2\nt h\na b c\n");
  expect_load_error ("merges.txt with a three-field line", vocab_path, bad,
      CLE_ERROR_FORMAT, bad, "line 3");
  g_remove (bad);
  g_free (bad);
  bad = write_tmp (dir, "blank-inside.txt", "#version: 0.2\nt h\n\ni n\n");
  expect_load_error ("merges.txt with a blank line inside", vocab_path, bad,
      CLE_ERROR_FORMAT, bad, "line 3");
  g_remove (bad);
  g_free (bad);
  bad = write_tmp (dir, "unknown.txt", "#version: 0.2\nt h\n\342\230\203 x\n");
  expect_load_error ("merges.txt with a symbol not in the vocabulary",
      vocab_path, bad, CLE_ERROR_FORMAT, bad, "line 3");
  g_remove (bad);
  g_free (bad);

  static const char with_nul[] = "#version: 0.2\nt h\nt\0x h\n";
  bad = g_build_filename (dir, "nul.txt", NULL);
  g_file_set_contents (bad, with_nul, sizeof with_nul - 1, NULL);
  expect_load_error ("merges.txt with a NUL byte in a symbol", vocab_path,
      bad, CLE_ERROR_FORMAT, bad, "line 3: a NUL byte at column 2");
  g_remove (bad);
  g_free (bad);

  bad = write_tmp (dir, "bad.json", "{\"a\": 1,\n \"b\": }\n");
  expect_load_error ("vocab.json with a syntax error", bad, merges_path,
      CLE_ERROR_FORMAT, bad, "line 2");
  g_remove (bad);
  g_free (bad);
  bad = write_tmp (dir, "string-id.json", "{\"a\": 1, \"b\\u00e9\": \"x\"}");
  expect_load_error ("vocab.json with a string id", bad, merges_path,
      CLE_ERROR_FORMAT, bad, "'b\303\251'");
  g_remove (bad);
  g_free (bad);
  bad = write_tmp (dir, "array.json", "[1, 2]");
  expect_load_error ("vocab.json that is not an object", bad, merges_path,
      CLE_ERROR_FORMAT, bad, NULL);
  g_remove (bad);
  g_free (bad);

  /* a valid pair of files: trailing blank lines and CRLF are fine */
  char *ok = write_tmp (dir, "ok.txt", "#version: 0.2\r\nt h\r\nth e</w>\n\n\n");
  ClipTokenizer *tok = NULL;
  ClipError err = { 0 };
  int ret = cle_tokenizer_load (&tok, vocab_path, ok, &err);
  int32_t ids[8];
  int n = ret == CLE_OK ?
      cle_tokenizer_encode (tok, "the", -1, 77, ids, 8, &err) : ret;
  /* with only those two merges "the" is t + h -> th, th + e</w> -> the</w>
   * (id 518) */
  test_expect (ret == CLE_OK && n == 3 && ids[1] == 518,
      "a 2-merge merges.txt with CRLF and trailing blanks loads: \"the\" -> "
      "%d ids, [1] = %d %s", n, n > 1 ? ids[1] : -1, err.message);
  cle_tokenizer_free (tok);
  g_remove (ok);
  g_free (ok);

  g_rmdir (dir);
  g_free (dir);
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

/* The same vocabulary spelled three ways (every character \u-escaped, with
 * surrogate pairs; raw UTF-8; the short escapes) loads into the same tables
 * through the flat reader and through json-glib. Three tokens are added: an
 * emoji, two of them (merged by an added first line of merges.txt, so the
 * load fails unless the pair decodes to the raw token) and one spelled with
 * every short escape. */
static void
test_vocab_spellings (const char *vocab_path, const char *merges_path)
{
  GError *gerr = NULL;
  char *dir = g_dir_make_tmp ("cle-vocab-XXXXXX", &gerr);
  JsonParser *parser = json_parser_new ();
  gboolean ok = dir && json_parser_load_from_file (parser, vocab_path, &gerr);
  test_expect (ok, "vocab spellings: setup: %s", ok ? "" : gerr->message);
  if (!ok) {
    g_clear_error (&gerr);
    g_object_unref (parser);
    g_free (dir);
    return;
  }
  JsonObject *object = json_node_get_object (json_parser_get_root (parser));
  GString *spelled[2] = { g_string_new ("{"), g_string_new ("{\r\n\t") };
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&iter, object);
  for (int i = 0; json_object_iter_next (&iter, &name, &node); i++)
    for (int k = 0; k < 2; k++) {
      if (i > 0)
        g_string_append (spelled[k], k ? ",\r\n\t" : ", ");
      append_json_string (spelled[k], name, k == 0);
      g_string_append_printf (spelled[k], k ? " :\t%d" : ": %d",
          (int) json_node_get_int (node));
    }
  g_string_append (spelled[0], ", \"\\ud83d\\ude00\": 49408, "
      "\"\\uD83D\\uDE00\\ud83d\\uDe00\": 49409, "
      "\"q\\\"\\\\\\/\\b\\f\\n\\r\\tq\": 49410}");
  g_string_append (spelled[1], ",\r\n\t\"\360\237\230\200\": 49408, "
      "\"\360\237\230\200\360\237\230\200\": 49409, "
      "\"q\\\"\\\\/\\u0008\\u000c\\u000a\\u000D\\u0009q\": 49410\r\n}\r\n");
  char *merges = test_read_file (merges_path, NULL);
  char *rest = strchr (merges, '\n');
  char *merges2 = g_strconcat ("#version: 0.2\n\360\237\230\200 "
      "\360\237\230\200", rest, NULL);
  char *paths[3] = {
    write_tmp (dir, "escaped.json", spelled[0]->str),
    write_tmp (dir, "raw.json", spelled[1]->str),
    write_tmp (dir, "merges.txt", merges2),
  };
  ClipTokenizer *tok[4] = { NULL };
  ClipError err[4];
  int ret[4] = {
    cle_tokenizer_load (&tok[0], paths[0], paths[2], &err[0]),
    cle_tokenizer_load (&tok[1], paths[1], paths[2], &err[1]),
    cle_tokenizer_load_json_glib (&tok[2], paths[0], paths[2], &err[2]),
    cle_tokenizer_load_json_glib (&tok[3], paths[1], paths[2], &err[3]),
  };
  for (int k = 0; k < 4; k++)
    test_expect (ret[k] == CLE_OK && cle_tokenizer_vocab_size (tok[k]) == 49411,
        "vocab spelled %s, read by %s: %s", k % 2 ? "raw" : "escaped",
        k < 2 ? "the flat reader" : "json-glib",
        ret[k] ? err[k].message : "loads, 49,411 ids");
  if (ret[0] == CLE_OK && ret[1] == CLE_OK && ret[2] == CLE_OK
      && ret[3] == CLE_OK)
    test_expect (cle_tokenizer_equal (tok[0], tok[1])
        && cle_tokenizer_equal (tok[0], tok[2])
        && cle_tokenizer_equal (tok[0], tok[3]),
        "the four loads hold the same tables");
  for (int k = 0; k < 4; k++)
    cle_tokenizer_free (tok[k]);

  /* what the flat reader leaves to json-glib: a repeated token keeps its
   * last id (the first one does not count toward the size), and a lone
   * surrogate is json-glib's parse error, naming the file */
  char *body = strchr (spelled[1]->str, '{') + 1;
  char *dup_path = g_build_filename (dir, "dup.json", NULL);
  static const struct {
    const char *head;
    int size;
  } dups[] = { { "{\"zzqq\": 5, \"zzqq\": 60000, ", 60001 },
    { "{\"zzqq\": 60000, \"zzqq\": 5, ", 49411 } };
  for (int k = 0; k < 2; k++) {
    char *dup = g_strconcat (dups[k].head, body, NULL);
    g_file_set_contents (dup_path, dup, -1, NULL);
    ClipTokenizer *t = NULL;
    int r = cle_tokenizer_load (&t, dup_path, paths[2], &err[0]);
    test_expect (r == CLE_OK && cle_tokenizer_vocab_size (t) == dups[k].size,
        "a token listed twice (%s...): %s, %d ids", dups[k].head,
        r ? err[0].message : "loads", r ? 0 : cle_tokenizer_vocab_size (t));
    cle_tokenizer_free (t);
    g_free (dup);
  }
  /* each escape against other spellings of the same character (the raw
   * one where JSON allows it), one pair a file: the flat reader must see a
   * token repeated and leave the text to json-glib, where the last id wins.
   * A mistaken decoding would make two tokens and the first id, 60,000,
   * count. The vocabulary: the byte symbols and special tokens alone. */
  static const char *const same[][3] = {
    { "\\\"", "\\u0022", "\\u0022" }, { "\\\\", "\\u005c", "\\u005C" },
    { "\\/", "\\u002f", "/" }, { "\\b", "\\u0008", "\\u0008" },
    { "\\f", "\\u000c", "\\u000C" }, { "\\n", "\\u000a", "\\u000A" },
    { "\\r", "\\u000d", "\\u000D" }, { "\\t", "\\u0009", "\\u0009" },
    { "\\u00e9", "\\u00E9", "\303\251" },
    { "\\ud83d\\ude00", "\\uD83D\\uDE00", "\360\237\230\200" } };
  GString *small = g_string_new (NULL);
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &node)) {
    gint64 id = json_node_get_int (node);
    if (id < 512 || id >= START_ID) {
      g_string_append (small, ", ");
      append_json_string (small, name, FALSE);
      g_string_append_printf (small, ": %d", (int) id);
    }
  }
  char *no_merges = write_tmp (dir, "no-merges.txt", "#version: 0.2\n");
  int n_wrong = 0;
  for (guint k = 0; k < G_N_ELEMENTS (same); k++)
    for (int j = 1; j < 3; j++) {
      char *twice = g_strdup_printf ("{\"q%sq\": 60000, \"q%sq\": 5%s}",
          same[k][0], same[k][j], small->str);
      g_file_set_contents (dup_path, twice, -1, NULL);
      ClipTokenizer *t = NULL;
      int r = cle_tokenizer_load (&t, dup_path, no_merges, &err[0]);
      if (r != CLE_OK || cle_tokenizer_vocab_size (t) != END_ID + 1) {
        n_wrong++;
        printf ("%s: %s, %d ids\n", twice, r ? err[0].message : "loads",
            r ? 0 : cle_tokenizer_vocab_size (t));
      }
      cle_tokenizer_free (t);
      g_free (twice);
    }
  test_expect (n_wrong == 0, "each escape reads as its other spellings: %d "
      "of %d differ", n_wrong, (int) G_N_ELEMENTS (same) * 2);
  g_remove (no_merges);
  g_free (no_merges);
  g_string_free (small, TRUE);
  char *lone = write_tmp (dir, "lone.json", "{\"a\": 1, \"\\ud83d\": 2}");
  expect_load_error ("a lone surrogate", lone, paths[2], CLE_ERROR_FORMAT,
      lone, "line 1, column");

  g_remove (lone);
  g_free (lone);
  g_remove (dup_path);
  g_free (dup_path);
  for (int k = 0; k < 3; k++) {
    g_remove (paths[k]);
    g_free (paths[k]);
  }
  g_free (merges2);
  g_free (merges);
  g_string_free (spelled[0], TRUE);
  g_string_free (spelled[1], TRUE);
  g_object_unref (parser);
  g_rmdir (dir);
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
  test_load_errors (vocab_path, merges_path);
  test_vocab_spellings (vocab_path, merges_path);

  g_ptr_array_unref (golden);
  cle_tokenizer_free (tok);
  free (vocab_path);
  free (merges_path);
  return test_finish ();
}
