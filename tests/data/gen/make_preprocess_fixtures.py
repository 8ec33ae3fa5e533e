#!/usr/bin/python3
"""Writes tests/data/preprocess/: Pillow-made fixtures for tests/engine/test-preprocess.c.

Run from the repository root with a Python that has Pillow and numpy (Debian:
/usr/bin/python3 with python3-pil, python3-numpy):
    /usr/bin/python3 tests/data/gen/make_preprocess_fixtures.py

transformers is not needed: resize/center_crop below are HF CLIPImageProcessor's
PIL path written out (get_resize_output_image_size, PIL resize with BICUBIC and
reducing_gap=None, center_crop with its zero padding), all uint8 until the end.

cases.txt lists one case a line:
    name source shortest_edge|HxW crop_h crop_w
and <name>.crop.png is the expected uint8 crop. The other files check image-io:
png-*.png / jpeg-*.jpg / pnm-* with <file>.expect.ppm = PIL's open().convert("RGB").
"""
import math
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "preprocess")
REF = os.path.join(ROOT, "tiny-clip", "reference", "images")


def resize_size(w, h, size):
    """HF get_resize_output_image_size -> (width, height)."""
    if isinstance(size, tuple):
        return size[1], size[0]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def center_crop(a, ch, cw):
    """HF image_transforms.center_crop on an (H, W, C) uint8 array."""
    h, w = a.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    bottom, right = top + ch, left + cw
    if top >= 0 and bottom <= h and left >= 0 and right <= w:
        return a[top:bottom, left:right]
    nh, nw = max(ch, h), max(cw, w)
    padded = np.zeros((nh, nw) + a.shape[2:], dtype=a.dtype)
    tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
    padded[tp:tp + h, lp:lp + w] = a
    top, bottom, left, right = top + tp, bottom + tp, left + lp, right + lp
    return padded[max(0, top):min(nh, bottom), max(0, left):min(nw, right)]


def preprocess(img, size, ch, cw):
    img = img.convert("RGB")
    w, h = resize_size(img.width, img.height, size)
    img = img.resize((w, h), resample=Image.BICUBIC, reducing_gap=None)
    return center_crop(np.asarray(img), ch, cw)


def save_ppm(path, a):
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]))
        f.write(np.ascontiguousarray(a, dtype=np.uint8).tobytes())


