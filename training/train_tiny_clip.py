#!/usr/bin/python3
"""train_tiny_clip.py - trains the tiny demo CLIP on rendered videotestsrc
frames and shape scenes, on the CPU, and exports a Hugging Face CLIP
directory (F16 safetensors) the engine loads. Deterministic for a given
--seed, thread count and torch build. Measuring accuracy with the engine is
evaluate.py's job; the numbers printed here are PyTorch's, for monitoring.

  nice -n 10 /usr/bin/python3 training/train_tiny_clip.py \\
      --out models/tiny-demo-clip --seed 0
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import export  # noqa: E402
import pool  # noqa: E402
import render  # noqa: E402
from clip_bpe import EOT, ClipBPE  # noqa: E402
from model import TinyCLIP, contrastive_loss  # noqa: E402

VOCAB_DIR = os.path.join(HERE, "..", "tests", "data", "tiny-clip")

# The architecture: HF CLIP in miniature. The text width sets most of the
# file size (49408 x width token table).
ARCH = {
    "projection_dim": 64,
    "logit_scale_init_value": 2.6592,
    "text_config": {"vocab_size": 49408, "hidden_size": 64,
                    "intermediate_size": 256, "num_hidden_layers": 3,
                    "num_attention_heads": 4, "max_position_embeddings": 16,
                    "layer_norm_eps": 1e-5, "eos_token_id": EOT},
    "vision_config": {"image_size": 96, "patch_size": 12, "hidden_size": 96,
                      "intermediate_size": 384, "num_hidden_layers": 3,
                      "num_attention_heads": 4, "layer_norm_eps": 1e-5},
}


def log(msg, _t0=[time.time()]):
    print("[%6.0fs] %s" % (time.time() - _t0[0], msg), flush=True)


class Vocab:
    """Maps CLIP ids to rows of a compact token table: only tokens of the
    training captions get a trained row; any other id maps to a last row
    kept at zero, which is also what those ids get in the exported table."""

    def __init__(self, tokenizer, texts, context_length):
        self.tok = tokenizer
        self.ctx = context_length
        ids = sorted({i for t in texts for i in tokenizer.encode(t, 10 ** 6)})
        self.ids = ids
        self.row = {i: r for r, i in enumerate(ids)}
        self.unknown = len(ids)
        self.cache = {}
        longest = max(len(tokenizer.encode(t, 10 ** 6)) for t in texts)
        if longest > context_length:
            raise ValueError("a caption has %d tokens, context is %d"
                             % (longest, context_length))

    def encode(self, texts):
        """(B, T) compact ids, padded with the end token after it."""
        rows = []
        for t in texts:
            if t not in self.cache:
                self.cache[t] = [self.row.get(i, self.unknown)
                                 for i in self.tok.encode(t, self.ctx)]
            rows.append(self.cache[t])
        T = max(len(r) for r in rows)
        pad = self.row[EOT]
        return torch.tensor([r + [pad] * (T - len(r)) for r in rows])


def check_ids_with_engine(clip_tool, tokenizer, texts, model_dir):
    """Asserts the Python tokenizer gives the engine's ids for every text."""
    with open(os.path.join(model_dir, "_captions.txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    out = subprocess.run([clip_tool, "tokenize", model_dir, "--file",
                          os.path.join(model_dir, "_captions.txt")],
                         check=True, capture_output=True, text=True).stdout
    os.remove(os.path.join(model_dir, "_captions.txt"))
    n = 0
    for line in out.splitlines():
        r = json.loads(line)
        mine = tokenizer.encode(r["text"], 10 ** 6)
        if r["ids"] != mine:
            raise SystemExit("tokenizer mismatch on %r: engine %s, ours %s"
                             % (r["text"], r["ids"], mine))
        n += 1
    log("tokenizer: %d captions, ids identical to %s" % (n, clip_tool))


