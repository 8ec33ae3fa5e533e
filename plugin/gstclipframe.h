/* gstclipframe.h: a mapped GstVideoFrame as the engine's borrowed ClipFrame
 * view (no copy), and the square tiles that cover a whole frame. */

#ifndef __GST_CLIP_FRAME_H__
#define __GST_CLIP_FRAME_H__

#include <gst/video/video.h>

#include "clip.h"

G_BEGIN_DECLS

/* The most tiles gst_clip_frame_tiles() makes: a 4:1 panorama. */
#define GST_CLIP_MAX_TILES 4

/* Fills @cf with the planes and strides of @frame as mapped (GstVideoMeta
 * strides included), the colour matrix and range from its caps. FALSE for a
 * format the engine cannot view. */
gboolean gst_clip_frame_from_video_frame (ClipFrame * cf,
    const GstVideoFrame * frame);

/* Views of @cf that together cover all of it: ceil(long side / short side)
 * squares of the short side (at most GST_CLIP_MAX_TILES), spread evenly from
 * one edge to the other, so CLIP's centre crop of each is the whole tile.
 * A square frame is one tile. Offsets of subsampled formats are even.
 * Returns the number of tiles written to @tiles. */
guint gst_clip_frame_tiles (const ClipFrame * cf,
    ClipFrame tiles[GST_CLIP_MAX_TILES]);

G_END_DECLS

#endif /* __GST_CLIP_FRAME_H__ */
