#!/usr/bin/python3
"""Adapter fixtures (tests/data/gen/adapters/) and torch.save fixtures (tests/data/torch-zip/,
tests/data/gen/vision-only-bin/), with references computed independently in float64.

    /usr/bin/python3 tests/data/gen/make_adapters.py

Needs Debian's torch (1.13) and numpy; the adapters and peft packages are not used (not
installable here): their on-disk formats are written by hand, following
the adapters spec this project follows (docs/adapters.md) (adapters 1.2.0, PEFT 0.20):
  adapters: adapter_config.json {config, hidden_size, model_class, model_name, model_type, name,
            version} + pytorch_adapter.bin (torch.save of a plain dict, the default) or
            adapter.safetensors; keys '<tower>.encoder.layers.<i>.<module>.loras.<name>.lora_A' ...
  PEFT:     adapter_config.json {peft_type, ...} + adapter_model.safetensors ({"format":"pt"})
            or adapter_model.bin; keys 'base_model.model.<module>.lora_A.weight' ...
The forward pass runs each method in its library's *runtime* form (not its merge function) and
the script checks: (1) without adapters it reproduces the base reference bit for bit; (2) the
merged weights (what the engine does) give the runtime result within 1e-12; (3) every plausible
wrong reading differs from the reference by more than 100x the C test's tolerance; (4) files
read back (torch.load / own safetensors reader) give the same result.
"""

import collections
import io
import json
import math
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference as mr  # noqa: E402

DATA = os.path.dirname(HERE)
OUT = os.path.join(HERE, "adapters")
BASE = os.path.join(HERE, "f32-gelu")
EMBED_TOL = 1e-4          # tests/engine/test-parity.c: of max|ref|
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

MODS = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
        "o": "self_attn.out_proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}
TOWERS = ("text_model", "vision_model")


# ---------------------------------------------------------------------------------------------
# base model and inputs
# ---------------------------------------------------------------------------------------------

def load_base(d=BASE):
    cfg = json.load(open(os.path.join(d, "config.json")))
    P = {k: torch.as_tensor(v[2]) for k, v in mr.read_checkpoint(d).items()}
    ref = json.load(open(os.path.join(d, "reference", "reference.json")))
    return cfg, P, ref


def tower_cfg(cfg, tower):
    return cfg["text_config" if tower == "text_model" else "vision_config"]


# ---------------------------------------------------------------------------------------------
# forward with hooks.  ad: {"lin": {(tower, layer, mod): fn(x, W, b) -> y},
#                           "proj": {tower: fn(x, W) -> y}, "P": overrides}
# ---------------------------------------------------------------------------------------------

def lin(ad, key, x, W, b):
    f = ad.get("lin", {}).get(key)
    return f(x, W, b) if f else mr.linear(x, W, b)


def attention(ad, tower, i, x, P, pre, heads, causal):
    n, T, W = x.shape
    hd = W // heads
    g = lambda m: (P[pre + MODS[m] + ".weight"], P[pre + MODS[m] + ".bias"])
    q = lin(ad, (tower, i, "q"), x, *g("q")) * hd ** -0.5
    k = lin(ad, (tower, i, "k"), x, *g("k"))
    v = lin(ad, (tower, i, "v"), x, *g("v"))
    q, k, v = (t.reshape(n, T, heads, hd).transpose(1, 2) for t in (q, k, v))
    pfx = ad.get("prefix", {}).get((tower, i))
    Pn = 0
    if pfx is not None:         # already projected keys/values (H, P, D), first, unmasked
        Kp, Vp = pfx
        Pn = Kp.shape[1]
        k = torch.cat([Kp[None].expand(n, -1, -1, -1), k], dim=2)
        v = torch.cat([Vp[None].expand(n, -1, -1, -1), v], dim=2)
    s = q @ k.transpose(-1, -2)
    if causal:
        mask = torch.triu(torch.full((T, T), float("-inf"), dtype=s.dtype), diagonal=1)
        s = s + torch.cat([torch.zeros(T, Pn, dtype=s.dtype), mask], dim=1)
    o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(n, T, W)
    return lin(ad, (tower, i, "o"), o, *g("o"))


def encoder(ad, tower, x, P, cfg, causal):
    act = mr.act_fn(cfg["hidden_act"])
    eps = cfg["layer_norm_eps"]
    for i in range(cfg["num_hidden_layers"]):
        lp = "%s.encoder.layers.%d." % (tower, i)
        bn = ad.get("bn", {})
        h = mr.layer_norm(x, P[lp + "layer_norm1.weight"], P[lp + "layer_norm1.bias"], eps)
        h = attention(ad, tower, i, h, P, lp, cfg["num_attention_heads"], causal)
        f = bn.get((tower, i, "mh"))
        x = f(h, x) if f else x + h
        h = mr.layer_norm(x, P[lp + "layer_norm2.weight"], P[lp + "layer_norm2.bias"], eps)
        h = lin(ad, (tower, i, "fc1"), h, P[lp + "mlp.fc1.weight"], P[lp + "mlp.fc1.bias"])
        h = lin(ad, (tower, i, "fc2"), act(h), P[lp + "mlp.fc2.weight"], P[lp + "mlp.fc2.bias"])
        f = bn.get((tower, i, "out"))
        x = f(h, x) if f else x + h
    return x


def forward(cfg, P, inputs, ad):
    """-> (image_embeds, text_embeds) in float64; P with ad["P"] overrides."""
    P = dict(P)
    P.update(ad.get("P", {}))
    out = {}
    proj = ad.get("proj", {})
    if "pixel_values" in inputs:
        v = cfg["vision_config"]
        pv = inputs["pixel_values"]
        n, C, S, _ = pv.shape
        ps = v["patch_size"]
        G = S // ps
        wpe = P["vision_model.embeddings.patch_embedding.weight"]
        W = wpe.shape[0]
        patches = pv.reshape(n, C, G, ps, G, ps).permute(0, 2, 4, 1, 3, 5).reshape(n, G * G, -1)
        pe = patches @ wpe.reshape(W, -1).t()
        cls = P["vision_model.embeddings.class_embedding"].reshape(1, 1, W).expand(n, 1, W)
        emb = torch.cat([cls, pe], 1) + P["vision_model.embeddings.position_embedding.weight"][None]
        eps = v["layer_norm_eps"]
        x = mr.layer_norm(emb, P["vision_model.pre_layrnorm.weight"], P["vision_model.pre_layrnorm.bias"], eps)
        x = encoder(ad, "vision_model", x, P, v, False)
        pooled = mr.layer_norm(x[:, 0], P["vision_model.post_layernorm.weight"],
                               P["vision_model.post_layernorm.bias"], eps)
        f = proj.get("vision_model")
        Wp = P["visual_projection.weight"]
        out["image"] = f(pooled, Wp) if f else mr.linear(pooled, Wp)
    if "ids" in inputs:
        t = cfg["text_config"]
        ids_list = inputs["ids"]
        T = t["max_position_embeddings"]
        ids = np.zeros((len(ids_list), T), dtype=np.int64)
        for i, s in enumerate(ids_list):
            ids[i, :len(s)] = s
        emb = P["text_model.embeddings.token_embedding.weight"][torch.as_tensor(ids)] + \
            P["text_model.embeddings.position_embedding.weight"][:T][None]
        x = encoder(ad, "text_model", emb, P, t, True)
        last = mr.layer_norm(x, P["text_model.final_layer_norm.weight"],
                             P["text_model.final_layer_norm.bias"], t["layer_norm_eps"])
        pidx = [mr.pool_index(ids[i], t["eos_token_id"]) for i in range(len(ids_list))]
        pooled = last[torch.arange(len(ids_list)), torch.as_tensor(pidx)]
        f = proj.get("text_model")
        Wp = P["text_projection.weight"]
        out["text"] = f(pooled, Wp) if f else mr.linear(pooled, Wp)
    return out


# ---------------------------------------------------------------------------------------------
# methods: one record per adapted Linear, applied at run time (library forward) or merged
# ---------------------------------------------------------------------------------------------

def runtime_fn(d):
    k = d["kind"]
    if k == "lora":            # y = Wx + b + s (B A x + bB)
        return lambda x, W, b: mr.linear(x, W, b) + d["s"] * (
            mr.linear(mr.linear(x, d["A"]), d["B"]) + (d["bB"] if d.get("bB") is not None else 0))
    if k == "ia3_a":           # adapters: (Wx + b) * (alpha l)
        return lambda x, W, b: mr.linear(x, W, b) * (d["alpha"] * d["l"][:, 0])
    if k == "ia3_out":         # PEFT: (Wx + b) * l
        return lambda x, W, b: mr.linear(x, W, b) * d["l"][:, 0]
    if k == "ia3_in":          # PEFT feedforward: W (x * l) + b
        return lambda x, W, b: mr.linear(x * d["l"][0], W, b)
    if k == "dora_a":          # adapters: (m / |W + BA|) * (Wx + b + s BAx)
        def f(x, W, b):
            n = (W + d["B"] @ d["A"]).norm(dim=1)
            return (d["m"][:, 0] / n) * (mr.linear(x, W, b) + d["s"] * mr.linear(mr.linear(x, d["A"]), d["B"]))
        return f
    if k == "dora_p":          # PEFT: (m / |W + sBA|) * (Wx + sBAx) + b
        def f(x, W, b):
            n = (W + d["s"] * d["B"] @ d["A"]).norm(dim=1)
            return (d["m"] / n) * (mr.linear(x, W) + d["s"] * mr.linear(mr.linear(x, d["A"]), d["B"])) + b
        return f
    raise ValueError(k)


