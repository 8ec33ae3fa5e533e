#!/usr/bin/python3
"""Independent reference generator for the tests/data/gen/ CLIP fixtures.

Run with Debian's interpreter from the repository root (or anywhere):

    /usr/bin/python3 tests/data/gen/make_reference.py            # (re)generate + verify
    /usr/bin/python3 tests/data/gen/make_reference.py --selftest # also check the model code
                                                                # against tests/data/tiny-clip

Needs only torch, numpy and PIL (no transformers, no safetensors package).  The CLIP
forward pass below is written from scratch following Hugging Face transformers'
modeling_clip.py (CLIPVisionEmbeddings, CLIPTextEmbeddings, CLIPAttention, CLIPMLP,
CLIPEncoderLayer, CLIPVisionTransformer, CLIPTextTransformer, CLIPModel) and the image
preprocessing follows CLIPImageProcessor (PIL path).  Everything is computed in float64 from
the weights exactly as stored in the safetensors files (F16/BF16 decoded), then saved as
float32.  Output is deterministic for a given seed (and torch version: the weights come from
torch.manual_seed + torch.randn).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)                       # tests/data
TINY = os.path.join(DATA, "tiny-clip")
TINY_REF = os.path.join(TINY, "reference")
IMAGES_DIR = os.path.join(TINY_REF, "images")

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
VOCAB_SIZE = 49408
CTX = 77
PAD_ID = 0          # model input padding (openai style); pooled output does not depend on it

torch.set_num_threads(1)      # shared machine; also keeps float64 reductions deterministic

# ---------------------------------------------------------------------------------------------
# dtype helpers (own implementations; numpy is only used for the bit containers)
# ---------------------------------------------------------------------------------------------

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round to nearest even (finite input only)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    assert np.all(np.isfinite(a))
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def encode(arr, dtype):
    """Return (raw little-endian bytes, decoded float64/int64 array of what is stored)."""
    if dtype == "I64":
        a = np.ascontiguousarray(arr, dtype="<i8")
        return a.tobytes(), a.astype(np.int64)
    a32 = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "F32":
        a = a32.astype("<f4")
        return a.tobytes(), a.astype(np.float64)
    if dtype == "F16":
        a = a32.astype("<f2")            # IEEE round-to-nearest-even
        assert np.all(np.isfinite(a))
        return a.tobytes(), a.astype(np.float64)
    if dtype == "BF16":
        b = f32_to_bf16_bits(a32).astype("<u2")
        return b.tobytes(), bf16_bits_to_f32(b).astype(np.float64)
    raise ValueError(dtype)


def decode(buf, dtype, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    if dtype == "I64":
        a = np.frombuffer(buf, dtype="<i8", count=n).astype(np.int64)
    elif dtype == "F32":
        a = np.frombuffer(buf, dtype="<f4", count=n).astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(buf, dtype="<f2", count=n).astype(np.float64)
    elif dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2", count=n)).astype(np.float64)
    else:
        raise ValueError("unsupported dtype " + dtype)
    return a.reshape(shape)


# ---------------------------------------------------------------------------------------------
# minimal safetensors writer / reader
# ---------------------------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw_bytes).  Layout like the reference
    implementation: tensors ordered by (alignment desc, name), compact JSON header with
    "__metadata__": {"format": "pt"}, header padded with spaces to a multiple of 8."""
    order = sorted(tensors, key=lambda t: (-DTYPE_SIZE[t[1]], t[0]))
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, dtype, shape, raw in order:
        n = int(np.prod(shape)) if len(shape) else 1
        assert len(raw) == n * DTYPE_SIZE[dtype], name
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, _, raw in order:
            f.write(raw)
    return off


def read_safetensors(path, strict=True):
    """Return (metadata, {name: (dtype, shape, decoded array, raw bytes)}).  Validates the
    structure (offsets contiguous, in order, covering the whole data area)."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    assert 8 + hlen <= len(blob), "header length past end of file"
    htext = blob[8:8 + hlen].decode("utf-8")
    assert htext.lstrip().startswith("{")
    if strict:
        assert hlen % 8 == 0, "header not padded to 8"
    header = json.loads(htext)
    meta = header.pop("__metadata__", None)
    data = blob[8 + hlen:]
    spans = []
    out = {}
    for name, info in header.items():
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        n = int(np.prod(shape)) if len(shape) else 1
        assert e - b == n * DTYPE_SIZE[dtype], name
        assert 0 <= b <= e <= len(data), name
        spans.append((b, e))
        raw = data[b:e]
        out[name] = (dtype, tuple(shape), decode(raw, dtype, shape), raw)
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, "gap/overlap in data area"
        pos = e
    assert pos == len(data), "trailing bytes after tensors"
    return meta, out


def read_checkpoint(model_dir):
    """Read model.safetensors or a sharded checkpoint (model.safetensors.index.json)."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            index = json.load(f)
        tensors = {}
        total = 0
        for shard in sorted(set(index["weight_map"].values())):
            _, t = read_safetensors(os.path.join(model_dir, shard))
            for name, v in t.items():
                assert index["weight_map"][name] == shard, name
                assert name not in tensors
                tensors[name] = v
                total += len(v[3])
        assert set(tensors) == set(index["weight_map"])
        assert index["metadata"]["total_size"] == total
        return tensors
    _, t = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return t


