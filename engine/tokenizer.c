/* tokenizer.c - CLIP's byte-level BPE: UTF-8 text -> token ids, id for id as
 * openai's simple_tokenizer without ftfy (steps in tests/data/FIXTURES.md).
 * The text is decoded once to code points; Python's html.unescape, str.strip,
 * str.lower and the `regex` split are hand-coded on them (no regex engine).
 * Loading builds a (pair -> rank, merged id) hash that encoding only reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "html-entities.h"
#include "tokenizer.h"

/* CLIPTokenizer and simple_tokenizer read merges.txt as
 * lines[1:49152-256-2+1]: the first (version) line is skipped and at most
 * this many merges are used; later lines are never looked at. */
#define CLE_MAX_MERGES (49152 - 256 - 2)

#define CLE_START_TEXT "<|startoftext|>"
#define CLE_END_TEXT "<|endoftext|>"
#define CLE_WORD_END "</w>"

/* Largest id accepted in vocab.json. */
#define CLE_MAX_ID ((1 << 30) - 1)

#define NO_MERGE INT32_MAX
#define EMPTY_KEY UINT64_MAX    /* ids are < 2^31: no pair packs to this */

/* One merge: the symbol pair (left, right) packed into key. */
typedef struct {
  uint64_t key;
  int32_t rank;                 /* line index in merges.txt, lowest first */
  int32_t id;                   /* id of the merged symbol */
} ClipMerge;

struct ClipTokenizer {
  int vocab_size;
  int32_t start_id, end_id;
  int32_t byte_ids[256];        /* the symbol of a byte inside a word */
  int32_t byte_end_ids[256];    /* the same + "</w>", last in a word */
  ClipMerge *merges;            /* open addressing, load factor <= 1/2 */
  size_t slot_mask;
  int slot_shift;
  int n_merges;
};

/* ------------------------------------------------------------- merges -- */

static inline uint64_t
merge_key (int32_t left, int32_t right)
{
  return ((uint64_t) (uint32_t) left << 32) | (uint32_t) right;
}

static inline size_t
merge_slot (const ClipTokenizer *tok, uint64_t key)
{
  return (size_t) ((key * 0x9E3779B97F4A7C15ull) >> tok->slot_shift);
}

static inline const ClipMerge *
merge_find (const ClipTokenizer *tok, int32_t left, int32_t right)
{
  uint64_t key = merge_key (left, right);
  for (size_t i = merge_slot (tok, key);; i = (i + 1) & tok->slot_mask) {
    const ClipMerge *m = &tok->merges[i];
    if (m->key == key)
      return m;
    if (m->key == EMPTY_KEY)
      return NULL;
  }
}

static inline int32_t
merge_rank (const ClipTokenizer *tok, int32_t left, int32_t right)
{
  const ClipMerge *m = merge_find (tok, left, right);
  return m ? m->rank : NO_MERGE;
}

/* A pair listed twice would keep its last rank, as in Python's
 * dict(zip(merges, range(n))), but load refuses it: CLIP makes one token
 * per merge. */
static void
merge_insert (ClipTokenizer *tok, int32_t left, int32_t right, int32_t rank,
    int32_t id)
{
  uint64_t key = merge_key (left, right);
  size_t i = merge_slot (tok, key);
  while (tok->merges[i].key != EMPTY_KEY && tok->merges[i].key != key)
    i = (i + 1) & tok->slot_mask;
  tok->merges[i].key = key;
  tok->merges[i].rank = rank;
  tok->merges[i].id = id;
}

/* Memory for the hash tables. A first touch costs a page fault per 4 KB
 * page, 10-20 us each in the VMs measured: 7-15 ms for one 2 MB table,
 * more than all the parsing. From 2 MB on, ask for transparent huge pages
 * (as ops/quantized.c does for weights) and map the pages in one call (a
 * no-op error before Linux 5.14): 0.1-1.2 ms. */
static void *
table_alloc (size_t bytes)
{
  const size_t huge = (size_t) 2 << 20;
  if (bytes < huge)
    return malloc (bytes);
  size_t rounded = (bytes + huge - 1) & ~(huge - 1);
  void *p = aligned_alloc (huge, rounded);
#ifdef MADV_HUGEPAGE
  if (p)
    madvise (p, rounded, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
  if (p)
    madvise (p, rounded, MADV_POPULATE_WRITE);
#endif
  return p;
}

static int
merge_table_alloc (ClipTokenizer *tok, size_t n_max)
{
  int bits = 4;
  while (((size_t) 1 << bits) < 2 * n_max)
    bits++;
  size_t n_slots = (size_t) 1 << bits;
  tok->merges = table_alloc (n_slots * sizeof *tok->merges);
  if (!tok->merges)
    return 0;
  for (size_t i = 0; i < n_slots; i++)
    tok->merges[i].key = EMPTY_KEY;
  tok->slot_mask = n_slots - 1;
  tok->slot_shift = 64 - bits;
  return 1;
}

/* -------------------------------------------------------------- files -- */

/* A file's bytes, read-only: a regular file is mapped (no copy, and its
 * page-cache pages come in one call instead of a fault each), anything else
 * (a pipe; a directory, for its read error) is read. */
typedef struct {
  char *data;
  size_t size;
  GMappedFile *map;             /* NULL: data is malloc'd */
} FileText;

static int
read_fd (int fd, const char *path, const char *what, FileText *t,
    size_t size_hint, ClipError *err)
{
  char *buf = NULL;
  size_t n = 0, cap = size_hint > 0 && size_hint < SIZE_MAX / 4 ?
      size_hint + 1 : 1 << 16;
  for (;;) {
    if (!buf || n == cap) {
      size_t new_cap = buf ? 2 * cap : cap;
      char *grown = new_cap < SIZE_MAX / 2 ? realloc (buf, new_cap + 1) : NULL;
      if (!grown) {
        free (buf);
        return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
            "%s '%s': out of memory after %zu bytes", what, path, n);
      }
      buf = grown;
      cap = new_cap;
    }
    ssize_t got = read (fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      int e = errno;
      free (buf);
      return cle_error_set (err, CLE_ERROR_IO, "%s '%s': read error: %s",
          what, path, strerror (e));
    }
    if (got == 0)
      break;
    n += (size_t) got;
  }
  buf[n] = '\0';
  t->data = buf;
  t->size = n;
  return CLE_OK;
}

static int
file_text_open (FileText *t, const char *path, const char *what,
    ClipError *err)
{
  memset (t, 0, sizeof *t);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cle_error_set (err, CLE_ERROR_IO, "%s '%s': %s", what, path,
        strerror (errno));
  struct stat st;
  int have_stat = fstat (fd, &st) == 0;
  if (have_stat && S_ISREG (st.st_mode) && st.st_size > 0
      && (t->map = g_mapped_file_new_from_fd (fd, FALSE, NULL))) {
    close (fd);
    t->data = g_mapped_file_get_contents (t->map);
    t->size = g_mapped_file_get_length (t->map);
#ifdef MADV_POPULATE_READ
    if (t->size > 0)
      madvise (t->data, t->size, MADV_POPULATE_READ);
#endif
    return CLE_OK;
  }
  int ret = read_fd (fd, path, what, t,
      have_stat && st.st_size > 0 ? (size_t) st.st_size : 0, err);
  close (fd);
  return ret;
}

