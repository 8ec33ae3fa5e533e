/* tool-common.c - the options, model loading, error reporting and JSON
 * output that every clip-tool command shares (tool-common.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool-common.h"

ToolOptions tool_options = { 0, NULL, CLE_PRECISION_FP32, NULL, NULL };

static const GOptionEntry common_entries[] = {
  {"threads", 't', 0, G_OPTION_ARG_INT, &tool_options.threads,
        "Runs the engine on N OpenMP threads; 0, the default, leaves the "
        "number to OpenMP.", "N"},
  {"precision", 0, 0, G_OPTION_ARG_STRING, &tool_options.precision_name,
        "Computes the matrix products in fp32 (the default, as the "
        "reference), bf16 or int8 (faster, approximate).", "fp32|bf16|int8"},
  {"text-cache", 0, 0, G_OPTION_ARG_FILENAME, &tool_options.text_cache,
        "Keeps text embeddings in DIR, so that prompts seen before are not "
        "encoded again.", "DIR"},
  {"adapter", 0, 0, G_OPTION_ARG_FILENAME, &tool_options.adapter,
        "Applies the adapter in DIR at load, as AdapterHub's adapters "
        "(save_adapter) or PEFT (save_pretrained) wrote it: LoRA, IA3, DoRA, "
        "bottleneck adapters, prefix tuning.", "DIR"},
  {NULL}
};

const GOptionEntry *
tool_common_entries (void)
{
  return common_entries;
}

int
tool_check_common (const char *command)
{
  if (tool_options.threads < 0)
    return tool_fail_usage (command, "--threads must be >= 0, got %d",
        tool_options.threads);
  if (tool_options.precision_name
      && !cle_precision_from_string (tool_options.precision_name,
          &tool_options.precision))
    return tool_fail_usage (command, "--precision: expected fp32, bf16 or "
        "int8, got '%s'", tool_options.precision_name);
  return EXIT_OK;
}

void
tool_options_clear (void)
{
  g_clear_pointer (&tool_options.precision_name, g_free);
  g_clear_pointer (&tool_options.adapter, g_free);
  g_clear_pointer (&tool_options.text_cache, g_free);
}

const char *
tool_precision_name (void)
{
  return tool_options.precision_name ? tool_options.precision_name : "fp32";
}

static const struct
{
  const char *name;
  unsigned towers;
} tower_names[] = {
  {"both", CLE_TOWER_BOTH}, {"vision", CLE_TOWER_VISION},
  {"text", CLE_TOWER_TEXT},
};

gboolean
tool_parse_towers (const char *name, unsigned *towers)
{
  size_t i;

  for (i = 0; i < G_N_ELEMENTS (tower_names); i++)
    if (strcmp (name, tower_names[i].name) == 0) {
      *towers = tower_names[i].towers;
      return TRUE;
    }
  return FALSE;
}

const char *
tool_tower_name (unsigned towers)
{
  size_t i;

  for (i = 0; i < G_N_ELEMENTS (tower_names); i++)
    if (towers == tower_names[i].towers)
      return tower_names[i].name;
  return "both";
}

gchar *
tool_wrap (const char *text, int indent)
{
  gchar **words = g_strsplit (text, " ", -1);
  GString *s = g_string_new (NULL);
  int col = 0, i;

  for (i = 0; words[i]; i++) {
    int len = strlen (words[i]);

    if (!words[i][0])
      continue;
    if (col == 0) {
      g_string_append_printf (s, "%*s%s", indent, "", words[i]);
      col = indent + len;
    } else if (col + 1 + len > TOOL_HELP_WIDTH) {
      g_string_append_printf (s, "\n%*s%s", indent, "", words[i]);
      col = indent + len;
    } else {
      g_string_append_printf (s, " %s", words[i]);
      col += 1 + len;
    }
  }
  g_strfreev (words);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------- errors -- */

