/* GStreamer CLIP embedding index writer
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifndef __GST_CLIP_INDEX_H__
#define __GST_CLIP_INDEX_H__

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_CLIP_INDEX (gst_clip_index_get_type ())
G_DECLARE_FINAL_TYPE (GstClipIndex, gst_clip_index, GST, CLIP_INDEX,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (clipindex);

G_END_DECLS

#endif /* __GST_CLIP_INDEX_H__ */