static void
file_text_clear (FileText *t)
{
  if (t->map)
    g_mapped_file_unref (t->map);
  else
    free (t->data);
  memset (t, 0, sizeof *t);
}

/* ---------------------------------------------------------- vocabulary -- */

/* vocab.json as token -> id, needed while loading only: open addressing
 * (load factor <= 1/2) over slots that point at the tokens where they are:
 * in the mapped text if spelled without escapes, else in one arena (all of
 * them there when json-glib read the file). No allocation per token. */
typedef struct {
  uint32_t hash;
  int32_t id;                   /* -1: an empty slot */
  uint32_t off, len;            /* the token, see vocab_key () */
} VocabSlot;

typedef struct {
  FileText text;
  char *arena;
  size_t arena_len, arena_cap;
  VocabSlot *slots;
  size_t mask, n;
  int bits;
  int max_id;
} Vocab;

/* Offsets below text.size are in the text, the others in the arena. */
static inline const char *
vocab_key (const Vocab *v, uint32_t off)
{
  return off < v->text.size ? v->text.data + off :
      v->arena + (off - v->text.size);
}

/* FNV-1a, which goes on over a second piece: merges.txt looks up "left" +
 * "right" without joining them. */
#define HASH_SEED 0xCBF29CE484222325ull

static inline uint64_t
hash_bytes (uint64_t h, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t) s[i]) * 0x100000001B3ull;
  return h;
}

static inline uint32_t
hash_fold (uint64_t h)
{
  return (uint32_t) (h ^ (h >> 32));
}

static inline size_t
vocab_index (const Vocab *v, uint32_t hash)
{
  return (size_t) ((hash * 0x9E3779B9u) >> (32 - v->bits));
}

static void
vocab_init (Vocab *v)
{
  memset (v, 0, sizeof *v);
  v->max_id = -1;
}

/* Empties the table (the text stays). */
static void
vocab_reset (Vocab *v)
{
  FileText text = v->text;
  free (v->arena);
  free (v->slots);
  vocab_init (v);
  v->text = text;
}

static void
vocab_clear (Vocab *v)
{
  file_text_clear (&v->text);
  vocab_reset (v);
}

/* Room for n_max tokens (the ones in the table move over); 0 if out of
 * memory. */
static int
vocab_alloc (Vocab *v, size_t n_max)
{
  int bits = 4;
  while (((size_t) 1 << bits) < 2 * n_max && bits < 32)
    bits++;
  if (((size_t) 1 << bits) < 2 * n_max)
    return 0;
  size_t n_slots = (size_t) 1 << bits;
  VocabSlot *slots = table_alloc (n_slots * sizeof *slots);
  if (!slots)
    return 0;
  memset (slots, 0xFF, n_slots * sizeof *slots);        /* id -1 */
  VocabSlot *old = v->slots;
  size_t old_n_slots = old ? v->mask + 1 : 0;
  v->slots = slots;
  v->mask = n_slots - 1;
  v->bits = bits;
  for (size_t i = 0; i < old_n_slots; i++)
    if (old[i].id >= 0) {
      size_t j = vocab_index (v, old[i].hash);
      while (slots[j].id >= 0)
        j = (j + 1) & v->mask;
      slots[j] = old[i];
    }
  free (old);
  return 1;
}

/* Finds a + b (b may be empty): 1 with *id, or 0. */
static int
vocab_find2 (const Vocab *v, const char *a, size_t na, const char *b,
    size_t nb, int32_t *id)
{
  uint32_t hash = hash_fold (hash_bytes (hash_bytes (HASH_SEED, a, na), b,
          nb));
  for (size_t i = vocab_index (v, hash);; i = (i + 1) & v->mask) {
    const VocabSlot *s = &v->slots[i];
    if (s->id < 0)
      return 0;
    if (s->hash == hash && s->len == na + nb) {
      const char *key = vocab_key (v, s->off);
      if (memcmp (key, a, na) == 0 && memcmp (key + na, b, nb) == 0) {
        *id = s->id;
        return 1;
      }
    }
  }
}

static int
vocab_find (const Vocab *v, const char *token, int32_t *id)
{
  return vocab_find2 (v, token, strlen (token), "", 0, id);
}

/* Sets the token at off (len bytes) -> id, growing the table past a load of
 * 1/2. Returns 1 if the token is new, 0 if it was there (its id replaced),
 * -1 if out of memory. */
static int
vocab_insert (Vocab *v, uint32_t off, uint32_t len, int32_t id)
{
  if (2 * (v->n + 1) > v->mask + 1 && !vocab_alloc (v, 2 * (v->n + 1)))
    return -1;
  const char *key = vocab_key (v, off);
  uint32_t hash = hash_fold (hash_bytes (HASH_SEED, key, len));
  size_t i = vocab_index (v, hash);
  int is_new = 1;
  for (;; i = (i + 1) & v->mask) {
    VocabSlot *s = &v->slots[i];
    if (s->id < 0)
      break;
    if (s->hash == hash && s->len == len
        && memcmp (vocab_key (v, s->off), key, len) == 0) {
      is_new = 0;
      break;
    }
  }
  v->slots[i] = (VocabSlot) { hash, id, off, len };
  v->n += is_new;
  if (id > v->max_id)
    v->max_id = id;
  return is_new;
}

/* Room for n more bytes in the arena; 0 if out of memory. */
static int
vocab_arena_reserve (Vocab *v, size_t n)
{
  if (v->arena_cap - v->arena_len >= n)
    return 1;
  size_t cap = MAX (MAX (v->arena_cap * 2, v->arena_len + n), 1 << 16);
  char *grown = realloc (v->arena, cap);
  if (!grown)
    return 0;
  v->arena = grown;
  v->arena_cap = cap;
  return 1;
}

/* -- vocab.json, the flat reader --
 *
 * A real vocab.json is one flat object {"token": id, ...}, which json-glib
 * reads as a JsonNode per member (and a GHashTable a hash per lookup).
 * Measured on CLIP's vocab.json and merges.txt (49,408 tokens in 1.0 MB,
 * 2,387 of them with escapes; 48,894 merges; warm page cache, -O2, a shared
 * 2-core VM, minimum of 20 loads): json_parser_load_from_data alone took
 * 28-30 ms, building the GHashTable 9 ms, freeing both 5 ms; the whole
 * tokenizer 53-59 ms CPU (90-115 ms the first time in a process, 3,500
 * page faults). With this reader, the mapped files and the tables above:
 * 7.1-7.7 ms (9-12 ms the first time, 210 page faults), of which 2.8 ms
 * reading vocab.json and 4.5 ms merges.txt (147,000 lookups).
 *
 * It takes strict RFC 8259 only: the object, '"' strings with the escapes
 * \" \\ \/ \b \f \n \r \t \uXXXX (a surrogate pair \uD83D\uDE00 is one code
 * point), raw UTF-8 as g_utf8_validate accepts it, ids 0..CLE_MAX_ID in
 * plain decimal, each token once. Anything else (a syntax error, a
 * duplicate token, \u0000, a lone surrogate, a raw control character, a
 * negative, fractional or too large id, a byte-order mark, json-glib's
 * extensions such as comments) is handed to json-glib as it was before,
 * which accepts it the same way as before or rejects it with the same
 * message naming the file (and line and column for a syntax error). So
 * json-glib reads every text this reader takes the same way (fuzz-vocab
 * checks it on each input), and a text it declines gets the former
 * result. */

