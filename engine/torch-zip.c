/* torch-zip.c - reads what torch.save writes for a dict of tensors: a zip of
 * stored entries (<root>/data.pkl, <root>/data/<key>, ...) whose pickle is
 * interpreted by a small stack machine that knows only the opcodes and the
 * globals of that subset. Nothing is ever executed or imported; every other
 * opcode or global is refused. Tensors point into the mapped file, or, for
 * entries another zip tool deflated, into buffers inflated at open. */
#include <string.h>

#include <glib.h>
#include <zlib.h>

#include "error.h"
#include "torch-zip.h"

/* ------------------------------------------------------------- the zip -- */

typedef struct {
  const char *name;             /* NUL-terminated copy */
  const uint8_t *data;
  uint64_t size;
} ZipEntry;

typedef struct {
  const uint8_t *bytes;
  uint64_t size;
  const char *path;
  GArray *entries;              /* ZipEntry */
  GStringChunk *names;
  GPtrArray *buffers;           /* inflated entries (g_free) */
} Zip;

/* Deflate expands at most 1032 to 1 (258-byte matches of 2 bits each); an
 * entry that claims more is refused before anything is allocated. */
#define MAX_INFLATE_RATIO 1032

static const char *
zip_method_name (uint64_t method)
{
  switch (method) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    case 98: return "ppmd";
    default: return "unknown";
  }
}

/* Inflates a raw deflate stream of csize bytes into a new buffer of exactly
 * usize bytes (the central directory's size) and checks its CRC-32. */
static int
zip_inflate (Zip *z, const char *name, const uint8_t *in, uint64_t csize,
    uint64_t usize, uint32_t crc, const uint8_t **out, ClipError *err)
{
  if (csize > G_MAXUINT64 / MAX_INFLATE_RATIO
      || usize > csize * MAX_INFLATE_RATIO + 64 || usize > G_MAXSIZE - 1)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s' claims %" G_GUINT64_FORMAT " bytes from %"
        G_GUINT64_FORMAT " deflated ones, more than deflate can expand "
        "(a zip bomb or a lying size)", z->path, name, usize, csize);
  /* one byte more than the entry says: what lands there is a lie */
  uint8_t *buf = g_try_malloc (usize + 1);
  if (!buf)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "'%s': zip entry '%s': cannot allocate %" G_GUINT64_FORMAT
        " bytes to inflate it", z->path, name, usize);
  g_ptr_array_add (z->buffers, buf);

  z_stream zs = { 0 };
  if (inflateInit2 (&zs, -MAX_WBITS) != Z_OK)
    return cle_error_set (err, CLE_ERROR_OUT_OF_MEMORY,
        "'%s': zip entry '%s': inflateInit2 failed", z->path, name);
  /* zlib counts in uInt: fed and drained in chunks of at most 1 GiB */
  uint64_t in_left = csize, out_left = usize + 1;
  int ret;
  zs.next_in = (Bytef *) in;
  zs.next_out = buf;
  for (;;) {
    if (zs.avail_in == 0 && in_left) {
      zs.avail_in = MIN (in_left, 1u << 30);
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0 && out_left) {
      zs.avail_out = MIN (out_left, 1u << 30);
      out_left -= zs.avail_out;
    }
    ret = inflate (&zs, Z_NO_FLUSH);
    if (ret != Z_OK || (zs.avail_in == 0 && !in_left)
        || (zs.avail_out == 0 && !out_left))
      break;
  }
  uint64_t produced = zs.total_out;
  int code = CLE_OK;
  if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_MEM_ERROR
      || ret == Z_STREAM_ERROR)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s': corrupt deflate stream after %"
        G_GUINT64_FORMAT " bytes (%s)", z->path, name, produced,
        ret == Z_NEED_DICT ? "needs a dictionary" : zs.msg ? zs.msg : "?");
  else if (produced > usize)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s' inflates to more than the %" G_GUINT64_FORMAT
        " bytes its central directory entry says", z->path, name, usize);
  else if (ret != Z_STREAM_END)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s': deflate stream ends early, after %"
        G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes (truncated?)",
        z->path, name, produced, usize);
  else if (produced != usize)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s' inflates to %" G_GUINT64_FORMAT " bytes, its "
        "central directory entry says %" G_GUINT64_FORMAT, z->path, name,
        produced, usize);
  inflateEnd (&zs);
  if (code != CLE_OK)
    return code;
  uLong got = crc32 (0, Z_NULL, 0);
  for (uint64_t at = 0; at < usize; at += 1u << 30)
    got = crc32 (got, buf + at, MIN (usize - at, 1u << 30));
  if (got != crc)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip entry '%s': CRC-32 %08lx, its central directory entry "
        "says %08x", z->path, name, (unsigned long) got, crc);
  *out = buf;
  return CLE_OK;
}