# ---------------------------------------------------------------------------------------------
# CLIPImageProcessor (PIL path)
# ---------------------------------------------------------------------------------------------

def resize_output_size(width, height, shortest_edge):
    # transformers.image_transforms.get_resize_output_image_size(default_to_square=False)
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)   # (h, w)


def preprocess(path, shortest_edge, crop_h, crop_w, mean=OPENAI_MEAN, std=OPENAI_STD):
    im = Image.open(path)
    im = im.convert("RGB")                                        # do_convert_rgb
    w, h = im.size
    nh, nw = resize_output_size(w, h, shortest_edge)
    r = im.resize((nw, nh), resample=Image.BICUBIC, reducing_gap=None)   # resample=3
    u8 = np.asarray(r, dtype=np.uint8)
    assert u8.shape == (nh, nw, 3)
    assert nh >= crop_h and nw >= crop_w
    top, left = (nh - crop_h) // 2, (nw - crop_w) // 2            # center_crop
    crop = u8[top:top + crop_h, left:left + crop_w]
    x = (crop.astype(np.float64) * (1 / 255)).astype(np.float32)  # rescale (float64 * scale)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    assert x.dtype == np.float32
    pv = np.ascontiguousarray(x.transpose(2, 0, 1))               # CHW
    info = {"width": w, "height": h, "resized_hw": [nh, nw], "crop_top_left": [top, left]}
    return pv, crop, info


# ---------------------------------------------------------------------------------------------
# CLIP forward (float64), HF modeling_clip semantics
# ---------------------------------------------------------------------------------------------

