#!/usr/bin/env python3
"""Writes a Hugging Face CLIP model directory with random weights in the real
shapes of a published checkpoint, for benchmarks (speed does not depend on
the values). Needs numpy only.

  python3 bench/make_model.py OUT_DIR [--preset b32|b16|l14|l14-336] [--dtype F32|F16]
"""
import argparse
import json
import os
import struct

import numpy as np

PRESETS = {
    # vision width/layers/heads/patch/size, text width/layers/heads, projection
    "b32": dict(vw=768, vl=12, vh=12, patch=32, size=224, tw=512, tl=12, th=8, proj=512),
    "b16": dict(vw=768, vl=12, vh=12, patch=16, size=224, tw=512, tl=12, th=8, proj=512),
    "l14": dict(vw=1024, vl=24, vh=16, patch=14, size=224, tw=768, tl=12, th=12, proj=768),
    "l14-336": dict(vw=1024, vl=24, vh=16, patch=14, size=336, tw=768, tl=12, th=12, proj=768),
}


def tensors(p, rng):
    def lin(o, i, prefix, bias=True):
        yield prefix + ".weight", rng.standard_normal((o, i), np.float32) * (i ** -0.5)
        if bias:
            yield prefix + ".bias", rng.standard_normal(o, np.float32) * 0.02

    def ln(d, prefix):
        yield prefix + ".weight", 1 + rng.standard_normal(d, np.float32) * 0.05
        yield prefix + ".bias", rng.standard_normal(d, np.float32) * 0.02

    def layers(tower, d, n):
        for i in range(n):
            pre = f"{tower}.encoder.layers.{i}."
            yield from ln(d, pre + "layer_norm1")
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                yield from lin(d, d, pre + "self_attn." + name)
            yield from ln(d, pre + "layer_norm2")
            yield from lin(4 * d, d, pre + "mlp.fc1")
            yield from lin(d, 4 * d, pre + "mlp.fc2")

    vw, tw, patch, size = p["vw"], p["tw"], p["patch"], p["size"]
    n_pos = (size // patch) ** 2 + 1
    yield "vision_model.embeddings.class_embedding", rng.standard_normal(vw, np.float32) * 0.02
    yield "vision_model.embeddings.patch_embedding.weight", rng.standard_normal(
        (vw, 3, patch, patch), np.float32) * (3 * patch * patch) ** -0.5
    yield "vision_model.embeddings.position_embedding.weight", rng.standard_normal(
        (n_pos, vw), np.float32) * 0.02
    yield from ln(vw, "vision_model.pre_layrnorm")
    yield from layers("vision_model", vw, p["vl"])
    yield from ln(vw, "vision_model.post_layernorm")
    yield from lin(p["proj"], vw, "visual_projection", bias=False)
    yield "text_model.embeddings.token_embedding.weight", rng.standard_normal(
        (49408, tw), np.float32) * 0.02
    yield "text_model.embeddings.position_embedding.weight", rng.standard_normal(
        (77, tw), np.float32) * 0.01
    yield from layers("text_model", tw, p["tl"])
    yield from ln(tw, "text_model.final_layer_norm")
    yield from lin(p["proj"], tw, "text_projection", bias=False)
    yield "logit_scale", np.array(np.log(100.0), np.float32)


def write_safetensors(path, items, dtype):
    np_dtype = np.float16 if dtype == "F16" else np.float32
    header, blobs, offset = {}, [], 0
    for name, array in items:
        data = np.ascontiguousarray(array.astype(np_dtype)).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--preset", default="b32", choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16"])
    args = ap.parse_args()
    p = PRESETS[args.preset]
    os.makedirs(args.out, exist_ok=True)
    tower = lambda w, l, h: dict(hidden_size=w, num_hidden_layers=l, num_attention_heads=h,
                                 intermediate_size=4 * w, hidden_act="quick_gelu",
                                 layer_norm_eps=1e-5, projection_dim=p["proj"])
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": p["proj"],
        "logit_scale_init_value": 2.6592,
        "vision_config": dict(tower(p["vw"], p["vl"], p["vh"]), image_size=p["size"],
                              patch_size=p["patch"], num_channels=3),
        "text_config": dict(tower(p["tw"], p["tl"], p["th"]), vocab_size=49408,
                            max_position_embeddings=77, eos_token_id=2),
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
        json.dump({"size": {"shortest_edge": p["size"]},
                   "crop_size": {"height": p["size"], "width": p["size"]},
                   "image_processor_type": "CLIPImageProcessor"}, f, indent=2)
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("vocab.json", "merges.txt"):
        src = os.path.join(here, "..", "tests", "data", "tiny-clip", name)
        dst = os.path.join(args.out, name)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(src), dst)
    rng = np.random.default_rng(0)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors(p, rng), args.dtype)


if __name__ == "__main__":
    main()
