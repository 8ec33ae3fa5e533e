/* gstclipjsonformat.h: the JSON records of gst-clip's metas, one line each
 * (clipjson writes them to a file, clippublish to an MQTT broker). */

#ifndef __GST_CLIP_JSON_FORMAT_H__
#define __GST_CLIP_JSON_FORMAT_H__

#include <gst/gst.h>

#include "gstclipmeta.h"

G_BEGIN_DECLS

/* What the element knows of the frame carrying a meta, for a meta from an
 * older producer that does not say which frame it scored: right only when
 * the meta rides on the frame it describes. */
typedef struct
{
  const GstSegment *segment;    /* the element's input segment */
  guint64 frame_number;         /* buffers the element has seen */
  gint width, height;           /* 0 when the caps are not video */
} GstClipJsonFrame;

/* {"pts":NS,"stream_time":NS,"running_time":NS,"frame_number":N,
 *  "resolution":{...},"tensors":[{"label":...,"label_id":...,
 *  "confidence":...,"logit":...,"cosine":...}],"objects":[...]} and a
 * newline, as one string (free with g_free); *@length without the NUL.
 * @meta NULL: a line for the regions labelled on @buf alone. */
gchar *gst_clip_json_format_classification (const GstClipClassificationMeta *
    meta, GstBuffer * buf, const GstClipJsonFrame * frame, gsize * length);

/* A finished segment:
 * {"type":"segment","label":...,"label_id":...,"start":NS,"end":NS,
 *  "start_pts":NS,"end_pts":NS,"confidence":...,"peak":...,"peak_pts":NS,
 *  "frames":N} and a newline, with start and end in stream time. */
gchar *gst_clip_json_format_segment (const GstClipSegmentMeta * meta,
    gsize * length);

/* Appends to @lines (gchar *, freed with g_free) every record @buf carries,
 * in the order clipjson writes them: its classification (not a repeated
 * one) and a line for regions labelled on it, when @frames; the segments
 * that finished on it, when @segments. */
void gst_clip_json_format_buffer (GstBuffer * buf,
    const GstClipJsonFrame * frame, gboolean frames, gboolean segments,
    GPtrArray * lines);

G_END_DECLS

#endif /* __GST_CLIP_JSON_FORMAT_H__ */