def merge(d, W, b):
    """The engine's merge: (W', b') with the same forward as runtime_fn(d)."""
    k = d["kind"]
    if k == "lora":
        return W + d["s"] * d["B"] @ d["A"], (b + d["s"] * d["bB"] if d.get("bB") is not None else b)
    if k == "ia3_a":
        c = d["alpha"] * d["l"][:, 0]
        return W * c[:, None], b * c
    if k == "ia3_out":
        c = d["l"][:, 0]
        return W * c[:, None], b * c
    if k == "ia3_in":
        return W * d["l"][0][None, :], b
    if k == "dora_a":
        c = d["m"][:, 0] / (W + d["B"] @ d["A"]).norm(dim=1)
        return c[:, None] * (W + d["s"] * d["B"] @ d["A"]), c * b
    if k == "dora_p":
        c = d["m"] / (W + d["s"] * d["B"] @ d["A"]).norm(dim=1)
        return c[:, None] * (W + d["s"] * d["B"] @ d["A"]), b
    raise ValueError(k)


def hooks(deltas, overrides=None):
    ad = {"lin": {}, "proj": {}, "P": dict(overrides or {})}
    for key, d in deltas.items():
        if key[1] is None:                        # a projection (no bias)
            f = runtime_fn(d)
            ad["proj"][key[0]] = (lambda f: lambda x, W: f(x, W, torch.zeros(W.shape[0])))(f)
        else:
            ad["lin"][key] = runtime_fn(d)
    return ad


def merged_params(P, deltas, overrides=None):
    P = dict(P)
    P.update(overrides or {})
    for (tower, i, mod), d in deltas.items():
        if i is None:
            name = ("visual_projection" if tower == "vision_model" else "text_projection") + ".weight"
            W, _ = merge(d, P[name], torch.zeros(P[name].shape[0]))
            P[name] = W
            continue
        pre = "%s.encoder.layers.%d.%s." % (tower, i, MODS[mod])
        P[pre + "weight"], P[pre + "bias"] = merge(d, P[pre + "weight"], P[pre + "bias"])
    return P


# ---------------------------------------------------------------------------------------------
# configs, exactly as the libraries write them (json.dump(indent=2, sort_keys=True))
# ---------------------------------------------------------------------------------------------

def adapters_lora_config(**kw):
    c = {"architecture": "lora", "selfattn_lora": True, "intermediate_lora": False,
         "output_lora": False, "leave_out": [], "r": 8, "alpha": 8, "dropout": 0.0,
         "attn_matrices": ["q", "v"], "composition_mode": "add", "init_weights": "lora",
         "init_weights_seed": None, "use_gating": False, "use_dora": False, "vera_d": None,
         "vera_b": None, "dtype": None}
    c.update(kw)
    return c


def adapters_ia3_config(**kw):
    return adapters_lora_config(**dict(dict(intermediate_lora=True, r=1, alpha=1,
                                            attn_matrices=["k", "v"], composition_mode="scale",
                                            init_weights="ia3"), **kw))


def adapters_top(name, config, model_class="CLIPModel", model_type="clip", hidden_size=None,
                 version="adapters.1.2.0"):
    top = {"config": config, "hidden_size": hidden_size, "model_class": model_class,
           "model_name": "gst-clip/gen/f32-gelu", "model_type": model_type, "name": name}
    if version is not None:
        top["version"] = version
    return top


def peft_lora_config(**kw):
    c = {"alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None,
         "auto_mapping": None, "base_model_name_or_path": "gst-clip/gen/f32-gelu", "bias": "none",
         "corda_config": None, "ensure_weight_tying": False, "eva_config": None,
         "exclude_modules": None, "fan_in_fan_out": False, "inference_mode": True,
         "init_lora_weights": True, "layer_replication": None, "layers_pattern": None,
         "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 8, "lora_bias": False,
         "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core",
         "modules_to_save": None, "peft_type": "LORA", "peft_version": "0.20.1.dev0",
         "qalora_group_size": 16, "r": 8, "rank_pattern": {}, "revision": None,
         "target_modules": ["q_proj", "v_proj"], "target_parameters": None, "task_type": None,
         "trainable_token_indices": None, "use_dora": False, "use_qalora": False,
         "use_rslora": False}
    c.update(kw)
    return c


def peft_ia3_config(**kw):
    c = {"auto_mapping": None, "base_model_name_or_path": "gst-clip/gen/f32-gelu",
         "exclude_modules": None, "fan_in_fan_out": False, "feedforward_modules": ["fc2"],
         "inference_mode": True, "init_ia3_weights": True, "modules_to_save": None,
         "peft_type": "IA3", "peft_version": "0.20.1.dev0", "revision": None,
         "target_modules": ["k_proj", "v_proj", "fc2"], "task_type": None}
    c.update(kw)
    return c


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------

def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)


def write_st(path, tensors, metadata=True):
    items = [(k, "F32", tuple(v.shape), np.ascontiguousarray(v.detach().numpy().astype("<f4")).tobytes())
             for k, v in tensors.items()]
    mr.write_safetensors(path, items)
    if not metadata:        # adapters' save_file(..) is called without metadata
        with open(path, "rb") as f:
            blob = f.read()
        (hl,) = struct.unpack("<Q", blob[:8])
        h = json.loads(blob[8:8 + hl])
        h.pop("__metadata__")
        hb = json.dumps(h, separators=(",", ":")).encode()
        hb += b" " * ((-len(hb)) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + blob[8 + hl:])


def write_bin(path, tensors):
    """adapters' save_adapter: torch.save of a plain dict of float32 tensors."""
    torch.save({k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}, path)


def f32(t):
    return t.to(torch.float32).to(torch.float64)      # what the file holds


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

def layers_of(cfg, tower):
    return tower_cfg(cfg, tower)["num_hidden_layers"]


def dims(cfg, tower, mod):
    c = tower_cfg(cfg, tower)
    D, M = c["hidden_size"], c["intermediate_size"]
    return {"q": (D, D), "k": (D, D), "v": (D, D), "o": (D, D), "fc1": (M, D), "fc2": (D, M)}[mod]


def global_id(cfg, tower, i):
    return i if tower == "text_model" else layers_of(cfg, "text_model") + i


def adapters_lora_like(cfg, name, conf, kind, wrong=None, id_space="global"):
    """adapters LoRA / IA3 / DoRA over every layer and site the config enables.
    -> (keys, deltas).  id_space: global (CLIPModel), vision or text (single tower)."""
    mods = [m for m in ("q", "k", "v") if conf["selfattn_lora"] and m in conf["attn_matrices"]]
    mods += (["fc1"] if conf["intermediate_lora"] else []) + (["fc2"] if conf["output_lora"] else [])
    keys, deltas = {}, {}
    towers = TOWERS if id_space == "global" else (id_space + "_model",)
    for tower in towers:
        for i in range(layers_of(cfg, tower)):
            lid = global_id(cfg, tower, i) if id_space == "global" else i
            if lid in conf["leave_out"]:
                continue
            for mod in mods:
                out, inp = dims(cfg, tower, mod)
                pre = "%s.encoder.layers.%d.%s.loras.%s." % (tower, i, MODS[mod], name)
                r = conf["r"]
                if kind == "ia3":
                    l = f32(1 + 0.3 * torch.randn(out, 1))
                    keys[pre + "lora_B"] = l
                    deltas[(tower, i, mod)] = {"kind": "ia3_a", "l": l, "alpha": conf["alpha"]}
                    continue
                A = f32(torch.randn(r, inp) * inp ** -0.5)
                B = f32(torch.randn(out, r) * 0.4 * r ** -0.5)
                keys[pre + "lora_A"], keys[pre + "lora_B"] = A, B
                d = {"kind": "lora", "A": A, "B": B, "s": conf["alpha"] / r}
                if kind == "dora":
                    m = f32((1 + 0.3 * torch.randn(out, 1)) * 0.8)
                    keys[pre + "m.weight"] = m
                    d.update(kind="dora_a", m=m)
                deltas[(tower, i, mod)] = d
    return keys, deltas


