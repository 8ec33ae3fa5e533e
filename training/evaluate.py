#!/usr/bin/python3
"""evaluate.py - measures an exported model with the C engine, so the
numbers are what users get: renders evaluation images (videotestsrc frames
and shape scenes at frame sizes training never used) to PNG, runs
`clip-tool classify` on them and reports top-1 accuracy per group and label
phrasing. First checks that the engine and PyTorch agree on the exported
model (preprocessing bytes, embeddings). Does not train or write models.

  /usr/bin/python3 training/evaluate.py models/tiny-demo-clip \\
      --clip-tool build/engine/clip-tool
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import export  # noqa: E402
import pool  # noqa: E402
import render  # noqa: E402
from clip_bpe import ClipBPE  # noqa: E402
from model import TinyCLIP  # noqa: E402

# The README's demo: labels a user would type for the usual patterns, used
# bare and in clipclassify's default template.
DEMO_LABELS = ["bouncing ball", "color bars", "static noise", "checkerboard",
               "pinwheel", "solid red screen"]
DEMO_CASES = [("ball", "bouncing ball"), ("smpte", "color bars"),
              ("snow", "static noise"), ("checkers-8", "checkerboard"),
              ("pinwheel", "pinwheel"), ("red", "solid red screen")]


# Label phrasings measured: canonical ("a red star"), the held-out
# phrasing ("an image of a red star"), clipclassify's default template
# around the bare label ("a photo of a red star.").
PHRASINGS = ("label", "heldout", "element")


def run_tool(tool, args, threads):
    r = subprocess.run([tool, "--threads", str(threads)] + args,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("clip-tool %s failed (%d): %s"
                         % (args[0], r.returncode, r.stderr.strip()))
    return [json.loads(line) for line in r.stdout.splitlines()]


def load_torch(model_dir):
    """The exported model in PyTorch float32 (F16 weights decoded)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model = TinyCLIP(cfg)
    tensors = export.read_safetensors(os.path.join(model_dir,
                                                   "model.safetensors"))
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in
          tensors.items()}
    model.load_state_dict(sd)
    return model.eval()