class ShapeSampler:
    """Draws shape scenes in groups of `group` that share a colour (and
    differ in shape) or share a shape (and differ in colour), so a batch
    cannot be told apart by colour alone."""

    def __init__(self, attrs, group):
        self.group = group
        self.by_colour, self.by_shape = {}, {}
        for i, a in enumerate(attrs):
            if a["colour"] is not None:
                self.by_colour.setdefault(a["colour"], {}).setdefault(
                    a["shape"], []).append(i)
            self.by_shape.setdefault(a["shape"], {}).setdefault(
                a["colour"], []).append(i)

    def sample(self, rng, n):
        out = []
        while len(out) < n:
            table = self.by_colour if rng.random() < 0.5 else self.by_shape
            sub = table[rng.choice(sorted(table))]
            keys = sorted(sub, key=str)
            for _ in range(self.group):
                out.append(rng.choice(sub[rng.choice(keys)]))
        return out[:n]


def make_model(seed):
    torch.manual_seed(seed)
    model = TinyCLIP(ARCH)
    return model


def full_state(model, vocab):
    """HF-named float32 numpy tensors, with the full 49408-row token table
    (trained rows at their CLIP ids, zeros elsewhere)."""
    sd = {k: v.detach().numpy().astype(np.float32)
          for k, v in model.state_dict().items()}
    key = "text_model.embeddings.token_embedding.weight"
    compact = sd[key]
    full = np.zeros((ARCH["text_config"]["vocab_size"], compact.shape[1]),
                    np.float32)
    full[vocab.ids] = compact[:len(vocab.ids)]
    sd[key] = full
    return sd