def peft_lora_like(cfg, conf, kind):
    """PEFT LoRA / DoRA / IA3 per its config: list targets matched by suffix, layers_to_transform
    per tower, rank/alpha patterns, rslora.  -> (keys, deltas)."""
    keys, deltas = {}, {}
    targets = conf["target_modules"]
    ltt = conf.get("layers_to_transform")
    for tower in TOWERS:
        for i in range(layers_of(cfg, tower)):
            if ltt is not None and i not in ltt:
                continue
            for mod, path in MODS.items():
                full = "%s.encoder.layers.%d.%s" % (tower, i, path)
                if not any(full == t or full.endswith("." + t) for t in targets):
                    continue
                out, inp = dims(cfg, tower, mod)
                pre = "base_model.model." + full + "."
                if kind == "ia3":
                    ff = any(full == t or full.endswith("." + t) for t in conf["feedforward_modules"])
                    l = f32(1 + 0.3 * torch.randn(1, inp) if ff else 1 + 0.3 * torch.randn(out, 1))
                    keys[pre + "ia3_l"] = l
                    deltas[(tower, i, mod)] = {"kind": "ia3_in" if ff else "ia3_out", "l": l}
                    continue
                r, alpha = conf["r"], conf["lora_alpha"]
                for pat, v in conf["rank_pattern"].items():
                    if full == pat or full.endswith("." + pat):
                        r = v
                        break
                for pat, v in conf["alpha_pattern"].items():
                    if full == pat or full.endswith("." + pat):
                        alpha = v
                        break
                s = alpha / math.sqrt(r) if conf["use_rslora"] else alpha / r
                A = f32(torch.randn(r, inp) * inp ** -0.5)
                B = f32(torch.randn(out, r) * 0.4 * r ** -0.5)
                keys[pre + "lora_A.weight"], keys[pre + "lora_B.weight"] = A, B
                d = {"kind": "lora", "A": A, "B": B, "s": s}
                if conf["lora_bias"]:
                    bB = f32(0.1 * torch.randn(out))
                    keys[pre + "lora_B.bias"] = bB
                    d["bB"] = bB
                if conf["use_dora"]:
                    m = f32((1 + 0.3 * torch.randn(out)) * 0.8)
                    keys[pre + "lora_magnitude_vector"] = m
                    d.update(kind="dora_p", m=m)
                deltas[(tower, i, mod)] = d
    return keys, deltas


# ---------------------------------------------------------------------------------------------
# bottleneck adapters (adapters' Adapter / ParallelAdapter, layer_norm None as CLIP is pre-LN)
# ---------------------------------------------------------------------------------------------

def bn_act(name):
    name = name.lower()
    if name in ("relu",):
        return torch.relu
    if name in ("swish", "silu"):
        return lambda x: x * torch.sigmoid(x)
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "tanh":
        return torch.tanh
    raise KeyError(name)


def bn_config(kind, **kw):
    c = {"adapter_residual_before_ln": False, "cross_adapter": False, "dropout": 0.0,
         "factorized_phm_W": True, "factorized_phm_rule": False,
         "hypercomplex_nonlinearity": "glorot-uniform", "init_weights": "bert",
         "init_weights_seed": None, "inv_adapter": None, "inv_adapter_reduction_factor": None,
         "is_parallel": False, "learn_phm": True, "leave_out": [], "ln_after": False,
         "ln_before": False, "mh_adapter": False, "non_linearity": "relu",
         "original_ln_after": True, "original_ln_before": True, "output_adapter": True,
         "phm_bias": True, "phm_c_init": "normal", "phm_dim": 4, "phm_init_range": 0.0001,
         "phm_layer": False, "phm_rank": 1, "reduction_factor": 16, "residual_before_ln": True,
         "scaling": 1.0, "shared_W_phm": False, "shared_phm_rule": True, "stochastic_depth": 0.0,
         "use_gating": False}
    if kind == "double_seq_bn":
        c.update(original_ln_before=False, mh_adapter=True, non_linearity="swish")
    if kind == "par_bn":
        c.update(original_ln_before=False, is_parallel=True, reduction_factor=2, scaling=4.0,
                 init_weights="mam")
    c.update(kw)
    return c


def bn_m(conf, d, lid):
    rf = conf["reduction_factor"]
    if isinstance(rf, dict):
        rf = rf[str(lid)] if str(lid) in rf else rf["default"]
    return max(1, int(d // rf))


def bottleneck(cfg, conf, name, shift=None):
    """-> (keys, blocks): blocks[(tower, i, site)] = parameters.  shift (legacy_gelu): down
    biases near -3, where the erf and tanh GELUs differ by 10%, and a large up-projection, so
    that reading one for the other is visible."""
    keys, blocks = {}, {}
    for tower in TOWERS:
        d = tower_cfg(cfg, tower)["hidden_size"]
        for i in range(layers_of(cfg, tower)):
            lid = global_id(cfg, tower, i)
            if lid in conf["leave_out"]:
                continue
            for site, on, sname in (("mh", conf["mh_adapter"], "attention_adapters"),
                                    ("out", conf["output_adapter"], "output_adapters")):
                if not on:
                    continue
                m = bn_m(conf, d, lid)
                pre = "%s.encoder.layers.%d.%s.adapters.%s." % (tower, i, sname, name)
                b = {"Wd": f32(torch.randn(m, d) * d ** -0.5), "bd": f32(0.1 * torch.randn(m)),
                     "Wu": f32(torch.randn(d, m) * 0.5 * m ** -0.5), "bu": f32(0.1 * torch.randn(d))}
                if shift:
                    b["Wd"] = f32(b["Wd"] * 0.05)
                    b["bd"] = f32(shift + 0.2 * torch.randn(m))
                    b["Wu"] = f32(b["Wu"] * 100)
                down = "adapter_down.0."
                if conf["ln_before"]:
                    b["lnb_w"], b["lnb_b"] = f32(1 + 0.2 * torch.randn(d)), f32(0.1 * torch.randn(d))
                    keys[pre + "adapter_down.0.weight"], keys[pre + "adapter_down.0.bias"] = b["lnb_w"], b["lnb_b"]
                    keys[pre + "adapter_norm_before.weight"] = b["lnb_w"]
                    keys[pre + "adapter_norm_before.bias"] = b["lnb_b"]
                    down = "adapter_down.1."
                keys[pre + down + "weight"], keys[pre + down + "bias"] = b["Wd"], b["bd"]
                keys[pre + "adapter_up.weight"], keys[pre + "adapter_up.bias"] = b["Wu"], b["bu"]
                if conf["ln_after"]:
                    b["lna_w"], b["lna_b"] = f32(1 + 0.2 * torch.randn(d)), f32(0.1 * torch.randn(d))
                    keys[pre + "adapter_norm_after.weight"] = b["lna_w"]
                    keys[pre + "adapter_norm_after.bias"] = b["lna_b"]
                sc = conf["scaling"]
                if sc == "channel":
                    b["s"] = f32(1 + 0.3 * torch.randn(d))
                    keys[pre + "scaling"] = b["s"]
                elif sc == "learned":
                    b["s"] = f32(torch.tensor([1.7]))
                    keys[pre + "scaling"] = b["s"]
                else:
                    b["s"] = float(sc)
                blocks[(tower, i, site)] = b
    return keys, blocks


def bn_hooks(conf, blocks, act_name, P=None, wrong=None):
    act = bn_act(act_name)
    ln = lambda x, w, b: mr.layer_norm(x, w, b, 1e-5)

    def make(b, key):
        def A(u):
            if "lnb_w" in b:
                u = ln(u, b["lnb_w"], b["lnb_b"])
            return b["s"] * (mr.linear(act(mr.linear(u, b["Wd"], b["bd"])), b["Wu"], b["bu"]))
        LNa = (lambda a: ln(a, b["lna_w"], b["lna_b"])) if "lna_w" in b else (lambda a: a)

        def seq(h, r):
            xin = h + r if conf["original_ln_before"] else h
            if wrong == "seq input h":
                xin = h
            res = h if conf["residual_before_ln"] else xin
            a = A(xin)
            arbl = conf["adapter_residual_before_ln"] != (wrong == "arbl flipped")
            o = LNa(a + res) if arbl else LNa(a) + res
            return o + r if conf["original_ln_after"] else o

        def par(h, r):
            u = r
            if wrong == "parallel input LN(r)":
                tower, i, site = key
                lp = "%s.encoder.layers.%d.layer_norm%d." % (tower, i, 1 if site == "mh" else 2)
                u = mr.layer_norm(r, P[lp + "weight"], P[lp + "bias"], tower_cfg_eps[tower])
            a = LNa(A(u))
            return a + h + (r if conf["original_ln_after"] else 0)
        return par if conf["is_parallel"] else seq
    return {"bn": {k: make(b, k) for k, b in blocks.items()}}


tower_cfg_eps = {}


class Fixture:
    def __init__(self, name, what):
        self.name, self.what = name, what
        self.dir = os.path.join(OUT, name)
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)


def embeds(cfg, P, inputs, ad):
    o = forward(cfg, P, inputs, ad)
    return torch.cat([o["image"].reshape(-1), o["text"].reshape(-1)])


def far(a, b, what):
    """A wrong reading must miss the reference by > 100x the C tolerance."""
    d = float((a - b).abs().max())
    tol = EMBED_TOL * float(b.abs().max())
    assert d > 100 * tol, "%s: wrong reading only %.3g off (tol %.3g)" % (what, d, tol)
    return d / float(b.abs().max())


def write_reference(fx, cfg, P, inputs, ad, meta, deltas, overrides=None, wrong=()):
    o = forward(cfg, P, inputs, ad)
    # the engine merges: the merged weights in the plain forward give the same
    Pm = merged_params(P, deltas, overrides)
    om = forward(cfg, Pm, inputs, {})
    for k in o:
        assert float((o[k] - om[k]).abs().max()) < 1e-12, (fx.name, k, "merge != runtime")
    ref = torch.cat([o["image"].reshape(-1), o["text"].reshape(-1)])
    base = embeds(cfg, P, inputs, {})
    moved = float((ref - base).abs().max() / base.abs().max())
    assert moved > 1e-2, (fx.name, "adapter moves the embeddings by only", moved)
    misses = {}
    for what, wad in wrong:
        misses[what] = far(embeds(cfg, P, inputs, wad), ref, fx.name + ": " + what)
    rd = os.path.join(fx.dir, "reference")
    os.makedirs(rd)
    mr.f32_file(os.path.join(rd, "image_embeds.f32"), o["image"])
    mr.f32_file(os.path.join(rd, "text_embeds.f32"), o["text"])
    meta = dict(meta, base="gen/f32-gelu", exercises=fx.what,
                relative_change_from_base=round(moved, 4),
                wrong_readings_relative_miss={k: round(v, 4) for k, v in misses.items()})
    mr.dump_json(os.path.join(rd, "reference.json"), meta)
    return o


def load_back(fx, kind):
    """Re-read the weights file the way the libraries would."""
    for f in ("adapter.safetensors", "adapter_model.safetensors"):
        p = os.path.join(fx.dir, f)
        if os.path.exists(p):
            _, t = mr.read_safetensors(p)
            return {k: torch.as_tensor(v[2]) for k, v in t.items()}
    for f in ("pytorch_adapter.bin", "adapter_model.bin"):
        p = os.path.join(fx.dir, f)
        if os.path.exists(p):
            return {k: v.to(torch.float64) for k, v in torch.load(p).items()}
    raise FileNotFoundError(fx.dir)


def check_files(fx, keys):
    back = load_back(fx, None)
    assert set(back) == set(keys), (fx.name, set(back) ^ set(keys))
    for k in keys:
        assert torch.equal(back[k], keys[k]), (fx.name, k)


def make_adapters_fixture(cfg, P, inputs, name, what, conf, kind, fmt, top=None,
                          id_space="global", wrong=(), save_conf=None):
    fx = Fixture(name, what)
    keys, deltas = adapters_lora_like(cfg, "a", conf, kind, id_space=id_space)
    write_json(os.path.join(fx.dir, "adapter_config.json"),
               top or adapters_top("a", save_conf or conf))
    if fmt == "bin":
        write_bin(os.path.join(fx.dir, "pytorch_adapter.bin"), keys)
    else:
        write_st(os.path.join(fx.dir, "adapter.safetensors"), keys, metadata=False)
    check_files(fx, keys)
    wrong_ads = [(w, hooks(wd)) for w, wd in (wrong(keys, deltas) if wrong else [])]
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "adapters", "method": kind, "format": fmt}, deltas, None, wrong_ads)
    return fx, keys, deltas