static inline gboolean
is_json_space (char c)
{
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int
hex4 (const char *p, const char *end, uint32_t *out)
{
  if (end - p < 4)
    return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
        c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return 0;
    v = v << 4 | (uint32_t) d;
  }
  *out = v;
  return 1;
}

/* Reads the string that starts at *pp (after its opening quote): a token
 * spelled without escapes stays in the text, one with escapes is decoded
 * into the arena (never longer than its spelling: \uXXXX gives at most 3
 * bytes, a surrogate pair 4 for 12). Returns 1 with the token's *off, *len
 * and *pp past the closing quote; 0 to decline; -1 if out of memory. */
static int
flat_string (Vocab *v, const char **pp, const char *end, uint32_t *off,
    uint32_t *len)
{
  const char *start = *pp, *r = start;
  char *w = NULL;               /* the arena, from the first escape on */
  for (;;) {
    if (r == end)
      return 0;
    unsigned char c = (unsigned char) *r;
    if (c == '"')
      break;
    if (c >= 0x20 && c < 0x80 && c != '\\') {
      if (w)
        *w++ = (char) c;
      r++;
      continue;
    }
    if (c >= 0x80) {
      /* a run of non-ASCII bytes: as UTF-8 is self-synchronizing, the text
       * is valid exactly when every such run is */
      const char *run = r;
      while (r < end && (unsigned char) *r >= 0x80)
        r++;
      if (!g_utf8_validate_len (run, (gsize) (r - run), NULL))
        return 0;
      if (w) {
        memcpy (w, run, (size_t) (r - run));
        w += r - run;
      }
      continue;
    }
    if (c != '\\' || end - r < 2)       /* a raw control character */
      return 0;
    if (!w) {
      const char *q = r;
      while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
      if (q >= end)
        return 0;
      if (!vocab_arena_reserve (v, (size_t) (q - start)))
        return -1;
      w = v->arena + v->arena_len;
      memcpy (w, start, (size_t) (r - start));
      w += r - start;
    }
    char e = r[1];
    r += 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        *w++ = e;
        break;
      case 'b':
        *w++ = '\b';
        break;
      case 'f':
        *w++ = '\f';
        break;
      case 'n':
        *w++ = '\n';
        break;
      case 'r':
        *w++ = '\r';
        break;
      case 't':
        *w++ = '\t';
        break;
      case 'u':{
        uint32_t cp, lo;
        if (!hex4 (r, end, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
          return 0;
        r += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - r < 6 || r[0] != '\\' || r[1] != 'u'
              || !hex4 (r + 2, end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return 0;
          r += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        w += g_unichar_to_utf8 (cp, w);
        break;
      }
      default:
        return 0;
    }
  }
  if (w) {
    const char *token = v->arena + v->arena_len;
    *off = (uint32_t) (v->text.size + v->arena_len);
    *len = (uint32_t) (w - token);
    v->arena_len += *len;
  } else {
    *off = (uint32_t) (start - v->text.data);
    *len = (uint32_t) (r - start);
  }
  *pp = r + 1;
  return 1;
}

/* Reads v->text as a flat vocab.json into v. Returns 1, 0 to decline (the
 * table then in any state), or -1 if out of memory. */
static int
vocab_read_flat (Vocab *v)
{
  const char *p = v->text.data, *end = p + v->text.size;
  if (v->text.size >= UINT32_MAX / 2)   /* text + arena offsets */
    return 0;
  /* CLIP's vocab.json spends ~20 bytes a token: no growth for it */
  if (!vocab_alloc (v, MIN (v->text.size / 16 + 16, 65536)))
    return -1;

#define SKIP_SPACE() while (p < end && is_json_space (*p)) p++
  SKIP_SPACE ();
  if (p == end || *p++ != '{')
    return 0;
  SKIP_SPACE ();
  for (;;) {
    if (p == end || *p++ != '"')
      return 0;                 /* '}' right after '{' too: "no tokens" */
    uint32_t off, len;
    int ret = flat_string (v, &p, end, &off, &len);
    if (ret <= 0)
      return ret;
    SKIP_SPACE ();
    if (p == end || *p++ != ':')
      return 0;
    SKIP_SPACE ();
    /* 0 or [1-9][0-9]* up to CLE_MAX_ID; after a '-', '.', 'e' or 'x' comes
     * neither space, ',' nor '}' */
    if (p == end || *p < '0' || *p > '9')
      return 0;
    int32_t id = 0;
    if (*p == '0')
      p++;
    else
      for (; p < end && *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (id > (CLE_MAX_ID - d) / 10)
          return 0;
        id = id * 10 + d;
      }
    /* a duplicate (0) is json-glib's: it keeps the last, and only that id
     * counts toward the vocabulary size */
    ret = vocab_insert (v, off, len, id);
    if (ret <= 0)
      return ret;
    SKIP_SPACE ();
    if (p == end)
      return 0;
    if (*p == '}')
      break;
    if (*p++ != ',')
      return 0;
    SKIP_SPACE ();
  }
  p++;
  SKIP_SPACE ();
#undef SKIP_SPACE
  return p == end;
}

/* -- vocab.json through json-glib: whatever the flat reader declines. The
 * tokens are copied into the arena; a repeated one keeps its last id. */
static int
vocab_read_json_glib (Vocab *v, const char *path, ClipError *err)
{
  GError *gerr = NULL;
  JsonParser *parser = json_parser_new ();
  int ret;
  if (!json_parser_load_from_data (parser, v->text.data,
          (gssize) v->text.size, &gerr)) {
    /* json-glib says "<data>:LINE:COLUMN: Parse error: ..." */
    unsigned line, column;
    int skip = 0;
    if (sscanf (gerr->message, "<data>:%u:%u: %n", &line, &column, &skip) >= 2
        && skip > 0)
      ret = cle_error_set (err, CLE_ERROR_FORMAT,
          "vocab '%s': line %u, column %u: %s", path, line, column,
          gerr->message + skip);
    else
      ret = cle_error_set (err, CLE_ERROR_FORMAT, "vocab '%s': %s", path,
          gerr->message);
    g_error_free (gerr);
    g_object_unref (parser);
    return ret;
  }

  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_object_unref (parser);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "vocab '%s': expected a JSON object of token -> id", path);
  }

  JsonObject *object = json_node_get_object (root);
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  size_t n = 0, total = 0;
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &node)) {
    n++;
    total += strlen (name);
  }
  if (v->text.size + total >= UINT32_MAX) {
    g_object_unref (parser);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "vocab '%s': the tokens take %zu bytes, more than 4 GiB", path,
        total);
  }
  if (!vocab_arena_reserve (v, total + 1) || !vocab_alloc (v, n)) {
    g_object_unref (parser);
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "vocab '%s': out of memory for %zu tokens", path, n);
  }
  ret = CLE_OK;
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &node)) {
    gint64 id;
    if (!JSON_NODE_HOLDS_VALUE (node)
        || json_node_get_value_type (node) != G_TYPE_INT64
        || (id = json_node_get_int (node)) < 0 || id > CLE_MAX_ID) {
      ret = cle_error_set (err, CLE_ERROR_FORMAT,
          "vocab '%s': token '%s': id is not an integer in [0, %d]", path,
          name, CLE_MAX_ID);
      break;
    }
    size_t len = strlen (name);
    memcpy (v->arena + v->arena_len, name, len);
    vocab_insert (v, (uint32_t) (v->text.size + v->arena_len),
        (uint32_t) len, (int32_t) id);
    v->arena_len += len;
  }
  g_object_unref (parser);
  if (ret == CLE_OK && v->max_id < 0)
    ret = cle_error_set (err, CLE_ERROR_FORMAT, "vocab '%s': no tokens",
        path);
  return ret;
}

