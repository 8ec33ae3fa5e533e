/* cmd-classify.c - clip-tool classify: zero-shot classification of image
 * files. The JSON of a label uses the vocabulary of the clipjson element
 * ("label", "label_id", "confidence", "logit", "cosine") and the prompts
 * the default template of the clipclassify element (CLE_DEFAULT_TEMPLATE). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool-common.h"

/* Adds the labels of a comma-separated list, trimmed, empty ones skipped. */
static void
add_labels_list (GPtrArray * labels, const char *list)
{
  gchar **parts = g_strsplit (list, ",", -1);
  int i;

  for (i = 0; parts[i]; i++) {
    g_strstrip (parts[i]);
    if (parts[i][0])
      g_ptr_array_add (labels, g_strdup (parts[i]));
  }
  g_strfreev (parts);
}

/* Adds the lines of path, trimmed; blank lines and '#' lines are skipped. */
static int
add_labels_file (GPtrArray * labels, const char *path)
{
  GError *gerr = NULL;
  gchar *contents = NULL, **lines;
  gsize len;
  int i;

  if (!g_file_get_contents (path, &contents, &len, &gerr)) {
    int code = tool_fail (EXIT_RUNTIME, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  if (!g_utf8_validate (contents, len, NULL)) {
    g_free (contents);
    return tool_fail (EXIT_RUNTIME, "%s: not valid UTF-8 text", path);
  }
  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i]; i++) {
    g_strstrip (lines[i]);
    if (lines[i][0] && lines[i][0] != '#')
      g_ptr_array_add (labels, g_strdup (lines[i]));
  }
  g_strfreev (lines);
  g_free (contents);
  return EXIT_OK;
}

typedef struct
{
  Tool *tool;
  GPtrArray *labels;
  float *text_embeds;           /* (n_labels, projection_dim) */
  float *logits, *confidences, *cosines;
  int top_k;
} Classifier;

typedef struct
{
  float confidence;
  int index;
} Ranked;

static int
compare_ranked (const void *a, const void *b)
{
  const Ranked *x = a, *y = b;

  if (x->confidence != y->confidence)
    return x->confidence > y->confidence ? -1 : 1;
  return x->index - y->index;
}

static int
print_classification (const char *image, int index, const float *embed,
    gpointer user_data)
{
  Classifier *c = user_data;
  int n = c->labels->len, i, shown, status;
  ClipError err = { 0 };
  Ranked *ranked;
  GString *s;

  status = cle_model_score (c->tool->model, embed, c->text_embeds, n,
      c->logits, c->confidences, c->cosines, &err);
  if (status < 0)
    return tool_fail_clip (&err, status, image);
  ranked = g_new (Ranked, n);
  for (i = 0; i < n; i++) {
    ranked[i].confidence = isnan (c->confidences[i]) ? -1.0f :
        c->confidences[i];
    ranked[i].index = i;
  }
  qsort (ranked, n, sizeof *ranked, compare_ranked);
  shown = c->top_k > 0 ? MIN (c->top_k, n) : n;

  s = g_string_new ("{\"image\": ");
  json_string (s, image);
  g_string_append (s, ", \"logits\": ");
  json_floats (s, c->logits, n);
  g_string_append (s, ", \"confidences\": ");
  json_floats (s, c->confidences, n);
  g_string_append (s, ", \"labels\": [");
  for (i = 0; i < shown; i++) {
    int k = ranked[i].index;

    g_string_append (s, i ? ", {\"label\": " : "{\"label\": ");
    json_string (s, g_ptr_array_index (c->labels, k));
    g_string_append_printf (s, ", \"label_id\": %d, \"confidence\": ", k);
    json_float (s, c->confidences[k]);
    g_string_append (s, ", \"logit\": ");
    json_float (s, c->logits[k]);
    g_string_append (s, ", \"cosine\": ");
    json_float (s, c->cosines[k]);
    g_string_append_c (s, '}');
  }
  g_string_append_c (s, ']');
  json_emit_line (s);
  g_string_free (s, TRUE);
  g_free (ranked);
  return EXIT_OK;
}