def main():
    cfg, P, ref = load_base()
    pv = torch.as_tensor(np.fromfile(os.path.join(BASE, "reference", "pixel_values.f32"),
                                     dtype="<f4").reshape(ref["pixel_values_shape"]).astype(np.float64))
    inputs = {"pixel_values": pv, "ids": ref["ids"]}
    # (1) the hooked forward without adapters is the base reference, bit for bit in float32
    o = forward(cfg, P, inputs, {})
    for k, f in (("image", "image_embeds.f32"), ("text", "text_embeds.f32")):
        want = np.fromfile(os.path.join(BASE, "reference", f), dtype="<f4")
        got = o[k].numpy().astype(np.float32).reshape(-1)
        assert np.array_equal(got, want), ("base reference not reproduced", k)
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    table = []

    # --- adapters LoRA: q, v, fc1, fc2, alpha != r, leave_out with global ids -----------------
    torch.manual_seed(1301)
    conf = adapters_lora_config(r=4, alpha=12, intermediate_lora=True, output_lora=True,
                                leave_out=[1, 2])            # text layer 1 + vision layer 0
    def lora_wrong(keys, deltas):
        # per-tower reading: vision layers 1 and 2 left out (instead of vision 0)
        pt = {k: d for k, d in deltas.items() if not (k[0] == "vision_model" and k[1] in (1, 2))}
        return [("leave_out [1,2] read per tower", pt),
                ("no alpha/r scaling", {k: dict(d, s=1.0) for k, d in deltas.items()})]
    fx, lora_keys, lora_deltas = make_adapters_fixture(
        cfg, P, inputs, "lora", "adapters LoRA on q, v, fc1, fc2; r=4, alpha=12 (s=3); leave_out "
        "[1, 2] = text layer 1 + vision layer 0 (global ids); pytorch_adapter.bin (plain dict)",
        conf, "lora", "bin", wrong=lora_wrong)
    table.append(fx)
    # the same adapter as adapter.safetensors
    fx2 = Fixture("lora_safetensors", "the lora fixture saved with use_safetensors=True")
    shutil.copy(os.path.join(fx.dir, "adapter_config.json"), fx2.dir)
    write_st(os.path.join(fx2.dir, "adapter.safetensors"), lora_keys, metadata=False)
    shutil.copytree(os.path.join(fx.dir, "reference"), os.path.join(fx2.dir, "reference"))
    table.append(fx2)
    # the same adapter on a CLIPAdapterModel: every key under "clip."
    fx3 = Fixture("lora_clip_adapter_model", "the lora fixture saved from a CLIPAdapterModel "
                  "(keys prefixed 'clip.', model_class CLIPAdapterModel, global ids)")
    c = json.load(open(os.path.join(fx.dir, "adapter_config.json")))
    c["model_class"] = "CLIPAdapterModel"
    write_json(os.path.join(fx3.dir, "adapter_config.json"), c)
    write_bin(os.path.join(fx3.dir, "pytorch_adapter.bin"), {"clip." + k: v for k, v in lora_keys.items()})
    shutil.copytree(os.path.join(fx.dir, "reference"), os.path.join(fx3.dir, "reference"))
    table.append(fx3)

    # --- adapters IA3 (bias scaled too, fc1 output scaled) ---------------------------------
    torch.manual_seed(1302)
    conf = adapters_ia3_config(alpha=1)

    def ia3_wrong(keys, deltas):
        # (W x) * l + b: the merge_adapter reading, bias left unscaled
        ad = {"lin": {k: (lambda l: lambda x, W, b: mr.linear(x, W) * l[:, 0] + b)(d["l"])
                      for k, d in deltas.items()}}
        return [("IA3 bias not scaled", ad)]
    fx = Fixture("ia3", "adapters IA3Config on CLIPModel: k, v, fc1 (output scaled, before the "
                 "activation), bias scaled with the weight; adapter.safetensors")
    keys, deltas = adapters_lora_like(cfg, "a", conf, "ia3")
    write_json(os.path.join(fx.dir, "adapter_config.json"), adapters_top("a", conf))
    write_st(os.path.join(fx.dir, "adapter.safetensors"), keys, metadata=False)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "adapters", "method": "ia3", "format": "safetensors"}, deltas,
                    None, ia3_wrong(keys, deltas))
    table.append(fx)

    # --- adapters DoRA: norm of W + BA unscaled, bias inside the scaled term ---------------
    torch.manual_seed(1303)
    conf = adapters_lora_config(r=4, alpha=8, use_dora=True, output_lora=True)

    def dora_wrong(keys, deltas):
        scaled = {k: dict(d, kind="dora_p") for k, d in deltas.items()}
        for k in scaled:
            scaled[k]["m"] = scaled[k]["m"][:, 0]
        bias_out = {k: (lambda d: lambda x, W, b: (d["m"][:, 0] / (W + d["B"] @ d["A"]).norm(dim=1))
                        * (mr.linear(x, W) + d["s"] * mr.linear(mr.linear(x, d["A"]), d["B"])) + b)(d)
                    for k, d in deltas.items()}
        return [("DoRA norm of W + sBA, bias outside (PEFT's reading)", hooks(scaled)),
                ("DoRA bias outside the scaled term", {"lin": bias_out})]
    fx = Fixture("dora", "adapters DoRA (LoRAConfig use_dora) on q, v, fc2; alpha/r = 2; "
                 "c = m/|W + BA| (unscaled), b' = c b; pytorch_adapter.bin")
    keys, deltas = adapters_lora_like(cfg, "a", conf, "dora")
    write_json(os.path.join(fx.dir, "adapter_config.json"), adapters_top("a", conf))
    write_bin(os.path.join(fx.dir, "pytorch_adapter.bin"), keys)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "adapters", "method": "dora", "format": "bin"}, deltas, None,
                    dora_wrong(keys, deltas))
    table.append(fx)

    # --- adapters LoRA saved by adapters < 1.1: alpha reset to r ---------------------------
    torch.manual_seed(1304)
    saved = adapters_lora_config(r=4, alpha=16)
    fx = Fixture("lora_old_version", "version adapters.1.0.1, r=4, alpha=16: loaded as alpha=r "
                 "(s=1), as _fix_backward_compat does")
    keys, deltas = adapters_lora_like(cfg, "a", dict(saved, alpha=4), "lora")
    write_json(os.path.join(fx.dir, "adapter_config.json"),
               adapters_top("a", saved, version="adapters.1.0.1"))
    write_bin(os.path.join(fx.dir, "pytorch_adapter.bin"), keys)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "adapters", "method": "lora", "format": "bin"}, deltas, None,
                    [("alpha 16 taken as saved", hooks({k: dict(d, s=4.0) for k, d in deltas.items()}))])
    table.append(fx)

    # --- single-tower class: leave_out counts vision layers from 0 --------------------------
    torch.manual_seed(1305)
    conf = adapters_lora_config(r=4, alpha=8, leave_out=[0], output_lora=True)
    fx = Fixture("vision_local", "model_class CLIPVisionModelWithProjection, leave_out [0] = vision "
                 "layer 0 (tower-local ids); loaded on f32-gelu (text tower unadapted)")
    keys, deltas = adapters_lora_like(cfg, "a", conf, "lora", id_space="vision")
    write_json(os.path.join(fx.dir, "adapter_config.json"),
               adapters_top("a", conf, "CLIPVisionModelWithProjection", "clip_vision_model", 48))
    write_bin(os.path.join(fx.dir, "pytorch_adapter.bin"), keys)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "adapters", "method": "lora", "format": "bin"}, deltas, None, [])
    table.append(fx)

    # --- PEFT LoRA: layers_to_transform per tower, alpha_pattern, rslora -------------------
    torch.manual_seed(1306)
    conf = peft_lora_config(target_modules=["q_proj", "v_proj", "fc1"], layers_to_transform=[0],
                            r=4, lora_alpha=8, alpha_pattern={"fc1": 32}, use_rslora=True)
    fx = Fixture("peft_lora", "PEFT LoRA on q_proj, v_proj, fc1; layers_to_transform [0] = text "
                 "layer 0 and vision layer 0; alpha_pattern fc1: 32; use_rslora (s = alpha/sqrt r); "
                 "adapter_model.safetensors")
    keys, deltas = peft_lora_like(cfg, conf, "lora")
    write_json(os.path.join(fx.dir, "adapter_config.json"), conf)
    write_st(os.path.join(fx.dir, "adapter_model.safetensors"), keys)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "peft", "method": "lora", "format": "safetensors"}, deltas, None,
                    [("rslora ignored (alpha/r)", hooks({k: dict(d, s=d["s"] / 2) for k, d in deltas.items()})),
                     ("layers_to_transform global (text 0 only)",
                      hooks({k: d for k, d in deltas.items() if k[0] == "text_model"}))])
    table.append(fx)

    # --- PEFT LoRA with a regex target_modules (re.fullmatch) --------------------------------
    torch.manual_seed(1310)
    conf = peft_lora_config(target_modules=["q_proj", "out_proj", "fc2"], r=4, lora_alpha=4)
    fx = Fixture("peft_regex_targets", "PEFT LoRA whose target_modules is a regex string "
                 "(fullmatch on the module name): q_proj, out_proj and fc2 of the vision tower "
                 "only; adapter_model.safetensors")
    keys, deltas = peft_lora_like(cfg, conf, "lora")
    keys = {k: v for k, v in keys.items() if ".vision_model." in k}
    deltas = {k: d for k, d in deltas.items() if k[0] == "vision_model"}
    conf["target_modules"] = r"vision_model\.encoder\.layers\.\d+\.(self_attn\.(q|out)_proj|mlp\.fc2)"
    write_json(os.path.join(fx.dir, "adapter_config.json"), conf)
    write_st(os.path.join(fx.dir, "adapter_model.safetensors"), keys)
    check_files(fx, keys)
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "peft", "method": "lora", "format": "safetensors"}, deltas, None, [])
    table.append(fx)

    # --- PEFT DoRA: norm of W + sBA, bias outside ------------------------------------------
    torch.manual_seed(1307)
    conf = peft_lora_config(target_modules=["q_proj", "k_proj", "out_proj", "fc2", "visual_projection"],
                            r=4, lora_alpha=12, use_dora=True)
    fx = Fixture("peft_dora", "PEFT DoRA on q, k, out_proj, fc2 and visual_projection (no bias); "
                 "s = 3; c = m/|W + sBA|, bias outside; adapter_model.safetensors")
    keys, deltas = peft_lora_like(cfg, conf, "lora")
    Wv = P["visual_projection.weight"]
    A = f32(torch.randn(4, Wv.shape[1]) * Wv.shape[1] ** -0.5)
    B = f32(torch.randn(Wv.shape[0], 4) * 0.4 * 0.5)
    m = f32((1 + 0.3 * torch.randn(Wv.shape[0])) * Wv.norm(dim=1))
    keys["base_model.model.visual_projection.lora_A.weight"] = A
    keys["base_model.model.visual_projection.lora_B.weight"] = B
    keys["base_model.model.visual_projection.lora_magnitude_vector"] = m
    deltas[("vision_model", None, "proj")] = {"kind": "dora_p", "A": A, "B": B, "s": 3.0, "m": m}
    write_json(os.path.join(fx.dir, "adapter_config.json"), conf)
    write_st(os.path.join(fx.dir, "adapter_model.safetensors"), keys)
    check_files(fx, keys)
    unscaled = {k: (lambda d: lambda x, W, b: (d["m"] / (W + d["B"] @ d["A"]).norm(dim=1))
                    * (mr.linear(x, W) + d["s"] * mr.linear(mr.linear(x, d["A"]), d["B"])) + b)(d)
                for k, d in deltas.items()}
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "peft", "method": "dora", "format": "safetensors"}, deltas, None,
                    [("DoRA norm of W + BA (unscaled)", {"lin": unscaled})])
    table.append(fx)

    # --- PEFT IA3: k, v (output) and fc2 (feedforward: input scaled); .bin ------------------
    torch.manual_seed(1308)
    conf = peft_ia3_config()
    fx = Fixture("peft_ia3", "PEFT IA3 on k_proj, v_proj, fc2 with fc2 feedforward (input "
                 "scaled, bias unchanged); adapter_model.bin")
    keys, deltas = peft_lora_like(cfg, conf, "ia3")
    write_json(os.path.join(fx.dir, "adapter_config.json"), conf)
    torch.save(collections.OrderedDict((k, v.to(torch.float32)) for k, v in keys.items()),
               os.path.join(fx.dir, "adapter_model.bin"))
    check_files(fx, keys)
    out_only = {k: (dict(d, kind="ia3_out", l=d["l"].t()) if d["kind"] == "ia3_in" else d)
                for k, d in deltas.items() if d["kind"] != "ia3_in"}
    write_reference(fx, cfg, P, inputs, hooks(deltas),
                    {"library": "peft", "method": "ia3", "format": "bin"}, deltas, None,
                    [("fc2 output scaled instead of input", hooks(out_only))])
    table.append(fx)

    # --- PEFT LoRA with lora_bias, bias="lora_only", modules_to_save visual_projection ------
    torch.manual_seed(1309)
    conf = peft_lora_config(target_modules=["q_proj", "fc2"], r=2,
                            lora_alpha=4, lora_bias=True, bias="lora_only",
                            modules_to_save=["visual_projection"])
    fx = Fixture("peft_modules_to_save", "PEFT LoRA with lora_bias on q_proj and fc2; "
                 "bias='lora_only' (trained base biases of the targets saved as "
                 "base_layer.bias); modules_to_save visual_projection (replaces the base tensor)")
    keys, deltas = peft_lora_like(cfg, conf, "lora")
    # bias lora_only: the trained biases of the adapted Linears
    overrides = {}
    for (tower, i, mod), d in list(deltas.items()):
        if i is None:
            continue
        name = "%s.encoder.layers.%d.%s.bias" % (tower, i, MODS[mod])
        nb = f32(P[name] + 0.2 * torch.randn(P[name].shape))
        overrides[name] = nb
        keys["base_model.model.%s.encoder.layers.%d.%s.base_layer.bias" % (tower, i, MODS[mod])] = nb
    vp = f32(P["visual_projection.weight"] + 0.3 * torch.randn(P["visual_projection.weight"].shape)
             * float(P["visual_projection.weight"].std()))
    overrides["visual_projection.weight"] = vp
    keys["base_model.model.visual_projection.weight"] = vp
    # lora_B.bias is not a projection's (no lora_bias key for it was made above)
    write_json(os.path.join(fx.dir, "adapter_config.json"), conf)
    write_st(os.path.join(fx.dir, "adapter_model.safetensors"), keys)
    check_files(fx, keys)
    # projection LoRA: bias-free linear, handled in hooks
    ad = hooks(deltas, overrides)
    no_override = hooks(deltas)
    write_reference(fx, cfg, P, inputs, ad,
                    {"library": "peft", "method": "lora", "format": "safetensors"}, deltas,
                    overrides, [("modules_to_save and biases ignored", no_override)])
    table.append(fx)

    tower_cfg_eps.update({t: tower_cfg(cfg, t)["layer_norm_eps"] for t in TOWERS})
    table += bottleneck_fixtures(cfg, P, inputs)
    table += prefix_fixtures(cfg, P, inputs)

    bad_inputs(cfg, P, lora_keys)
    torch_zip_fixtures()
    vision_only_bin()
    readme(table)
    print("ok: %d adapter fixtures in %s" % (len(table), OUT))


