/* test-tokenizer.c - tokenizer.c against the ids of openai's simple_tokenizer
 * (tests/data/tokenizer/golden.jsonl: 200 strings, truncated to 77 and full),
 * Python-checked edge cases, truncation, concurrent use from threads, and the
 * errors of load (missing and malformed files) and encode (invalid UTF-8). */
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

  g_ptr_array_unref (golden);
  cle_tokenizer_free (tok);
  free (vocab_path);
  free (merges_path);
  return test_finish ();
}
