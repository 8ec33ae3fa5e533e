"""data.py - what the pictures are and what they are called: the concepts
(videotestsrc patterns, solid colours, shape scenes), their caption
templates with the attributes each caption asserts, the held-out split, and
the label sets evaluation uses. Rendering lives in render.py.

An image carries attributes, e.g. {"kind": {"shape"}, "shape": "star",
"colour": "red", "bg": "blue", "size": "large"}; a caption carries the
attributes it asserts, e.g. "a red star" -> {"kind": "shape", "shape":
"star", "colour": "red"}. A caption describes an image when every asserted
attribute matches (kind is a set: the ball is a "ball" and a "shape", so
"a white circle" describes videotestsrc's default ball)."""
import random
import re

from render import COLOURS, SHAPES

OBJECT_COLOURS = ["red", "green", "blue", "yellow", "orange", "purple",
                  "white", "black"]
BG_COLOURS = OBJECT_COLOURS + ["gray"]

# (colour, shape) pairs never shown in training: each colour once, each
# shape at least once. Zero-shot accuracy is measured on these.
HELDOUT_COMBOS = [("red", "star"), ("green", "circle"), ("blue", "triangle"),
                  ("yellow", "square"), ("orange", "cross"),
                  ("purple", "square"), ("white", "triangle"),
                  ("black", "star")]
TRAIN_COMBOS = [(c, s) for c in OBJECT_COLOURS for s in SHAPES
                if (c, s) not in HELDOUT_COMBOS]

# Caption templates: (text, asserted attributes). {fg} {bg} {c} {s} are
# filled from the image. "label" is the canonical label evaluate.py uses,
# "heldout" phrasings are never trained on (their words are, elsewhere).
PATTERNS = {
    "bars": {
        "sources": ["smpte", "smpte75", "smpte100", "smpte-rp-219"],
        "label": "color bars",
        "train": ["color bars", "colour bars", "smpte color bars",
                  "smpte bars", "a tv test pattern", "vertical color bars",
                  "a test pattern with color bars", "a photo of color bars",
                  "an image of color bars", "a test card", "the color bars"],
        "heldout": ["a tv test card with colour bars"],
    },
    "snow": {
        "sources": ["snow"],
        "label": "static noise",
        "train": ["static noise", "tv snow", "snow", "random noise",
                  "television static", "noise", "a noisy image",
                  "a photo of static noise", "an image of random noise",
                  "white noise", "the static noise of a tv"],
        "heldout": ["random tv static"],
    },
    "ball": {
        "sources": ["ball"],
        "label": "a bouncing ball",
        "train": ["a bouncing ball", "a moving ball", "a ball",
                  "a small ball", "a photo of a ball", "the bouncing ball",
                  ("a {fg} ball", "fg"), ("a bouncing {fg} ball", "fg"),
                  ("a {fg} ball on a {bg} background", "fg", "bg")],
        "heldout": ["a small moving ball"],
    },
    "checkers": {
        "sources": ["checkers-4", "checkers-8"],
        "label": "a checkerboard",
        "train": ["a checkerboard", "checkers", "a checkerboard pattern",
                  "a red and green checkerboard", "a checkered pattern",
                  "a photo of a checkerboard", "an image of checkers"],
        "heldout": ["a checkered image"],
    },
    "circular": {
        "sources": ["circular"],
        "label": "concentric circles",
        "train": ["concentric circles", "circular rings", "rings",
                  "a circular pattern", ("black and white rings", "bw"),
                  "an image of concentric circles", "thin rings"],
        "heldout": ["concentric rings"],
    },
    "zoneplate": {
        "sources": ["zone-plate"],
        "label": "a zone plate",
        "train": ["a zone plate", "a zone plate pattern", "zone plate",
                  "a circular zone plate", "an image of a zone plate",
                  "a photo of a zone plate"],
        "heldout": ["the zone plate"],
    },
    "pinwheel": {
        "sources": ["pinwheel"],
        "label": "a pinwheel",
        "train": ["a pinwheel", ("a black and white pinwheel", "bw"),
                  "a pinwheel pattern", "a photo of a pinwheel",
                  "the pinwheel"],
        "heldout": ["an image of a pinwheel"],
    },
    "spokes": {
        "sources": ["spokes"],
        "label": "spokes",
        "train": ["spokes", ("white spokes", "bw"), "radial lines",
                  "thin lines from the center", "a wheel with spokes",
                  "an image of spokes"],
        "heldout": ["thin radial spokes"],
    },
    "gradient": {
        "sources": ["gradient"],
        "label": "a gradient",
        "train": ["a gradient", ("a gray gradient", "bw"),
                  ("a black to white gradient", "bw"), "a smooth gradient",
                  "a vertical gradient", "an image of a gradient"],
        "heldout": ["a smooth vertical gradient"],
    },
    "bar": {
        "sources": ["bar"],
        "label": "a vertical bar",
        "train": ["a vertical bar", "a single bar", "a bar",
                  ("a {fg} bar", "fg"), ("a {fg} vertical bar", "fg"),
                  ("a {fg} bar on a {bg} background", "fg", "bg")],
        "heldout": ["a single vertical bar"],
    },
    "colors": {
        "sources": ["colors"],
        "label": "a rainbow of colors",
        "train": ["a rainbow of colors", "all colors", "a color spectrum",
                  "a color grid", "many colors", "a colorful grid",
                  "an image of many colors"],
        "heldout": ["a spectrum of colors"],
    },
}

