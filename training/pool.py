"""pool.py - draws image sets: random videotestsrc configurations for each
pattern concept and random shape scenes, each image with its attributes
(see data.py). Training and evaluation call the same samplers with
different seeds and sizes; nothing here knows about captions or models."""
import colorsys
import random

import numpy as np

import data
import render
from render import COLOURS, SHAPES

# Sizes evaluation renders at; training uses render.SIZES.
EVAL_SIZES = [(320, 240), (640, 480), (352, 288), (224, 224), (1280, 720)]

_FG_PATTERNS = {"ball", "bar", "circular", "pinwheel", "spokes", "gradient"}


def _colour_props(rng, kind, attrs):
    """videotestsrc colour properties for a pattern, default half the time.
    The ball is never green: a green ball would be a green circle, which is
    a held-out combination."""
    if kind not in _FG_PATTERNS or rng.random() < 0.5:
        attrs["colour"], attrs["bg"] = "white", "black"
        attrs["bw"] = True
        return {}
    fgs = [c for c in data.OBJECT_COLOURS
           if not (kind == "ball" and (c, "circle") in data.HELDOUT_COMBOS)]
    fg = rng.choice(fgs)
    bg = rng.choice([c for c in data.BG_COLOURS if c != fg])
    attrs["colour"], attrs["bg"] = fg, bg
    attrs["bw"] = fg == "white" and bg == "black"
    return {"foreground-color": render.argb(rng.choice(COLOURS[fg][:2])),
            "background-color": render.argb(rng.choice(COLOURS[bg][:2]))}


def pattern_config(rng, kind, sizes):
    """One random videotestsrc configuration of a pattern concept:
    (pattern, width, height, n_frames, props, attrs)."""
    attrs = {"kind": {kind}}
    if kind == "solid":
        colour = rng.choice(list(data.SOLID["sources"]))
        pattern = data.SOLID["sources"][colour]
        props = {}
        if pattern is None:
            pattern = "solid-color"
            props["foreground-color"] = render.argb(
                rng.choice(COLOURS[colour]))
        attrs["colour"] = colour
        return pattern, rng.choice(sizes), 1, props, attrs
    spec = data.PATTERNS[kind]
    pattern = rng.choice(spec["sources"])
    width, height = rng.choice(sizes)
    props = _colour_props(rng, kind, attrs)
    n_frames = 1
    if kind == "ball":
        attrs["kind"] = {"ball", "shape"}
        attrs["shape"] = "circle"
        props["motion"] = rng.choice(["wavy", "sweep", "hsweep"])
        n_frames = 40
    elif kind == "snow":
        n_frames = 8
    elif kind == "zoneplate":
        props.update({"kx2": rng.randint(8, 40), "ky2": rng.randint(8, 40),
                      "kt2": rng.randint(0, 3), "kt": rng.randint(0, 4)})
        n_frames = 6
    elif kind == "checkers" and pattern == "checkers-4":
        # 4 px checkers only survive the resize in small frames
        width, height = rng.choice([s for s in sizes if min(s) <= 192]
                                   or sizes)
    if kind in ("bars", "checkers", "pinwheel", "colors", "bar",
                "gradient", "circular", "spokes") and rng.random() < 0.5:
        props["horizontal-speed"] = rng.choice([-7, -3, 3, 5, 11])
        n_frames = max(n_frames, 6)
    return pattern, (width, height), n_frames, props, attrs


def render_patterns(seed, n_configs, image_size, sizes=render.SIZES,
                    max_frames=8, log=None):
    """Training pool of videotestsrc frames: n_configs random configurations
    per concept, up to max_frames frames each. Returns (crops uint8
    (N, S, S, 3), attrs list)."""
    rng = random.Random(seed)
    crops, attrs = [], []
    kinds = list(data.PATTERNS) + ["solid"]
    for kind in kinds:
        for _ in range(n_configs if kind != "solid" else n_configs * 4):
            pattern, (w, h), n, props, a = pattern_config(rng, kind, sizes)
            frames = render.videotestsrc(pattern, w, h, n, props,
                                         via_i420=rng.random() < 0.5)
            idx = list(range(n))
            rng.shuffle(idx)
            for i in sorted(idx[:max_frames]):
                crops.append(render.preprocess(frames[i], image_size))
                attrs.append(a)
        if log:
            log("rendered %s: %d frames so far" % (kind, len(crops)))
    return np.stack(crops), attrs


