/* gstcliplabels.c: label/template parsing and the text side of the model.
 * The only arithmetic here is prompt ensembling (normalize, average,
 * renormalize); similarities and probabilities come from cle_model_score. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include <gst/gst.h>

#include "gstcliplabels.h"

/* Prompts per engine call, the granularity at which a background encode
 * notices it was cancelled (about half a second of ViT-B/32 in fp32). The
 * engine sorts a call's prompts and runs them in batches of its
 * max_batch_texts: prompts of one template meet in a batch and share their
 * first rows, which batches of 64 label-major prompts would not. */
#define PROMPT_CHUNK 512

void
gst_clip_prompt_config_clear (GstClipPromptConfig * config)
{
  g_clear_pointer (&config->labels, g_free);
  g_clear_pointer (&config->labels_file, g_free);
  g_clear_pointer (&config->template, g_free);
  g_clear_pointer (&config->templates_file, g_free);
  g_clear_pointer (&config->text_cache, g_free);
  g_clear_pointer (&config->negatives, g_free);
  g_clear_pointer (&config->negatives_file, g_free);
}

static void
label_set_clear (GstClipLabelSet * set)
{
  g_strfreev (set->labels);
  g_free (set->embeds);
}

GstClipLabelSet *
gst_clip_label_set_ref (GstClipLabelSet * set)
{
  return g_atomic_rc_box_acquire (set);
}

void
gst_clip_label_set_unref (GstClipLabelSet * set)
{
  g_atomic_rc_box_release_full (set, (GDestroyNotify) label_set_clear);
}

/* Strips each entry and drops the empty ones, in place; returns @v. */
static gchar **
compact_strv (gchar ** v)
{
  guint i, j = 0;

  for (i = 0; v[i]; i++) {
    g_strstrip (v[i]);
    if (v[i][0] == '\0')
      g_free (v[i]);
    else
      v[j++] = v[i];
  }
  v[j] = NULL;
  return v;
}

gchar **
gst_clip_parse_list (const gchar * list)
{
  if (!list)
    return g_new0 (gchar *, 1);
  return compact_strv (g_strsplit (list, ",", -1));
}

gchar **
gst_clip_parse_lines_file (const gchar * path, GError ** error)
{
  gchar *contents = NULL;
  GError *err = NULL;
  gchar **lines;
  guint i, j = 0;

  if (!g_file_get_contents (path, &contents, NULL, &err)) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
        "Could not read '%s': %s", path, err->message);
    g_error_free (err);
    return NULL;
  }
  if (!g_utf8_validate (contents, -1, NULL)) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "'%s' is not valid UTF-8 text", path);
    g_free (contents);
    return NULL;
  }

  /* Splitting on '\n' and stripping also handles CRLF files. */
  lines = compact_strv (g_strsplit (contents, "\n", -1));
  g_free (contents);
  for (i = 0; lines[i]; i++) {
    if (lines[i][0] == '#')
      g_free (lines[i]);
    else
      lines[j++] = lines[i];
  }
  lines[j] = NULL;
  return lines;
}

/* "a photo of a {}." + "dog" -> "a photo of a dog." */
static gchar *
expand_template (const gchar * template, const gchar * label)
{
  gchar **parts = g_strsplit (template, "{}", -1);
  gchar *prompt = g_strjoinv (label, parts);

  g_strfreev (parts);
  return prompt;
}

void
gst_clip_normalize (gfloat * v, guint n)
{
  gdouble sum = 0.0;
  guint k;

  for (k = 0; k < n; k++)
    sum += (gdouble) v[k] * v[k];
  /* An all-zero embedding stays zero rather than becoming NaN. */
  if (sum > 0.0) {
    gfloat inv = (gfloat) (1.0 / sqrt (sum));
    for (k = 0; k < n; k++)
      v[k] *= inv;
  }
}

