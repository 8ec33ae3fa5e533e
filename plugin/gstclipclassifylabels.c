/* GStreamer CLIP zero-shot classification
 *
 * gstclipclassifylabels.c: labels, templates or negatives changed while
 * playing are encoded again in a thread of their own, with a context of its
 * own, and swapped in at a frame boundary; frames keep the old set
 * meanwhile.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipclassifyprivate.h"

#define GST_CAT_DEFAULT gst_clip_classify_debug

/* Posts a GError from the label code as an element error or warning. */
void
gst_clip_classify_post_gerror (GstClipClassify * self, GstMessageType type, const GError * err,
    const gchar * prefix)
{
  gchar *text = g_strdup_printf ("%s%s", prefix ? prefix : "", err->message);

  gst_element_message_full (GST_ELEMENT (self), type, err->domain, err->code,
      text, NULL, __FILE__, GST_FUNCTION, __LINE__);
}

static void
clip_encode_request_free (ClipEncodeRequest * req)
{
  gst_clip_prompt_config_clear (&req->config);
  g_free (req);
}

gchar *
gst_clip_classify_default_text_cache (void)
{
  return g_build_filename (g_get_user_cache_dir (), "gst-clip",
      "text-embeddings", NULL);
}

void
gst_clip_classify_copy_prompts (GstClipPromptConfig * dst,
    const GstClipPromptConfig * src)
{
  dst->labels = g_strdup (src->labels);
  dst->labels_file = g_strdup (src->labels_file);
  dst->template = g_strdup (src->template);
  dst->templates_file = g_strdup (src->templates_file);
  dst->text_cache = g_strdup (src->text_cache);
  dst->negatives = g_strdup (src->negatives);
  dst->negatives_file = g_strdup (src->negatives_file);
}

/* labels as a GValueArray, which PyGObject reads as a list (see
 * gst_clip_result_to_structure) */
static GstStructure *
labels_updated_structure (GstClipLabelSet * set)
{
  GValueArray *labels;
  GValue v = G_VALUE_INIT;
  GstStructure *s;
  guint i;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  labels = g_value_array_new (set->n_positive);
  for (i = 0; i < set->n_positive; i++) {
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_static_string (&v, set->labels[i]);
    g_value_array_append (labels, &v);  /* copies */
    g_value_unset (&v);
  }
  s = gst_structure_new ("clip-labels-updated", "labels",
      g_value_array_get_type (), labels, NULL);
  g_value_array_free (labels);
  G_GNUC_END_IGNORE_DEPRECATIONS;
  return s;
}

/* Runs in the encoder pool with a context of its own, so the streaming
 * thread keeps classifying with the old labels meanwhile. The pool lives
 * from start() to stop() and stop() waits for it, so self->model is valid. */
void
gst_clip_classify_encode_func (gpointer data, gpointer user_data)
{
  ClipEncodeRequest *req = data;
  GstClipClassify *self = user_data;
  GstClipLabelSet *set = NULL, *old = NULL;
  ClipContextParams cp;
  ClipContext *ctx = NULL;
  ClipError cerr = { 0, };
  GError *err = NULL;
  gboolean current;

  GST_OBJECT_LOCK (self);
  current = req->generation == self->label_generation;
  cle_context_params_init (&cp);
  cp.n_threads = self->n_threads;
  GST_OBJECT_UNLOCK (self);

  /* A newer change is queued behind this one: skip straight to it. */
  if (!current || g_atomic_int_get (&self->encoder_cancelled))
    goto done;

  if (cle_context_new (&ctx, gst_clip_model_handle_get_model (self->model),
          &cp, &cerr) < 0) {
    GST_ELEMENT_WARNING (self, RESOURCE, FAILED,
        ("New labels not applied: %s", cerr.message), (NULL));
    goto done;
  }

  GST_DEBUG_OBJECT (self, "encoding label set generation %u", req->generation);
  set = gst_clip_label_set_encode (ctx, self->dim, &req->config,
      &self->encoder_cancelled, &err);
  cle_context_free (ctx);

  if (!set) {
    if (!g_atomic_int_get (&self->encoder_cancelled))
      gst_clip_classify_post_gerror (self, GST_MESSAGE_WARNING, err,
          "New labels not applied, keeping the previous ones: ");
    g_clear_error (&err);
    goto done;
  }

  GST_OBJECT_LOCK (self);
  if (req->generation == self->label_generation) {
    old = self->label_set;
    self->label_set = gst_clip_label_set_ref (set);
  }
  GST_OBJECT_UNLOCK (self);

  if (old) {
    GST_INFO_OBJECT (self, "now classifying with %u labels", set->n_labels);
    gst_clip_label_set_unref (old);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            labels_updated_structure (set)));
  }
  gst_clip_label_set_unref (set);

done:
  clip_encode_request_free (req);
}

/* Called with the object lock held after a label property changed. */
void
gst_clip_classify_queue_encode_locked (GstClipClassify * self)
{
  ClipEncodeRequest *req;

  self->label_generation++;
  if (!self->encoder)
    return;                     /* not started: start() encodes */

  req = g_new0 (ClipEncodeRequest, 1);
  req->generation = self->label_generation;
  gst_clip_classify_copy_prompts (&req->config, &self->prompts);
  g_thread_pool_push (self->encoder, req, NULL);
}

