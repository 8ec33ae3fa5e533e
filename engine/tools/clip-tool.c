/* clip-tool.c - the engine's command line: the common options before
 * COMMAND, the help, and the dispatch to the commands, one a file
 * (cmd-*.c) over what they share (tool-common.h). One JSON object per line
 * on stdout, errors on stderr. Uses only the public API (clip.h) and the
 * image loader; no math of its own beyond sorting and timing. */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "tool-common.h"

static const ToolCommand *const commands[] = {
  &tool_cmd_info, &tool_cmd_tokenize, &tool_cmd_preprocess,
  &tool_cmd_embed_text, &tool_cmd_embed_image, &tool_cmd_classify,
  &tool_cmd_bench, &tool_cmd_search, &tool_cmd_index_merge,
#ifdef HAVE_FAISS
  &tool_cmd_ann_build,
#endif
};

static const ToolCommand *
find_command (const char *name)
{
  size_t i;

  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (name, commands[i]->name) == 0)
      return commands[i];
  return NULL;
}

/* Prints text wrapped, each line indented by indent spaces. */
static void
print_wrapped (FILE * fp, const char *text, int indent)
{
  gchar *wrapped = tool_wrap (text, indent);

  fprintf (fp, "%s\n", wrapped);
  g_free (wrapped);
}

static void
print_usage (FILE * fp)
{
  const GOptionEntry help = {
    "help", 'h', 0, G_OPTION_ARG_NONE, NULL,
    "Prints this help; 'clip-tool COMMAND --help' or 'clip-tool help "
        "COMMAND' prints the arguments and options of COMMAND.", NULL
  };
  const GOptionEntry *e;
  size_t i;

  fputs ("Usage: clip-tool [OPTION...] COMMAND [OPTION...] MODEL "
      "[ARGUMENT...]\n\n", fp);
  print_wrapped (fp, "Runs a Hugging Face CLIP model directory (MODEL) on "
      "the CPU. Each command prints one JSON object per line on stdout and "
      "its errors on stderr. The exit status is 0 on success, 1 after a "
      "runtime error (a model, file or engine failure) and 2 after a usage "
      "error.", 0);
  fputs ("\nCommands:\n", fp);
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (fp, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
  fputs ("\nCommon options, accepted before COMMAND and by every command:\n",
      fp);
  for (e = tool_common_entries ();; e++) {
    if (!e->long_name)
      e = &help;
    if (e->short_name)
      fprintf (fp, "  -%c, --%s", e->short_name, e->long_name);
    else
      fprintf (fp, "  --%s", e->long_name);
    fprintf (fp, "%s%s\n", e->arg_description ? "=" : "",
        e->arg_description ? e->arg_description : "");
    print_wrapped (fp, e->description, 8);
    if (e == &help)
      break;
  }
  fputc ('\n', fp);
  print_wrapped (fp, TOOL_DASH_DASH_NOTE, 0);
}

/* Parses the common options before COMMAND; on return argv[1] is COMMAND
 * (or *argc is 1). */
static int
parse_global_options (int *argc, char ***argv, gboolean * help)
{
  const GOptionEntry help_entry[] = {
    {"help", 'h', 0, G_OPTION_ARG_NONE, help, NULL, NULL},
    {NULL}
  };
  GOptionContext *octx = g_option_context_new (NULL);
  GError *gerr = NULL;
  int code = EXIT_OK;

  /* COMMAND, the first argument that is not an option, ends them. */
  g_option_context_set_strict_posix (octx, TRUE);
  g_option_context_set_help_enabled (octx, FALSE);
  g_option_context_add_main_entries (octx, tool_common_entries (), NULL);
  g_option_context_add_main_entries (octx, help_entry, NULL);
  if (!g_option_context_parse (octx, argc, argv, &gerr)) {
    code = tool_fail_usage (NULL, "%s", gerr->message);
    g_error_free (gerr);
  } else {
    code = tool_check_common (NULL);
  }
  g_option_context_free (octx);
  return code;
}

int
main (int argc, char **argv)
{
  const ToolCommand *cmd;
  char *help_argv[4];
  gboolean help = FALSE;
  gchar *prgname;
  int code;

  if ((code = parse_global_options (&argc, &argv, &help)) != EXIT_OK)
    goto out;
  if (help || (argc == 2 && strcmp (argv[1], "help") == 0)) {
    print_usage (stdout);
    goto out;
  }
  if (argc < 2 || strcmp (argv[1], "--") == 0) {
    print_usage (stderr);
    code = EXIT_USAGE;
    goto out;
  }
  /* "clip-tool help COMMAND" is "clip-tool COMMAND --help". */
  if (strcmp (argv[1], "help") == 0) {
    help_argv[0] = argv[0];
    help_argv[1] = argv[2];
    help_argv[2] = (char *) "--help";
    help_argv[3] = NULL;
    argc = 3;
    argv = help_argv;
  }
  cmd = find_command (argv[1]);
  if (!cmd) {
    code = tool_fail_usage (NULL, "unknown command '%s'", argv[1]);
    goto out;
  }

  /* The command parses argv[1..], with "clip-tool COMMAND" as program name
   * so that its --help reads right. */
  prgname = g_strdup_printf ("clip-tool %s", cmd->name);
  g_set_prgname (prgname);
  argv[1] = prgname;
  code = cmd->run (cmd, argc - 1, argv + 1);
  g_free (prgname);

out:
  tool_options_clear ();
  return code;
}
