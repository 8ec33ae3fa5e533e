"""export.py - writes a trained TinyCLIP as a Hugging Face CLIP directory:
config.json, model.safetensors (F16, written by the minimal writer below),
preprocessor_config.json, tokenizer files. No training, no torch modules
beyond reading a state_dict."""
import json
import os
import shutil
import struct

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: numpy array} (float16/float32). Layout: 8-byte
    little-endian header length, JSON header {name: {dtype, shape,
    data_offsets}} plus __metadata__, padded with spaces to a multiple of 8,
    then the raw little-endian data in header order."""
    dtypes = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """The inverse, for checks: {name: numpy array}."""
    np_types = {"F16": np.float16, "F32": np.float32}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np_types[t["dtype"]]
                                  ).reshape(t["shape"])
    return out


def hf_config(arch):
    """config.json for a CLIPModel; arch: the dict train_tiny_clip.py uses."""
    t, v = arch["text_config"], arch["vision_config"]
    common = {"attention_dropout": 0.0, "dropout": 0.0,
              "hidden_act": "quick_gelu", "initializer_factor": 1.0,
              "initializer_range": 0.02, "layer_norm_eps": 1e-05,
              "projection_dim": arch["projection_dim"]}
    text = dict(common, model_type="clip_text_model",
                vocab_size=t["vocab_size"], hidden_size=t["hidden_size"],
                intermediate_size=t["intermediate_size"],
                num_hidden_layers=t["num_hidden_layers"],
                num_attention_heads=t["num_attention_heads"],
                max_position_embeddings=t["max_position_embeddings"],
                bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = dict(common, model_type="clip_vision_model", num_channels=3,
                  hidden_size=v["hidden_size"],
                  intermediate_size=v["intermediate_size"],
                  num_hidden_layers=v["num_hidden_layers"],
                  num_attention_heads=v["num_attention_heads"],
                  image_size=v["image_size"], patch_size=v["patch_size"])
    return {"_name_or_path": "gst-clip/tiny-demo-clip",
            "architectures": ["CLIPModel"], "initializer_factor": 1.0,
            "logit_scale_init_value": arch["logit_scale_init_value"],
            "model_type": "clip", "projection_dim": arch["projection_dim"],
            "text_config": text, "vision_config": vision,
            "torch_dtype": "float16", "transformers_version": "4.40.0"}


def preprocessor_config(size):
    return {"crop_size": {"height": size, "width": size},
            "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "CLIPImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"shortest_edge": size}}


def tokenizer_config(context_length):
    tok = {"__type": "AddedToken", "lstrip": False, "normalized": True,
           "rstrip": False, "single_word": False}
    sot = dict(tok, content="<|startoftext|>")
    eot = dict(tok, content="<|endoftext|>")
    return {"add_prefix_space": False, "bos_token": sot,
            "clean_up_tokenization_spaces": True, "do_lower_case": True,
            "eos_token": eot, "errors": "replace",
            "model_max_length": context_length,
            "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer",
            "unk_token": eot}


def special_tokens_map():
    tok = {"lstrip": False, "normalized": True, "rstrip": False,
           "single_word": False}
    return {"bos_token": dict(tok, content="<|startoftext|>"),
            "eos_token": dict(tok, content="<|endoftext|>"),
            "pad_token": dict(tok, content="<|endoftext|>"),
            "unk_token": dict(tok, content="<|endoftext|>")}


def _dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def export_model(out_dir, arch, tensors, vocab_dir, metadata=None):
    """tensors: HF-named float32 numpy arrays, stored as F16. The token
    embedding must already be the full (vocab_size, width) table."""
    os.makedirs(out_dir, exist_ok=True)
    f16 = {k: v.astype(np.float16) for k, v in tensors.items()}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), f16,
                      metadata)
    _dump(os.path.join(out_dir, "config.json"), hf_config(arch))
    _dump(os.path.join(out_dir, "preprocessor_config.json"),
          preprocessor_config(arch["vision_config"]["image_size"]))
    ctx = arch["text_config"]["max_position_embeddings"]
    _dump(os.path.join(out_dir, "tokenizer_config.json"),
          tokenizer_config(ctx))
    _dump(os.path.join(out_dir, "special_tokens_map.json"),
          special_tokens_map())
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(vocab_dir, name),
                        os.path.join(out_dir, name))