GstClipLabelSet *
gst_clip_label_set_encode (ClipContext * ctx, gint dim,
    const GstClipPromptConfig * config, const gint * cancelled,
    GError ** error)
{
  gchar **labels = NULL, **templates = NULL, **prompts = NULL;
  gchar **negatives = NULL;
  guint n_positive;
  GstClipLabelSet *set = NULL;
  ClipTextCache *cache = NULL;
  gfloat *prompt_embeds = NULL;
  guint n_labels, n_templates, n_prompts, i, t;

  g_return_val_if_fail (ctx != NULL && dim > 0 && config != NULL, NULL);

  if (config->labels_file && config->labels_file[0]) {
    labels = gst_clip_parse_lines_file (config->labels_file, error);
    if (!labels)
      goto out;
    if (!labels[0]) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "labels-file '%s' has no labels (only blank or '#' comment lines)",
          config->labels_file);
      goto out;
    }
  } else {
    labels = gst_clip_parse_list (config->labels);
    if (!labels[0]) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "No labels to classify with: set 'labels' (comma-separated) or "
          "'labels-file' (one label per line)");
      goto out;
    }
  }

  /* Negatives (background prompts) join the softmax after the labels and
   * are never reported. */
  if (config->negatives_file && config->negatives_file[0]) {
    negatives = gst_clip_parse_lines_file (config->negatives_file, error);
    if (!negatives)
      goto out;
  } else {
    negatives = gst_clip_parse_list (config->negatives);
  }
  n_positive = g_strv_length (labels);
  if (negatives[0]) {
    guint n_neg = g_strv_length (negatives), k;

    labels = g_renew (gchar *, labels, n_positive + n_neg + 1);
    for (k = 0; k < n_neg; k++)
      labels[n_positive + k] = g_steal_pointer (&negatives[k]);
    labels[n_positive + n_neg] = NULL;
  }

  if (config->templates_file && config->templates_file[0]) {
    templates = gst_clip_parse_lines_file (config->templates_file, error);
    if (!templates)
      goto out;
    if (!templates[0]) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "templates-file '%s' has no templates (only blank or '#' comment "
          "lines)", config->templates_file);
      goto out;
    }
  } else {
    const gchar *tpl = config->template ? config->template :
        GST_CLIP_DEFAULT_TEMPLATE;
    templates = g_new0 (gchar *, 2);
    templates[0] = g_strdup (tpl);
  }

  for (t = 0; templates[t]; t++) {
    if (!strstr (templates[t], "{}")) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "template '%s'%s%s has no '{}' where the label goes", templates[t],
          config->templates_file ? " in " : "",
          config->templates_file ? config->templates_file : "");
      goto out;
    }
  }

  n_labels = g_strv_length (labels);
  n_templates = g_strv_length (templates);
  n_prompts = n_labels * n_templates;

  /* Prompt p = label (p / n_templates) in template (p % n_templates). */
  prompts = g_new0 (gchar *, n_prompts + 1);
  for (i = 0; i < n_labels; i++)
    for (t = 0; t < n_templates; t++)
      prompts[i * n_templates + t] = expand_template (templates[t], labels[i]);

  /* The disk cache only saves time: when it cannot be opened the prompts
   * are encoded as usual. */
  if (config->text_cache && config->text_cache[0]) {
    ClipError cerr = { 0, };
    if (cle_text_cache_open (&cache, cle_context_get_model (ctx),
            config->text_cache, &cerr) < 0)
      GST_WARNING ("text cache not used: %s", cerr.message);
  }

  prompt_embeds = g_new (gfloat, (gsize) n_prompts * dim);
  for (i = 0; i < n_prompts; i += PROMPT_CHUNK) {
    guint n = MIN (PROMPT_CHUNK, n_prompts - i);
    ClipError cerr = { 0, };
    int ret;

    if (cancelled && g_atomic_int_get (cancelled)) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
          "Encoding the labels was cancelled");
      goto out;
    }
    ret = cle_encode_texts_cached (ctx, cache,
        (const char *const *) prompts + i, n,
        prompt_embeds + (gsize) i * dim, (gsize) n * dim, NULL, &cerr);
    if (ret < 0) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "Could not encode the label prompts: %s", cerr.message[0] ?
          cerr.message : cle_status_string (ret));
      goto out;
    }
  }

  set = g_atomic_rc_box_new0 (GstClipLabelSet);
  set->n_labels = n_labels;
  set->n_positive = n_positive;
  set->labels = g_steal_pointer (&labels);
  set->n_templates = n_templates;
  set->dim = dim;
  set->embeds = g_new0 (gfloat, (gsize) n_labels * dim);

  for (i = 0; i < n_labels; i++) {
    gfloat *dst = set->embeds + (gsize) i * dim;

    for (t = 0; t < n_templates; t++) {
      gfloat *src = prompt_embeds + ((gsize) i * n_templates + t) * dim;
      gint k;

      gst_clip_normalize (src, dim);
      for (k = 0; k < dim; k++)
        dst[k] += src[k];
    }
    gst_clip_normalize (dst, dim);
  }

out:
  cle_text_cache_free (cache);
  g_strfreev (labels);
  g_strfreev (negatives);
  g_strfreev (templates);
  g_strfreev (prompts);
  g_free (prompt_embeds);
  return set;
}
