/* cmd-info.c - clip-tool info: the configuration of a model directory. */
#include <string.h>

#include "tool-common.h"

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *towers_opt = NULL;
  const GOptionEntry entries[] = {
    {"towers", 0, 0, G_OPTION_ARG_FILENAME, &towers_opt,
          "Loads both towers, the vision or the text tower (default: both, "
          "or the one tower a single-tower checkpoint has).",
        "both|vision|text"},
    {NULL}
  };
  const ClipModelInfo *info;
  unsigned towers = 0;
  GString *s = NULL;
  Tool t;
  int code;

  if ((code = tool_parse (&t, cmd, entries, 0, 0, argc, argv)) != EXIT_OK)
    goto out;
  if (towers_opt && !tool_parse_towers (towers_opt, &towers)) {
    code = tool_fail_usage (cmd->name, "--towers: expected both, vision or "
        "text, got '%s'", towers_opt);
    goto out;
  }
  if ((code = tool_load_model (&t, towers)) != EXIT_OK)
    goto out;
  info = &t.info;

  s = g_string_new ("{\"model\": ");
  json_string (s, t.model_dir);
  g_string_append (s, ", \"towers\": [");
  if (info->towers & CLE_TOWER_VISION)
    g_string_append (s, (info->towers & CLE_TOWER_TEXT) ?
        "\"vision\", \"text\"" : "\"vision\"");
  else if (info->towers & CLE_TOWER_TEXT)
    g_string_append (s, "\"text\"");
  g_string_append_printf (s, "], \"projection_dim\": %d, \"logit_scale\": ",
      info->projection_dim);
  json_float (s, info->logit_scale);
  g_string_append (s, ", \"dtype\": ");
  json_string (s, info->weights_dtype);
  g_string_append (s, ", \"precision\": ");
  json_string (s, tool_precision_name ());
  g_string_append (s, ", \"kernel\": ");
  json_string (s, info->kernel);
  g_string_append_printf (s, ", \"quantized_bytes\": %zu",
      info->quantized_bytes);
  if (info->adapter) {
    g_string_append (s, ", \"adapter\": ");
    json_string (s, info->adapter);
  }
  if (info->towers & CLE_TOWER_VISION) {
    g_string_append_printf (s, ", \"image_size\": %d, \"patch_size\": %d, "
        "\"width_vision\": %d, \"n_layer_vision\": %d, \"n_head_vision\": %d, "
        "\"mlp_vision\": %d", info->image_size, info->patch_size,
        info->width_vision, info->n_layer_vision, info->n_head_vision,
        info->mlp_vision);
    g_string_append_printf (s, ", \"resize_shortest_edge\": %d, "
        "\"crop_width\": %d, \"crop_height\": %d, \"image_mean\": ",
        info->resize_shortest_edge, info->crop_width, info->crop_height);
    json_floats (s, info->image_mean, 3);
    g_string_append (s, ", \"image_std\": ");
    json_floats (s, info->image_std, 3);
  }
  if (info->towers & CLE_TOWER_TEXT) {
    g_string_append_printf (s, ", \"context_length\": %d, "
        "\"width_text\": %d, \"n_layer_text\": %d, \"n_head_text\": %d, "
        "\"mlp_text\": %d, \"vocab_size\": %d", info->context_length,
        info->width_text, info->n_layer_text, info->n_head_text,
        info->mlp_text, info->vocab_size);
  }
  json_emit_line (s);
  code = tool_finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_info = {
  "info", "MODEL",
  "Prints the configuration of a model directory.",
  "Prints the configuration of a Hugging Face CLIP model directory.",
  run
};
