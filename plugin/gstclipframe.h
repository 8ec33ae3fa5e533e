/* gstclipframe.h: a mapped GstVideoFrame as the engine's borrowed ClipFrame
 * view (no copy), and the square tiles that cover a whole frame. */

#ifndef __GST_CLIP_FRAME_H__
#define __GST_CLIP_FRAME_H__

#include <gst/video/video.h>

#include "clip.h"

G_BEGIN_DECLS

/* The most tiles gst_clip_frame_tiles() makes: a 3:1 panorama. */
#define GST_CLIP_MAX_TILES 3
/* The most views gst_clip_frame_views() makes: the centre and the tiles. */
#define GST_CLIP_MAX_VIEWS (GST_CLIP_MAX_TILES + 1)

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

/* The part of @cf inside the box (x, y, w, h), which may reach outside the
 * frame: the box is clipped to the frame, and for I420/NV12 its corner
 * moves to even coordinates (growing the box by a pixel). FALSE when
 * nothing of the box is in the frame. */
gboolean gst_clip_frame_crop (const ClipFrame * cf, gint x, gint y, gint w,
    gint h, ClipFrame * out);

/* The views coverage=full scores: the frame itself first (CLIP crops its
 * centre), then its tiles when one square does not cover it. Returns their
 * number (1 for a square frame). */
guint gst_clip_frame_views (const ClipFrame * cf,
    ClipFrame views[GST_CLIP_MAX_VIEWS]);

/* Preprocesses @n views as CLIP does (cle_preprocess) into @pixels, one
 * image of @per_image floats after the other, skipping the views the engine
 * will not take (their size, their geometry: the view's fault, not the
 * caller's): those are marked in @rejected and @why gets the engine's
 * message for the last of them. @index[j] receives the view of image j.
 * Returns the number of images, or -1 for an error that is not a view's
 * fault (@err says which). */
gint gst_clip_frame_preprocess (ClipContext * ctx, const ClipFrame * views,
    guint n, gfloat * pixels, gsize per_image, guint * index,
    gboolean * rejected, ClipError * why, ClipError * err);

G_END_DECLS

#endif /* __GST_CLIP_FRAME_H__ */