def act_fn(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    raise ValueError(name)


def layer_norm(x, w, b, eps):
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def linear(x, w, b=None):
    y = x @ w.t()
    return y if b is None else y + b


def attention(x, P, pre, heads, causal):
    n, T, W = x.shape
    hd = W // heads
    q = linear(x, P[pre + "q_proj.weight"], P[pre + "q_proj.bias"]) * hd ** -0.5
    k = linear(x, P[pre + "k_proj.weight"], P[pre + "k_proj.bias"])
    v = linear(x, P[pre + "v_proj.weight"], P[pre + "v_proj.bias"])
    q, k, v = (t.reshape(n, T, heads, hd).transpose(1, 2) for t in (q, k, v))
    s = q @ k.transpose(-1, -2)                                   # (n, heads, T, T)
    if causal:
        mask = torch.triu(torch.full((T, T), float("-inf"), dtype=s.dtype), diagonal=1)
        s = s + mask
    p = torch.softmax(s, dim=-1)
    o = (p @ v).transpose(1, 2).reshape(n, T, W)
    return linear(o, P[pre + "out_proj.weight"], P[pre + "out_proj.bias"])


def encoder(x, P, pre, cfg, causal):
    """Returns HF hidden_states tuple: (input, after layer 1, ..., after layer L)."""
    act = act_fn(cfg["hidden_act"])
    eps = cfg["layer_norm_eps"]
    hs = [x]
    for i in range(cfg["num_hidden_layers"]):
        lp = "%sencoder.layers.%d." % (pre, i)
        r = x
        h = layer_norm(x, P[lp + "layer_norm1.weight"], P[lp + "layer_norm1.bias"], eps)
        x = r + attention(h, P, lp + "self_attn.", cfg["num_attention_heads"], causal)
        r = x
        h = layer_norm(x, P[lp + "layer_norm2.weight"], P[lp + "layer_norm2.bias"], eps)
        h = linear(h, P[lp + "mlp.fc1.weight"], P[lp + "mlp.fc1.bias"])
        h = linear(act(h), P[lp + "mlp.fc2.weight"], P[lp + "mlp.fc2.bias"])
        x = r + h
        hs.append(x)
    return hs


def vision_forward(P, vcfg, pixel_values):
    pv = torch.as_tensor(pixel_values, dtype=torch.float64)     # (n, 3, S, S)
    n, C, S, _ = pv.shape
    ps = vcfg["patch_size"]
    G = S // ps
    assert S == vcfg["image_size"] and G * ps == S
    wpe = P["vision_model.embeddings.patch_embedding.weight"]     # (W, 3, ps, ps), no bias
    W = wpe.shape[0]
    # Conv2d(kernel=stride=ps) written as a matmul over patches; grid flattened row-major.
    patches = pv.reshape(n, C, G, ps, G, ps).permute(0, 2, 4, 1, 3, 5).reshape(n, G * G, C * ps * ps)
    pe = patches @ wpe.reshape(W, C * ps * ps).t()
    cls = P["vision_model.embeddings.class_embedding"].reshape(1, 1, W).expand(n, 1, W)
    emb = torch.cat([cls, pe], dim=1) + P["vision_model.embeddings.position_embedding.weight"][None]
    eps = vcfg["layer_norm_eps"]
    h0 = layer_norm(emb, P["vision_model.pre_layrnorm.weight"], P["vision_model.pre_layrnorm.bias"], eps)
    hs = encoder(h0, P, "vision_model.", vcfg, causal=False)
    pooled = layer_norm(hs[-1][:, 0, :], P["vision_model.post_layernorm.weight"],
                        P["vision_model.post_layernorm.bias"], eps)
    embeds = linear(pooled, P["visual_projection.weight"])
    return {"embeddings": emb, "hidden_states": hs, "pooled": pooled, "embeds": embeds}


def pool_index(ids_padded, eos_token_id):
    ids = np.asarray(ids_padded, dtype=np.int64)
    if eos_token_id == 2:                  # legacy configs: argmax of the ids (first max)
        return int(np.argmax(ids))
    hits = np.nonzero(ids == eos_token_id)[0]
    assert len(hits), "no eos token in ids"
    return int(hits[0])                    # first position of eos_token_id


def text_forward(P, tcfg, ids_list):
    n = len(ids_list)
    T = tcfg["max_position_embeddings"]
    ids = np.full((n, T), PAD_ID, dtype=np.int64)
    for i, s in enumerate(ids_list):
        assert 0 < len(s) <= T
        ids[i, :len(s)] = s
    assert ids.max() < tcfg["vocab_size"]
    tid = torch.as_tensor(ids)
    emb = P["text_model.embeddings.token_embedding.weight"][tid] + \
        P["text_model.embeddings.position_embedding.weight"][:T][None]
    hs = encoder(emb, P, "text_model.", tcfg, causal=True)
    last = layer_norm(hs[-1], P["text_model.final_layer_norm.weight"],
                      P["text_model.final_layer_norm.bias"], tcfg["layer_norm_eps"])
    pidx = [pool_index(ids[i], tcfg["eos_token_id"]) for i in range(n)]
    pooled = last[torch.arange(n), torch.as_tensor(pidx)]
    embeds = linear(pooled, P["text_projection.weight"])
    return {"hidden_states": hs, "last": last, "pooled": pooled, "embeds": embeds, "pool_index": pidx}


def clip_logits(img, txt, logit_scale):
    a = img / img.norm(dim=-1, keepdim=True)
    b = txt / txt.norm(dim=-1, keepdim=True)
    return math.exp(logit_scale) * (a @ b.t())                   # logits_per_image


# ---------------------------------------------------------------------------------------------
# random weights
# ---------------------------------------------------------------------------------------------

def randn(shape, std, mean=0.0):
    return (torch.randn(*shape, dtype=torch.float32) * std + mean)


def tower_params(pre, W, inter, layers):
    out = []
    for i in range(layers):
        lp = "%sencoder.layers.%d." % (pre, i)
        s = W ** -0.5
        for proj, std in (("k_proj", 1.2 * s), ("v_proj", s), ("q_proj", 1.2 * s), ("out_proj", 0.7 * s)):
            out.append((lp + "self_attn.%s.weight" % proj, randn((W, W), std)))
            out.append((lp + "self_attn.%s.bias" % proj, randn((W,), 0.05)))
        out.append((lp + "layer_norm1.weight", randn((W,), 0.1, 1.0)))
        out.append((lp + "layer_norm1.bias", randn((W,), 0.05)))
        out.append((lp + "mlp.fc1.weight", randn((inter, W), 1.2 * s)))
        out.append((lp + "mlp.fc1.bias", randn((inter,), 0.1)))
        out.append((lp + "mlp.fc2.weight", randn((W, inter), 0.7 * inter ** -0.5)))
        out.append((lp + "mlp.fc2.bias", randn((W,), 0.05)))
        out.append((lp + "layer_norm2.weight", randn((W,), 0.1, 1.0)))
        out.append((lp + "layer_norm2.bias", randn((W,), 0.05)))
    return out


def vision_params(v, with_position_ids, es=1.0):
    W, ps, S = v["hidden_size"], v["patch_size"], v["image_size"]
    npos = (S // ps) ** 2 + 1
    pre = "vision_model."
    out = [(pre + "embeddings.class_embedding", randn((W,), 0.5 * es))]
    if with_position_ids:
        out.append((pre + "embeddings.position_ids", torch.arange(npos, dtype=torch.int64)[None]))
    out.append((pre + "embeddings.patch_embedding.weight", randn((W, 3, ps, ps), es * (3 * ps * ps) ** -0.5)))
    out.append((pre + "embeddings.position_embedding.weight", randn((npos, W), 0.3 * es)))
    out.append((pre + "pre_layrnorm.weight", randn((W,), 0.1, 1.0)))
    out.append((pre + "pre_layrnorm.bias", randn((W,), 0.05)))
    out += tower_params(pre, W, v["intermediate_size"], v["num_hidden_layers"])
    out.append((pre + "post_layernorm.weight", randn((W,), 0.1, 1.0)))
    out.append((pre + "post_layernorm.bias", randn((W,), 0.05)))
    return out


def text_params(t, with_position_ids, es=1.0):
    W = t["hidden_size"]
    pre = "text_model."
    out = []
    if with_position_ids:
        out.append((pre + "embeddings.position_ids",
                    torch.arange(t["max_position_embeddings"], dtype=torch.int64)[None]))
    out.append((pre + "embeddings.token_embedding.weight", randn((t["vocab_size"], W), 0.5 * es)))
    out.append((pre + "embeddings.position_embedding.weight", randn((t["max_position_embeddings"], W), 0.2 * es)))
    out += tower_params(pre, W, t["intermediate_size"], t["num_hidden_layers"])
    out.append((pre + "final_layer_norm.weight", randn((W,), 0.1, 1.0)))
    out.append((pre + "final_layer_norm.bias", randn((W,), 0.05)))
    return out


# ---------------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------------

TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def text_config(W, heads, layers, inter, proj, act, eps, eos):
    legacy = eos == 2
    return {
        "attention_dropout": 0.0,
        "bos_token_id": 0 if legacy else 49406,
        "dropout": 0.0,
        "eos_token_id": eos,
        "hidden_act": act,
        "hidden_size": W,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "layer_norm_eps": eps,
        "max_position_embeddings": CTX,
        "model_type": "clip_text_model",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 1,
        "projection_dim": proj,
        "vocab_size": VOCAB_SIZE,
    }


def vision_config(S, ps, W, heads, layers, inter, proj, act, eps):
    return {
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "hidden_act": act,
        "hidden_size": W,
        "image_size": S,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "layer_norm_eps": eps,
        "model_type": "clip_vision_model",
        "num_attention_heads": heads,
        "num_channels": 3,
        "num_hidden_layers": layers,
        "patch_size": ps,
        "projection_dim": proj,
    }


def clip_config(name, tcfg, vcfg, proj, dtype):
    return {
        "_name_or_path": "gst-clip/gen/" + name,
        "architectures": ["CLIPModel"],
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "clip",
        "projection_dim": proj,
        "text_config": tcfg,
        "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": "4.40.0",
        "vision_config": vcfg,
    }


def single_tower_config(name, cfg, arch, dtype):
    c = {"_name_or_path": "gst-clip/gen/" + name, "architectures": [arch]}
    c.update(cfg)
    c["torch_dtype"] = TORCH_DTYPE[dtype]
    c["transformers_version"] = "4.40.0"
    return dict(sorted(c.items()))


def preproc_legacy(S):
    return {
        "crop_size": S,
        "do_center_crop": True,
        "do_normalize": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": OPENAI_MEAN,
        "image_std": OPENAI_STD,
        "resample": 3,
        "size": S,
    }


def preproc_modern(S):
    return {
        "crop_size": {"height": S, "width": S},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": OPENAI_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": OPENAI_STD,
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": S},
    }


# ---------------------------------------------------------------------------------------------
# checkpoint specs
# ---------------------------------------------------------------------------------------------

def load_tiny_prompts():
    with open(os.path.join(TINY_REF, "reference.json")) as f:
        ref = json.load(f)
    return ref["prompts"], ref["ids_77"]


SPECS = [
    {
        "name": "f32-gelu",
        "kind": "clip",
        "seed": 20240601,
        "dtype": "F32",
        "with_position_ids": True,
        # small embeddings (token std 0.02, like real CLIP) so that the first LayerNorm of each
        # tower sees variance ~5e-4 and layer_norm_eps 1e-6 vs 1e-5 changes the outputs by ~1e-3
        "embed_scale": 0.04,
        "text": text_config(32, 2, 2, 64, 24, "gelu", 1e-6, 49407),
        "vision": vision_config(96, 16, 48, 3, 3, 96, 24, "gelu", 1e-6),
        "projection_dim": 24,
        "logit_scale": math.log(100.0),
        "preprocessor": preproc_legacy(96),
        "images": ["img1_640x480", "img3_480x640", "img4_300x300", "img7_97x61"],
        "prompts": [0, 1, 3, 9, 10, 11],
        "shards": None,
        "exercises": "F32 weights; hidden_act gelu (exact erf) in both towers; layer_norm_eps 1e-6; "
                     "new-style text eos_token_id 49407 (pool at first 49407); extra int64 "
                     "*.embeddings.position_ids tensors; legacy preprocessor_config.json "
                     "(integer size/crop_size, CLIPFeatureExtractor, no rescale keys); 3 vision heads "
                     "(width 48); 96 px input, 6x6 patch grid; small embeddings so that a wrong "
                     "layer_norm_eps is visible",
    },
    {
        "name": "bf16-sharded",
        "kind": "clip",
        "seed": 20240602,
        "dtype": "BF16",
        "with_position_ids": False,
        "text": text_config(32, 4, 1, 128, 16, "quick_gelu", 1e-5, 2),
        "vision": vision_config(64, 32, 64, 4, 2, 256, 16, "quick_gelu", 1e-5),
        "projection_dim": 16,
        "logit_scale": math.log(30.0),
        "preprocessor": preproc_modern(64),
        "images": ["img0_224x224", "img2_1280x720", "img6_427x640", "img7_97x61"],
        "prompts": [0, 2, 4, 8, 10, 11],
        "shards": 2,
        "exercises": "BF16 weights (incl. 0-d BF16 logit_scale); quick_gelu; legacy text eos_token_id 2 "
                     "(pool at argmax(ids)); two safetensors shards + model.safetensors.index.json "
                     "(text layer 0 split across the shards); patch 32 -> 2x2 grid + CLS; "
                     "modern preprocessor_config.json",
    },
    {
        "name": "vision-only",
        "kind": "vision",
        "seed": 20240603,
        "dtype": "F16",
        "with_position_ids": False,
        "vision": vision_config(64, 16, 32, 2, 1, 128, 16, "quick_gelu", 1e-5),
        "projection_dim": 16,
        "preprocessor": preproc_modern(64),
        "images": ["img0_224x224", "img5_1920x1080", "img3_480x640"],
        "shards": None,
        "exercises": "CLIPVisionModelWithProjection checkpoint: top-level config is the vision "
                     "config (model_type clip_vision_model); only vision_model.* + "
                     "visual_projection.weight; no logit_scale, no text, no tokenizer; F16",
    },
    {
        "name": "text-only",
        "kind": "text",
        "seed": 20240604,
        "dtype": "F32",
        "with_position_ids": False,
        "text": text_config(32, 2, 1, 128, 16, "quick_gelu", 1e-5, 2),
        "projection_dim": 16,
        "prompts": list(range(12)),
        "shards": None,
        "exercises": "CLIPTextModelWithProjection checkpoint: top-level config is the text config "
                     "(model_type clip_text_model); only text_model.* + text_projection.weight; "
                     "no logit_scale, no vision, no preprocessor; F32; all 12 prompts incl. empty "
                     "and 77-token",
    },
]


# ---------------------------------------------------------------------------------------------
# output helpers
# ---------------------------------------------------------------------------------------------

def f32_file(path, x):
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64).astype("<f4"))
    a.tofile(path)
    return list(a.shape)