/* Reads vocab.json into v: the flat reader if fast and it takes the text,
 * else json-glib. */
static int
vocab_load (Vocab *v, const char *path, gboolean fast, ClipError *err)
{
  int ret = file_text_open (&v->text, path, "vocab", err);
  if (ret < 0 || !fast)
    return ret < 0 ? ret : vocab_read_json_glib (v, path, err);
  ret = vocab_read_flat (v);
  if (ret > 0)
    return CLE_OK;
  vocab_reset (v);
  if (ret < 0)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "vocab '%s': out of memory for %zu bytes", path, v->text.size);
  return vocab_read_json_glib (v, path, err);
}

/* ----------------------------------------------------------- vocab ids -- */

/* Longest piece of a token quoted in an error message. */
#define SHOWN 60

/* Byte order, a prefix first. */
static int
token_cmp (const Vocab *v, const VocabSlot *a, const VocabSlot *b)
{
  int c = memcmp (vocab_key (v, a->off), vocab_key (v, b->off),
      MIN (a->len, b->len));
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The first token in byte order that has this id (and sorts after `after`,
 * if not NULL). Errors name tokens chosen this way, not by their place in
 * the table, so that the flat reader and json-glib (which insert in other
 * orders) give the same message. */
static const VocabSlot *
vocab_token_of_id (const Vocab *v, int32_t id, const VocabSlot *after)
{
  const VocabSlot *best = NULL;
  for (size_t i = 0; i <= v->mask; i++) {
    const VocabSlot *s = &v->slots[i];
    if (s->id == id && (!after || token_cmp (v, s, after) > 0)
        && (!best || token_cmp (v, s, best) < 0))
      best = s;
  }
  return best;
}

/* CLIP's vocab.json indexes a list: n tokens take the ids 0..n-1, each
 * once. A gap would be an id no text encodes to, a repeat two tokens that
 * decode alike; both also make the size check below meaningless. */
static int
vocab_check_ids (const Vocab *v, const char *path, ClipError *err)
{
  size_t n = v->n;
  int32_t max_id = -1;
  for (size_t i = 0; n > 0 && i <= v->mask; i++)
    max_id = MAX (max_id, v->slots[i].id);
  if (max_id < 0)
    return cle_error_set (err, CLE_ERROR_FORMAT, "vocab '%s': no tokens",
        path);
  if ((size_t) max_id >= n) {
    const VocabSlot *s = vocab_token_of_id (v, max_id, NULL);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "vocab '%s': token '%.*s' has id %d, but its %zu tokens should "
        "take the ids 0..%zu", path, (int) MIN (s->len, SHOWN),
        vocab_key (v, s->off), max_id, n, n - 1);
  }
  /* n ids below n: all there, or one repeated */
  uint8_t *seen = calloc (n, 1);
  if (!seen)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "vocab '%s': out of memory for %zu ids", path, n);
  int32_t repeated = -1;
  for (size_t i = 0; i <= v->mask; i++) {
    int32_t id = v->slots[i].id;
    if (id >= 0 && seen[id] && (repeated < 0 || id < repeated))
      repeated = id;
    if (id >= 0)
      seen[id] = 1;
  }
  free (seen);
  if (repeated < 0)
    return CLE_OK;
  const VocabSlot *a = vocab_token_of_id (v, repeated, NULL);
  const VocabSlot *b = vocab_token_of_id (v, repeated, a);
  return cle_error_set (err, CLE_ERROR_FORMAT,
      "vocab '%s': tokens '%.*s' and '%.*s' both have id %d", path,
      (int) MIN (a->len, SHOWN), vocab_key (v, a->off),
      (int) MIN (b->len, SHOWN), vocab_key (v, b->off), repeated);
}

/* ------------------------------------------------------ symbols, merges -- */

/* CLIP's vocabulary, as simple_tokenizer builds it and every CLIP
 * vocab.json holds it: the 256 byte symbols, the same + "</w>", one token
 * per merge, then <|startoftext|> and <|endoftext|> (512 + 48,894 + 2 =
 * 49,408). Loading checks the two files against this construction, so that
 * a mismatched or truncated pair is refused instead of encoding to other
 * ids (with an empty merges.txt, every byte would be a token). */
#define CLE_N_BYTE_TOKENS 512
#define CLE_N_SPECIAL_TOKENS 2

/* What each id is in that construction (an array by id), to find a token
 * made twice or not at all: > 0 is the merges.txt line that makes it. */
enum { OWNER_NONE = 0, OWNER_BYTE = -1, OWNER_SPECIAL = -2 };

/* simple_tokenizer's bytes_to_unicode(): printable Latin-1 bytes stand for
 * themselves, the 68 others for U+0100 + their rank among them. */
static void
byte_to_unicode_table (gunichar table[256])
{
  int n = 0;
  for (int b = 0; b < 256; b++) {
    gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC)
        || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? (gunichar) b : (gunichar) (256 + n++);
  }
}

/* Finds the byte symbols (both forms) and the special tokens, and marks
 * their ids in owner. */
static int
tokenizer_init_symbols (ClipTokenizer *tok, const Vocab *vocab,
    int32_t *owner, const char *vocab_path, ClipError *err)
{
  gunichar table[256];
  byte_to_unicode_table (table);
  for (int b = 0; b < 256; b++) {
    char sym[16];
    int n = g_unichar_to_utf8 (table[b], sym);
    sym[n] = '\0';
    if (!vocab_find (vocab, sym, &tok->byte_ids[b]))
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "vocab '%s': byte symbol '%s' (byte 0x%02x) is missing", vocab_path,
          sym, b);
    memcpy (sym + n, CLE_WORD_END, sizeof CLE_WORD_END);
    if (!vocab_find (vocab, sym, &tok->byte_end_ids[b]))
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "vocab '%s': byte symbol '%s' (byte 0x%02x) is missing", vocab_path,
          sym, b);
    owner[tok->byte_ids[b]] = owner[tok->byte_end_ids[b]] = OWNER_BYTE;
  }
  const char *special[2] = { CLE_START_TEXT, CLE_END_TEXT };
  int32_t *special_id[2] = { &tok->start_id, &tok->end_id };
  for (int k = 0; k < 2; k++) {
    if (!vocab_find (vocab, special[k], special_id[k]))
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "vocab '%s': special token '%s' is missing", vocab_path,
          special[k]);
    owner[*special_id[k]] = OWNER_SPECIAL;
  }
  return CLE_OK;
}

static inline gboolean
is_ascii_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static gboolean
is_blank_text (const char *p, const char *end)
{
  while (p < end && (is_ascii_blank (*p) || *p == '\n'))
    p++;
  return p == end;
}

/* Splits [p, eol) at blanks: the first 3 fields go to fields ([start,
 * end) each), the count of them all is returned. */
static int
split_fields (const char *p, const char *eol, const char *fields[3][2])
{
  int n = 0;
  while (p < eol) {
    while (p < eol && is_ascii_blank (*p))
      p++;
    if (p == eol)
      break;
    const char *f = p;
    while (p < eol && !is_ascii_blank (*p))
      p++;
    if (n < 3) {
      fields[n][0] = f;
      fields[n][1] = p;
    }
    n++;
  }
  return n;
}