# Hues (degrees) between the named colours: shapes drawn in them are
# captioned by shape alone, which teaches the vision tower shape apart from
# colour. Kept away from every named hue (red 0, orange 30, yellow 60,
# green 120, blue 240, purple 280), so no held-out pair is shown.
UNNAMED_HUES = [(80, 100), (150, 215), (300, 345)]


def unnamed_colour(rng):
    lo, hi = rng.choice(UNNAMED_HUES)
    rgb = colorsys.hsv_to_rgb(rng.uniform(lo, hi) / 360,
                              rng.uniform(0.4, 1.0), rng.uniform(0.6, 1.0))
    return tuple(round(255 * v) for v in rgb)


def shape_attrs(rng, combos, unnamed=False):
    """Attributes of a random shape scene of one of combos; unnamed: the
    shape in a colour no caption names (attribute colour None)."""
    colour, shape = rng.choice(combos)
    rgb = None
    if unnamed:
        shape = rng.choice(SHAPES)
        colour, rgb = None, unnamed_colour(rng)
    bg = rng.choice([c for c in data.BG_COLOURS if c != colour])
    scale = rng.uniform(0.25, 0.75)
    size = "small" if scale < 0.4 else "large" if scale > 0.6 else None
    return {"kind": {"shape"}, "colour": colour, "shape": shape, "bg": bg,
            "size": size, "scale": scale, "rgb": rgb}


def draw_shape(rng, attrs, width, height):
    fg = attrs["rgb"] or rng.choice(COLOURS[attrs["colour"]])
    bg = rng.choice(COLOURS[attrs["bg"]])
    return render.shape_scene(rng, attrs["shape"], fg, bg, width, height,
                              attrs["scale"])


def render_shapes(seed, n, image_size, combos, unnamed_fraction=0.0,
                  log=None):
    """Training pool of shape scenes on plain backgrounds, drawn small (the
    model sees image_size pixels) at several aspect ratios; a third go
    through an I420 round trip; unnamed_fraction of them in colours no
    caption names. Returns (crops, attrs)."""
    rng = random.Random(seed)
    crops, attrs = [], []
    for i in range(n):
        a = shape_attrs(rng, combos, rng.random() < unnamed_fraction)
        short = rng.choice([image_size, image_size + 16, 2 * image_size])
        aspect = rng.choice([1.0, 4 / 3, 16 / 9, 3 / 4])
        w, h = (round(short * aspect), short) if aspect >= 1 else \
            (short, round(short / aspect))
        img = draw_shape(rng, a, w, h)
        if rng.random() < 0.33:
            img = render.i420_roundtrip(img)
        crops.append(render.preprocess(img, image_size))
        attrs.append(a)
        if log and (i + 1) % 5000 == 0:
            log("drew %d shape scenes" % (i + 1))
    return np.stack(crops), attrs


def eval_set(seed, n_pattern=10, n_seen=3, n_heldout=10):
    """Evaluation images at full frame size (EVAL_SIZES, unseen in
    training), as (group, rgb uint8 (H, W, 3), attrs): "patterns" (each
    videotestsrc concept, n_pattern configurations, solid colours twice as
    many), "seen" (n_seen scenes per training colour x shape) and "heldout"
    (n_heldout per held-out colour x shape)."""
    rng = random.Random(seed)
    items = []
    for kind in list(data.PATTERNS) + ["solid"]:
        n = n_pattern * (2 if kind == "solid" else 1)
        for _ in range(n):
            pattern, _, n_frames, props, a = pattern_config(rng, kind,
                                                            EVAL_SIZES)
            w, h = rng.choice(EVAL_SIZES)
            if pattern == "checkers-4":
                w, h = 320, 240
            frame = rng.randrange(max(n_frames, 30 if kind == "ball" else 1))
            frames = render.videotestsrc(pattern, w, h, frame + 1, props,
                                         via_i420=rng.random() < 0.5)
            items.append(("patterns", frames[frame], a))
    for group, combos, n in (("seen", data.TRAIN_COMBOS, n_seen),
                             ("heldout", data.HELDOUT_COMBOS, n_heldout)):
        for combo in combos:
            for _ in range(n):
                a = shape_attrs(rng, [combo])
                w, h = rng.choice(EVAL_SIZES)
                img = draw_shape(rng, a, w, h)
                if rng.random() < 0.33:
                    img = render.i420_roundtrip(img)
                items.append((group, img, a))
    return items
