/* GStreamer CLIP labels drawn on the video
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifndef __GST_CLIP_OVERLAY_H__
#define __GST_CLIP_OVERLAY_H__

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_CLIP_OVERLAY (gst_clip_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstClipOverlay, gst_clip_overlay, GST, CLIP_OVERLAY,
    GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE (clipoverlay);

G_END_DECLS

#endif /* __GST_CLIP_OVERLAY_H__ */
