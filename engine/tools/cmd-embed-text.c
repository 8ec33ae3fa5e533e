/* cmd-embed-text.c - clip-tool embed-text: text embeddings. */
#include "tool-common.h"

/* Lines of embed-text --file per engine call: the engine sorts a call's
 * prompts so that those that begin alike (one template's) share their
 * first rows; a few thousand gather most of that while memory stays
 * bounded (16 MB of 512-float embeddings). */
#define EMBED_TEXT_WINDOW 8192

/* Encodes n texts in one call and prints one line per text. */
static int
embed_text_batch (Tool * t, char **texts, int n, float *embeds, GString * s)
{
  int proj = t->info.projection_dim, status, i;
  ClipError err = { 0 };

  status = tool_encode_texts (t, (const char *const *) texts, n, embeds,
      (size_t) n * proj, &err);
  if (status < 0)
    return tool_fail_clip (&err, status, NULL);
  for (i = 0; i < n; i++)
    json_emit_embedding (s, "text", texts[i], -1, embeds + (size_t) i * proj,
        proj);
  return EXIT_OK;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *file = NULL;
  gint batch = DEFAULT_BATCH_TEXTS;
  const GOptionEntry entries[] = {
    TOOL_FILE_ENTRY (file),
    TOOL_BATCH_ENTRY (batch, "Encodes N texts per forward pass (default "
        G_STRINGIFY (DEFAULT_BATCH_TEXTS) ")."),
    {NULL}
  };
  TextSource src = { 0 };
  GString *s = g_string_new (NULL);
  char **texts = NULL;
  float *embeds = NULL;
  const char *text;
  int code, r, n = 0, i;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 0, -1, argc, argv)) != EXIT_OK
      || (code = tool_check_batch (&t, batch)) != EXIT_OK
      || (code = text_source_open_args (&src, &t, file)) != EXIT_OK
      || (code = tool_open (&t, CLE_TOWER_TEXT, 0, batch)) != EXIT_OK)
    goto out;
  texts = g_new0 (char *, EMBED_TEXT_WINDOW + 1);
  embeds = g_new (float, (size_t) EMBED_TEXT_WINDOW * t.info.projection_dim);

  while ((r = text_source_next (&src, &text)) > 0) {
    texts[n++] = g_strdup (text);
    if (n == EMBED_TEXT_WINDOW) {
      code = embed_text_batch (&t, texts, n, embeds, s);
      for (i = 0; i < n; i++)
        g_clear_pointer (&texts[i], g_free);
      n = 0;
      if (code != EXIT_OK)
        goto out;
    }
  }
  /* The texts read before a bad line are still encoded and printed. */
  if (n > 0 && (code = embed_text_batch (&t, texts, n, embeds, s)) != EXIT_OK)
    goto out;
  code = tool_finish_stdout (r < 0 ? EXIT_RUNTIME : EXIT_OK);

out:
  if (texts)
    g_strfreev (texts);
  g_free (embeds);
  text_source_close (&src);
  g_string_free (s, TRUE);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_embed_text = {
  "embed-text", "MODEL [TEXT...]",
  "Prints the embedding of each text.",
  "Prints the text embedding (get_text_features, not normalized) of each "
      "TEXT and of each line of --file. Lines of --file are read and "
      "encoded in batches, so any number of prompts runs in bounded memory; "
      "an empty line is an empty prompt.",
  run
};