static void
vreport (const char *fmt, va_list ap)
{
  fflush (stdout);
  fputs ("clip-tool: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

int
tool_fail (int code, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vreport (fmt, ap);
  va_end (ap);
  return code;
}

int
tool_fail_clip (const ClipError * err, int status, const char *subject)
{
  const char *msg = err->message[0] ? err->message :
      cle_status_string (status);

  if (subject && !strstr (msg, subject))
    return tool_fail (EXIT_RUNTIME, "%s: %s", subject, msg);
  return tool_fail (EXIT_RUNTIME, "%s", msg);
}

int
tool_fail_usage (const char *command, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vreport (fmt, ap);
  va_end (ap);
  fprintf (stderr, "Try 'clip-tool %s%s--help'.\n", command ? command : "",
      command ? " " : "");
  return EXIT_USAGE;
}

int
tool_finish_stdout (int code)
{
  if (fflush (stdout) != 0 || ferror (stdout)) {
    int e = errno;
    return tool_fail (EXIT_RUNTIME, "writing to stdout: %s", g_strerror (e));
  }
  return code;
}

/* ------------------------------------------------------------ parsing -- */

/* The entry of entries that arg names ("--name", "--name=VALUE" or "-c"),
 * or NULL. */
static const GOptionEntry *
find_entry (const GOptionEntry * entries, const char *arg)
{
  const GOptionEntry *e;

  for (e = entries; e && e->long_name; e++) {
    size_t len = strlen (e->long_name);

    if (!e->long_name[0])       /* G_OPTION_REMAINING */
      continue;
    if (arg[1] == '-' && strncmp (arg + 2, e->long_name, len) == 0
        && (arg[2 + len] == '\0' || arg[2 + len] == '='))
      return e;
    if (arg[1] == e->short_name && arg[1] && arg[2] == '\0')
      return e;
  }
  return NULL;
}

/* The first argument before "--" that looks like an option but is none of
 * the command's (e.g. the text "-foo"), or NULL. */
static const char *
find_non_option (char **argv, const GOptionEntry * entries)
{
  static const char *const help[] = { "-h", "-?", "--help", "--help-all" };
  int i;

  for (i = 1; argv[i] && strcmp (argv[i], "--") != 0; i++) {
    const char *a = argv[i];
    const GOptionEntry *e;
    size_t j;
    gboolean is_help = FALSE;

    if (a[0] != '-' || a[1] == '\0')
      continue;
    for (j = 0; j < G_N_ELEMENTS (help); j++)
      is_help |= strcmp (a, help[j]) == 0;
    if (is_help)
      continue;
    e = find_entry (entries, a);
    if (!e)
      e = find_entry (common_entries, a);
    if (!e)
      return a;
    /* "--name VALUE" or "-c VALUE": VALUE may begin with '-' */
    if (e->arg != G_OPTION_ARG_NONE && !strchr (a, '=') && argv[i + 1])
      i++;
  }
  return NULL;
}

int
tool_parse (Tool * t, const ToolCommand * cmd, const GOptionEntry * entries,
    int min_args, int max_args, int argc, char **argv)
{
  const GOptionEntry remaining[] = {
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &t->rest, NULL,
        NULL},
    {NULL}
  };
  GError *gerr = NULL;
  char **argv_copy;
  gchar *text;
  int code;

  memset (t, 0, sizeof *t);
  t->cmd = cmd;
  t->entries = entries;
  t->octx = g_option_context_new (cmd->params);
  text = tool_wrap (cmd->description, 0);
  g_option_context_set_summary (t->octx, text);
  g_free (text);
  text = tool_wrap (TOOL_DASH_DASH_NOTE, 0);
  g_option_context_set_description (t->octx, text);
  g_free (text);
  if (entries)
    g_option_context_add_main_entries (t->octx, entries, NULL);
  g_option_context_add_main_entries (t->octx, common_entries, NULL);
  g_option_context_add_main_entries (t->octx, remaining, NULL);

  /* GOption removes what it parses from argv; the copy keeps the original
   * for the hint below. */
  argv_copy = g_memdup2 (argv, sizeof (char *) * (argc + 1));
  if (!g_option_context_parse (t->octx, &argc, &argv, &gerr)) {
    const char *arg = find_non_option (argv_copy, entries);

    if (arg)
      code = tool_fail_usage (cmd->name, "%s\nclip-tool: '%s' is not an "
          "option of %s: use '--' before arguments that begin with '-', "
          "e.g. clip-tool %s MODEL -- %s", gerr->message, arg, cmd->name,
          cmd->name, arg);
    else
      code = tool_fail_usage (cmd->name, "%s", gerr->message);
    g_error_free (gerr);
    g_free (argv_copy);
    return code;
  }
  g_free (argv_copy);
  if ((code = tool_check_common (cmd->name)) != EXIT_OK)
    return code;

  if (!t->rest || !t->rest[0])
    return tool_fail_usage (cmd->name, "missing MODEL directory");
  t->model_dir = t->rest[0];
  t->args = t->rest + 1;
  t->n_args = g_strv_length (t->args);
  if (t->n_args < min_args || (max_args >= 0 && t->n_args > max_args))
    return tool_fail_usage (cmd->name, "%s: expected %s",
        t->n_args < min_args ? "too few arguments" : "too many arguments",
        cmd->params);
  return EXIT_OK;
}

/* ------------------------------------------------------ model, context -- */

int
tool_load_model (Tool * t, unsigned towers)
{
  ClipModelParams mp;
  ClipError err = { 0 }, ignored = { 0 };
  int status;

  cle_model_params_init (&mp);
  mp.towers = towers ? towers : CLE_TOWER_BOTH;
  mp.precision = tool_options.precision;
  mp.adapter_dir = tool_options.adapter;
  status = cle_model_load (&t->model, t->model_dir, &mp, &err);
  /* An adapter's error is not hidden by loading one tower only: it is
   * reported when the model loads without it. */
  gboolean adapter_failed = FALSE;
  if (status < 0 && !towers && mp.adapter_dir) {
    ClipModelParams plain = mp;
    ClipModel *m = NULL;
    plain.adapter_dir = NULL;
    adapter_failed = cle_model_load (&m, t->model_dir, &plain, &ignored)
        == CLE_OK;
    cle_model_free (m);
  }
  /* A CLIPVisionModelWithProjection or CLIPTextModelWithProjection
   * checkpoint loads with its one tower only. */
  if (status < 0 && !towers && !adapter_failed) {
    mp.towers = CLE_TOWER_VISION;
    if (cle_model_load (&t->model, t->model_dir, &mp, &ignored) < 0) {
      mp.towers = CLE_TOWER_TEXT;
      if (cle_model_load (&t->model, t->model_dir, &mp, &ignored) >= 0)
        status = CLE_OK;
    } else {
      status = CLE_OK;
    }
  }
  if (status < 0) {
    t->model = NULL;
    return tool_fail_clip (&err, status, t->model_dir);
  }
  cle_model_get_info (t->model, &t->info);
  return EXIT_OK;
}

int
tool_new_context (Tool * t, int batch_images, int batch_texts)
{
  ClipContextParams cp;
  ClipError err = { 0 };
  int status;

  cle_context_params_init (&cp);
  cp.n_threads = tool_options.threads;
  if (batch_images > 0)
    cp.max_batch_images = batch_images;
  if (batch_texts > 0)
    cp.max_batch_texts = batch_texts;
  status = cle_context_new (&t->ctx, t->model, &cp, &err);
  if (status < 0) {
    t->ctx = NULL;
    return tool_fail_clip (&err, status, NULL);
  }
  return EXIT_OK;
}

int
tool_open (Tool * t, unsigned towers, int batch_images, int batch_texts)
{
  int code = tool_load_model (t, towers);

  return code != EXIT_OK ? code : tool_new_context (t, batch_images,
      batch_texts);
}

int
tool_check_batch (const Tool * t, int batch)
{
  if (batch < 1)
    return tool_fail_usage (t->cmd->name, "--batch must be >= 1, got %d",
        batch);
  return EXIT_OK;
}

/* Frees the strings GOption stored in the variables of entries. */
static void
free_option_values (const GOptionEntry * entries)
{
  const GOptionEntry *e;

  for (e = entries; e && e->long_name; e++) {
    switch (e->arg) {
      case G_OPTION_ARG_STRING:
      case G_OPTION_ARG_FILENAME:
        g_clear_pointer ((gchar **) e->arg_data, g_free);
        break;
      case G_OPTION_ARG_STRING_ARRAY:
      case G_OPTION_ARG_FILENAME_ARRAY:
        g_clear_pointer ((gchar ***) e->arg_data, g_strfreev);
        break;
      default:
        break;
    }
  }
}

void
tool_close (Tool * t)
{
  cle_text_cache_free (t->text_cache);
  cle_context_free (t->ctx);
  cle_model_free (t->model);
  if (t->octx)
    g_option_context_free (t->octx);
  free_option_values (t->entries);
  g_strfreev (t->rest);
  memset (t, 0, sizeof *t);
}

int
tool_encode_texts (Tool * t, const char *const *texts, int n, float *embeds,
    size_t n_embeds, ClipError * err)
{
  if (tool_options.text_cache && !t->text_cache) {
    int status = cle_text_cache_open (&t->text_cache, t->model,
        tool_options.text_cache, err);
    if (status < 0)
      return status;
  }
  return cle_encode_texts_cached (t->ctx, t->text_cache, texts, n, embeds,
      n_embeds, NULL, err);
}

/* --------------------------------------------------------------- json -- */

void
json_string (GString * s, const char *str)
{
  /* each character of escaped is written as '\\' and that of escapes */
  static const char escaped[] = "\"\\\b\f\n\r\t", escapes[] = "\"\\bfnrt";
  gchar *valid = NULL;
  const unsigned char *p;

  if (!str) {
    g_string_append (s, "null");
    return;
  }
  if (!g_utf8_validate (str, -1, NULL))
    str = valid = g_utf8_make_valid (str, -1);
  g_string_append_c (s, '"');
  for (p = (const unsigned char *) str; *p; p++) {
    const char *esc = strchr (escaped, *p);

    if (esc)
      g_string_append_printf (s, "\\%c", escapes[esc - escaped]);
    else if (*p < 0x20)
      g_string_append_printf (s, "\\u%04x", *p);
    else
      g_string_append_c (s, *p);
  }
  g_string_append_c (s, '"');
  g_free (valid);
}

/* The shortest of %.6g .. %.9g that reads back (strtof) to the same float;
 * %.9g always does. */
void
json_float (GString * s, float v)
{
  char buf[32];
  int prec;

  if (!isfinite (v)) {
    g_string_append (s, "null");
    return;
  }
  for (prec = 6; prec < 9; prec++) {
    snprintf (buf, sizeof buf, "%.*g", prec, (double) v);
    if (strtof (buf, NULL) == v)
      break;
  }
  if (prec == 9)
    snprintf (buf, sizeof buf, "%.9g", (double) v);
  g_string_append (s, buf);
}

void
json_floats (GString * s, const float *v, size_t n)
{
  size_t i;

  g_string_append_c (s, '[');
  for (i = 0; i < n; i++) {
    if (i)
      g_string_append (s, ", ");
    json_float (s, v[i]);
  }
  g_string_append_c (s, ']');
}

void
json_ints (GString * s, const int32_t * v, size_t n)
{
  size_t i;

  g_string_append_c (s, '[');
  for (i = 0; i < n; i++)
    g_string_append_printf (s, i ? ", %" G_GINT32_FORMAT : "%" G_GINT32_FORMAT,
        v[i]);
  g_string_append_c (s, ']');
}

void
json_emit_line (GString * s)
{
  g_string_append (s, "}\n");
  fwrite (s->str, 1, s->len, stdout);
  g_string_truncate (s, 0);
}

void
json_emit_embedding (GString * s, const char *key, const char *name,
    long index, const float *embed, int n)
{
  g_string_append_printf (s, "{\"%s\": ", key);
  json_string (s, name);
  if (index >= 0)
    g_string_append_printf (s, ", \"index\": %ld", index);
  g_string_append (s, ", \"embedding\": ");
  json_floats (s, embed, n);
  json_emit_line (s);
}