def parity(model_dir, tool, tmp, threads):
    """Engine vs PyTorch on the exported weights: preprocessing (uint8 crop
    bytes), image and text embeddings (max abs diff, cosine)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        S = json.load(f)["vision_config"]["image_size"]
    tok = ClipBPE(os.path.join(model_dir, "vocab.json"),
                  os.path.join(model_dir, "merges.txt"))
    model = load_torch(model_dir)
    paths, crops = [], []
    for k, (pattern, w, h) in enumerate([("smpte", 320, 240),
                                         ("ball", 1280, 720),
                                         ("zone-plate", 352, 288),
                                         ("pinwheel", 97 * 4, 61 * 4)]):
        props = {"kx2": 20, "ky2": 20} if pattern == "zone-plate" else {}
        rgb = render.videotestsrc(pattern, w, h, 1, props)[0]
        p = os.path.join(tmp, "parity%d.png" % k)
        Image.fromarray(rgb).save(p)
        paths.append(p)
        crops.append(render.preprocess(rgb, S))
        run_tool(tool, ["preprocess", model_dir, p, "-o", p + ".pre"],
                 threads)
        engine_crop = np.asarray(Image.open(p + ".pre.png").convert("RGB"))
        if not np.array_equal(engine_crop, crops[-1]):
            diff = np.abs(engine_crop.astype(int) - crops[-1]).max()
            raise SystemExit("preprocess mismatch on %s: max diff %d"
                             % (p, diff))
    texts = ["a bouncing ball", "color bars", "an image of a green circle",
             "a photo of a dog on the beach"]
    eng_img = np.array([r["embedding"] if "embedding" in r else r["embeds"]
                        for r in run_tool(tool, ["embed-image", model_dir]
                                          + paths, threads)], np.float32)
    eng_txt = np.array([r["embedding"] if "embedding" in r else r["embeds"]
                        for r in run_tool(tool, ["embed-text", model_dir]
                                          + texts, threads)], np.float32)
    ctx = model.config["text_config"]["max_position_embeddings"]
    with torch.no_grad():
        ref_img = model.encode_image(torch.from_numpy(
            render.normalize(np.stack(crops)))).numpy()
        ref_txt = np.stack([model.encode_text(torch.tensor(
            [tok.encode(t, ctx)]))[0].numpy() for t in texts])
    out = {}
    for name, a, b in (("image", eng_img, ref_img), ("text", eng_txt,
                                                     ref_txt)):
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / \
            np.linalg.norm(b, axis=1)
        out[name] = {"max_abs_diff": float(np.abs(a - b).max()),
                     "max_abs": float(np.abs(b).max()),
                     "min_cosine": float(cos.min())}
    return out


def classify(tool, model_dir, labels, paths, threads, template=None):
    """Top-1 label index per image, through clip-tool classify."""
    fd, lpath = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(labels) + "\n")
    # no template: the bare label ("{}"; clip-tool's default is the element's)
    extra = ["--template", template or "{}"]
    try:
        rows = run_tool(tool, ["classify", model_dir, "--labels-file", lpath,
                               "--top-k", "1"] + extra + paths, threads)
    finally:
        os.remove(lpath)
    index = {l: i for i, l in enumerate(labels)}
    return [index[r["labels"][0]["label"]] for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--clip-tool", required=True)
    ap.add_argument("--seed", type=int, default=20240601,
                    help="seed of the evaluation images (training uses "
                    "small seeds)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["parity"] = parity(args.model_dir, args.clip_tool, tmp,
                                   args.threads)
        print("engine vs pytorch:", json.dumps(results["parity"]))

        items = pool.eval_set(args.seed)
        paths = []
        for k, (_, rgb, _) in enumerate(items):
            p = os.path.join(tmp, "eval%04d.png" % k)
            Image.fromarray(rgb).save(p)
            paths.append(p)

        acc = {}
        confusions = {}
        for phrasing in PHRASINGS:
            labels = data.label_set(phrasing)
            top = classify(args.clip_tool, args.model_dir,
                           [t for t, _ in labels], paths, args.threads)
            for (group, _, attrs), k in zip(items, top):
                ok = data.describes(labels[k][1], attrs)
                key = "%s/%s" % (group, phrasing)
                n, c = acc.get(key, (0, 0))
                acc[key] = (n + 1, c + ok)
                if not ok and phrasing == "label":
                    truth = captions_truth(attrs)
                    confusions.setdefault(truth, {}).setdefault(
                        labels[k][0], 0)
                    confusions[truth][labels[k][0]] += 1
        results["accuracy"] = {k: {"n": n, "correct": c,
                                   "top1": round(c / n, 4)}
                               for k, (n, c) in sorted(acc.items())}
        results["n_labels"] = len(data.label_set())
        results["confusions"] = confusions

        demo = []
        for pattern, expected in DEMO_CASES:
            p = os.path.join(tmp, "demo-%s.png" % pattern)
            render.videotestsrc_png(p, pattern, 320, 240, frame=10)
            d = {"pattern": pattern, "expected": expected}
            for key, template in (("bare", None),
                                  ("template", data.ELEMENT_TEMPLATE)):
                k = classify(args.clip_tool, args.model_dir, DEMO_LABELS,
                             [p], args.threads, template)[0]
                d[key] = DEMO_LABELS[k]
            demo.append(d)
        results["demo"] = demo

    print("\ntop-1 accuracy against all %d labels (engine):"
          % results["n_labels"])
    print("| images | canonical labels | held-out phrasings | "
          "'%s' template |" % data.ELEMENT_TEMPLATE)
    print("|---|---|---|---|")
    names = {"patterns": "videotestsrc patterns + solid colours",
             "seen": "colour x shape, seen combinations",
             "heldout": "colour x shape, held-out combinations"}
    for g in ("patterns", "seen", "heldout"):
        a = [results["accuracy"]["%s/%s" % (g, p)] for p in PHRASINGS]
        print("| %s (n=%d) | %s |" % (names[g], a[0]["n"], " | ".join(
            "%.1f%%" % (100 * x["top1"]) for x in a)))
    print("\nmistakes (truth -> predicted: count):")
    for truth, preds in sorted(confusions.items()):
        print("  %s -> %s" % (truth, ", ".join(
            "%s: %d" % kv for kv in sorted(preds.items()))))
    print("\ndemo (320x240, labels: %s; bare / in '%s'):"
          % (", ".join(DEMO_LABELS), data.ELEMENT_TEMPLATE))
    for d in demo:
        print("  pattern=%-10s -> %s" % (d["pattern"], " / ".join(
            "%s%s" % (d[k], "" if d[k] == d["expected"] else " (WRONG)")
            for k in ("bare", "template"))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def captions_truth(attrs):
    """A short name for an image, for the confusion list."""
    kinds = attrs["kind"]
    if "ball" in kinds:
        return "ball"
    if "shape" in kinds:
        return "%s %s" % (attrs["colour"], attrs["shape"])
    if "solid" in kinds:
        return "solid %s" % attrs["colour"]
    return min(kinds)


if __name__ == "__main__":
    main()
