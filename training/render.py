"""render.py - the pictures: GStreamer videotestsrc frames (through
gst-launch-1.0), PIL-drawn shape scenes, and CLIPImageProcessor's
preprocessing (shortest-edge Pillow BICUBIC resize, center crop), which is
what the engine does. Knows nothing of captions or models."""
import math
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

# RGB values a colour word stands for. The first entry of each list is the
# pure value videotestsrc produces; the others are shades the shape scenes
# also draw, so a word covers a small range.
COLOURS = {
    "red": [(255, 0, 0), (220, 30, 30), (200, 0, 20)],
    "green": [(0, 255, 0), (0, 180, 0), (40, 200, 60)],
    "blue": [(0, 0, 255), (30, 60, 220), (0, 40, 200)],
    "yellow": [(255, 255, 0), (240, 220, 20), (255, 235, 60)],
    "orange": [(255, 128, 0), (255, 150, 30), (235, 110, 0)],
    "purple": [(128, 0, 192), (150, 40, 200), (110, 0, 150)],
    "white": [(255, 255, 255), (240, 240, 240), (230, 230, 235)],
    "black": [(0, 0, 0), (20, 20, 20), (10, 10, 25)],
    "gray": [(128, 128, 128), (110, 110, 110), (150, 150, 150)],
}

SHAPES = ["circle", "square", "triangle", "star", "cross"]

# Frame sizes (width a multiple of 4: raw RGB rows then have no padding).
SIZES = [(320, 240), (160, 120), (240, 240), (480, 270), (640, 480),
         (176, 144), (128, 96), (96, 96), (192, 192), (384, 216), (256, 192)]


def argb(rgb):
    """videotestsrc's big-endian ARGB property value for an RGB triple."""
    r, g, b = rgb
    return 0xff000000 | (r << 16) | (g << 8) | b


def videotestsrc(pattern, width, height, n_frames, props=None, via_i420=False):
    """Renders n_frames RGB frames: uint8 array (n, height, width, 3).
    props: extra videotestsrc properties {name: value}. via_i420 renders in
    I420 and converts with videoconvert, as a pipeline without RGB caps on
    the source does (chroma subsampled, limited range)."""
    assert width % 4 == 0, "raw RGB rows are padded to 4 bytes"
    args = ["videotestsrc", "pattern=%s" % pattern, "num-buffers=%d" % n_frames]
    for k, v in sorted((props or {}).items()):
        args.append("%s=%s" % (k, v))
    caps = "width=%d,height=%d,framerate=30/1" % (width, height)
    if via_i420:
        args += ["!", "video/x-raw,format=I420," + caps, "!", "videoconvert",
                 "!", "video/x-raw,format=RGB"]
    else:
        args += ["!", "video/x-raw,format=RGB," + caps]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.rgb")
        args += ["!", "filesink", "location=" + path]
        subprocess.run(["gst-launch-1.0", "-q"] + args, check=True,
                       stdout=subprocess.DEVNULL)
        data = np.fromfile(path, dtype=np.uint8)
    frame = width * height * 3
    if data.size != n_frames * frame:
        raise RuntimeError("videotestsrc %s: got %d bytes, expected %d"
                           % (pattern, data.size, n_frames * frame))
    return data.reshape(n_frames, height, width, 3)


def videotestsrc_png(path, pattern, width, height, frame=0, props=None):
    """Writes frame number `frame` of a videotestsrc pattern to path as PNG,
    through videoconvert as a user's pipeline would."""
    args = ["videotestsrc", "pattern=%s" % pattern,
            "num-buffers=%d" % (frame + 1)]
    for k, v in sorted((props or {}).items()):
        args.append("%s=%s" % (k, v))
    args += ["!", "video/x-raw,width=%d,height=%d,framerate=30/1"
             % (width, height), "!", "videoconvert", "!", "pngenc", "!",
             "multifilesink", "location=" + path + ".%05d"]
    subprocess.run(["gst-launch-1.0", "-q"] + args, check=True,
                   stdout=subprocess.DEVNULL)
    os.replace(path + ".%05d" % frame, path)
    for i in range(frame):
        os.remove(path + ".%05d" % i)