def f32_json(x):
    """Nested lists of floats: shortest decimal that reads back to the same float32."""
    a = np.asarray(x, dtype=np.float64).astype(np.float32)
    if a.ndim == 0:
        return float(str(a[()]))
    return [f32_json(v) for v in a]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def dump_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def symlink(target, link):
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(target, link)


def rms(t):
    return float(torch.sqrt((t.double() ** 2).mean()))


# ---------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------

def build(spec, all_prompts, all_ids):
    name, kind, dtype = spec["name"], spec["kind"], spec["dtype"]
    out_dir = os.path.join(HERE, name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    ref_dir = os.path.join(out_dir, "reference")
    os.makedirs(os.path.join(ref_dir, "inter"))

    # ---- weights (float32 master, in HF state-dict order) -> stored dtype
    torch.manual_seed(spec["seed"])
    master = []
    if kind == "clip":
        master.append(("logit_scale", torch.tensor(spec["logit_scale"], dtype=torch.float32)))
    if kind in ("clip", "text"):
        master += text_params(spec["text"], spec["with_position_ids"], spec.get("embed_scale", 1.0))
    if kind in ("clip", "vision"):
        master += vision_params(spec["vision"], spec["with_position_ids"], spec.get("embed_scale", 1.0))
    pdim = spec["projection_dim"]
    if kind in ("clip", "vision"):
        master.append(("visual_projection.weight",
                       randn((pdim, spec["vision"]["hidden_size"]), spec["vision"]["hidden_size"] ** -0.5)))
    if kind in ("clip", "text"):
        master.append(("text_projection.weight",
                       randn((pdim, spec["text"]["hidden_size"]), spec["text"]["hidden_size"] ** -0.5)))

    stored = []           # (name, dtype, shape, raw)
    P = {}                # name -> float64 torch tensor of the stored values
    max_round = 0.0
    for pname, t in master:
        dt = "I64" if t.dtype == torch.int64 else dtype
        raw, dec = encode(t.numpy(), dt)
        stored.append((pname, dt, tuple(t.shape), raw))
        P[pname] = torch.as_tensor(dec)
        if dt != "I64" and t.numel():
            err = float(np.max(np.abs(dec - t.double().numpy())) / max(1e-30, float(t.abs().max())))
            max_round = max(max_round, err)
    n_params = sum(int(np.prod(s)) if len(s) else 1 for n_, d, s, r in stored if d != "I64")

    # ---- write checkpoint
    shard_files = []
    if spec["shards"]:
        # HF-style greedy split in state-dict order: shard 1 = logit_scale + text embeddings +
        # the first part of text layer 0; shard 2 = the rest.
        limit = len(dict((s[0], s[3]) for s in stored)["text_model.embeddings.token_embedding.weight"]) + 12000
        groups, cur, size = [], [], 0
        for s in stored:
            if cur and size + len(s[3]) > limit and len(groups) < spec["shards"] - 1:
                groups.append(cur)
                cur, size = [], 0
            cur.append(s)
            size += len(s[3])
        groups.append(cur)
        assert len(groups) == spec["shards"]
        N = len(groups)
        weight_map = {}
        total = 0
        for i, g in enumerate(groups):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, N)
            total += write_safetensors(os.path.join(out_dir, fn), g)
            for s in g:
                weight_map[s[0]] = fn
            shard_files.append(fn)
        dump_json(os.path.join(out_dir, "model.safetensors.index.json"),
                  {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    else:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), stored)
        shard_files.append("model.safetensors")

    if kind == "clip":
        cfg = clip_config(name, spec["text"], spec["vision"], pdim, dtype)
    elif kind == "vision":
        cfg = single_tower_config(name, spec["vision"], "CLIPVisionModelWithProjection", dtype)
    else:
        cfg = single_tower_config(name, spec["text"], "CLIPTextModelWithProjection", dtype)
    dump_json(os.path.join(out_dir, "config.json"), cfg)
    if "preprocessor" in spec:
        dump_json(os.path.join(out_dir, "preprocessor_config.json"), spec["preprocessor"])
    if kind in ("clip", "text"):
        for fn in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
            symlink(os.path.join("..", "..", "tiny-clip", fn), os.path.join(out_dir, fn))
            assert os.path.exists(os.path.join(out_dir, fn))

    # ---- reference
    ref = {}
    manifest = {
        "format": "gst-clip-gen-reference-v1",
        "generator": "tests/data/gen/make_reference.py",
        "checkpoint": name,
        "kind": {"clip": "CLIPModel", "vision": "CLIPVisionModelWithProjection",
                 "text": "CLIPTextModelWithProjection"}[kind],
        "exercises": spec["exercises"],
        "seed": spec["seed"],
        "dtype": dtype,
        "n_params": n_params,
        "n_tensors": len(stored),
        "safetensors": {fn: sha256(os.path.join(out_dir, fn)) for fn in shard_files},
        "max_rounding_error_rel_to_tensor_maxabs": max_round,
        "conventions": {
            "weights": "random (torch.manual_seed(seed), torch.randn) float32 master, rounded to the "
                       "stored dtype; the reference is computed in float64 from the stored values "
                       "and saved as float32 (little-endian, row-major)",
            "preprocess": "HF CLIPImageProcessor (PIL path): convert('RGB'); resize shortest edge -> S "
                          "with PIL BICUBIC (reducing_gap=None), long edge = int(S*long/short); center "
                          "crop top=(H-S)//2, left=(W-S)//2; x = float32(u8 * (1/255 as float64)); "
                          "(x - float32(mean)) / float32(std) in float32; CHW",
            "text": "ids = tests/data/tiny-clip ids_77 (unpadded); model input padded to 77 with 0; "
                    "no attention_mask (causal mask only, so padding does not affect the pooled output)",
            "pooling": "text: final_layer_norm output at argmax(ids) if text eos_token_id == 2, else at "
                       "the first position where ids == eos_token_id; image: post_layernorm(CLS)",
            "embeds": "after projection, NOT L2-normalized",
            "logits_per_image": "exp(logit_scale) * normalize(image_embeds) @ normalize(text_embeds).T",
            "intermediates": "image 0 / prompt 0 only; vision_embeddings = class+patch+position "
                             "embeddings BEFORE pre_layrnorm; vision_hidden_0 = after pre_layrnorm "
                             "(HF hidden_states[0]); *_hidden_i = output of encoder layer i (HF "
                             "hidden_states[i]); vision_pooled = post_layernorm(CLS) (before "
                             "projection); text_hidden_0 = token+position embeddings; "
                             "text_last_hidden_state = after final_layer_norm; text_pooled = "
                             "text_last_hidden_state at the pool index (before projection); text rows "
                             "only for positions < len(ids)",
            "json_floats": "shortest decimal that round-trips to the stored float32",
        },
        "outputs": {},
        "intermediates": {},
        "stats": {},
    }
    inter = {}
    stats = manifest["stats"]

    img_out = txt_out = None
    if kind in ("clip", "vision"):
        v = spec["vision"]
        S = v["image_size"]
        pre = spec["preprocessor"]
        short = pre["size"] if isinstance(pre["size"], int) else pre["size"]["shortest_edge"]
        crop = pre["crop_size"]
        ch, cw = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"])
        assert ch == cw == S
        os.makedirs(os.path.join(ref_dir, "pre"))
        pvs, img_info = [], []
        for im in spec["images"]:
            pv, crop_u8, info = preprocess(os.path.join(IMAGES_DIR, im + ".png"), short, ch, cw)
            Image.fromarray(crop_u8).save(os.path.join(ref_dir, "pre", im + ".crop.png"), optimize=True)
            info = dict(name=im, png="../../tiny-clip/reference/images/%s.png" % im,
                        crop_png="pre/%s.crop.png" % im, **info)
            pvs.append(pv)
            img_info.append(info)
        pixel_values = np.stack(pvs).astype(np.float32)
        shp = f32_file(os.path.join(ref_dir, "pixel_values.f32"), pixel_values)
        manifest["images"] = img_info
        manifest["outputs"]["pixel_values"] = {"file": "pixel_values.f32", "shape": shp, "dtype": "float32"}
        img_out = vision_forward(P, v, pixel_values)
        shp = f32_file(os.path.join(ref_dir, "image_embeds.f32"), img_out["embeds"])
        manifest["outputs"]["image_embeds"] = {"file": "image_embeds.f32", "shape": shp, "dtype": "float32"}
        inter["vision_embeddings"] = img_out["embeddings"][0]
        for i, h in enumerate(img_out["hidden_states"]):
            inter["vision_hidden_%d" % i] = h[0]
        inter["vision_pooled"] = img_out["pooled"][0]
        stats["image_embeds_rms"] = rms(img_out["embeds"])
        stats["vision_hidden_rms_per_layer"] = [round(rms(h), 4) for h in img_out["hidden_states"]]
        ref["images"] = list(spec["images"])
        ref["pixel_values_file"] = "pixel_values.f32"
        ref["pixel_values_shape"] = list(pixel_values.shape)

    if kind in ("clip", "text"):
        t = spec["text"]
        prompts = [all_prompts[i] for i in spec["prompts"]]
        ids = [all_ids[i] for i in spec["prompts"]]
        txt_out = text_forward(P, t, ids)
        shp = f32_file(os.path.join(ref_dir, "text_embeds.f32"), txt_out["embeds"])
        manifest["outputs"]["text_embeds"] = {"file": "text_embeds.f32", "shape": shp, "dtype": "float32"}
        L0 = len(ids[0])
        for i, h in enumerate(txt_out["hidden_states"]):
            inter["text_hidden_%d" % i] = h[0, :L0]
        inter["text_last_hidden_state"] = txt_out["last"][0, :L0]
        inter["text_pooled"] = txt_out["pooled"][0]
        stats["text_embeds_rms"] = rms(txt_out["embeds"])
        stats["text_hidden_rms_per_layer"] = [round(rms(h[0, :L0]), 4) for h in txt_out["hidden_states"]]
        manifest["prompts"] = [{"text": p, "ids": i, "pool_index": k}
                               for p, i, k in zip(prompts, ids, txt_out["pool_index"])]
        ref["prompts"] = prompts
        ref["ids"] = ids
        ref["pool_index"] = txt_out["pool_index"]
        ref["input_length"] = CTX
        ref["pad_id"] = PAD_ID
        ref["eos_token_id"] = t["eos_token_id"]

    if kind == "clip":
        ls = float(P["logit_scale"])
        logits = clip_logits(img_out["embeds"], txt_out["embeds"], ls)
        shp = f32_file(os.path.join(ref_dir, "logits_per_image.f32"), logits)
        manifest["outputs"]["logits_per_image"] = {"file": "logits_per_image.f32", "shape": shp,
                                                   "dtype": "float32"}
        manifest["logit_scale"] = ls
        manifest["logit_scale_exp"] = math.exp(ls)
        ref = dict(logit_scale=ls, **ref)
        stats["logit_spread_per_image"] = [round(float(r.max() - r.min()), 3) for r in logits]
    if img_out is not None:
        ref["image_embeds"] = f32_json(img_out["embeds"])
    if txt_out is not None:
        ref["text_embeds"] = f32_json(txt_out["embeds"])
    if kind == "clip":
        ref["logits_per_image"] = f32_json(logits)

    for k, x in inter.items():
        shp = f32_file(os.path.join(ref_dir, "inter", k + ".f32"), x)
        manifest["intermediates"][k] = {"file": "inter/%s.f32" % k, "shape": shp}

    dump_json(os.path.join(ref_dir, "reference.json"), ref)
    manifest["versions"] = {"python": sys.version.split()[0], "torch": torch.__version__,
                            "numpy": np.__version__, "PIL": Image.__version__}
    dump_json(os.path.join(ref_dir, "manifest.json"), manifest)
    return {"P": P, "stored": stored, "master": master}