# ---------------------------------------------------------------------------------------------
# prefix tuning (PrefixTuning / FlatPrefixTuning; location clip_<tower>_self_prefix)
# ---------------------------------------------------------------------------------------------

def prefix_config(**kw):
    c = {"architecture": "prefix_tuning", "encoder_prefix": True, "cross_prefix": True,
         "leave_out": [], "flat": False, "prefix_length": 30, "bottleneck_size": 512,
         "non_linearity": "tanh", "dropout": 0.0, "use_gating": False, "shared_gating": True,
         "init_weights_seed": None}
    c.update(kw)
    return c


def prefix_params(cfg, conf, name, flat):
    """-> (keys, kv): kv[tower] = (P, 2 n_t d) and the slots of its layers."""
    P, bs = conf["prefix_length"], conf["bottleneck_size"]
    keys, kv = {}, {}
    for tower in TOWERS:
        c = tower_cfg(cfg, tower)
        d = c["hidden_size"]
        slots = {}
        for i in range(layers_of(cfg, tower)):
            if global_id(cfg, tower, i) not in conf["leave_out"]:
                slots[i] = len(slots)
        n_t = len(slots)
        loc = "prefix_tuning.prefix_tunings.%s.clip_%s_self_prefix." % (name, tower)
        if flat:
            ct = f32(0.8 * torch.randn(P * 2 * n_t * d))
            keys[loc + "control_trans"] = ct
            flatkv = ct.reshape(P, 2 * n_t * d)
        else:
            E = f32(torch.randn(P, d))
            W1, b1 = f32(torch.randn(bs, d) * d ** -0.5), f32(0.2 * torch.randn(bs))
            W2, b2 = f32(torch.randn(2 * n_t * d, bs) * bs ** -0.5), f32(0.2 * torch.randn(2 * n_t * d))
            keys[loc + "wte.weight"] = E
            keys[loc + "control_trans.0.weight"], keys[loc + "control_trans.0.bias"] = W1, b1
            keys[loc + "control_trans.2.weight"], keys[loc + "control_trans.2.bias"] = W2, b2
            flatkv = mr.linear(torch.tanh(mr.linear(E, W1, b1)), W2, b2)
        kv[tower] = (flatkv, slots, c["num_attention_heads"], d)
    return keys, kv