/* The merge "left right" of a line (fields from split_fields): both
 * symbols and left + right must be tokens, and left + right a token of
 * this merge alone (CLIP adds one token per merge). Inserts it with the
 * next rank. */
static int
merge_add (ClipTokenizer *tok, const Vocab *vocab, int32_t *owner,
    const char *fields[3][2], int line, const char *path,
    const char *vocab_path, ClipError *err)
{
  const char *left = fields[0][0], *right = fields[1][0];
  size_t n_left = (size_t) (fields[0][1] - left);
  size_t n_right = (size_t) (fields[1][1] - right);
  int l = (int) MIN (n_left, SHOWN), r = (int) MIN (n_right, SHOWN);
  int32_t ids[3];
  for (int k = 0; k < 2; k++)
    if (!vocab_find2 (vocab, k ? right : left, k ? n_right : n_left, "", 0,
            &ids[k]))
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "merges '%s': line %d: symbol '%.*s' of '%.*s %.*s' is not in "
          "vocab '%s'", path, line, k ? r : l, k ? right : left, l, left, r,
          right, vocab_path);
  /* left + right, looked up without a copy */
  if (!vocab_find2 (vocab, left, n_left, right, n_right, &ids[2]))
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "merges '%s': line %d: '%.*s %.*s' makes '%.*s%.*s', which is not in "
        "vocab '%s'", path, line, l, left, r, right, l, left, r, right,
        vocab_path);
  int32_t prev = owner[ids[2]];
  if (prev != OWNER_NONE) {
    char what[64];
    if (prev > 0)
      snprintf (what, sizeof what, "line %d makes too", prev);
    else
      snprintf (what, sizeof what, "is a %s", prev == OWNER_BYTE ?
          "byte symbol" : "special token");
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "merges '%s': line %d: '%.*s %.*s' makes '%.*s%.*s', which %s", path,
        line, l, left, r, right, l, left, r, right, what);
  }
  owner[ids[2]] = line;
  merge_insert (tok, ids[0], ids[1], tok->n_merges, ids[2]);
  tok->n_merges++;
  return CLE_OK;
}

/* The first line must be the "#version" header: CLIPTokenizer and
 * simple_tokenizer skip line 1 whatever it holds, tokenizers' BPE only a
 * "#version" line, so without one they would read different merges. */
static int
merges_check_header (const char *p, const char *eol, const char *path,
    ClipError *err)
{
  static const char header[] = "#version";
  if (eol - p >= (ptrdiff_t) sizeof header - 1
      && memcmp (p, header, sizeof header - 1) == 0)
    return CLE_OK;
  return cle_error_set (err, CLE_ERROR_FORMAT,
      "merges '%s': line 1: expected the '#version' header (CLIP skips the "
      "first line), got '%.*s'", path, (int) MIN (eol - p, SHOWN), p);
}

/* Reads merges.txt: the "#version" line, then one "left right" a line, rank
 * = line index - 1, of which CLIPTokenizer and simple_tokenizer take the
 * first CLE_MAX_MERGES (lines[1:49152-256-2+1]); as they do, the lines
 * after those are not read. At least one merge. */
static int
merges_load (ClipTokenizer *tok, const Vocab *vocab, int32_t *owner,
    const char *path, const char *vocab_path, ClipError *err)
{
  FileText text;
  int ret = file_text_open (&text, path, "merges", err);
  if (ret < 0)
    return ret;
  const char *data = text.data, *end = data + text.size;
  if (is_blank_text (data, end)) {
    file_text_clear (&text);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "merges '%s': no merges (empty file)", path);
  }

  size_t n_lines = 1;
  for (const char *q = data; (q = memchr (q, '\n', (size_t) (end - q)));
      q++)
    n_lines++;
  if (!merge_table_alloc (tok, MIN (n_lines, (size_t) CLE_MAX_MERGES))) {
    file_text_clear (&text);
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "merges '%s': out of memory for %zu merges", path, n_lines);
  }

  const char *nul = memchr (data, '\0', text.size);     /* the first NUL */
  int line = 0;
  for (const char *p = data; p < end && tok->n_merges < CLE_MAX_MERGES;
      p++) {
    const char *eol = memchr (p, '\n', end - p);
    if (!eol)
      eol = end;
    line++;
    if (line == 1) {
      if ((ret = merges_check_header (p, eol, path, err)) < 0)
        break;
      p = eol;
      continue;
    }
    const char *fields[3][2];
    int n_fields = split_fields (p, eol, fields);
    /* trailing blank lines are fine (Python strips the file) */
    if (n_fields == 0 && is_blank_text (eol, end))
      break;
    if (n_fields != 2) {
      ret = cle_error_set (err, CLE_ERROR_FORMAT,
          "merges '%s': line %d: expected two symbols 'left right', got "
          "'%.*s'", path, line, (int) MIN (eol - p, SHOWN), p);
      break;
    }
    /* a symbol with a NUL byte is no token (the former C-string lookups
     * read it up to the NUL) */
    if (nul && nul < p)
      nul = memchr (p, '\0', (size_t) (end - p));
    if (nul && nul < eol) {
      ret = cle_error_set (err, CLE_ERROR_FORMAT,
          "merges '%s': line %d: a NUL byte at column %d", path, line,
          (int) (nul - p) + 1);
      break;
    }
    ret = merge_add (tok, vocab, owner, fields, line, path, vocab_path,
        err);
    if (ret < 0)
      break;
    p = eol;
  }
  file_text_clear (&text);
  if (ret == CLE_OK && tok->n_merges == 0)
    ret = cle_error_set (err, CLE_ERROR_FORMAT,
        "merges '%s': no merges after the '#version' line", path);
  return ret;
}

/* With the byte symbols, special tokens and one token per merge all found
 * (and distinct), vocab.json is CLIP's vocabulary if it holds nothing
 * else: 512 + merges + 2 tokens. Else the message names the token with the
 * lowest id that none of them made. */
static int
vocab_check_size (const Vocab *vocab, const int32_t *owner, int n_merges,
    const char *vocab_path, const char *merges_path, ClipError *err)
{
  size_t want = CLE_N_BYTE_TOKENS + (size_t) n_merges + CLE_N_SPECIAL_TOKENS;
  if (vocab->n == want)
    return CLE_OK;
  size_t id = 0;
  while (id < vocab->n && owner[id] != OWNER_NONE)
    id++;
  const VocabSlot *s = id < vocab->n ?
      vocab_token_of_id (vocab, (int32_t) id, NULL) : NULL;
  return cle_error_set (err, CLE_ERROR_FORMAT,
      "vocab '%s' has %zu tokens, but CLIP's vocabulary for the %d merges of "
      "'%s' has %d byte symbols + %d + %d special tokens = %zu: token "
      "'%.*s' (id %zu) is none of them", vocab_path, vocab->n, n_merges,
      merges_path, CLE_N_BYTE_TOKENS, n_merges, CLE_N_SPECIAL_TOKENS, want,
      s ? (int) MIN (s->len, SHOWN) : 0, s ? vocab_key (vocab, s->off) : "",
      id);
}

/* vocab.json, then its ids, the byte and special tokens, merges.txt and
 * the size, each check relying on the ones before. */
