#!/usr/bin/python3
"""train_adapter.py - teaches models/tiny-demo-clip two videotestsrc
patterns it never saw ("gamut checkers", "a chroma zone plate") with an
adapter, the base frozen, and saves it as AdapterHub's adapters does
(adapter_config.json + pytorch_adapter.bin, CLIPModel, global layer ids).
Old concepts are replayed, and the old embeddings held near the base
model's (--keep), so the model does not forget them. Then measures
top-1 accuracy with the C engine (clip-tool classify --adapter) on new and
old evaluation images, with and without the adapter.

  nice -n 10 /usr/bin/python3 training/train_adapter.py --method lora --keep 20 \\
      --out models/tiny-demo-clip-adapters/lora --clip-tool build/engine/clip-tool
  ... --method seq_bn --keep 20 --out models/tiny-demo-clip-adapters/seq_bn ...
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import evaluate  # noqa: E402
import pool  # noqa: E402
import render  # noqa: E402
from clip_bpe import ClipBPE  # noqa: E402

BASE = os.path.join(HERE, "..", "models", "tiny-demo-clip")
# the new concepts: videotestsrc pattern -> label (words of the label the
# base never trained are zero rows of its token table: the adapter must make
# the rest of the sentence carry the meaning)
NEW = {"gamut": "gamut checkers", "chroma-zone-plate": "a chroma zone plate"}
NAME = "new_patterns"


def log(msg, _t0=[time.time()]):
    print("[%5.0fs] %s" % (time.time() - _t0[0], msg), flush=True)


# ------------------------------------------------------------ adapters --

class LoRALinear(nn.Module):
    """adapters' LoRALinear in add mode: y = W x + b + (alpha / r) B A x."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * base.in_features ** -0.5)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.scaling * (x @ self.lora_A.t() @ self.lora_B.t())


class SeqBnLayer(nn.Module):
    """An encoder layer with SeqBnConfig's output adapter (original_ln_before,
    original_ln_after, residual_before_ln): y = z + up(relu(down(z))), z = h + r."""

    def __init__(self, layer, m):
        super().__init__()
        self.layer = layer
        d = layer.layer_norm1.normalized_shape[0]
        self.down = nn.Linear(d, m)
        self.up = nn.Linear(m, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x, mask=None):
        lay = self.layer
        x = x + lay.self_attn(lay.layer_norm1(x), mask)
        z = x + lay.mlp(lay.layer_norm2(x))
        return z + self.up(torch.relu(self.down(z)))