static uint64_t
rd (const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* The zip64 extra field of a central directory entry: the 8-byte values of
 * those of usize, csize, offset that were 0xffffffff, in that order. */
static int
zip64_extra (const uint8_t *x, uint64_t n, uint64_t *usize, uint64_t *csize,
    uint64_t *offset)
{
  while (n >= 4) {
    uint64_t id = rd (x, 2), len = rd (x + 2, 2);
    if (len > n - 4)
      return 0;
    if (id == 1) {
      const uint8_t *v = x + 4;
      uint64_t left = len;
      uint64_t *f[3] = { usize, csize, offset };
      for (int i = 0; i < 3; i++)
        if (*f[i] == 0xffffffffu) {
          if (left < 8)
            return 0;
          *f[i] = rd (v, 8);
          v += 8;
          left -= 8;
        }
      return 1;
    }
    x += 4 + len;
    n -= 4 + len;
  }
  return 1;
}

static int
zip_read (Zip *z, ClipError *err)
{
  const uint8_t *b = z->bytes;
  const uint64_t size = z->size;
  if (size >= 2 && b[0] == 0x80)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': not a zip archive but a bare pickle (the legacy format of "
        "torch < 1.6); re-save it with a current torch", z->path);
  if (size < 22 || rd (b, 4) != 0x04034b50)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': not a zip archive (torch.save writes one since torch 1.6)",
        z->path);
  /* End of central directory: the last signature within 64 KiB + 22. */
  int64_t eocd = -1;
  for (int64_t p = size - 22; p >= 0 && p >= (int64_t) size - 22 - 65535; p--)
    if (rd (b + p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  if (eocd < 0)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip archive without an end of central directory record "
        "(truncated?)", z->path);
  uint64_t n_entries = rd (b + eocd + 10, 2);
  uint64_t cd_size = rd (b + eocd + 12, 4), cd_off = rd (b + eocd + 16, 4);
  if (eocd >= 20 && rd (b + eocd - 20, 4) == 0x07064b50) {
    uint64_t z64 = rd (b + eocd - 20 + 8, 8);
    if (size < 56 || z64 > size - 56 || rd (b + z64, 4) != 0x06064b50)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': bad zip64 end of central directory record", z->path);
    n_entries = rd (b + z64 + 32, 8);
    cd_size = rd (b + z64 + 40, 8);
    cd_off = rd (b + z64 + 48, 8);
  }
  if (cd_off > size || cd_size > size - cd_off)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip central directory (%" G_GUINT64_FORMAT " bytes at %"
        G_GUINT64_FORMAT ") beyond the file (%" G_GUINT64_FORMAT " bytes)",
        z->path, cd_size, cd_off, size);
  const uint8_t *p = b + cd_off, *end = p + cd_size;
  for (uint64_t i = 0; i < n_entries; i++) {
    const uint8_t *p_entry = p;
    if (end - p < 46 || rd (p, 4) != 0x02014b50)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip central directory entry %" G_GUINT64_FORMAT
          " is malformed", z->path, i);
    uint64_t flags = rd (p + 8, 2), method = rd (p + 10, 2);
    uint64_t csize = rd (p + 20, 4), usize = rd (p + 24, 4);
    uint64_t nlen = rd (p + 28, 2), xlen = rd (p + 30, 2), clen = rd (p + 32,
        2);
    uint64_t lho = rd (p + 42, 4);
    if ((uint64_t) (end - p) < 46 + nlen + xlen + clen)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip central directory entry %" G_GUINT64_FORMAT
          " is truncated", z->path, i);
    char *name = g_string_chunk_insert_len (z->names, (const char *) p + 46,
        nlen);
    if (strlen (name) != nlen)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry %" G_GUINT64_FORMAT " has a NUL in its name",
          z->path, i);
    if (!zip64_extra (p + 46 + nlen, xlen, &usize, &csize, &lho))
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s': malformed zip64 extra field", z->path, name);
    p += 46 + nlen + xlen + clen;
    if (flags & 1)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s' is encrypted", z->path, name);
    if (method != 0 && method != 8)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s' is compressed with method %" G_GUINT64_FORMAT
          " (%s); only stored entries (torch.save) and deflated ones are "
          "read", z->path, name, method, zip_method_name (method));
    if (method == 0 && csize != usize)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s' is stored, but its sizes differ (%"
          G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT " bytes)", z->path,
          name, csize, usize);
    if (size < 30 || lho > size - 30 || rd (b + lho, 4) != 0x04034b50)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s': no local header at offset %" G_GUINT64_FORMAT,
          z->path, name, lho);
    if (rd (b + lho + 8, 2) != method)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s': method %" G_GUINT64_FORMAT " in its local "
          "header, %" G_GUINT64_FORMAT " in the central directory", z->path,
          name, rd (b + lho + 8, 2), method);
    uint64_t data = lho + 30 + rd (b + lho + 26, 2) + rd (b + lho + 28, 2);
    if (data > size || csize > size - data)
      return cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': zip entry '%s': %" G_GUINT64_FORMAT " bytes at offset %"
          G_GUINT64_FORMAT " go beyond the file (%" G_GUINT64_FORMAT
          " bytes; truncated?)", z->path, name, csize, data, size);
    ZipEntry e = { name, b + data, usize };
    if (method == 8) {
      int code = zip_inflate (z, name, b + data, csize, usize,
          (uint32_t) rd (p_entry + 16, 4), &e.data, err);
      if (code != CLE_OK)
        return code;
    }
    g_array_append_val (z->entries, e);
  }
  return CLE_OK;
}

