/* cmd-tokenize.c - clip-tool tokenize: the token ids of each text. */
#include "tool-common.h"

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *file = NULL;
  const GOptionEntry entries[] = {
    TOOL_FILE_ENTRY (file),
    {NULL}
  };
  TextSource src = { 0 };
  int32_t *ids = NULL;
  GString *s = g_string_new (NULL);
  const char *text;
  int code, r = 0, max_ids;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 0, -1, argc, argv)) != EXIT_OK
      || (code = text_source_open_args (&src, &t, file)) != EXIT_OK
      || (code = tool_load_model (&t, CLE_TOWER_TEXT)) != EXIT_OK)
    goto out;
  max_ids = MAX (t.info.context_length, 2);
  ids = g_new (int32_t, max_ids);

  while ((r = text_source_next (&src, &text)) > 0) {
    ClipError err = { 0 };
    int n = cle_tokenize (t.model, text, ids, max_ids, &err);

    if (n < 0) {
      code = tool_fail_clip (&err, n, NULL);
      goto out;
    }
    g_string_append (s, "{\"text\": ");
    json_string (s, text);
    g_string_append (s, ", \"ids\": ");
    json_ints (s, ids, n);
    json_emit_line (s);
  }
  code = tool_finish_stdout (r < 0 ? EXIT_RUNTIME : EXIT_OK);

out:
  text_source_close (&src);
  g_free (ids);
  g_string_free (s, TRUE);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_tokenize = {
  "tokenize", "MODEL [TEXT...]",
  "Prints the token ids of each text.",
  "Prints the token ids of each TEXT and of each line of --file (start "
      "token, BPE tokens, end token, truncated to the context length).",
  run
};