def prefix_hooks(kv, layout="adapters"):
    pre = {}
    for tower, (flatkv, slots, H, d) in kv.items():
        P, n_t = flatkv.shape[0], len(slots)
        D = d // H
        t = flatkv.reshape(P, 2 * n_t, H, D).permute(1, 2, 0, 3)     # (2 n_t, H, P, D)
        for i, j in slots.items():
            if layout == "adapters":
                pre[(tower, i)] = (t[2 * j], t[2 * j + 1])
            else:                   # keys of all slots first, then the values
                pre[(tower, i)] = (t[j], t[n_t + j])
    return {"prefix": pre}


def pool_duplicates(cfg, keys, name):
    """save_adapter's state_dict: the pool's tensors again under every layer of both towers
    (the same tensor objects)."""
    out = dict(keys)
    for tower in TOWERS:
        for i in range(layers_of(cfg, tower)):
            for k, v in keys.items():
                out["%s.encoder.layers.%d.self_attn.prefix_tuning.pool.%s" % (tower, i, k)] = v
    return out


def prefix_fixtures(cfg, P, inputs):
    out = []
    for name, what, conf, flat, fmt, seed in (
        ("prefix_mlp", "PrefixTuningConfig, prefix_length 3, bottleneck_size 8, leave_out "
         "[1, 2] = text layer 1 + vision layer 0: text n_t = 1, vision n_t = 2 (vision layers 1, 2 "
         "use the compressed slots 0, 1); the MLP run once at load; pytorch_adapter.bin with the "
         "pool duplicated under every layer (same tensors), as save_adapter writes it",
         prefix_config(prefix_length=3, bottleneck_size=8, leave_out=[1, 2]), False, "bin", 1316),
        ("prefix_flat", "the flat form (control_trans [P*2*n_t*d]) under a config that says "
         "\"flat\": false, as eject_prefix_tuning then save leaves it; prefix_length 4; "
         "adapter.safetensors (no pool duplicates)",
         prefix_config(prefix_length=4, bottleneck_size=16), True, "st", 1317)):
        torch.manual_seed(seed)
        fx = Fixture(name, what)
        keys, kv = prefix_params(cfg, conf, "pf", flat)
        write_json(os.path.join(fx.dir, "adapter_config.json"), adapters_top("pf", conf))
        if fmt == "bin":
            allk = pool_duplicates(cfg, {k: v.to(torch.float32) for k, v in keys.items()}, "pf")
            torch.save(allk, os.path.join(fx.dir, "pytorch_adapter.bin"))
            back = torch.load(os.path.join(fx.dir, "pytorch_adapter.bin"))
            k0 = sorted(keys)[0]
            dup = "text_model.encoder.layers.1.self_attn.prefix_tuning.pool." + k0
            assert back[dup].data_ptr() == back[k0].data_ptr(), "pool duplicates not shared"
            for k in keys:
                assert torch.equal(back[k].to(torch.float64), keys[k]), k
        else:
            write_st(os.path.join(fx.dir, "adapter.safetensors"), keys, metadata=False)
            check_files(fx, keys)
        ad = prefix_hooks(kv)
        o = forward(cfg, P, inputs, ad)
        ref = torch.cat([o["image"].reshape(-1), o["text"].reshape(-1)])
        base = embeds(cfg, P, inputs, {})
        moved = float((ref - base).abs().max() / base.abs().max())
        assert moved > 1e-2, (name, moved)
        misses = {"keys and values read as two halves":
                  far(embeds(cfg, P, inputs, prefix_hooks(kv, "halves")), ref, name + ": halves")}
        # the prefix masked like a text position (causal over P + T columns) is the same as
        # unmasked for queries after it: not a distinguishing reading, so not listed
        rd = os.path.join(fx.dir, "reference")
        os.makedirs(rd)
        mr.f32_file(os.path.join(rd, "image_embeds.f32"), o["image"])
        mr.f32_file(os.path.join(rd, "text_embeds.f32"), o["text"])
        mr.dump_json(os.path.join(rd, "reference.json"), {
            "library": "adapters", "method": "prefix_tuning", "format": fmt,
            "base": "gen/f32-gelu", "exercises": what,
            "relative_change_from_base": round(moved, 4),
            "wrong_readings_relative_miss": {k: round(v, 4) for k, v in misses.items()},
            "wrong_readings_refused": ["slots not compressed (n_t = all layers): "
                                       "control_trans.2 has fewer rows than that reading needs"]})
        out.append(fx)
    return out


def bn_fixture(cfg, P, inputs, name, what, conf, fmt, wrong=(), version="adapters.1.2.0",
               act_name=None, shift=None):
    fx = Fixture(name, what)
    keys, blocks = bottleneck(cfg, conf, "bn", shift)
    act_name = act_name or conf["non_linearity"]
    write_json(os.path.join(fx.dir, "adapter_config.json"), adapters_top("bn", conf, version=version))
    if fmt == "bin":
        write_bin(os.path.join(fx.dir, "pytorch_adapter.bin"), keys)
    else:
        write_st(os.path.join(fx.dir, "adapter.safetensors"), keys, metadata=False)
    check_files(fx, keys)
    ad = bn_hooks(conf, blocks, act_name, P)
    o = forward(cfg, P, inputs, ad)
    ref = torch.cat([o["image"].reshape(-1), o["text"].reshape(-1)])
    base = embeds(cfg, P, inputs, {})
    moved = float((ref - base).abs().max() / base.abs().max())
    assert moved > 1e-2, (name, moved)
    misses = {}
    for w in wrong:
        if callable(w):
            label, wad = w(blocks, act_name)
        elif isinstance(w, tuple):
            label, wad = w
        else:
            label, wad = w, bn_hooks(conf, blocks, act_name, P, wrong=w)
        misses[label] = far(embeds(cfg, P, inputs, wad), ref, name + ": " + label)
    # zero adapter_up reproduces the base exactly (the residual step is the identity + 0)
    if not conf["is_parallel"] and conf["original_ln_before"] and conf["original_ln_after"] \
            and conf["residual_before_ln"] and not conf["ln_after"]:
        zero = {k: dict(b, Wu=torch.zeros_like(b["Wu"]), bu=torch.zeros_like(b["bu"]))
                for k, b in blocks.items()}
        z = embeds(cfg, P, inputs, bn_hooks(conf, zero, act_name, P))
        assert float((z - base).abs().max()) < 1e-12, (name, "zero adapter is not the identity")
    rd = os.path.join(fx.dir, "reference")
    os.makedirs(rd)
    mr.f32_file(os.path.join(rd, "image_embeds.f32"), o["image"])
    mr.f32_file(os.path.join(rd, "text_embeds.f32"), o["text"])
    mr.dump_json(os.path.join(rd, "reference.json"), {
        "library": "adapters", "method": "bottleneck", "format": fmt, "base": "gen/f32-gelu",
        "exercises": what, "relative_change_from_base": round(moved, 4),
        "wrong_readings_relative_miss": {k: round(v, 4) for k, v in misses.items()}})
    return fx, blocks