SOLID = {
    # colour -> videotestsrc pattern (solid-color + foreground-color if None)
    "sources": {"red": "red", "green": "green", "blue": "blue",
                "white": "white", "black": "black", "yellow": None,
                "orange": None, "purple": None, "gray": None},
    "label": "a solid {c} screen",
    "train": [("a solid {c} screen", "c"), ("solid {c}", "c"),
              ("a plain {c} image", "c"), ("a {c} frame", "c"),
              ("a blank {c} screen", "c"), ("{c}", "c"),
              ("a photo of a {c} screen", "c"),
              ("an image that is all {c}", "c")],
    "heldout": [("a plain {c} screen", "c")],
}

SHAPE = {
    "label": "a {c} {s}",
    "train": [("a {c} {s}", "c", "s"), ("{c} {s}", "c", "s"),
              ("a {c} {s} on a {bg} background", "c", "s", "bg"),
              ("a photo of a {c} {s}", "c", "s"),
              ("a drawing of a {c} {s}", "c", "s"),
              ("a picture of a {c} {s}", "c", "s"),
              ("the {s} is {c}", "c", "s"),
              ("a {c} {s} on {bg}", "c", "s", "bg"),
              ("a small {c} {s}", "c", "s", "small"),
              ("a large {c} {s}", "c", "s", "large"),
              ("a {s}", "s"), ("a {s} shape", "s"), ("{s}", "s"),
              ("a {c} shape", "c"),
              ("a {s} on a {bg} background", "s", "bg")],
    "heldout": [("an image of a {c} {s}", "c", "s"),
                ("the {c} {s}", "c", "s")],
}

# Which image attribute each template slot asserts.
_SLOTS = {"fg": "colour", "bg": "bg", "c": "colour", "s": "shape",
          "bw": "bw", "small": "size", "large": "size"}


def _caption(kind, template, attrs):
    """Fills one template for an image; returns (text, asserted) or None
    when the template does not fit the image."""
    if isinstance(template, str):
        template = (template,)
    text, slots = template[0], template[1:]
    for slot in ("c", "fg", "bg", "s"):
        if "{%s}" % slot in text and slot not in slots:
            raise ValueError("template %r names {%s} but does not assert it"
                             % (text, slot))
    asserted = {"kind": kind}
    for slot in slots:
        key = _SLOTS[slot]
        if slot == "bw":
            if not attrs.get("bw"):
                return None
            asserted["bw"] = True
        elif slot in ("small", "large"):
            if attrs.get("size") != slot:
                return None
            asserted["size"] = slot
        else:
            if attrs.get(key) is None:
                return None
            asserted[key] = attrs[key]
    if "shape" in attrs:
        asserted_text = text.format(c=attrs["colour"], s=attrs["shape"],
                                    bg=attrs.get("bg"), fg=attrs["colour"])
    else:
        asserted_text = text.format(c=attrs.get("colour"),
                                    fg=attrs.get("colour"),
                                    bg=attrs.get("bg"))
    return articles(asserted_text), asserted