static const ZipEntry *
zip_find (const Zip *z, const char *name)
{
  for (guint i = 0; i < z->entries->len; i++) {
    const ZipEntry *e = &g_array_index (z->entries, ZipEntry, i);
    if (strcmp (e->name, name) == 0)
      return e;
  }
  return NULL;
}

/* ---------------------------------------------------------- the pickle -- */

typedef enum {
  PK_MARK, PK_NONE, PK_BOOL, PK_INT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
  PK_GLOBAL, PK_STORAGE, PK_TENSOR,
} PkKind;

typedef enum {
  GL_ORDERED_DICT, GL_REBUILD_TENSOR_V2, GL_REBUILD_PARAMETER, GL_STORAGE,
} PkGlobal;

/* The only globals a state dict needs. */
static const struct {
  const char *module, *name;
  PkGlobal global;
  ClipDtype dtype;
} globals[] = {
  { "collections", "OrderedDict", GL_ORDERED_DICT, 0 },
  { "torch._utils", "_rebuild_tensor_v2", GL_REBUILD_TENSOR_V2, 0 },
  { "torch._utils", "_rebuild_parameter", GL_REBUILD_PARAMETER, 0 },
  { "torch", "FloatStorage", GL_STORAGE, CLE_DTYPE_F32 },
  { "torch", "HalfStorage", GL_STORAGE, CLE_DTYPE_F16 },
  { "torch", "BFloat16Storage", GL_STORAGE, CLE_DTYPE_BF16 },
  { "torch", "DoubleStorage", GL_STORAGE, CLE_DTYPE_F64 },
  { "torch", "LongStorage", GL_STORAGE, CLE_DTYPE_I64 },
  { "torch", "IntStorage", GL_STORAGE, CLE_DTYPE_I32 },
  { "torch", "ShortStorage", GL_STORAGE, CLE_DTYPE_I16 },
  { "torch", "CharStorage", GL_STORAGE, CLE_DTYPE_I8 },
  { "torch", "ByteStorage", GL_STORAGE, CLE_DTYPE_U8 },
  { "torch", "BoolStorage", GL_STORAGE, CLE_DTYPE_BOOL },
};

typedef struct PkObj PkObj;
struct PkObj {
  PkKind kind;
  int64_t i;                    /* BOOL, INT; GLOBAL: index in globals[] */
  char *s;                      /* STR (NUL-terminated, valid UTF-8) */
  GPtrArray *items;             /* TUPLE, LIST; DICT: key, value, ... */
  ClipTensor t;                 /* STORAGE (data, n_bytes, dtype,
                                 * n_elements), TENSOR */
};

typedef struct {
  const Zip *zip;
  const char *root;             /* the archive's folder, "x/" */
  const uint8_t *p, *end, *start;
  GPtrArray *objects;           /* every PkObj, freed at the end */
  GPtrArray *stack;
  GHashTable *memo;             /* index -> PkObj */
  ClipError *err;
} Pickle;

static void
obj_free (PkObj *o)
{
  if (o->items)
    g_ptr_array_free (o->items, TRUE);
  g_free (o->s);
  g_free (o);
}

static PkObj *
obj_new (Pickle *pk, PkKind kind)
{
  PkObj *o = g_new0 (PkObj, 1);
  o->kind = kind;
  if (kind == PK_TUPLE || kind == PK_LIST || kind == PK_DICT)
    o->items = g_ptr_array_new ();
  g_ptr_array_add (pk->objects, o);
  return o;
}