def png_bytes(w, h, depth, color_type, raw_rows, plte=None, trns=None,
              interlace=0):
    """A minimal PNG writer so that every bit depth/colour type can be made
    (PIL cannot write 16-bit RGB). raw_rows: filtered scanlines (filter 0)."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type,
                                      0, 0, interlace))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw_rows, 9))
    return out + chunk(b"IEND", b"")


def pack_rows(samples, depth):
    """samples: (H, W*channels) ints -> scanlines with filter byte 0."""
    rows = b""
    for r in samples:
        if depth == 16:
            data = b"".join(struct.pack(">H", int(v)) for v in r)
        elif depth == 8:
            data = bytes(int(v) for v in r)
        else:
            bits = "".join(format(int(v), "0%db" % depth) for v in r)
            bits += "0" * (-len(bits) % 8)
            data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        rows += b"\x00" + data
    return rows


def adam7_rows(samples, w, h, channels, depth):
    """Interlaced scanlines: the 7 Adam7 passes, each with filter bytes."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    px = samples.reshape(h, w, channels)
    out = b""
    for x0, y0, dx, dy in passes:
        sub = px[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            out += pack_rows(sub.reshape(sub.shape[0], -1), depth)
    return out


def write_png_case(name, w, h, depth, color_type, channels, maxv, rng, **kw):
    samples = rng.integers(0, maxv + 1, size=(h, w * channels))
    if kw.pop("adam7", False):
        raw = adam7_rows(samples, w, h, channels, depth)
        kw["interlace"] = 1
    else:
        raw = pack_rows(samples, depth)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(png_bytes(w, h, depth, color_type, raw, **kw))
    save_ppm(path + ".expect.ppm", np.asarray(Image.open(path).convert("RGB")))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)

    # Small sources the reference set lacks: noise (strong negative lobes,
    # clipping), a tiny image upscaled a lot, a one-row image.
    noise = rng.integers(0, 256, size=(45, 77, 3), dtype=np.uint8)
    Image.fromarray(noise).save(os.path.join(OUT, "noise_77x45.png"))
    tiny = rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    Image.fromarray(tiny).save(os.path.join(OUT, "tiny_5x3.png"))
    row = rng.integers(0, 256, size=(1, 13, 3), dtype=np.uint8)
    Image.fromarray(row).save(os.path.join(OUT, "row_13x1.png"))

    ref = "tiny-clip/reference/images/"
    pre = "preprocess/"
    cases = [
        ("img1_s96", ref + "img1_640x480.png", 96, 96, 96),
        ("img6_s96", ref + "img6_427x640.png", 96, 96, 96),
        ("img7_s96", ref + "img7_97x61.png", 96, 96, 96),
        ("img3_s336", ref + "img3_480x640.png", 336, 336, 336),
        ("img7_s336", ref + "img7_97x61.png", 336, 336, 336),
        ("img2_hw200x150_c128x112", ref + "img2_1280x720.png", (200, 150),
         128, 112),
        ("img5_hw61x333_c61x333", ref + "img5_1920x1080.png", (61, 333),
         61, 333),
        ("noise_s40", pre + "noise_77x45.png", 40, 40, 40),
        ("noise_s30_pad56x72", pre + "noise_77x45.png", 30, 56, 72),
        ("noise_hw45x200_c45x200", pre + "noise_77x45.png", (45, 200), 45,
         200),
        ("noise_hw90x77_c90x77", pre + "noise_77x45.png", (90, 77), 90, 77),
        ("tiny_s64", pre + "tiny_5x3.png", 64, 64, 64),
        ("row_s8_c8x9", pre + "row_13x1.png", 8, 8, 9),
    ]
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# name source shortest_edge|HxW crop_h crop_w "
                "(made by tests/data/gen/make_preprocess_fixtures.py)\n")
        for name, src, size, ch, cw in cases:
            crop = preprocess(Image.open(os.path.join(ROOT, src)), size, ch, cw)
            assert crop.shape == (ch, cw, 3), (name, crop.shape)
            Image.fromarray(crop).save(os.path.join(OUT, name + ".crop.png"))
            s = "%dx%d" % size if isinstance(size, tuple) else str(size)
            f.write("%s %s %s %d %d\n" % (name, src, s, ch, cw))

    # image-io: every PNG colour type / depth PIL reads, JPEG, PNM.
    write_png_case("png-gray1.png", 11, 5, 1, 0, 1, 1, rng)
    write_png_case("png-gray2.png", 11, 5, 2, 0, 1, 3, rng)
    write_png_case("png-gray4.png", 11, 5, 4, 0, 1, 15, rng)
    write_png_case("png-gray8-trns.png", 11, 5, 8, 0, 1, 255, rng,
                   trns=struct.pack(">H", 7))
    write_png_case("png-gray16.png", 11, 5, 16, 0, 1, 300, rng)
    write_png_case("png-graya8.png", 11, 5, 8, 4, 2, 255, rng)
    write_png_case("png-graya16.png", 11, 5, 16, 4, 2, 65535, rng)
    write_png_case("png-rgb16.png", 11, 5, 16, 2, 3, 65535, rng)
    write_png_case("png-rgba8.png", 11, 5, 8, 6, 4, 255, rng)
    write_png_case("png-rgba16.png", 11, 5, 16, 6, 4, 65535, rng)
    write_png_case("png-rgb8-adam7.png", 13, 11, 8, 2, 3, 255, rng,
                   adam7=True)
    pal = bytes(rng.integers(0, 256, size=16 * 3, dtype=np.uint8))
    write_png_case("png-pal4-trns.png", 11, 5, 4, 3, 1, 15, rng, plte=pal,
                   trns=bytes(range(0, 160, 10)))
    write_png_case("png-pal8.png", 11, 5, 8, 3, 1, 15, rng, plte=pal)

    smooth = np.asarray(Image.open(os.path.join(REF, "img7_97x61.png")))
    for name, img in (("jpeg-rgb420.jpg", Image.fromarray(smooth)),
                      ("jpeg-gray.jpg", Image.fromarray(smooth).convert("L"))):
        path = os.path.join(OUT, name)
        img.save(path, quality=85)
        save_ppm(path + ".expect.ppm",
                 np.asarray(Image.open(path).convert("RGB")))

    small = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    with open(os.path.join(OUT, "pnm-p3.ppm"), "w") as f:
        f.write("P3\n# comment\n6 4\n255\n")
        f.write("\n".join(" ".join(str(v) for v in r.reshape(-1)) for r in small))
        f.write("\n")
    with open(os.path.join(OUT, "pnm-p5.pgm"), "wb") as f:
        f.write(b"P5 6 4 255\n" + bytes(small[..., 0].reshape(-1)))
    for name in ("pnm-p3.ppm", "pnm-p5.pgm"):
        path = os.path.join(OUT, name)
        save_ppm(path + ".expect.ppm",
                 np.asarray(Image.open(path).convert("RGB")))


if __name__ == "__main__":
    main()