def _star(cx, cy, r, rot, points=5, inner=0.45):
    pts = []
    for i in range(2 * points):
        rad = r if i % 2 == 0 else r * inner
        a = rot + math.pi * i / points - math.pi / 2
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _rotated(pts, cx, cy, rot):
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c)
            for x, y in pts]


def shape_scene(rng, shape, fg, bg, width, height, scale):
    """Draws one shape (fg RGB) on a plain bg, centred near the middle of the
    frame so that a center crop keeps it; scale: size as a fraction of the
    shorter side. Drawn at 4x and reduced, for anti-aliased edges."""
    ss = 4
    W, H = width * ss, height * ss
    img = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(img)
    short = min(W, H)
    r = scale * short / 2
    room = max(0.0, short / 2 - r * 1.1)
    cx = W / 2 + rng.uniform(-room, room)
    cy = H / 2 + rng.uniform(-room, room)
    rot = rng.uniform(-0.3, 0.3)
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif shape == "square":
        h = r * 0.85
        pts = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h),
               (cx - h, cy + h)]
        d.polygon(_rotated(pts, cx, cy, rot), fill=fg)
    elif shape == "triangle":
        pts = [(cx + r * math.cos(a), cy + r * 0.15 + r * math.sin(a))
               for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        d.polygon(_rotated(pts, cx, cy, rot * 0.5), fill=fg)
    elif shape == "star":
        d.polygon(_star(cx, cy, r, rot), fill=fg)
    elif shape == "cross":
        t = r * 0.32
        pts = [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t),
               (cx + r, cy - t), (cx + r, cy + t), (cx + t, cy + t),
               (cx + t, cy + r), (cx - t, cy + r), (cx - t, cy + t),
               (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t)]
        d.polygon(_rotated(pts, cx, cy, rot), fill=fg)
    else:
        raise ValueError(shape)
    return np.asarray(img.resize((width, height), Image.BOX))


def i420_roundtrip(rgb):
    """What an I420 hop does to an RGB image: BT.601 limited range, chroma
    averaged over 2x2 blocks and repeated back."""
    x = rgb.astype(np.float32)
    y = 16 + 0.257 * x[..., 0] + 0.504 * x[..., 1] + 0.098 * x[..., 2]
    u = 128 - 0.148 * x[..., 0] - 0.291 * x[..., 1] + 0.439 * x[..., 2]
    v = 128 + 0.439 * x[..., 0] - 0.368 * x[..., 1] - 0.071 * x[..., 2]
    H, W = y.shape
    h2, w2 = H // 2 * 2, W // 2 * 2
    for c in (u, v):
        blk = c[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))
        c[:h2, :w2] = np.repeat(np.repeat(np.round(blk), 2, 0), 2, 1)
    y, u, v = np.round(y) - 16, np.round(u) - 128, np.round(v) - 128
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def preprocess(rgb, size):
    """CLIPImageProcessor: shortest edge -> size with Pillow BICUBIC (long
    edge floor(size * long / short)), center crop size x size. Returns the
    uint8 crop (size, size, 3); normalize() makes the model input."""
    H, W = rgb.shape[:2]
    if W <= H:
        nw, nh = size, int(size * H / W)
    else:
        nw, nh = int(size * W / H), size
    img = Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(img)[top:top + size, left:left + size]


MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def normalize(crops):
    """uint8 (..., S, S, 3) -> float32 (..., 3, S, S), as the engine does:
    (float32(v * (1/255)) - mean) / std."""
    x = crops.astype(np.float32) * np.float32(1 / 255)
    x = (x - MEAN) / STD
    return np.moveaxis(x, -1, -3)