static int
tokenizer_read (ClipTokenizer *tok, Vocab *vocab, const char *vocab_path,
    const char *merges_path, gboolean fast, ClipError *err)
{
  int ret = vocab_load (vocab, vocab_path, fast, err);
  if (ret == CLE_OK)
    ret = vocab_check_ids (vocab, vocab_path, err);
  if (ret < 0)
    return ret;
  tok->vocab_size = (int) vocab->n;
  int32_t *owner = calloc (vocab->n, sizeof *owner);
  if (!owner)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "vocab '%s': out of memory for %zu ids", vocab_path, vocab->n);
  ret = tokenizer_init_symbols (tok, vocab, owner, vocab_path, err);
  if (ret == CLE_OK)
    ret = merges_load (tok, vocab, owner, merges_path, vocab_path, err);
  if (ret == CLE_OK)
    ret = vocab_check_size (vocab, owner, tok->n_merges, vocab_path,
        merges_path, err);
  free (owner);
  return ret;
}

static int
tokenizer_load (ClipTokenizer **out, const char *vocab_path,
    const char *merges_path, gboolean fast, ClipError *err)
{
  if (!out || !vocab_path || !merges_path)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "tokenizer: out, vocab_path and merges_path must not be NULL");
  *out = NULL;

  ClipTokenizer *tok = calloc (1, sizeof *tok);
  if (!tok)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY, "tokenizer: %s",
        strerror (ENOMEM));

  Vocab vocab;
  vocab_init (&vocab);
  int ret = tokenizer_read (tok, &vocab, vocab_path, merges_path, fast, err);
  vocab_clear (&vocab);
  if (ret < 0) {
    cle_tokenizer_free (tok);
    return ret;
  }
  *out = tok;
  return CLE_OK;
}

int
cle_tokenizer_load (ClipTokenizer **out, const char *vocab_path,
    const char *merges_path, ClipError *err)
{
  return tokenizer_load (out, vocab_path, merges_path, TRUE, err);
}

int
cle_tokenizer_load_json_glib (ClipTokenizer **out, const char *vocab_path,
    const char *merges_path, ClipError *err)
{
  return tokenizer_load (out, vocab_path, merges_path, FALSE, err);
}

int
cle_tokenizer_equal (const ClipTokenizer *a, const ClipTokenizer *b)
{
  if (a->vocab_size != b->vocab_size || a->start_id != b->start_id
      || a->end_id != b->end_id || a->n_merges != b->n_merges
      || a->slot_mask != b->slot_mask
      || memcmp (a->byte_ids, b->byte_ids, sizeof a->byte_ids) != 0
      || memcmp (a->byte_end_ids, b->byte_end_ids, sizeof a->byte_end_ids))
    return 0;
  /* the same merges inserted in the same order: the same slots */
  for (size_t i = 0; i <= a->slot_mask; i++) {
    const ClipMerge *x = &a->merges[i], *y = &b->merges[i];
    if (x->key != y->key
        || (x->key != EMPTY_KEY && (x->rank != y->rank || x->id != y->id)))
      return 0;
  }
  return 1;
}

void
cle_tokenizer_free (ClipTokenizer *tok)
{
  if (!tok)
    return;
  free (tok->merges);
  free (tok);
}

int
cle_tokenizer_vocab_size (const ClipTokenizer *tok)
{
  return tok->vocab_size;
}

int32_t
cle_tokenizer_start_id (const ClipTokenizer *tok)
{
  return tok->start_id;
}

int32_t
cle_tokenizer_end_id (const ClipTokenizer *tok)
{
  return tok->end_id;
}

/* ---------------------------------------------------- text: code points -- */

/* Strict UTF-8 as Python's bytes.decode ("utf-8"): no overlong forms,
 * surrogates or code points above U+10FFFF; NUL is a character. Returns the
 * number of code points, or -1 with *bad = offset of the first bad sequence. */
static ptrdiff_t
utf8_decode (uint32_t *out, const uint8_t *s, size_t len, size_t *bad)
{
  size_t i = 0, o = 0;
  while (i < len) {
    uint32_t c = s[i];
    if (c < 0x80) {
      out[o++] = c;
      i++;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;       /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
      c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
      c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
      c &= 0x07;
    } else {
      *bad = i;
      return -1;
    }
    if (len - i <= need) {
      *bad = i;
      return -1;
    }
    for (size_t k = 1; k <= need; k++) {
      uint8_t b = s[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) {
        *bad = i;
        return -1;
      }
      c = (c << 6) | (b & 0x3F);
    }
    out[o++] = c;
    i += need + 1;
  }
  return (ptrdiff_t) o;
}

/* Python's str.isspace(), the set str.strip() removes. */
static inline gboolean
is_py_space (uint32_t c)
{
  if (c < 0x80)
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
      || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
      || c == 0x3000;
}

/* The `regex` module's \s: White_Space, i.e. str.isspace() without
 * U+001C..U+001F. */
static inline gboolean
is_re_space (uint32_t c)
{
  return is_py_space (c) && !(c >= 0x1C && c <= 0x1F);
}

/* ------------------------------------------------------ html.unescape -- */