static int
pk_fail (Pickle *pk, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static int
pk_fail (Pickle *pk, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  int code = cle_error_set (pk->err, CLE_ERROR_FORMAT,
      "'%s': pickle at byte %td: %s", pk->zip->path,
      pk->p - pk->start, msg);
  g_free (msg);
  return code;
}

#define NOT_A_STATE_DICT "is not a tensor state dict (only what torch.save " \
  "writes for a dict of tensors is read)"

/* The top object, popped; NULL when the stack is empty or a MARK is on
 * top (only pop_to_mark takes marks off). */
static PkObj *
pop (Pickle *pk)
{
  if (pk->stack->len == 0
      || ((PkObj *) pk->stack->pdata[pk->stack->len - 1])->kind == PK_MARK)
    return NULL;
  return g_ptr_array_remove_index (pk->stack, pk->stack->len - 1);
}

static PkObj *
top (Pickle *pk)
{
  return pk->stack->len ? pk->stack->pdata[pk->stack->len - 1] : NULL;
}

/* Index of the topmost mark, or -1. */
static int
find_mark (Pickle *pk)
{
  for (int i = (int) pk->stack->len - 1; i >= 0; i--)
    if (((PkObj *) pk->stack->pdata[i])->kind == PK_MARK)
      return i;
  return -1;
}

/* The items above the topmost mark, into a new tuple (or appended to
 * into); the mark is popped. */
static int
pop_to_mark (Pickle *pk, PkObj *into)
{
  int m = find_mark (pk);
  if (m < 0)
    return pk_fail (pk, "no MARK on the stack");
  for (guint i = m + 1; i < pk->stack->len; i++)
    g_ptr_array_add (into->items, pk->stack->pdata[i]);
  g_ptr_array_set_size (pk->stack, m);
  return CLE_OK;
}

static int
need (Pickle *pk, uint64_t n)
{
  if ((uint64_t) (pk->end - pk->p) < n)
    return pk_fail (pk, "truncated (%" G_GUINT64_FORMAT " more bytes needed)",
        n);
  return CLE_OK;
}

static int
push_string (Pickle *pk, uint64_t len)
{
  if (need (pk, len))
    return CLE_ERROR_FORMAT;
  if (!g_utf8_validate ((const char *) pk->p, len, NULL))
    return pk_fail (pk, "string is not valid UTF-8");
  PkObj *o = obj_new (pk, PK_STR);
  o->s = g_strndup ((const char *) pk->p, len);
  if (strlen (o->s) != len)
    return pk_fail (pk, "string contains a NUL");
  pk->p += len;
  g_ptr_array_add (pk->stack, o);
  return CLE_OK;
}

static int
push_global (Pickle *pk, int opcode, const char *module, const char *name)
{
  for (size_t i = 0; i < G_N_ELEMENTS (globals); i++)
    if (strcmp (globals[i].module, module) == 0
        && strcmp (globals[i].name, name) == 0) {
      PkObj *o = obj_new (pk, PK_GLOBAL);
      o->i = i;
      g_ptr_array_add (pk->stack, o);
      return CLE_OK;
    }
  return pk_fail (pk, "opcode 0x%02x GLOBAL '%.64s %.64s' " NOT_A_STATE_DICT,
      opcode, module, name);
}

static int
is_int (const PkObj *o)
{
  return o && (o->kind == PK_INT || o->kind == PK_BOOL);
}

/* persistent id ('storage', <storage type>, key, location, numel) */
static int
persistent_load (Pickle *pk, PkObj *pid)
{
  GPtrArray *a = pid && pid->kind == PK_TUPLE ? pid->items : NULL;
  PkObj *tag = a && a->len == 5 ? a->pdata[0] : NULL;
  PkObj *type = tag ? a->pdata[1] : NULL, *key = tag ? a->pdata[2] : NULL;
  PkObj *numel = tag ? a->pdata[4] : NULL;
  if (!tag || tag->kind != PK_STR || strcmp (tag->s, "storage") != 0
      || type->kind != PK_GLOBAL || globals[type->i].global != GL_STORAGE
      || key->kind != PK_STR || !is_int (numel) || numel->i < 0)
    return pk_fail (pk, "persistent id is not ('storage', <torch storage "
        "type>, key, location, numel)");
  char *entry_name = g_strconcat (pk->root, "data/", key->s, NULL);
  const ZipEntry *e = zip_find (pk->zip, entry_name);
  g_free (entry_name);
  if (!e)
    return pk_fail (pk, "storage '%.64s': no entry '%sdata/%.64s' in the "
        "archive", key->s, pk->root, key->s);
  ClipDtype dtype = globals[type->i].dtype;
  size_t es = cle_dtype_size (dtype);
  if ((uint64_t) numel->i > e->size / es)
    return pk_fail (pk, "storage '%.64s': %" G_GINT64_FORMAT " elements of %zu "
        "bytes, but its entry has %" G_GUINT64_FORMAT " bytes (truncated?)",
        key->s, numel->i, es, e->size);
  PkObj *o = obj_new (pk, PK_STORAGE);
  o->t.dtype = dtype;
  o->t.data = e->data;
  o->t.n_elements = numel->i;
  o->t.n_bytes = numel->i * es;
  g_ptr_array_add (pk->stack, o);
  return CLE_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks
 * [, metadata]) for a contiguous tensor */
static int
rebuild_tensor (Pickle *pk, GPtrArray *a)
{
  if (a->len < 4 || ((PkObj *) a->pdata[0])->kind != PK_STORAGE
      || !is_int (a->pdata[1]) || ((PkObj *) a->pdata[2])->kind != PK_TUPLE
      || ((PkObj *) a->pdata[3])->kind != PK_TUPLE)
    return pk_fail (pk, "_rebuild_tensor_v2 arguments are not (storage, "
        "offset, size, stride, ...)");
  const PkObj *st = a->pdata[0];
  int64_t offset = ((PkObj *) a->pdata[1])->i;
  GPtrArray *size = ((PkObj *) a->pdata[2])->items;
  GPtrArray *stride = ((PkObj *) a->pdata[3])->items;
  if (size->len > CLE_SAFETENSORS_MAX_DIMS || stride->len != size->len)
    return pk_fail (pk, "tensor with %u dimensions and %u strides (at most "
        "%d)", size->len, stride->len, CLE_SAFETENSORS_MAX_DIMS);
  PkObj *o = obj_new (pk, PK_TENSOR);
  o->t.dtype = st->t.dtype;
  o->t.n_dim = size->len;
  uint64_t n = 1;
  for (guint i = 0; i < size->len; i++) {
    const PkObj *d = size->pdata[i];
    if (!is_int (d) || d->i < 0 || !is_int (stride->pdata[i]))
      return pk_fail (pk, "tensor size %u is not a non-negative integer", i);
    o->t.shape[i] = d->i;
    if (d->i && n > (uint64_t) G_MAXINT64 / d->i)
      return pk_fail (pk, "tensor size overflows");
    n *= d->i;
  }
  /* row-major: stride[i] = product of the sizes after i (size-1 dims and
   * empty tensors may have any stride) */
  int64_t want = 1;
  for (int i = (int) size->len - 1; n && i >= 0; i--) {
    int64_t s = ((PkObj *) stride->pdata[i])->i;
    if (o->t.shape[i] != 1 && s != want)
      return pk_fail (pk, "tensor is not contiguous (stride %d is %"
          G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT ")", i, s, want);
    want *= o->t.shape[i];
  }
  if (offset < 0 || offset > st->t.n_elements
      || n > (uint64_t) (st->t.n_elements - offset))
    return pk_fail (pk, "tensor of %" G_GUINT64_FORMAT " elements at offset %"
        G_GINT64_FORMAT " is outside its storage of %" G_GINT64_FORMAT,
        n, offset, st->t.n_elements);
  size_t es = cle_dtype_size (st->t.dtype);
  o->t.n_elements = n;
  o->t.n_bytes = n * es;
  o->t.data = (const uint8_t *) st->t.data + offset * es;
  g_ptr_array_add (pk->stack, o);
  return CLE_OK;
}

static int
reduce (Pickle *pk)
{
  PkObj *args = pop (pk), *fn = pop (pk);
  if (!args || !fn || args->kind != PK_TUPLE || fn->kind != PK_GLOBAL)
    return pk_fail (pk, "REDUCE without a global and an argument tuple");
  switch (globals[fn->i].global) {
    case GL_ORDERED_DICT:
      if (args->items->len)
        return pk_fail (pk, "OrderedDict called with arguments");
      g_ptr_array_add (pk->stack, obj_new (pk, PK_DICT));
      return CLE_OK;
    case GL_REBUILD_TENSOR_V2:
      return rebuild_tensor (pk, args->items);
    case GL_REBUILD_PARAMETER:
      if (args->items->len < 1
          || ((PkObj *) args->items->pdata[0])->kind != PK_TENSOR)
        return pk_fail (pk, "_rebuild_parameter without a tensor");
      g_ptr_array_add (pk->stack, args->items->pdata[0]);
      return CLE_OK;
    default:
      return pk_fail (pk, "a storage type is called " NOT_A_STATE_DICT);
  }
}

static int
set_items (Pickle *pk, int n_pairs_from_mark)
{
  PkObj *tmp = obj_new (pk, PK_TUPLE);
  if (n_pairs_from_mark) {
    if (pop_to_mark (pk, tmp))
      return CLE_ERROR_FORMAT;
  } else {
    PkObj *v = pop (pk), *k = pop (pk);
    if (!v || !k)
      return pk_fail (pk, "SETITEM on a short stack");
    g_ptr_array_add (tmp->items, k);
    g_ptr_array_add (tmp->items, v);
  }
  PkObj *d = top (pk);
  if (!d || d->kind != PK_DICT || tmp->items->len % 2)
    return pk_fail (pk, "SETITEM(S) without a dict or with an odd count");
  for (guint i = 0; i < tmp->items->len; i++)
    g_ptr_array_add (d->items, tmp->items->pdata[i]);
  return CLE_OK;
}

/* Runs the pickle to STOP; *result is the object it returns. */
static int
run (Pickle *pk, PkObj **result)
{
  static PkObj mark = { .kind = PK_MARK };
  while (pk->p < pk->end) {
    const int op = *pk->p++;
    uint64_t n;
    int code = CLE_OK;
    PkObj *o, *a, *b;
    switch (op) {
      case 0x80:               /* PROTO */
        if (need (pk, 1))
          return CLE_ERROR_FORMAT;
        if (*pk->p++ > 5)
          return pk_fail (pk, "pickle protocol %d", pk->p[-1]);
        break;
      case 0x95:               /* FRAME */
        if (need (pk, 8))
          return CLE_ERROR_FORMAT;
        pk->p += 8;
        break;
      case 'c':{               /* GLOBAL module\nname\n */
        const uint8_t *nl1 = memchr (pk->p, '\n', pk->end - pk->p);
        const uint8_t *nl2 = nl1 ? memchr (nl1 + 1, '\n',
            pk->end - nl1 - 1) : NULL;
        if (!nl2)
          return pk_fail (pk, "truncated GLOBAL");
        char *module = g_strndup ((const char *) pk->p, nl1 - pk->p);
        char *name = g_strndup ((const char *) nl1 + 1, nl2 - nl1 - 1);
        pk->p = nl2 + 1;
        code = push_global (pk, op, module, name);
        g_free (module);
        g_free (name);
        break;
      }
      case 0x93:               /* STACK_GLOBAL */
        b = pop (pk);
        a = pop (pk);
        if (!a || !b || a->kind != PK_STR || b->kind != PK_STR)
          return pk_fail (pk, "STACK_GLOBAL without two strings");
        code = push_global (pk, op, a->s, b->s);
        break;
      case 'q':                /* BINPUT */
      case 'r':                /* LONG_BINPUT */
        if (need (pk, op == 'q' ? 1 : 4))
          return CLE_ERROR_FORMAT;
        n = rd (pk->p, op == 'q' ? 1 : 4);
        pk->p += op == 'q' ? 1 : 4;
        if (!top (pk) || top (pk)->kind == PK_MARK)
          return pk_fail (pk, "BINPUT of nothing");
        g_hash_table_insert (pk->memo, GSIZE_TO_POINTER (n + 1), top (pk));
        break;
      case 0x94:               /* MEMOIZE */
        if (!top (pk) || top (pk)->kind == PK_MARK)
          return pk_fail (pk, "MEMOIZE of nothing");
        n = g_hash_table_size (pk->memo);
        g_hash_table_insert (pk->memo, GSIZE_TO_POINTER (n + 1), top (pk));
        break;
      case 'h':                /* BINGET */
      case 'j':                /* LONG_BINGET */
        if (need (pk, op == 'h' ? 1 : 4))
          return CLE_ERROR_FORMAT;
        n = rd (pk->p, op == 'h' ? 1 : 4);
        pk->p += op == 'h' ? 1 : 4;
        o = g_hash_table_lookup (pk->memo, GSIZE_TO_POINTER (n + 1));
        if (!o)
          return pk_fail (pk, "BINGET of unset memo %" G_GUINT64_FORMAT, n);
        g_ptr_array_add (pk->stack, o);
        break;
      case '(':                /* MARK */
        g_ptr_array_add (pk->stack, &mark);
        break;
      case ')':                /* EMPTY_TUPLE */
        g_ptr_array_add (pk->stack, obj_new (pk, PK_TUPLE));
        break;
      case ']':                /* EMPTY_LIST */
        g_ptr_array_add (pk->stack, obj_new (pk, PK_LIST));
        break;
      case '}':                /* EMPTY_DICT */
        g_ptr_array_add (pk->stack, obj_new (pk, PK_DICT));
        break;
      case 't':                /* TUPLE */
      case 'l':                /* LIST */
        o = obj_new (pk, op == 't' ? PK_TUPLE : PK_LIST);
        if (pop_to_mark (pk, o))
          return CLE_ERROR_FORMAT;
        g_ptr_array_add (pk->stack, o);
        break;
      case 0x85:               /* TUPLE1 */
      case 0x86:               /* TUPLE2 */
      case 0x87:{              /* TUPLE3 */
        guint k = op - 0x84;
        if (pk->stack->len < k)
          return pk_fail (pk, "TUPLE%u on a short stack", k);
        o = obj_new (pk, PK_TUPLE);
        for (guint i = pk->stack->len - k; i < pk->stack->len; i++) {
          if (((PkObj *) pk->stack->pdata[i])->kind == PK_MARK)
            return pk_fail (pk, "TUPLE%u over a MARK", k);
          g_ptr_array_add (o->items, pk->stack->pdata[i]);
        }
        g_ptr_array_set_size (pk->stack, pk->stack->len - k);
        g_ptr_array_add (pk->stack, o);
        break;
      }
      case 'a':                /* APPEND */
      case 'e':{               /* APPENDS */
        PkObj *tmp = obj_new (pk, PK_TUPLE);
        if (op == 'e') {
          if (pop_to_mark (pk, tmp))
            return CLE_ERROR_FORMAT;
        } else if ((a = pop (pk))) {
          g_ptr_array_add (tmp->items, a);
        } else {
          return pk_fail (pk, "APPEND of nothing");
        }
        o = top (pk);
        if (!o || o->kind != PK_LIST)
          return pk_fail (pk, "APPEND(S) without a list");
        for (guint i = 0; i < tmp->items->len; i++)
          g_ptr_array_add (o->items, tmp->items->pdata[i]);
        break;
      }
      case 's':                /* SETITEM */
      case 'u':                /* SETITEMS */
        code = set_items (pk, op == 'u');
        break;
      case 'X':                /* BINUNICODE */
      case 0x8c:               /* SHORT_BINUNICODE */
      case 0x8d:{              /* BINUNICODE8 */
        int w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
        if (need (pk, w))
          return CLE_ERROR_FORMAT;
        n = rd (pk->p, w);
        pk->p += w;
        code = push_string (pk, n);
        break;
      }
      case 'J':                /* BININT */
      case 'K':                /* BININT1 */
      case 'M':                /* BININT2 */
      case 0x8a:{              /* LONG1 */
        int w = op == 'J' ? 4 : op == 'K' ? 1 : op == 'M' ? 2 : -1;
        if (w < 0) {
          if (need (pk, 1))
            return CLE_ERROR_FORMAT;
          w = *pk->p++;
          if (w > 8)
            return pk_fail (pk, "LONG1 of %d bytes", w);
        }
        if (need (pk, w))
          return CLE_ERROR_FORMAT;
        o = obj_new (pk, PK_INT);
        uint64_t v = rd (pk->p, w);
        /* BININT and LONG1 are signed, BININT1/2 unsigned */
        if ((op == 'J' || op == 0x8a) && w > 0 && w < 8
            && (v >> (8 * w - 1)) & 1)
          v |= ~(uint64_t) 0 << (8 * w);
        o->i = (int64_t) v;
        pk->p += w;
        g_ptr_array_add (pk->stack, o);
        break;
      }
      case 'N':                /* NONE */
        g_ptr_array_add (pk->stack, obj_new (pk, PK_NONE));
        break;
      case 0x88:               /* NEWTRUE */
      case 0x89:               /* NEWFALSE */
        o = obj_new (pk, PK_BOOL);
        o->i = op == 0x88;
        g_ptr_array_add (pk->stack, o);
        break;
      case 'Q':                /* BINPERSID */
        code = persistent_load (pk, pop (pk));
        break;
      case 'R':                /* REDUCE */
        code = reduce (pk);
        break;
      case 'b':                /* BUILD: an OrderedDict's _metadata */
        a = pop (pk);
        o = top (pk);
        if (!a || !o || o->kind != PK_DICT)
          return pk_fail (pk, "BUILD of something else than a dict "
              NOT_A_STATE_DICT);
        break;
      case '.':                /* STOP */
        *result = pop (pk);
        if (!*result)
          return pk_fail (pk, "STOP with an empty stack");
        return CLE_OK;
      default:
        pk->p--;
        return pk_fail (pk, "opcode 0x%02x %s", op, NOT_A_STATE_DICT);
    }
    if (code)
      return code;
  }
  return pk_fail (pk, "no STOP opcode (truncated?)");
}

static int
load_archive (ClipSafetensors *st, Zip *z, ClipError *err)
{
  /* <root>/data.pkl, root being one folder name */
  const ZipEntry *pkl = NULL;
  for (guint i = 0; i < z->entries->len; i++) {
    const ZipEntry *e = &g_array_index (z->entries, ZipEntry, i);
    const char *slash = strchr (e->name, '/');
    if (slash && strcmp (slash, "/data.pkl") == 0 && slash > e->name) {
      if (pkl)
        return cle_error_set (err, CLE_ERROR_FORMAT,
            "'%s': two pickles, '%s' and '%s'", z->path, pkl->name, e->name);
      pkl = e;
    }
  }
  if (!pkl)
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': zip archive without '<name>/data.pkl': not written by "
        "torch.save", z->path);
  char *root = g_strndup (pkl->name, strlen (pkl->name) - strlen ("data.pkl"));
  char *bo_name = g_strconcat (root, "byteorder", NULL);
  const ZipEntry *bo = zip_find (z, bo_name);
  g_free (bo_name);
  if (bo && !(bo->size == 6 && memcmp (bo->data, "little", 6) == 0)) {
    g_free (root);
    return cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': byteorder is '%.*s', only 'little' is supported", z->path,
        (int) MIN (bo->size, 16), (const char *) bo->data);
  }

  Pickle pk = { z, root, pkl->data, pkl->data + pkl->size, pkl->data,
    g_ptr_array_new_with_free_func ((GDestroyNotify) obj_free),
    g_ptr_array_new (), g_hash_table_new (NULL, NULL), err
  };
  PkObj *result = NULL;
  int code = run (&pk, &result);
  if (code == CLE_OK && result->kind != PK_DICT)
    code = cle_error_set (err, CLE_ERROR_FORMAT,
        "'%s': the pickle holds a %s, not a dict of tensors", z->path,
        result->kind == PK_TENSOR ? "tensor" : "non-dict object");
  for (guint i = 0; code == CLE_OK && i + 1 < result->items->len; i += 2) {
    const PkObj *k = result->items->pdata[i], *v = result->items->pdata[i + 1];
    if (k->kind != PK_STR)
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': a key of the dict is not a string", z->path);
    else if (v->kind != PK_TENSOR)
      code = cle_error_set (err, CLE_ERROR_FORMAT,
          "'%s': '%s' is not a tensor", z->path, k->s);
    else {
      ClipTensor *t = cle_safetensors_add (st, k->s, z->path);
      const char *name = t->name, *path = t->path;
      *t = v->t;
      t->name = name;
      t->path = path;
    }
  }
  g_ptr_array_free (pk.objects, TRUE);
  g_ptr_array_free (pk.stack, TRUE);
  g_hash_table_destroy (pk.memo);
  g_free (root);
  return code;
}

