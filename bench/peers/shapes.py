"""CLIP shapes of the published checkpoints and their matmul FLOPs (no torch needed).

Same presets as bench/make_model.py: b32 (ViT-B/32), b16 (ViT-B/16), l14 (ViT-L/14),
l14-336 (ViT-L/14 at 336 px). FLOPs count 2 per multiply-add of every matmul
(patch embedding, qkv, attention scores and values, out projection, MLP,
final projection); layer norms, softmax and activations are < 0.5% and ignored.
"""

PRESETS = {
    # vision width/layers/heads/patch/res, text width/layers/heads, projection dim
    "b32": dict(vw=768, vl=12, vh=12, patch=32, res=224, tw=512, tl=12, th=8, proj=512),
    "b16": dict(vw=768, vl=12, vh=12, patch=16, res=224, tw=512, tl=12, th=8, proj=512),
    "l14": dict(vw=1024, vl=24, vh=16, patch=14, res=224, tw=768, tl=12, th=12, proj=768),
    "l14-336": dict(vw=1024, vl=24, vh=16, patch=14, res=336, tw=768, tl=12, th=12, proj=768),
}
CONTEXT = 77  # text positions; OpenAI CLIP pads every prompt to this length


def _layer_flops(n, d):
    mlp = 4 * d
    return (2 * n * d * 3 * d          # q, k, v projections
            + 2 * 2 * n * n * d        # scores and weighted values
            + 2 * n * d * d            # out projection
            + 2 * 2 * n * d * mlp)     # fc1, fc2


def vision_flops(preset):
    p = PRESETS[preset]
    patches = (p["res"] // p["patch"]) ** 2
    f = 2 * patches * (3 * p["patch"] ** 2) * p["vw"]
    return f + p["vl"] * _layer_flops(patches + 1, p["vw"]) + 2 * p["vw"] * p["proj"]


def text_flops(preset, tokens=CONTEXT):
    p = PRESETS[preset]
    return p["tl"] * _layer_flops(tokens, p["tw"]) + 2 * p["tw"] * p["proj"]


if __name__ == "__main__":
    for name in PRESETS:
        print("%-8s vision %.2f GFLOP/image, text %.2f GFLOP/prompt (77 tokens), %.2f (10 tokens)"
              % (name, vision_flops(name) / 1e9, text_flops(name) / 1e9,
                 text_flops(name, 10) / 1e9))