static const ClipHtmlEntity *
html_entity_find (const char *name, size_t len)
{
  size_t lo = 0, hi = G_N_ELEMENTS (cle_html_entities);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *e = cle_html_entities[mid].name;
    size_t e_len = strlen (e);
    int c = memcmp (e, name, MIN (e_len, len));
    if (c == 0)                 /* a prefix sorts first */
      c = (e_len > len) - (e_len < len);
    if (c == 0)
      return &cle_html_entities[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* html._replace_charref for "&#NUM": fix-ups, then U+FFFD for surrogates and
 * out-of-range numbers, then nothing for the dropped code points. */
static size_t
html_numeric (uint32_t *out, uint32_t num)
{
  for (size_t i = 0; i < G_N_ELEMENTS (cle_html_charref_fixes); i++)
    if (cle_html_charref_fixes[i][0] == num) {
      out[0] = cle_html_charref_fixes[i][1];
      return 1;
    }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out[0] = 0xFFFD;
    return 1;
  }
  for (size_t i = 0; i < G_N_ELEMENTS (cle_html_dropped_ranges); i++)
    if (num >= cle_html_dropped_ranges[i][0]
        && num <= cle_html_dropped_ranges[i][1])
      return 0;
  out[0] = num;
  return 1;
}

static inline int
digit_value (uint32_t c, int base)
{
  if (c >= '0' && c <= '9')
    return (int) (c - '0');
  if (base == 16 && c >= 'a' && c <= 'f')
    return (int) (c - 'a' + 10);
  if (base == 16 && c >= 'A' && c <= 'F')
    return (int) (c - 'A' + 10);
  return -1;
}

/* One match of Python's html._charref,
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * at s = the text after an '&' (m code points). Returns the code points
 * consumed after the '&' (0: no reference, the '&' stays) and writes the
 * replacement to out (*n_out, never more than the consumed text + 1). */
static size_t
html_charref (uint32_t *out, size_t *n_out, const uint32_t *s, size_t m)
{
  *n_out = 0;
  if (m > 0 && s[0] == '#') {
    int base = m > 1 && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    size_t k = base == 16 ? 2 : 1, first = k;
    uint32_t num = 0;
    int d;
    for (; k < m && (d = digit_value (s[k], base)) >= 0; k++)
      num = MIN (num * base + d, 0x110000);     /* saturates past U+10FFFF */
    if (k == first)
      return 0;
    if (k < m && s[k] == ';')
      k++;
    *n_out = html_numeric (out, num);
    return k;
  }

  size_t k = 0;
  while (k < m && k < 32 && s[k] != '\t' && s[k] != '\n' && s[k] != '\f'
      && s[k] != ' ' && s[k] != '<' && s[k] != '&' && s[k] != '#'
      && s[k] != ';')
    k++;
  if (k == 0)
    return 0;
  size_t len = k < m && s[k] == ';' ? k + 1 : k;
  /* entity names are ASCII: only the ASCII head of s can match */
  char name[32 + 1];            /* the {1,32} run and its ';' */
  size_t n_ascii = 0;
  while (n_ascii < len && s[n_ascii] < 0x80) {
    name[n_ascii] = (char) s[n_ascii];
    n_ascii++;
  }
  const ClipHtmlEntity *e = NULL;
  size_t x = len;               /* the entity is s[:x]; s[x:len] stays */
  if (n_ascii == len)
    e = html_entity_find (name, len);
  /* else the longest prefix of at least 2 that is an entity (only the legacy
   * names without ';' can be) */
  if (!e)
    for (x = MIN (len - 1, n_ascii); x >= 2; x--)
      if ((e = html_entity_find (name, x)))
        break;
  if (!e)
    return 0;
  size_t o = 0;
  out[o++] = e->cp[0];
  if (e->cp[1])
    out[o++] = e->cp[1];
  for (size_t r = x; r < len; r++)
    out[o++] = s[r];
  *n_out = o;
  return len;
}

/* Python's html.unescape: out has room for n code points (never grows). */
static size_t
html_unescape (uint32_t *out, const uint32_t *in, size_t n)
{
  size_t i = 0, o = 0;
  while (i < n) {
    if (in[i] != '&') {
      out[o++] = in[i++];
      continue;
    }
    size_t n_rep, used = html_charref (out + o, &n_rep, in + i + 1, n - i - 1);
    if (used == 0) {
      out[o++] = in[i++];
      continue;
    }
    o += n_rep;
    i += 1 + used;
  }
  return o;
}

/* ------------------------------------------------- whitespace, lower() -- */

/* strip(), re.sub (r'\s+', ' '), strip() in place: the two strips use
 * Python's whitespace, the collapse the regex one (see is_re_space). */
static size_t
text_clean_whitespace (uint32_t *t, size_t n)
{
  size_t lo = 0, hi = n, o = 0;
  while (lo < hi && is_py_space (t[lo]))
    lo++;
  while (hi > lo && is_py_space (t[hi - 1]))
    hi--;
  for (size_t i = lo; i < hi;) {
    if (is_re_space (t[i])) {
      while (i < hi && is_re_space (t[i]))
        i++;
      t[o++] = ' ';
    } else {
      t[o++] = t[i++];
    }
  }
  lo = 0;
  while (lo < o && is_py_space (t[lo]))
    lo++;
  while (o > lo && is_py_space (t[o - 1]))
    o--;
  memmove (t, t + lo, (o - lo) * sizeof *t);
  return o - lo;
}

/* Case_Ignorable: Mn Me Cf Lm Sk and Word_Break MidLetter, MidNumLet,
 * Single_Quote. */
static gboolean
is_case_ignorable (uint32_t c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      break;
  }
  switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F:
    case 0x5F4: case 0x2018: case 0x2019: case 0x2024: case 0x2027:
    case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E:
    case 0xFF1A:
      return TRUE;
    default:
      return FALSE;
  }
}

/* Cased: Lu Ll Lt plus the Other_Lowercase / Other_Uppercase characters that
 * are not case-ignorable (checked against Python 3.11 for every code point). */
static gboolean
is_cased (uint32_t c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
      return TRUE;
    default:
      break;
  }
  return c == 0xAA || c == 0xBA || (c >= 0x2160 && c <= 0x217F)
      || (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149)
      || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Python lowers U+03A3 to final sigma after a cased letter that no cased
 * letter follows, skipping case-ignorables both ways (handle_capital_sigma). */
static gboolean
is_final_sigma (const uint32_t *t, size_t n, size_t i)
{
  size_t j = i;
  while (j > 0 && is_case_ignorable (t[j - 1]))
    j--;
  if (j == 0 || !is_cased (t[j - 1]))
    return FALSE;
  for (j = i + 1; j < n && is_case_ignorable (t[j]); j++);
  return j == n || !is_cased (t[j]);
}

/* Python's str.lower(): out has room for 2 n. g_unichar_tolower matches its
 * simple mappings except for the Nl/So letters (roman numerals, circled
 * letters) it leaves alone; U+0130 is the one full (two code point)
 * mapping. g_utf8_strdown is not used: its final-sigma rule differs and it
 * follows the locale (Turkish/Lithuanian). */
static size_t
text_lower (uint32_t *out, const uint32_t *in, size_t n)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80)
      out[o++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
    else if (c == 0x130) {
      out[o++] = 'i';
      out[o++] = 0x307;
    } else if (c == 0x3A3)
      out[o++] = is_final_sigma (in, n, i) ? 0x3C2 : 0x3C3;
    else if (c >= 0x2160 && c <= 0x216F)
      out[o++] = c + 0x10;
    else if (c >= 0x24B6 && c <= 0x24CF)
      out[o++] = c + 0x1A;
    else
      out[o++] = g_unichar_tolower (c);
  }
  return o;
}

/* ------------------------------------------------------------- split -- */

typedef enum {
  CHAR_SKIP,                    /* \s, and U+0345 (below) */
  CHAR_LETTER,                  /* \p{L} */
  CHAR_NUMBER,                  /* \p{N} */
  CHAR_OTHER,                   /* [^\s\p{L}\p{N}] */
} CharClass;

/* The pattern is compiled with re.IGNORECASE. For a character class that
 * changes one character: U+0345 (Mn, simple case fold U+03B9) matches
 * neither [\p{L}] nor [^\s\p{L}\p{N}] and is skipped like a space.
 * Categories come from GLib's Unicode tables (Unicode 15 for GLib 2.74+). */
static inline CharClass
char_class (uint32_t c)
{
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
      return CHAR_LETTER;
    if (c >= '0' && c <= '9')
      return CHAR_NUMBER;
    return is_re_space (c) ? CHAR_SKIP : CHAR_OTHER;
  }
  switch (g_unichar_type (c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return CHAR_LETTER;
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return CHAR_NUMBER;
    default:
      return is_re_space (c) || c == 0x345 ? CHAR_SKIP : CHAR_OTHER;
  }
}

/* Simple case folding for the pattern's literals: ASCII, and U+017F (long
 * s), which IGNORECASE matches to 's'. */
