"""Export the PyTorch CLIP towers of clip_model.py to ONNX (dynamic batch axis).

Adapted from shared/bench/export_onnx.py (adds --preset).
  /usr/bin/python3 export_onnx.py OUTDIR [--preset b32] [--opset 14]
Writes OUTDIR/vision.onnx (input "image" Bx3xRxR f32 -> "embed") and
OUTDIR/text.onnx (input "ids" Bx77 int64 -> "embed"). Needs torch and the onnx
module (Debian: apt-get install python3-torch python3-onnx). Uses attn="manual"
(plain MatMul/Softmax ops). Random weights (seed 0): speed does not depend on values.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_model import build_tower, random_text  # noqa: E402
from shapes import PRESETS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--preset", default="b32", choices=sorted(PRESETS))
ap.add_argument("--opset", type=int, default=14)
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
torch.manual_seed(0)
res = PRESETS[args.preset]["res"]

for tower, example, name in (("vision", torch.randn(2, 3, res, res), "image"),
                             ("text", random_text(2), "ids")):
    model = build_tower(args.preset, tower, "manual").eval()
    path = os.path.join(args.out, tower + ".onnx")
    with torch.no_grad():
        torch.onnx.export(model, (example,), path + ".tmp", input_names=[name],
                          output_names=["embed"],
                          dynamic_axes={name: {0: "batch"}, "embed": {0: "batch"}},
                          opset_version=args.opset, do_constant_folding=True)
    os.replace(path + ".tmp", path)
    print("RESULT export preset=%s %s opset=%d size_MB=%.1f" % (
        args.preset, path, args.opset, os.path.getsize(path) / 1e6))