def monitor(model, vocab, items, image_size):
    """Top-1 accuracy per group against the canonical label set (PyTorch;
    evaluate.py gives the engine's numbers)."""
    labels = data.label_set()
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(render.normalize(np.stack(
            [render.preprocess(img, image_size) for _, img, _ in items])))
        logits = model(x, vocab.encode([t for t, _ in labels]))
    model.train()
    top = logits.argmax(1).tolist()
    acc = {}
    for (group, _, attrs), k in zip(items, top):
        ok = data.describes(labels[k][1], attrs)
        n, c = acc.get(group, (0, 0))
        acc[group] = (n + 1, c + ok)
    return {g: c / n for g, (n, c) in acc.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models",
                                                  "tiny-demo-clip"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--pattern-configs", type=int, default=60,
                    help="videotestsrc configurations per pattern concept")
    ap.add_argument("--shape-scenes", type=int, default=30000)
    ap.add_argument("--pattern-fraction", type=float, default=0.4)
    ap.add_argument("--unnamed-fraction", type=float, default=0.35,
                    help="shape scenes in colours no caption names")
    ap.add_argument("--group", type=int, default=4,
                    help="shape scenes drawn together sharing a colour or "
                    "a shape")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--monitor-every", type=int, default=250)
    ap.add_argument("--clip-tool", help="engine CLI: check that the Python "
                    "tokenizer gives its ids for every caption")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    S = ARCH["vision_config"]["image_size"]
    os.makedirs(args.out, exist_ok=True)

    tokenizer = ClipBPE(os.path.join(VOCAB_DIR, "vocab.json"),
                        os.path.join(VOCAB_DIR, "merges.txt"))
    texts = data.all_caption_texts()
    heldout_texts = [t for t, _ in data.label_set("heldout")]
    vocab = Vocab(tokenizer, texts,
                  ARCH["text_config"]["max_position_embeddings"])
    log("%d caption texts, %d distinct tokens" % (len(texts), len(vocab.ids)))
    if args.clip_tool:
        check_ids_with_engine(args.clip_tool, tokenizer,
                              texts + heldout_texts, VOCAB_DIR)

    pat_x, pat_attrs = pool.render_patterns(args.seed, args.pattern_configs,
                                            S, log=log)
    shp_x, shp_attrs = pool.render_shapes(args.seed + 1, args.shape_scenes,
                                          S, data.TRAIN_COMBOS,
                                          args.unnamed_fraction, log=log)
    by_kind = {}
    for i, a in enumerate(pat_attrs):
        by_kind.setdefault(min(a["kind"] - {"shape"}), []).append(i)
    kinds = sorted(by_kind)
    log("pools: %d pattern frames (%s), %d shape scenes"
        % (len(pat_x), ", ".join("%s %d" % (k, len(by_kind[k]))
                                 for k in kinds), len(shp_x)))
    kinds.append("solid")  # nine colours: drawn twice as often
    mon_items = pool.eval_set(args.seed + 1000, n_pattern=4, n_seen=1,
                              n_heldout=4)

    model = make_model(args.seed)
    # the compact token table: used rows + one zero row for unknown ids
    D = ARCH["text_config"]["hidden_size"]
    emb = torch.nn.Embedding(len(vocab.ids) + 1, D,
                             padding_idx=vocab.unknown)
    with torch.no_grad():
        emb.weight.normal_(std=0.02)
        emb.weight[vocab.unknown].zero_()
    model.text_model.embeddings.token_embedding = emb
    model.text_model.eos_token_id = vocab.row[EOT]
    n_params = sum(p.numel() for p in model.parameters())
    log("parameters trained: %d" % n_params)

    decay = [p for n, p in model.named_parameters()
             if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters()
                if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay,
                              "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * p))

    rng = random.Random(args.seed + 2)
    shapes = ShapeSampler(shp_attrs, args.group)
    t_train = time.time()
    for step in range(args.steps):
        imgs, attrs, caps, asserted = [], [], [], []
        n_pat = round(args.batch * args.pattern_fraction)
        picks = [(pat_x, pat_attrs, rng.choice(by_kind[rng.choice(kinds)]))
                 for _ in range(n_pat)]
        picks += [(shp_x, shp_attrs, i)
                  for i in shapes.sample(rng, args.batch - n_pat)]
        for x_pool, a_pool, i in picks:
            img, a = x_pool[i], a_pool[i]
            text, asrt = data.sample_caption(rng, a)
            imgs.append(img)
            attrs.append(a)
            caps.append(text)
            asserted.append(asrt)
        x = torch.from_numpy(render.normalize(np.stack(imgs)))
        ids = vocab.encode(caps)
        match = torch.tensor([[float(data.describes(asserted[j], attrs[i]))
                               for j in range(len(caps))]
                              for i in range(len(imgs))])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = contrastive_loss(model(x, ids), match)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 50 == 0 or step == args.steps - 1:
            log("step %d/%d loss %.4f scale %.1f lr %.2e (%.2fs/step)"
                % (step, args.steps, loss.item(), model.logit_scale.exp(),
                   lr_at(step), (time.time() - t_train) / (step + 1)))
        if (step + 1) % args.monitor_every == 0 or step == args.steps - 1:
            acc = monitor(model, vocab, mon_items, S)
            log("monitor (pytorch, %d images): %s" % (len(mon_items), ", ".join(
                "%s %.1f%%" % (g, 100 * a) for g, a in sorted(acc.items()))))
    train_s = time.time() - t_train

    meta = {"format": "pt", "trained_by": "training/train_tiny_clip.py",
            "seed": str(args.seed), "steps": str(args.steps)}
    export.export_model(args.out, ARCH, full_state(model, vocab), VOCAB_DIR,
                        meta)
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump({"args": {k: v for k, v in vars(args).items()
                            if k not in ("out", "clip_tool")},
                   "train_seconds": round(train_s),
                   "torch": torch.__version__, "final_loss": loss.item(),
                   "trained_tokens": len(vocab.ids),
                   "parameters_trained": n_params}, f, indent=2)
        f.write("\n")
    log("trained in %.0f s; wrote %s" % (train_s, args.out))


if __name__ == "__main__":
    main()