int
cle_torch_zip_parse (ClipSafetensors **out, const uint8_t *data, size_t size,
    const char *name, ClipError *err)
{
  ClipSafetensors *st = cle_safetensors_new ();
  Zip z = { data, size, name, g_array_new (FALSE, FALSE, sizeof (ZipEntry)),
    g_string_chunk_new (1024), g_ptr_array_new_with_free_func (g_free)
  };
  int code = zip_read (&z, err);
  if (code == CLE_OK)
    code = load_archive (st, &z, err);
  /* the tensors of deflated entries live in these */
  while (code == CLE_OK && z.buffers->len)
    cle_safetensors_keep_buffer (st, g_ptr_array_steal_index_fast (z.buffers,
            z.buffers->len - 1));
  g_ptr_array_free (z.buffers, TRUE);
  g_array_free (z.entries, TRUE);
  g_string_chunk_free (z.names);
  if (code != CLE_OK) {
    cle_safetensors_free (st);
    st = NULL;
  }
  *out = st;
  return code;
}

int
cle_torch_zip_open (ClipSafetensors **out, const char *path, ClipError *err)
{
  *out = NULL;
  GError *gerr = NULL;
  GMappedFile *file = g_mapped_file_new (path, FALSE, &gerr);
  if (!file) {
    int code = cle_error_set (err, CLE_ERROR_IO, "'%s': %s", path,
        gerr->message);
    g_error_free (gerr);
    return code;
  }
  int code = cle_torch_zip_parse (out, (const uint8_t *)
      g_mapped_file_get_contents (file), g_mapped_file_get_length (file),
      path, err);
  if (code == CLE_OK)
    cle_safetensors_keep_mapping (*out, file);
  else
    g_mapped_file_unref (file);
  return code;
}
