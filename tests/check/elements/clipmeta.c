/* clipmeta.c: the public metadata API of libgstclipmeta-1.0 on its own: add,
 * get, copy with the buffer, survive videoconvert-style transforms. */

#include <gst/check/gstcheck.h>

#include "gstclipmeta.h"

static GstClipClassificationMeta *
add_two (GstBuffer * buf)
{
  GstClipClassificationMeta *meta;

  meta = gst_buffer_add_clip_classification_meta (buf, 40 * GST_MSECOND, 3);
  fail_unless (meta != NULL);
  gst_clip_classification_meta_add (meta, 2, "a dog", 0.75f, 21.5f, 0.215f);
  gst_clip_classification_meta_add (meta, 0, "a cat", 0.25f, 20.4f, 0.204f);
  return meta;
}

static void
check_two (GstClipClassificationMeta * meta)
{
  const GstClipClassification *c;

  fail_unless (meta != NULL);
  fail_unless_equals_uint64 (meta->scored_pts, 40 * GST_MSECOND);
  fail_unless_equals_int (meta->n_labels_total, 3);
  fail_unless_equals_int (meta->n_classifications, 2);
  c = gst_clip_classification_meta_get (meta, 0);
  fail_unless_equals_int (c->index, 2);
  fail_unless_equals_string (c->label, "a dog");
  fail_unless_equals_float (c->probability, 0.75f);
  fail_unless_equals_float (c->logit, 21.5f);
  fail_unless_equals_float (c->cosine, 0.215f);
  c = gst_clip_classification_meta_get (meta, 1);
  fail_unless_equals_int (c->index, 0);
  fail_unless_equals_string (c->label, "a cat");
  fail_unless (gst_clip_classification_meta_get (meta, 2) == NULL);
}

GST_START_TEST (test_add_get)
{
  GstBuffer *buf = gst_buffer_new ();

  fail_unless (gst_buffer_get_clip_classification_meta (buf) == NULL);
  add_two (buf);
  check_two (gst_buffer_get_clip_classification_meta (buf));
  fail_unless (gst_buffer_get_meta (buf,
          GST_CLIP_CLASSIFICATION_META_API_TYPE) != NULL);
  fail_unless (GST_CLIP_CLASSIFICATION_META_INFO->api ==
      GST_CLIP_CLASSIFICATION_META_API_TYPE);
  fail_unless (gst_meta_api_type_has_tag (GST_CLIP_CLASSIFICATION_META_API_TYPE,
          g_quark_from_string ("video")));
  gst_buffer_unref (buf);
}

GST_END_TEST;

GST_START_TEST (test_copy)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 16, NULL);
  GstBuffer *copy, *deep;

  add_two (buf);
  copy = gst_buffer_copy (buf);
  deep = gst_buffer_copy_deep (buf);
  /* the source goes first: the copies must own their strings */
  gst_buffer_unref (buf);
  check_two (gst_buffer_get_clip_classification_meta (copy));
  check_two (gst_buffer_get_clip_classification_meta (deep));
  gst_buffer_unref (copy);
  gst_buffer_unref (deep);
}

GST_END_TEST;

GST_START_TEST (test_transform_any_type)
{
  GstBuffer *src = gst_buffer_new (), *dest = gst_buffer_new ();
  GstClipClassificationMeta *meta = add_two (src);
  const GstMetaInfo *info = GST_CLIP_CLASSIFICATION_META_INFO;

  /* a scale transform, as videoscale does: the labels still hold */
  fail_unless (info->transform_func (dest, (GstMeta *) meta, src,
          g_quark_from_string ("gst-video-scale"), NULL));
  check_two (gst_buffer_get_clip_classification_meta (dest));
  gst_buffer_unref (src);
  gst_buffer_unref (dest);
}

GST_END_TEST;

GST_START_TEST (test_empty_meta)
{
  GstBuffer *buf = gst_buffer_new ();
  GstClipClassificationMeta *meta;

  meta = gst_buffer_add_clip_classification_meta (buf, GST_CLOCK_TIME_NONE, 4);
  fail_unless_equals_int (meta->n_classifications, 0);
  fail_unless (meta->classifications == NULL);
  fail_unless (gst_clip_classification_meta_get (meta, 0) == NULL);
  gst_buffer_unref (buf);
}

GST_END_TEST;

/* The embedding meta and the scored-frame fields of both metas survive a
 * copy, owned by the copy. */
GST_START_TEST (test_embedding_copy)
{
  GstBuffer *buf = gst_buffer_new (), *copy;
  const gfloat v[3] = { 0.6f, 0.0f, 0.8f };
  GstClipEmbeddingMeta *emeta;
  GstClipClassificationMeta *cmeta;

  fail_unless (gst_buffer_get_clip_embedding_meta (buf) == NULL);
  emeta = gst_buffer_add_clip_embedding_meta (buf, v, 3, "model-a");
  emeta->scored_pts = 80 * GST_MSECOND;
  emeta->scored_frame_number = 2;
  cmeta = add_two (buf);
  cmeta->scored_frame_number = 2;
  cmeta->scored_width = 320;
  cmeta->scored_running_time = 5 * GST_SECOND;
  copy = gst_buffer_copy (buf);
  gst_buffer_unref (buf);

  emeta = gst_buffer_get_clip_embedding_meta (copy);
  fail_unless (emeta != NULL);
  fail_unless_equals_int (emeta->dim, 3);
  fail_unless_equals_float (emeta->embedding[2], 0.8f);
  fail_unless_equals_string (emeta->model_id, "model-a");
  fail_unless_equals_uint64 (emeta->scored_pts, 80 * GST_MSECOND);
  fail_unless_equals_uint64 (emeta->scored_frame_number, 2);
  cmeta = gst_buffer_get_clip_classification_meta (copy);
  fail_unless_equals_uint64 (cmeta->scored_frame_number, 2);
  fail_unless_equals_int (cmeta->scored_width, 320);
  fail_unless_equals_uint64 (cmeta->scored_running_time, 5 * GST_SECOND);
  fail_unless (!GST_CLOCK_TIME_IS_VALID (cmeta->scored_stream_time));
  gst_buffer_unref (copy);
}

GST_END_TEST;

static Suite *
clipmeta_suite (void)
{
  Suite *s = suite_create ("clipmeta");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_add_get);
  tcase_add_test (tc, test_copy);
  tcase_add_test (tc, test_transform_any_type);
  tcase_add_test (tc, test_empty_meta);
  tcase_add_test (tc, test_embedding_copy);
  return s;
}

GST_CHECK_MAIN (clipmeta);