static inline uint32_t
fold_literal (uint32_t c)
{
  if (c == 0x17F)
    return 's';
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Length of lit matched case-insensitively at t (0 if none); *exact says
 * whether the text is lit itself. */
static size_t
match_literal (const uint32_t *t, size_t n, const char *lit, gboolean *exact)
{
  size_t k;
  *exact = TRUE;
  for (k = 0; lit[k]; k++) {
    if (k >= n || fold_literal (t[k]) != (uint32_t) lit[k]) {
      *exact = FALSE;
      return 0;
    }
    if (t[k] != (uint32_t) lit[k])
      *exact = FALSE;
  }
  return k;
}

/* The contractions 's|'t|'re|'ve|'m|'ll|'d at t[0] == '\''. */
static size_t
match_contraction (const uint32_t *t, size_t n)
{
  if (n < 2)
    return 0;
  uint32_t a = fold_literal (t[1]), b = n > 2 ? fold_literal (t[2]) : 0;
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    return 2;
  if (((a == 'r' || a == 'v') && b == 'e') || (a == 'l' && b == 'l'))
    return 3;
  return 0;
}

/* ---------------------------------------------------------------- BPE -- */

/* Merges the n >= 1 symbols of one word as simple_tokenizer's bpe(): while
 * an adjacent pair has a rank, take the lowest and merge every occurrence
 * left to right. rank[i] holds the rank of (sym[i], sym[i + 1]); after a
 * merge only the pairs next to a new symbol are looked up again. */
static size_t
bpe_word (const ClipTokenizer *tok, int32_t *sym, int32_t *rank, size_t n)
{
  for (size_t i = 0; i + 1 < n; i++)
    rank[i] = merge_rank (tok, sym[i], sym[i + 1]);
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = NO_MERGE;
    for (size_t i = 0; i + 1 < n; i++)
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    if (best_rank == NO_MERGE)
      break;
    int32_t left = sym[best], right = sym[best + 1];
    int32_t merged = merge_find (tok, left, right)->id;
    size_t i = best, j = best;
    gboolean prev_new = TRUE;
    /* j <= i: rank[i - 1] is read before rank[j - 1] is written */
    while (i < n) {
      gboolean is_new = i + 1 < n && sym[i] == left && sym[i + 1] == right;
      int32_t old_rank = i > 0 ? rank[i - 1] : NO_MERGE;
      sym[j] = is_new ? merged : sym[i];
      i += is_new ? 2 : 1;
      if (j > 0)
        rank[j - 1] = is_new || prev_new ?
            merge_rank (tok, sym[j - 1], sym[j]) : old_rank;
      prev_new = is_new;
      j++;
    }
    n = j;
  }
  return n;
}

/* ------------------------------------------------------------- encode -- */

/* Collects ids up to limit = context_length - 1 (the room before the end
 * token); n counts them, ids gets the first max_ids. */
typedef struct {
  int32_t *ids;
  int max_ids;
  int n;
  int limit;
} IdSink;

/* Returns FALSE once the sink is full. */
static inline gboolean
sink_push (IdSink *sink, int32_t id)
{
  if (sink->n < sink->max_ids)
    sink->ids[sink->n] = id;
  sink->n++;
  return sink->n < sink->limit;
}

typedef struct {
  uint8_t *bytes;
  int32_t *sym, *rank;
} PieceScratch;

/* One piece of the split: UTF-8 bytes -> byte symbols ("</w>" on the last)
 * -> BPE -> ids. Returns FALSE once the sink is full. */
static gboolean
encode_piece (const ClipTokenizer *tok, const uint32_t *cp, size_t n_cp,
    PieceScratch *s, IdSink *sink)
{
  size_t n = 0;
  for (size_t i = 0; i < n_cp; i++)
    n += g_unichar_to_utf8 (cp[i], (char *) s->bytes + n);
  for (size_t i = 0; i + 1 < n; i++)
    s->sym[i] = tok->byte_ids[s->bytes[i]];
  s->sym[n - 1] = tok->byte_end_ids[s->bytes[n - 1]];
  n = bpe_word (tok, s->sym, s->rank, n);
  for (size_t i = 0; i < n; i++)
    if (!sink_push (sink, s->sym[i]))
      return FALSE;
  return TRUE;
}

/* findall of the pattern over the cleaned, lowered text t. Literal special
 * tokens map to their ids (simple_tokenizer's bpe cache); one matched only
 * through case folding (U+017F) is BPE-encoded like any piece. */
static void
encode_pieces (const ClipTokenizer *tok, const uint32_t *t, size_t n,
    PieceScratch *s, IdSink *sink)
{
  size_t i = 0;
  while (i < n) {
    size_t len = 0;
    gboolean exact = FALSE;
    int32_t special = 0;
    if (t[i] == '<') {
      if ((len = match_literal (t + i, n - i, CLE_START_TEXT, &exact)))
        special = tok->start_id;
      else if ((len = match_literal (t + i, n - i, CLE_END_TEXT, &exact)))
        special = tok->end_id;
    } else if (t[i] == '\'')
      len = match_contraction (t + i, n - i);
    if (len == 0) {
      CharClass cls = char_class (t[i]);
      if (cls == CHAR_SKIP) {
        i++;
        continue;
      }
      len = 1;
      if (cls != CHAR_NUMBER)
        while (i + len < n && char_class (t[i + len]) == cls)
          len++;
    }
    gboolean room = exact ? sink_push (sink, special) :
        encode_piece (tok, t + i, len, s, sink);
    if (!room)
      return;
    i += len;
  }
}

int
cle_tokenizer_encode (const ClipTokenizer *tok, const char *text,
    ptrdiff_t len, int context_length, int32_t *ids, int max_ids,
    ClipError *err)
{
  if (!tok || !text)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "tokenize: tokenizer and text must not be NULL");
  if (context_length < 2)
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "tokenize: context_length %d, expected >= 2", context_length);
  if (max_ids < 0 || (max_ids > 0 && !ids))
    return cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "tokenize: max_ids %d with ids %p", max_ids, (void *) ids);

  size_t n_bytes = len < 0 ? strlen (text) : (size_t) len;
  /* a: the text, then each unescape; b: 2 n for lower() */
  uint32_t *a = NULL, *b = NULL;
  PieceScratch s = { NULL, NULL, NULL };
  int ret;
  if (n_bytes < SIZE_MAX / 64) {
    a = malloc ((n_bytes + 1) * sizeof *a);
    b = malloc ((2 * n_bytes + 1) * sizeof *b);
  }
  if (!a || !b) {
    ret = cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "tokenize: out of memory for a text of %zu bytes", n_bytes);
    goto done;
  }

  size_t bad = 0;
  ptrdiff_t n_cp = utf8_decode (a, (const uint8_t *) text, n_bytes, &bad);
  if (n_cp < 0) {
    ret = cle_error_set (err, CLE_ERROR_INVALID_ARGUMENT,
        "tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad,
        (unsigned) (uint8_t) text[bad]);
    goto done;
  }
  size_t n = html_unescape (b, a, (size_t) n_cp);
  n = html_unescape (a, b, n);
  n = text_clean_whitespace (a, n);
  n = text_lower (b, a, n);

  /* a piece is at most the whole text, 4 bytes a code point */
  s.bytes = malloc (4 * n + 4);
  s.sym = malloc ((4 * n + 4) * sizeof *s.sym);
  s.rank = malloc ((4 * n + 4) * sizeof *s.rank);
  if (!s.bytes || !s.sym || !s.rank) {
    ret = cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "tokenize: out of memory for a text of %zu bytes", n_bytes);
    goto done;
  }

  IdSink sink = { ids, max_ids, 0, context_length - 1 };
  if (sink_push (&sink, tok->start_id))
    encode_pieces (tok, b, n, &s, &sink);
  if (sink.n < max_ids)
    ids[sink.n] = tok->end_id;
  ret = sink.n + 1;

done:
  free (a);
  free (b);
  free (s.bytes);
  free (s.sym);
  free (s.rank);
  return ret;
}