# ---------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------

def load_f32(path, shape):
    a = np.fromfile(path, dtype="<f4")
    assert a.size == int(np.prod(shape)), path
    return a.reshape(shape)


def verify(spec, built):
    """Re-read everything from disk with the own reader and recompute; compare."""
    name, kind = spec["name"], spec["kind"]
    d = os.path.join(HERE, name)
    ref_dir = os.path.join(d, "reference")
    tensors = read_checkpoint(d)

    # 1. reader vs. what was written (bit-exact), and torch.frombuffer round trip
    stored = {s[0]: s for s in built["stored"]}
    assert set(tensors) == set(stored), (set(tensors) ^ set(stored))
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
    for pname, (dt, shape, arr, raw) in tensors.items():
        assert (dt, shape, raw) == stored[pname][1:], pname
        tt = torch.frombuffer(bytearray(raw), dtype=tdt[dt]).reshape(shape)
        master = dict(built["master"])[pname]
        if dt == "I64":
            assert torch.equal(tt, master)
        else:
            # torch's own float32 -> F16/BF16 rounding must give the same bits as ours
            assert torch.equal(tt, master.to(tdt[dt])), pname
            assert torch.equal(tt.double(), torch.as_tensor(arr)), pname

    # 2. config + recompute from files on disk
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(ref_dir, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(ref_dir, "reference.json")) as f:
        ref = json.load(f)
    P = {k: torch.as_tensor(v[2]) for k, v in tensors.items()}
    if kind == "clip":
        tcfg, vcfg = cfg["text_config"], cfg["vision_config"]
        assert cfg["model_type"] == "clip" and cfg["architectures"] == ["CLIPModel"]
    elif kind == "vision":
        tcfg, vcfg = None, cfg
        assert cfg["model_type"] == "clip_vision_model"
        assert not any(k.startswith("text_model.") or k in ("logit_scale", "text_projection.weight") for k in P)
    else:
        tcfg, vcfg = cfg, None
        assert cfg["model_type"] == "clip_text_model"
        assert not any(k.startswith("vision_model.") or k in ("logit_scale", "visual_projection.weight") for k in P)

    outs = man["outputs"]
    if vcfg is not None:
        pv = load_f32(os.path.join(ref_dir, "pixel_values.f32"), outs["pixel_values"]["shape"])
        # pixel values must equal the crop PNGs normalized again
        for i, im in enumerate(man["images"]):
            crop = np.asarray(Image.open(os.path.join(ref_dir, im["crop_png"])).convert("RGB"))
            x = (crop.astype(np.float64) * (1 / 255)).astype(np.float32)
            x = (x - np.asarray(OPENAI_MEAN, np.float32)) / np.asarray(OPENAI_STD, np.float32)
            assert np.array_equal(x.transpose(2, 0, 1), pv[i]), im["name"]
        o = vision_forward(P, vcfg, pv)
        got = load_f32(os.path.join(ref_dir, "image_embeds.f32"), outs["image_embeds"]["shape"])
        assert np.array_equal(o["embeds"].numpy().astype(np.float32), got)
        assert np.array_equal(np.asarray(ref["image_embeds"], dtype=np.float32), got)
    if tcfg is not None:
        o2 = text_forward(P, tcfg, ref["ids"])
        got = load_f32(os.path.join(ref_dir, "text_embeds.f32"), outs["text_embeds"]["shape"])
        assert np.array_equal(o2["embeds"].numpy().astype(np.float32), got)
        assert np.array_equal(np.asarray(ref["text_embeds"], dtype=np.float32), got)
        assert o2["pool_index"] == [len(i) - 1 for i in ref["ids"]]
    if kind == "clip":
        assert ref["logit_scale"] == float(P["logit_scale"])
        lg = clip_logits(o["embeds"], o2["embeds"], float(P["logit_scale"]))
        got = load_f32(os.path.join(ref_dir, "logits_per_image.f32"), outs["logits_per_image"]["shape"])
        assert np.array_equal(lg.numpy().astype(np.float32), got)
        assert np.array_equal(np.asarray(ref["logits_per_image"], dtype=np.float32), got)
    for k, info in man["intermediates"].items():
        a = load_f32(os.path.join(ref_dir, info["file"]), info["shape"])
        assert np.all(np.isfinite(a)), k
    return True