def add_adapter(model, method, r, alpha, rf):
    """Wraps the model's modules; returns {key in adapters' format: param}."""
    keys = {}
    for tower in ("text_model", "vision_model"):
        layers = getattr(model, tower).encoder.layers
        for i in range(len(layers)):
            pre = "%s.encoder.layers.%d." % (tower, i)
            if method == "lora":
                attn = layers[i].self_attn
                for m in ("q_proj", "v_proj"):
                    w = LoRALinear(getattr(attn, m), r, alpha)
                    setattr(attn, m, w)
                    k = "%sself_attn.%s.loras.%s." % (pre, m, NAME)
                    keys[k + "lora_A"], keys[k + "lora_B"] = w.lora_A, w.lora_B
            else:
                d = layers[i].layer_norm1.normalized_shape[0]
                w = SeqBnLayer(layers[i], max(1, int(d // rf)))
                layers[i] = w
                k = "%soutput_adapters.adapters.%s." % (pre, NAME)
                keys[k + "adapter_down.0.weight"] = w.down.weight
                keys[k + "adapter_down.0.bias"] = w.down.bias
                keys[k + "adapter_up.weight"] = w.up.weight
                keys[k + "adapter_up.bias"] = w.up.bias
    return keys


def adapter_config(method, r, alpha, rf):
    if method == "lora":
        c = {"alpha": alpha, "architecture": "lora", "attn_matrices": ["q", "v"],
             "composition_mode": "add", "dropout": 0.0, "dtype": None,
             "init_weights": "lora", "init_weights_seed": None, "intermediate_lora": False,
             "leave_out": [], "output_lora": False, "r": r, "selfattn_lora": True,
             "use_dora": False, "use_gating": False, "vera_b": None, "vera_d": None}
    else:
        c = {"adapter_residual_before_ln": False, "cross_adapter": False, "dropout": 0.0,
             "factorized_phm_W": True, "factorized_phm_rule": False,
             "hypercomplex_nonlinearity": "glorot-uniform", "init_weights": "bert",
             "init_weights_seed": None, "inv_adapter": None,
             "inv_adapter_reduction_factor": None, "is_parallel": False, "learn_phm": True,
             "leave_out": [], "ln_after": False, "ln_before": False, "mh_adapter": False,
             "non_linearity": "relu", "original_ln_after": True, "original_ln_before": True,
             "output_adapter": True, "phm_bias": True, "phm_c_init": "normal", "phm_dim": 4,
             "phm_init_range": 0.0001, "phm_layer": False, "phm_rank": 1,
             "reduction_factor": rf, "residual_before_ln": True, "scaling": 1.0,
             "shared_W_phm": False, "shared_phm_rule": True, "stochastic_depth": 0.0,
             "use_gating": False}
    return {"config": c, "hidden_size": None, "model_class": "CLIPModel",
            "model_name": "models/tiny-demo-clip", "model_type": "clip", "name": NAME,
            "version": "adapters.1.2.0"}


# ---------------------------------------------------------------- data --

def render_new(seed, n_configs, size, sizes, eval_frames=False):
    """Frames of the new patterns: (crops or full frames, label index in NEW)."""
    rng = random.Random(seed)
    out = []
    for k, pattern in enumerate(NEW):
        for _ in range(n_configs):
            w, h = rng.choice(sizes)
            props = {}
            if pattern == "chroma-zone-plate":
                props.update({"kx2": rng.randint(8, 40), "ky2": rng.randint(8, 40),
                              "kt2": rng.randint(0, 3), "kt": rng.randint(0, 4)})
            if rng.random() < 0.5:
                props["horizontal-speed"] = rng.choice([-7, -3, 3, 5, 11])
            n = 6
            frames = render.videotestsrc(pattern, w, h, n, props,
                                         via_i420=rng.random() < 0.5)
            for f in frames[:1] if eval_frames else frames[rng.randrange(n):][:3]:
                out.append((f if eval_frames else render.preprocess(f, size), k))
    return out


def targets(labels, attrs_list, n_old):
    """Soft targets over the label set: uniform over the labels an image fits."""
    t = np.zeros((len(attrs_list), len(labels)), np.float32)
    for i, a in enumerate(attrs_list):
        for j in range(n_old):
            if data.describes(labels[j][1], a):
                t[i, j] = 1
        t[i] /= max(t[i].sum(), 1)
    return t


def encode_labels(model, tok, texts, ctx):
    ids = np.zeros((len(texts), ctx), np.int64)
    for i, s in enumerate(texts):
        e = tok.encode(s, ctx)
        ids[i, :len(e)] = e
    return torch.from_numpy(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=["lora", "seq_bn"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clip-tool", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=int, default=16)
    ap.add_argument("--reduction-factor", type=int, default=4)
    ap.add_argument("--distill", type=float, default=0.5,
                    help="weight of the base model's own predictions in the targets of the "
                    "replayed old images (keeps what it did not see in training)")
    ap.add_argument("--keep", type=float, default=20.0,
                    help="weight of a penalty on moving the old embeddings: the squared "
                    "distance of each replayed old image's and each old label's normalized "
                    "embedding from the base model's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    base = evaluate.load_torch(BASE)
    model = evaluate.load_torch(BASE)
    for p in list(model.parameters()) + list(base.parameters()):
        p.requires_grad_(False)
    keys = add_adapter(model, args.method, args.r, args.alpha, args.reduction_factor)
    params = list(keys.values())
    log("%s: %d adapter parameters" % (args.method, sum(p.numel() for p in params)))

    cfg = model.config
    S = cfg["vision_config"]["image_size"]
    ctx = cfg["text_config"]["max_position_embeddings"]
    old = data.label_set("label")
    labels = [t for t, _ in old] + list(NEW.values())
    n_old = len(old)

    # training pool: the new patterns, and old concepts replayed
    new = render_new(args.seed + 1, 24, S, render.SIZES)
    pc, pa = pool.render_patterns(args.seed + 2, 4, S)
    sc, sa = pool.render_shapes(args.seed + 3, 400, S, data.TRAIN_COMBOS)
    x = np.concatenate([np.stack([c for c, _ in new]), pc, sc])
    t_old = targets(old + [(l, {"kind": "new"}) for l in NEW.values()], pa + sa, n_old)
    t_new = np.zeros((len(new), len(labels)), np.float32)
    for i, (_, k) in enumerate(new):
        t_new[i, n_old + k] = 1
    y = np.concatenate([t_new, t_old])
    keep = y.sum(1) > 0
    x, y = x[keep], y[keep]
    # the new images are few: draw them as often as all the old ones
    w = np.where(np.arange(len(x)) < len(new), (len(x) - len(new)) / len(new), 1.0)
    w /= w.sum()
    log("pool: %d new, %d old images, %d labels" % (len(new), len(x) - len(new), len(labels)))
    px = torch.from_numpy(render.normalize(x))
    y = torch.from_numpy(y)
    tok = ClipBPE(os.path.join(BASE, "vocab.json"), os.path.join(BASE, "merges.txt"))
    ids = encode_labels(model, tok, labels, ctx)

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    scale = model.logit_scale.exp().detach()
    is_new = torch.from_numpy(np.arange(len(x)) < len(new))
    with torch.no_grad():
        base_txt = base.encode_text(ids[:n_old])
        base_txt = base_txt / base_txt.norm(dim=-1, keepdim=True)
    model.train()
    for step in range(args.steps):
        idx = torch.from_numpy(rng.choice(len(x), args.batch, p=w))
        img = model.encode_image(px[idx])
        txt = model.encode_text(ids)
        img = img / img.norm(dim=-1, keepdim=True)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        logits = scale * img @ txt.t()
        target = y[idx]
        old_rows = ~is_new[idx]
        with torch.no_grad():
            bi = base.encode_image(px[idx])
            bi = bi / bi.norm(dim=-1, keepdim=True)
        if args.distill > 0:
            # old images: partly what the base model itself predicts over the old labels
            with torch.no_grad():
                bp = (scale * bi @ base_txt.t()).softmax(-1)
                soft = torch.cat([bp, torch.zeros(len(idx), len(labels) - n_old)], 1)
                target = target.clone()
                target[old_rows] = (1 - args.distill) * target[old_rows] \
                    + args.distill * soft[old_rows]
        loss = -(target * logits.log_softmax(-1)).sum(-1).mean()
        if args.keep > 0:
            # what the model knew beyond the training images lives in where the old
            # embeddings are: keep them there, and let the new labels find room
            drift = ((txt[:n_old] - base_txt) ** 2).sum(-1).mean()
            if old_rows.any():
                drift = drift + ((img[old_rows] - bi[old_rows]) ** 2).sum(-1).mean()
            loss = loss + args.keep * drift
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            log("step %d loss %.3f" % (step, loss.item()))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump(adapter_config(args.method, args.r, args.alpha, args.reduction_factor), f,
                  indent=2, sort_keys=True)
    torch.save({k: v.detach().contiguous() for k, v in keys.items()},
               os.path.join(args.out, "pytorch_adapter.bin"))
    log("saved %s" % args.out)

    # accuracy with the engine, new and old images, without and with the adapter
    results = {"method": args.method, "labels": len(labels), "new_labels": list(NEW.values()),
               "args": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        items = [("new", f, {"kind": "new", "k": k})
                 for f, k in render_new(20240601, 20, S, pool.EVAL_SIZES, eval_frames=True)]
        items += pool.eval_set(20240601)
        paths = []
        for i, (_, rgb, _) in enumerate(items):
            p = os.path.join(tmp, "e%04d.png" % i)
            Image.fromarray(rgb).save(p)
            paths.append(p)
        lpath = os.path.join(tmp, "labels.txt")
        with open(lpath, "w") as f:
            f.write("\n".join(labels) + "\n")
        right = {}
        for key, extra in (("base", []), ("adapter", ["--adapter", args.out])):
            rows = evaluate.run_tool(args.clip_tool, extra + [
                "classify", BASE, "--labels-file", lpath, "--top-k", "1",
                "--template", "{}"] + paths, args.threads)
            index = {l: i for i, l in enumerate(labels)}
            acc = {}
            right[key] = []
            for (group, _, a), r in zip(items, rows):
                k = index[r["labels"][0]["label"]]
                ok = (k == n_old + a["k"]) if group == "new" else \
                    (k < n_old and data.describes(old[k][1], a))
                right[key].append(ok)
                n, c = acc.get(group, (0, 0))
                acc[group] = (n + 1, c + ok)
            results[key] = {g: {"n": n, "top1": round(c / n, 4)} for g, (n, c) in acc.items()}
            log("%s: %s" % (key, json.dumps(results[key])))
        # image by image: what the adapter got wrong that the base got right, and back
        results["adapter_vs_base"] = {}
        for g in results["base"]:
            i_g = [i for i, it in enumerate(items) if it[0] == g]
            results["adapter_vs_base"][g] = {
                "lost": sum(right["base"][i] and not right["adapter"][i] for i in i_g),
                "gained": sum(right["adapter"][i] and not right["base"][i] for i in i_g)}
        log("adapter vs base: %s" % json.dumps(results["adapter_vs_base"]))
    with open(os.path.join(args.out, "evaluation.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