def bottleneck_fixtures(cfg, P, inputs):
    out = []
    torch.manual_seed(1310)
    conf = bn_config("seq_bn", reduction_factor={"3": 8, "default": 16})
    fx, _ = bn_fixture(cfg, P, inputs, "seqbn", "SeqBnConfig (pfeiffer): output site, relu, "
                       "reduction_factor {\"3\": 8, \"default\": 16} keyed by global id (vision "
                       "layer 1 has m = 48 // 8 = 6, the others 32 // 16 = 2 and 48 // 16 = 3); "
                       "y = z + A(z), z = h + r; pytorch_adapter.bin", conf, "bin",
                       wrong=["seq input h"])
    out.append(fx)
    torch.manual_seed(1311)
    conf = bn_config("double_seq_bn", leave_out=[1, 2])
    pertower = lambda blocks, act: ("leave_out [1, 2] read per tower", bn_hooks(
        conf, {k: b for k, b in blocks.items()
               if not (k[0] == "vision_model" and k[1] in (1, 2))}, act, P))
    fx, blocks = bn_fixture(cfg, P, inputs, "double_seqbn", "DoubleSeqBnConfig (houlsby): both "
                            "sites, swish, leave_out [1, 2] = text layer 1 + vision layer 0; "
                            "y = r + h + A(h); adapter.safetensors", conf, "st",
                            wrong=[pertower])
    out.append(fx)
    torch.manual_seed(1312)
    conf = bn_config("par_bn")
    fx, _ = bn_fixture(cfg, P, inputs, "parbn", "ParBnConfig: parallel, output site, relu, "
                       "reduction_factor 2, scaling 4.0; the input is the raw residual r; "
                       "pytorch_adapter.bin", conf, "bin", wrong=["parallel input LN(r)"])
    out.append(fx)
    torch.manual_seed(1313)
    conf = bn_config("par_bn", scaling="learned", mh_adapter=True, original_ln_after=False)
    fx, _ = bn_fixture(cfg, P, inputs, "scaled_parbn", "scaled_par_bn on both sites: scaling "
                       "\"learned\" (tensor [1]), original_ln_after false (y = LNa(A(r)) + h); "
                       "adapter.safetensors", conf, "st")
    out.append(fx)
    torch.manual_seed(1314)
    conf = bn_config("seq_bn", ln_before=True, ln_after=True, adapter_residual_before_ln=True,
                     scaling="channel", original_ln_before=False, original_ln_after=False,
                     residual_before_ln=False, non_linearity="gelu", reduction_factor=4,
                     mh_adapter=True)
    fx, _ = bn_fixture(cfg, P, inputs, "bn_options", "every flag off the defaults: ln_before "
                       "(adapter_down.0 is the LayerNorm, duplicated as adapter_norm_before), "
                       "ln_after, adapter_residual_before_ln, scaling \"channel\", "
                       "original_ln_before/after false, residual_before_ln false, exact gelu, "
                       "both sites; pytorch_adapter.bin only (shared tensors)", conf, "bin",
                       wrong=["arbl flipped"])
    out.append(fx)
    torch.manual_seed(1315)
    conf = bn_config("seq_bn", non_linearity="gelu")
    exact = lambda blocks, act: ("\"gelu\" read as the exact GELU", bn_hooks(conf, blocks, "gelu", P))
    fx, blocks = bn_fixture(cfg, P, inputs, "legacy_gelu", "no 'version' key "
                            "(adapter-transformers): non_linearity \"gelu\" means the tanh GELU "
                            "(ACTIVATION_RENAME gelu -> gelu_new)", conf, "bin", version=None,
                            act_name="gelu_new", shift=-3.0, wrong=[exact])
    out.append(fx)
    return out


# ---------------------------------------------------------------------------------------------
# bad adapters: each dir has expect.json {code, message substrings}
# ---------------------------------------------------------------------------------------------