def selftest():
    """Check reader, preprocessing and forward against tests/data/tiny-clip (made by other code:
    openai CLIP in float32 from F16 weights)."""
    t0 = time.time()
    with open(os.path.join(TINY, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(TINY_REF, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(TINY_REF, "reference.json")) as f:
        ref = json.load(f)
    _, tensors = read_safetensors(os.path.join(TINY, "model.safetensors"), strict=False)
    P = {k: torch.as_tensor(v[2]) for k, v in tensors.items()}
    S = cfg["vision_config"]["image_size"]
    pvs = []
    for im in man["images"]:
        pv, crop, info = preprocess(os.path.join(TINY_REF, im["png"]), S, S, S)
        want = np.asarray(Image.open(os.path.join(TINY_REF, im["crop_png"])).convert("RGB"))
        assert np.array_equal(crop, want), im["name"]
        assert info["resized_hw"] == im["resized_hw"] and info["crop_top_left"] == im["crop_top_left"]
        pvs.append(pv)
    o = vision_forward(P, cfg["vision_config"], np.stack(pvs))
    o2 = text_forward(P, cfg["text_config"], ref["ids_77"])
    lg = clip_logits(o["embeds"], o2["embeds"], float(P["logit_scale"]))
    res = {}
    for k, x in (("image_embeds", o["embeds"]), ("text_embeds", o2["embeds"]), ("logits_per_image", lg)):
        want = np.asarray(ref[k], dtype=np.float64)
        err = float(np.max(np.abs(x.numpy() - want)) / np.max(np.abs(want)))
        res[k] = err
        assert err < 1e-5, (k, err)
    print("selftest vs tiny-clip: crops identical; max |diff|/max|ref|: %s  (%.1fs)" % (
        ", ".join("%s %.2e" % kv for kv in res.items()), time.time() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true", help="also check against tests/data/tiny-clip")
    ap.add_argument("--only", action="append", help="generate only this checkpoint (repeatable)")
    args = ap.parse_args()
    if args.selftest:
        selftest()
    prompts, ids = load_tiny_prompts()
    for spec in SPECS:
        if args.only and spec["name"] not in args.only:
            continue
        built = build(spec, prompts, ids)
        verify(spec, built)
        d = os.path.join(HERE, spec["name"])
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs
                   if not os.path.islink(os.path.join(r, f)))
        with open(os.path.join(d, "reference", "manifest.json")) as f:
            st = json.load(f)["stats"]
        print("%-13s %-5s %8d bytes  verified  stats %s" % (spec["name"], spec["dtype"], size, json.dumps(st)))


if __name__ == "__main__":
    main()
