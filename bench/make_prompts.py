#!/usr/bin/env python3
"""make_prompts.py - LABELS labels x CLIP's 80 ImageNet prompt templates, one
prompt per line: the 80,000-prompt label set of the speed issue (1,000 labels
x 80 templates). Labels are whole words taken from a CLIP vocab.json (every
k-th alphabetic token of 4+ letters), so the prompts have typical lengths.

  python3 bench/make_prompts.py MODEL/vocab.json [LABELS=1000] > prompts.txt
  python3 bench/make_prompts.py MODEL/vocab.json 1000 --labels > labels.txt
  python3 bench/make_prompts.py MODEL/vocab.json 1000 --templates > templates.txt

The last two are clipclassify's labels-file and templates-file for the same
80,000 prompts (the element averages the 80 templates of each label).
"""
import json
import sys

# The 80 templates of OpenAI's zero-shot ImageNet evaluation
# (CLIP repository, notebooks/Prompt_Engineering_for_ImageNet.ipynb).
TEMPLATES = [
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.",
    "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.",
    "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.",
    "a photo of the cool {}.", "a close-up photo of a {}.",
    "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.",
    "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.",
    "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "a photo of a {}.", "the origami {}.",
    "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.",
    "a rendition of the {}.", "a photo of the clean {}.",
    "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.",
    "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.",
    "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.",
    "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.",
    "the plushie {}.", "a dark photo of a {}.", "itap of a {}.",
    "graffiti of the {}.", "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
]
assert len(TEMPLATES) == 80


def main():
    vocab = json.load(open(sys.argv[1]))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    what = sys.argv[3] if len(sys.argv) > 3 else "--prompts"
    words = sorted(t[:-4] for t in vocab
                   if t.endswith("</w>") and t[:-4].isalpha() and len(t) >= 8)
    step = max(1, len(words) // n)
    labels = words[::step][:n]
    if what == "--labels":
        print("\n".join(labels))
        return
    if what == "--templates":
        print("\n".join(TEMPLATES))
        return
    for label in labels:
        for t in TEMPLATES:
            print(t.format(label))


if __name__ == "__main__":
    main()