/* Encodes the prompt of each label into c->text_embeds. */
static int
encode_labels (Classifier * c, const char *template)
{
  int n = c->labels->len, proj = c->tool->info.projection_dim, i;
  gchar **parts = g_strsplit (template, "{}", -1);
  char **prompts = g_new0 (char *, n + 1);
  int code = EXIT_OK;

  for (i = 0; i < n; i++)
    prompts[i] = g_strjoinv (g_ptr_array_index (c->labels, i), parts);
  c->text_embeds = g_new (float, (size_t) n * proj);
  for (i = 0; i < n && code == EXIT_OK; i += DEFAULT_BATCH_TEXTS) {
    int k = MIN (DEFAULT_BATCH_TEXTS, n - i);
    ClipError err = { 0 };
    int status = tool_encode_texts (c->tool,
        (const char *const *) prompts + i, k,
        c->text_embeds + (size_t) i * proj, (size_t) k * proj, &err);

    if (status < 0)
      code = tool_fail_clip (&err, status, NULL);
  }
  g_strfreev (prompts);
  g_strfreev (parts);
  return code;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar **labels_opt = NULL, **labels_files = NULL;
  gchar *template_opt = NULL;
  gint top_k = 0, batch = DEFAULT_BATCH_IMAGES;
  const GOptionEntry entries[] = {
    {"labels", 'l', 0, G_OPTION_ARG_FILENAME_ARRAY, &labels_opt,
        "Classifies with these comma-separated labels (may be repeated).",
        "\"a,b,c\""},
    {"labels-file", 'L', 0, G_OPTION_ARG_FILENAME_ARRAY, &labels_files,
          "Reads labels from FILE, one a line; blank lines and lines "
          "starting with '#' are skipped.", "FILE"},
    {"template", 'T', 0, G_OPTION_ARG_FILENAME, &template_opt,
          "Makes the prompt of each label from TEXT, every {} replaced by "
          "the label (default: \"" CLE_DEFAULT_TEMPLATE "\", as the "
          "clipclassify element; \"{}\": the bare label).", "TEXT"},
    {"top-k", 'k', 0, G_OPTION_ARG_INT, &top_k,
        "Lists only the K most confident labels (default: all).", "K"},
    TOOL_BATCH_ENTRY (batch, "Encodes N images per engine call (default "
        G_STRINGIFY (DEFAULT_BATCH_IMAGES) ")."),
    {NULL}
  };
  const char *template;
  GPtrArray *labels = g_ptr_array_new_with_free_func (g_free);
  Classifier c = { 0 };
  Tool t;
  int code, i, n;

  if ((code = tool_parse (&t, cmd, entries, 1, -1, argc, argv)) != EXIT_OK
      || (code = tool_check_batch (&t, batch)) != EXIT_OK)
    goto out;
  template = template_opt ? template_opt : CLE_DEFAULT_TEMPLATE;
  if (!strstr (template, "{}")) {
    code = tool_fail_usage (cmd->name, "--template '%s' has no {} for the "
        "label", template);
    goto out;
  }
  if (top_k < 0) {
    code = tool_fail_usage (cmd->name, "--top-k must be >= 0, got %d",
        top_k);
    goto out;
  }
  for (i = 0; labels_opt && labels_opt[i]; i++)
    add_labels_list (labels, labels_opt[i]);
  for (i = 0; labels_files && labels_files[i]; i++)
    if ((code = add_labels_file (labels, labels_files[i])) != EXIT_OK)
      goto out;
  if (labels->len == 0) {
    code = tool_fail_usage (cmd->name, "no labels: give --labels or "
        "--labels-file");
    goto out;
  }
  for (i = 0; i < (int) labels->len; i++)
    if (!g_utf8_validate (g_ptr_array_index (labels, i), -1, NULL)) {
      code = tool_fail (EXIT_RUNTIME, "label %d is not valid UTF-8", i + 1);
      goto out;
    }

  if ((code = tool_open (&t, CLE_TOWER_BOTH, batch, 0)) != EXIT_OK)
    goto out;
  n = labels->len;
  c.tool = &t;
  c.labels = labels;
  c.top_k = top_k;
  c.logits = g_new (float, n);
  c.confidences = g_new (float, n);
  c.cosines = g_new (float, n);
  if ((code = encode_labels (&c, template)) != EXIT_OK)
    goto out;
  code = tool_encode_image_files (&t, t.args, t.n_args, batch,
      print_classification, &c);
  code = tool_finish_stdout (code);

out:
  g_free (c.logits);
  g_free (c.confidences);
  g_free (c.cosines);
  g_free (c.text_embeds);
  g_ptr_array_unref (labels);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_classify = {
  "classify", "MODEL IMAGE...",
  "Scores each image against labels (zero-shot classification).",
  "Zero-shot classification: scores each IMAGE against the prompt made from "
      "each label (--template). Each line has the logits (logit_scale * "
      "cosine) and the confidences (their softmax) in label order, and the "
      "labels sorted by confidence, highest first, each with its label_id "
      "(its place in the list), confidence, logit and cosine, as the "
      "clipjson element writes them. An image that cannot be read is "
      "reported and the others are still scored; the exit status is then 1.",
  run
};