def bad_inputs(cfg, P, lora_keys):
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad)
    lora_conf = json.load(open(os.path.join(OUT, "lora", "adapter_config.json")))

    def case(name, conf, keys=None, fmt="bin", code="MODEL", msg=(), raw=None):
        d = os.path.join(bad, name)
        os.makedirs(d)
        if conf is not None:
            if isinstance(conf, str):
                open(os.path.join(d, "adapter_config.json"), "w").write(conf)
            else:
                write_json(os.path.join(d, "adapter_config.json"), conf)
        if raw is not None:
            open(os.path.join(d, raw[0]), "wb").write(raw[1])
        elif keys is not None:
            if fmt == "peft":
                write_st(os.path.join(d, "adapter_model.safetensors"), keys)
            elif fmt == "bin":
                write_bin(os.path.join(d, "pytorch_adapter.bin"), keys)
            else:
                write_st(os.path.join(d, "adapter.safetensors"), keys, metadata=False)
        mr.dump_json(os.path.join(d, "expect.json"), {"code": code, "message": list(msg)})

    torch.manual_seed(1320)
    # an adapter for a wider model: vision width 64 instead of 48
    wide = {}
    for k, v in lora_keys.items():
        if k.startswith("vision_model") and k.endswith("lora_A") and ".q_proj." in k:
            v = torch.randn(v.shape[0], 64)
        wide[k] = v
    case("other_model_size", lora_conf, wide, code="MODEL",
         msg=["vision_model.encoder.layers.1.self_attn.q_proj.loras.a.lora_A", "[4, 64]", "[4, 48]"])
    c = json.loads(json.dumps(lora_conf))
    c["config"] = {"architecture": "reft", "layers": "all", "prefix_positions": 3, "r": 1}
    case("reft", c, lora_keys, code="UNSUPPORTED", msg=["reft"])
    c = json.loads(json.dumps(lora_conf))
    c["config"]["use_gating"] = True
    case("use_gating", c, lora_keys, code="UNSUPPORTED", msg=["use_gating"])
    c = json.loads(json.dumps(lora_conf))
    c["config"]["vera_d"] = 0.1
    case("vera", c, lora_keys, code="UNSUPPORTED", msg=["vera"])
    c = json.loads(json.dumps(lora_conf))
    c["config"]["leave_out"] = [1, 2, 99]
    case("leave_out_out_of_range", c, lora_keys, code="MODEL", msg=["leave_out id 99", "0..4"])
    k2 = dict(lora_keys)
    k2["text_model.encoder.layers.1.self_attn.q_proj.loras.a.lora_A"] = \
        lora_keys["text_model.encoder.layers.0.self_attn.q_proj.loras.a.lora_A"]
    k2["text_model.encoder.layers.1.self_attn.q_proj.loras.a.lora_B"] = \
        lora_keys["text_model.encoder.layers.0.self_attn.q_proj.loras.a.lora_B"]
    case("tensor_in_left_out_layer", lora_conf, k2, code="FORMAT",
         msg=["text layer 1 (id 1)", "leave_out", "text_model.encoder.layers.1.self_attn.q_proj"])
    k3 = {k: v for k, v in lora_keys.items()
          if k != "vision_model.encoder.layers.2.mlp.fc1.loras.a.lora_B"}
    case("missing_lora_B", lora_conf, k3, code="FORMAT",
         msg=["vision_model.encoder.layers.2.mlp.fc1.loras.a.lora_B", "vision layer 2 (id 4)"])
    k4 = dict(lora_keys)
    k4["vision_model.encoder.layers.3.mlp.fc1.loras.a.lora_A"] = \
        lora_keys["vision_model.encoder.layers.2.mlp.fc1.loras.a.lora_A"]
    k4["vision_model.encoder.layers.3.mlp.fc1.loras.a.lora_B"] = \
        lora_keys["vision_model.encoder.layers.2.mlp.fc1.loras.a.lora_B"]
    case("layer_beyond_tower", lora_conf, k4, code="MODEL", msg=["vision layer 3", "3 vision layers"])
    k5 = dict(lora_keys)
    nan = lora_keys["text_model.encoder.layers.0.mlp.fc2.loras.a.lora_B"].clone()
    nan[3, 1] = float("nan")
    k5["text_model.encoder.layers.0.mlp.fc2.loras.a.lora_B"] = nan
    case("nan", lora_conf, k5, fmt="st", code="FORMAT",
         msg=["text_model.encoder.layers.0.mlp.fc2.loras.a.lora_B", "non-finite", "index 13"])
    k6 = dict(lora_keys)
    k6["text_model.embeddings.x.loras.a.lora_A"] = torch.zeros(2)
    case("unrecognized_key", lora_conf, k6, code="FORMAT", msg=["text_model.embeddings.x.loras.a.lora_A"])
    vl = json.load(open(os.path.join(OUT, "vision_local", "adapter_config.json")))
    case("single_tower_with_other_tower", vl, lora_keys, code="MODEL",
         msg=["CLIPVisionModelWithProjection", "text_model.* tensors"])
    c = peft_lora_config(target_modules=["token_embedding"])
    case("peft_embedding_target", c, fmt="peft", code="UNSUPPORTED",
         msg=["lora_embedding_A", "embedding"],
         keys={"base_model.model.text_model.embeddings.token_embedding.lora_embedding_A": torch.randn(2, 4),
               "base_model.model.text_model.embeddings.token_embedding.lora_embedding_B": torch.randn(4, 2)})
    case("no_weights", lora_conf, None, code="IO", msg=["pytorch_adapter.bin", "adapter.safetensors"])
    case("not_a_config", {"hello": 1}, lora_keys, code="FORMAT", msg=["peft_type", "config"])
    case("bad_json", "{\"config\": ", lora_keys, code="FORMAT", msg=["adapter_config.json"])
    c = peft_lora_config(peft_type="LOHA")
    case("peft_loha", c, lora_keys, code="UNSUPPORTED", msg=["LOHA"])
    c = peft_lora_config(target_modules=["text_projection"], lora_bias=True, r=2)
    case("peft_lora_bias_on_projection", c, raw=None, fmt="peft", code="UNSUPPORTED",
         msg=["lora_bias", "text_projection"],
         keys={"base_model.model.text_projection.lora_A.weight": torch.randn(2, 32),
               "base_model.model.text_projection.lora_B.weight": torch.randn(24, 2),
               "base_model.model.text_projection.lora_B.bias": torch.randn(24)})
    c = peft_lora_config(use_qalora=True)
    case("peft_qalora", c, lora_keys, code="UNSUPPORTED", msg=["use_qalora"])
    # legacy torch (< 1.6) pickle file and a pickle that calls numpy
    buf = io.BytesIO()
    torch.save({k: v.to(torch.float32) for k, v in lora_keys.items()}, buf,
               _use_new_zipfile_serialization=False)
    case("legacy_bin", lora_conf, raw=("pytorch_adapter.bin", buf.getvalue()), code="FORMAT",
         msg=["pytorch_adapter.bin", "legacy"])
    buf = io.BytesIO()
    torch.save({"text_model.encoder.layers.0.self_attn.q_proj.loras.a.lora_A": np.zeros(3)}, buf)
    case("numpy_global", lora_conf, raw=("pytorch_adapter.bin", buf.getvalue()), code="FORMAT",
         msg=["pytorch_adapter.bin", "GLOBAL", "numpy"])
    case("malicious_os_system", lora_conf, raw=("pytorch_adapter.bin", malicious_zip()),
         code="FORMAT", msg=["pytorch_adapter.bin", "GLOBAL", "posix system"])
    buf = io.BytesIO()
    torch.save({k: v.to(torch.float32) for k, v in lora_keys.items()}, buf)
    case("truncated_bin", lora_conf, raw=("pytorch_adapter.bin", buf.getvalue()[:-900]),
         code="FORMAT", msg=["pytorch_adapter.bin"])
    # a CLIPModel adapter with global leave_out ids on a vision-only checkpoint
    vc = json.loads(json.dumps(lora_conf))
    vc["config"]["leave_out"] = [2]
    case("global_ids_without_text_tower", vc, {}, code="MODEL",
         msg=["text tower", "leave_out [2]"])
    # bottleneck configs the engine refuses, on the seqbn fixture's weights
    seq = os.path.join(OUT, "seqbn")
    seq_conf = json.load(open(os.path.join(seq, "adapter_config.json")))
    seq_keys = {k: v.to(torch.float64) for k, v in torch.load(os.path.join(seq, "pytorch_adapter.bin")).items()}
    c = json.loads(json.dumps(seq_conf))
    c["config"]["reduction_factor"] = {"3": 8}
    case("rf_mapping_without_default", c, seq_keys, code="FORMAT",
         msg=["reduction_factor has no entry for layer 0", "default"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["reduction_factor"] = 16
    case("rf_other_than_saved", c, seq_keys, code="MODEL",
         msg=["output_adapters.adapters.bn.adapter_down.0.weight", "6 rows, expected 3"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["non_linearity"] = "foo"
    case("unknown_activation", c, seq_keys, code="UNSUPPORTED", msg=["non_linearity 'foo'"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["residual_before_ln"] = "post_add"
    case("residual_post_add", c, seq_keys, code="UNSUPPORTED", msg=["post_add"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["phm_layer"] = True
    case("compacter", c, seq_keys, code="UNSUPPORTED", msg=["Compacter"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["inv_adapter"] = "nice"
    case("invertible", c, seq_keys, code="UNSUPPORTED", msg=["inv_adapter", "nice"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["leave_out"] = [3]
    case("bottleneck_in_left_out_layer", c, seq_keys, code="FORMAT",
         msg=["vision layer 1 (id 3)", "leave_out"])
    c = json.loads(json.dumps(seq_conf))
    c["config"]["scaling"] = "sqrt"
    case("bad_scaling", c, seq_keys, code="FORMAT", msg=["scaling 'sqrt'"])
    pm = os.path.join(OUT, "prefix_mlp")
    c = json.load(open(os.path.join(pm, "adapter_config.json")))
    c["config"]["leave_out"] = []
    shutil.copytree(pm, os.path.join(bad, "prefix_other_leave_out"),
                    ignore=shutil.ignore_patterns("reference", "adapter_config.json"))
    case_dir = os.path.join(bad, "prefix_other_leave_out")
    write_json(os.path.join(case_dir, "adapter_config.json"), c)
    mr.dump_json(os.path.join(case_dir, "expect.json"), {
        "code": "MODEL", "message": ["control_trans.2.weight", "[64, 8], expected [128, 8]",
                                     "2 x 2 text layers not left out x width 32"]})
    c = json.loads(json.dumps(lora_conf))
    c["config"] = {"architecture": "union", "configs": []}
    case("union", c, lora_keys, code="UNSUPPORTED", msg=["union"])
    mr.dump_json(os.path.join(bad, "README.json"), {
        "global_ids_without_text_tower": "load on gen/vision-only (vision tower only)",
        "others": "load on gen/f32-gelu"})


def malicious_zip():
    """A torch-style zip whose pickle calls os.system (what a hostile .bin looks like)."""
    pkl = b"\x80\x02cposix\nsystem\nq\x00X\x0b\x00\x00\x00echo pwned!q\x01\x85q\x02Rq\x03."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("archive/data.pkl", pkl), ("archive/version", b"3\n")):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# torch.save reader fixtures and a checkpoint published only as pytorch_model.bin
# ---------------------------------------------------------------------------------------------

def torch_zip_fixtures():
    d = os.path.join(DATA, "torch-zip")
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.manual_seed(1330)
    a = torch.randn(3, 4, dtype=torch.float32)
    sd = collections.OrderedDict()
    sd["a.weight"] = a
    sd["b"] = torch.randn(5, dtype=torch.float32).half()
    sd["c"] = a                                           # shared: one memo entry
    sd["d"] = torch.arange(6, dtype=torch.int64)
    sd["e"] = torch.randn(10, dtype=torch.float32)[2:6]   # offset into a storage
    sd["f"] = torch.randn(2, 3, dtype=torch.float32).to(torch.bfloat16)
    sd["g"] = torch.tensor(2.5, dtype=torch.float64)      # 0-d
    sd._metadata = collections.OrderedDict([("", {"version": 1})])   # like state_dict()
    torch.save(sd, os.path.join(d, "state_dict.bin"))
    expect = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                  "values": [float(x) for x in v.to(torch.float64).reshape(-1)]} for k, v in sd.items()}
    mr.dump_json(os.path.join(d, "state_dict.json"), expect)
    buf = io.BytesIO()
    torch.save({"x": torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
    open(os.path.join(d, "legacy.bin"), "wb").write(buf.getvalue())
    open(os.path.join(d, "os_system.bin"), "wb").write(malicious_zip())
    buf = io.BytesIO()
    torch.save({"x": np.zeros(2)}, buf)
    open(os.path.join(d, "numpy.bin"), "wb").write(buf.getvalue())
    buf = io.BytesIO()
    torch.save({"x": torch.zeros(4, 4).t()}, buf)                 # not contiguous
    open(os.path.join(d, "transposed.bin"), "wb").write(buf.getvalue())
    buf = io.BytesIO()
    torch.save(torch.zeros(3), buf)                                # a tensor, not a dict
    open(os.path.join(d, "tensor.bin"), "wb").write(buf.getvalue())
    # the fuzz corpus starts from these
    # (inputs found by fuzzing live there too: they are kept)
    corpus = os.path.join(DATA, "..", "fuzz", "corpus", "torch-zip")
    os.makedirs(corpus, exist_ok=True)
    for f in sorted(os.listdir(d)):
        if f.endswith(".bin"):
            shutil.copy(os.path.join(d, f), corpus)


def vision_only_bin():
    """gen/vision-only as pytorch_model.bin (F16 tensors, torch.save of a state_dict-like
    OrderedDict with _metadata): must give the same reference."""
    src = os.path.join(HERE, "vision-only")
    d = os.path.join(HERE, "vision-only-bin")
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    t = mr.read_checkpoint(src)
    sd = collections.OrderedDict()
    for k in sorted(t):
        dtype, shape, arr, raw = t[k]
        assert dtype == "F16", k
        sd[k] = torch.frombuffer(bytearray(raw), dtype=torch.float16).reshape(shape).clone()
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    back = torch.load(os.path.join(d, "pytorch_model.bin"))
    for k in sd:
        assert torch.equal(back[k], sd[k]), k
    for f in ("config.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(src, f), d)
    mr.symlink("../vision-only/reference", os.path.join(d, "reference"))


def readme(table):
    lines = ["# Adapter fixtures (made by ../make_adapters.py; do not edit)", "",
             "Base: `../f32-gelu` (text width 32 / 2 layers, vision width 48 / 3 layers: global "
             "ids text 0-1, vision 2-4).  Each directory is an adapter as the library saves it, "
             "plus `reference/` (image_embeds.f32, text_embeds.f32 for the base reference's "
             "images and prompts, and reference.json: what it pins, how far it moves the "
             "embeddings, and how far each plausible wrong reading misses).", "",
             "| fixture | what it pins |", "|---|---|"]
    for fx in table:
        lines.append("| `%s` | %s |" % (fx.name, fx.what))
    lines += ["", "`bad/*`: one broken or hostile adapter each, with `expect.json` (status code "
              "and message substrings); `bad/global_ids_without_text_tower` loads on "
              "`../vision-only`, the others on `../f32-gelu`.", ""]
    open(os.path.join(OUT, "README.md"), "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