def articles(text):
    """'a orange ball' -> 'an orange ball'."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def describes(asserted, attrs):
    """True when a caption asserting `asserted` is true of an image."""
    for k, v in asserted.items():
        have = attrs.get(k)
        if k == "kind":
            if v not in have:
                return False
        elif have != v:
            return False
    return True


def captions_for(attrs, which="train"):
    """All (text, asserted) captions of a phrasing set that fit an image."""
    kinds = attrs["kind"]
    if "shape" in kinds and "ball" not in kinds:
        spec, kind = SHAPE, "shape"
    elif "solid" in kinds:
        spec, kind = SOLID, "solid"
    else:
        kind = next(iter(kinds - {"shape"}))
        spec = PATTERNS[kind]
    out = [_caption(kind, t, attrs) for t in spec[which]]
    if kind == "ball" and which == "train":
        # the ball is a circle too: shape captions about it are true
        shape_attrs = dict(attrs, shape="circle")
        out += [_caption("shape", t, shape_attrs) for t in SHAPE["train"]
                if "bg" not in t and "small" not in t and "large" not in t]
    return [c for c in out if c is not None]


# Templates users put around a label, clipclassify's default first. A share
# of training captions is wrapped in one, with the article dropped as users
# write labels ("bouncing ball"). Articles inside stay as users leave them
# ("a photo of a orange star.").
ELEMENT_TEMPLATE = "a photo of a {}."
WRAPPERS = [ELEMENT_TEMPLATE, "a photo of a {}", "{}.", "{}"]
_NO_WRAP = ("a photo", "an image", "a picture", "a drawing", "the ")


def bare(text):
    """The label a user would type: the caption without its article."""
    return re.sub(r"^(a|an) ", "", text)


def wrapped(text):
    """The wrapped forms of a caption (none for captions that already read
    like a template)."""
    if text.startswith(_NO_WRAP):
        return []
    return [w.format(bare(text)) for w in WRAPPERS]


def sample_caption(rng, attrs, wrap_p=0.35):
    text, asserted = rng.choice(captions_for(attrs, "train"))
    forms = wrapped(text)
    if forms and rng.random() < wrap_p:
        text = rng.choice(forms)
    return text, asserted


def label_set(which="label"):
    """The full label set: (text, asserted) for every pattern, every solid
    colour and every colour x shape. which="label" gives the canonical
    phrasing, "heldout" the first held-out phrasing, "element" the
    canonical label without article in clipclassify's default template."""
    if which == "element":
        return [(ELEMENT_TEMPLATE.format(bare(t)), a)
                for t, a in label_set("label")]

    def pick(spec):
        return spec["label"] if which == "label" else spec["heldout"][0]

    labels = []
    for kind, spec in PATTERNS.items():
        labels.append((pick(spec), {"kind": kind}))
    for c in SOLID["sources"]:
        t = pick(SOLID)
        if isinstance(t, tuple):
            t = t[0]
        labels.append((articles(t.format(c=c)),
                       {"kind": "solid", "colour": c}))
    for c in OBJECT_COLOURS:
        for s in SHAPES:
            t = pick(SHAPE)
            if isinstance(t, tuple):
                t = t[0]
            labels.append((articles(t.format(c=c, s=s)),
                           {"kind": "shape", "colour": c, "shape": s}))
    return labels


def all_caption_texts():
    """Every training caption text any image can get (for the vocabulary)."""
    texts = set()
    for c in OBJECT_COLOURS:
        for s in SHAPES:
            for bg in BG_COLOURS:
                for size in ("small", "large", None):
                    a = {"kind": {"shape"}, "colour": c, "shape": s,
                         "bg": bg, "size": size}
                    texts.update(t for t, _ in captions_for(a))
    for kind in PATTERNS:
        for c in BG_COLOURS:
            for bg in BG_COLOURS:
                a = {"kind": {kind}, "colour": c, "bg": bg, "bw": True}
                if kind == "ball":
                    a["kind"] = {"ball", "shape"}
                texts.update(t for t, _ in captions_for(a))
    for c in SOLID["sources"]:
        texts.update(t for t, _ in captions_for({"kind": {"solid"},
                                                  "colour": c}))
    return sorted(texts | {w for t in texts for w in wrapped(t)})
