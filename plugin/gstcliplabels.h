/* gstcliplabels.h: the label set of clipclassify: labels and prompt templates
 * parsed from the properties, encoded by the engine into one text embedding
 * per label (prompt ensembling when there are several templates). */

#ifndef __GST_CLIP_LABELS_H__
#define __GST_CLIP_LABELS_H__

#include <glib.h>

#include "clip.h"

G_BEGIN_DECLS

/* one default across the project: clip-tool classify uses it too */
#define GST_CLIP_DEFAULT_TEMPLATE CLE_DEFAULT_TEMPLATE

/* What the element's properties say, copied so that encoding can run away
 * from the object lock. Any field may be NULL. */
typedef struct
{
  gchar *labels;                /* comma-separated */
  gchar *labels_file;           /* wins over labels when set */
  gchar *template;              /* "{}" stands for the label */
  gchar *templates_file;        /* wins over template when set */
  gchar *negatives;             /* comma-separated background prompts */
  gchar *negatives_file;        /* wins over negatives when set */
  gchar *text_cache;            /* cle_text_cache_open dir; NULL/"": none */
} GstClipPromptConfig;

void gst_clip_prompt_config_clear (GstClipPromptConfig * config);

/* Immutable once built and refcounted, so the streaming thread, the async
 * worker and a background re-encode can each hold the set they started with. */
typedef struct
{
  guint n_labels;               /* labels, then negatives */
  guint n_positive;             /* labels[0 .. n_positive) are reported */
  gchar **labels;               /* n_labels strings, NULL-terminated */
  guint n_templates;            /* templates averaged per label */
  gint dim;                     /* projection_dim */
  gfloat *embeds;               /* (n_labels, dim), each row L2-normalized */
} GstClipLabelSet;

GstClipLabelSet *gst_clip_label_set_ref (GstClipLabelSet * set);
void gst_clip_label_set_unref (GstClipLabelSet * set);

/* @v (n floats) at unit length, in place; an all-zero vector stays zero.
 * Label embeddings, pooled frames and results all go through it. */
void gst_clip_normalize (gfloat * v, guint n);

/* "a, b ,,c" -> { "a", "b", "c" }: entries are stripped, empty ones dropped. */
gchar **gst_clip_parse_list (const gchar * list);

/* One entry per line, stripped; blank lines and lines whose first non-blank
 * character is '#' are skipped. Errors in GST_RESOURCE_ERROR (OPEN_READ). */
gchar **gst_clip_parse_lines_file (const gchar * path, GError ** error);

/* Parses @config and encodes every label x template prompt with @ctx. Each
 * label's embedding is the mean of its L2-normalized template embeddings,
 * renormalized (CLIP paper, prompt ensembling). *@cancelled (may be NULL) is
 * polled between engine calls. Errors in GST_RESOURCE_ERROR: SETTINGS for a
 * bad label set or template or an engine failure, OPEN_READ for a file. */
GstClipLabelSet *gst_clip_label_set_encode (ClipContext * ctx, gint dim,
    const GstClipPromptConfig * config, const gint * cancelled,
    GError ** error);

G_END_DECLS

#endif /* __GST_CLIP_LABELS_H__ */
