#!/usr/bin/env python3
"""Writes adapters with random values for a CLIP checkpoint's shapes (from its
config.json), in AdapterHub adapters' format (adapter_config.json +
adapter.safetensors), for the cost benchmarks in docs/adapters.md. Speed
does not depend on the values. Needs numpy only.

  python3 bench/make_adapter.py MODEL_DIR OUT_DIR --method seq_bn|par_bn|double_seq_bn|prefix|lora
      [--reduction-factor 16] [--prefix-length 30] [--r 8]
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model import write_safetensors  # noqa: E402


def bn_config(method, rf):
    c = {"adapter_residual_before_ln": False, "cross_adapter": False, "dropout": 0.0,
         "init_weights": "bert", "inv_adapter": None, "is_parallel": False, "leave_out": [],
         "ln_after": False, "ln_before": False, "mh_adapter": False, "non_linearity": "relu",
         "original_ln_after": True, "original_ln_before": True, "output_adapter": True,
         "phm_layer": False, "reduction_factor": rf, "residual_before_ln": True, "scaling": 1.0,
         "use_gating": False}
    if method == "double_seq_bn":
        c.update(original_ln_before=False, mh_adapter=True, non_linearity="swish")
    if method == "par_bn":
        c.update(original_ln_before=False, is_parallel=True, scaling=4.0)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--method", default="seq_bn",
                    choices=["seq_bn", "par_bn", "double_seq_bn", "prefix", "lora"])
    ap.add_argument("--reduction-factor", type=float, default=16)
    ap.add_argument("--prefix-length", type=int, default=30)
    ap.add_argument("--r", type=int, default=8)
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    towers = {"text_model": cfg["text_config"], "vision_model": cfg["vision_config"]}
    rng = np.random.default_rng(1)
    rand = lambda *shape: rng.standard_normal(shape, np.float32) * 0.02
    items, name = [], "bench"
    if args.method == "prefix":
        conf = {"architecture": "prefix_tuning", "bottleneck_size": 512, "cross_prefix": True,
                "dropout": 0.0, "encoder_prefix": True, "flat": False, "leave_out": [],
                "non_linearity": "tanh", "prefix_length": args.prefix_length,
                "shared_gating": True, "use_gating": False}
        for tower, c in towers.items():
            d, n = c["hidden_size"], c["num_hidden_layers"]
            loc = "prefix_tuning.prefix_tunings.%s.clip_%s_self_prefix." % (name, tower)
            items += [(loc + "wte.weight", rand(args.prefix_length, d)),
                      (loc + "control_trans.0.weight", rand(512, d)),
                      (loc + "control_trans.0.bias", rand(512)),
                      (loc + "control_trans.2.weight", rand(2 * n * d, 512)),
                      (loc + "control_trans.2.bias", rand(2 * n * d))]
    elif args.method == "lora":
        conf = {"architecture": "lora", "alpha": 8, "attn_matrices": ["q", "v"],
                "composition_mode": "add", "dropout": 0.0, "intermediate_lora": False,
                "leave_out": [], "output_lora": False, "r": args.r, "selfattn_lora": True,
                "use_dora": False, "use_gating": False, "vera_b": None, "vera_d": None}
        for tower, c in towers.items():
            d = c["hidden_size"]
            for i in range(c["num_hidden_layers"]):
                for m in ("q_proj", "v_proj"):
                    pre = "%s.encoder.layers.%d.self_attn.%s.loras.%s." % (tower, i, m, name)
                    items += [(pre + "lora_A", rand(args.r, d)), (pre + "lora_B", rand(d, args.r))]
    else:
        conf = bn_config(args.method, args.reduction_factor)
        for tower, c in towers.items():
            d = c["hidden_size"]
            m = max(1, int(d // args.reduction_factor))
            for i in range(c["num_hidden_layers"]):
                sites = ["output_adapters"] + (["attention_adapters"] if conf["mh_adapter"] else [])
                for site in sites:
                    pre = "%s.encoder.layers.%d.%s.adapters.%s." % (tower, i, site, name)
                    items += [(pre + "adapter_down.0.weight", rand(m, d)),
                              (pre + "adapter_down.0.bias", rand(m)),
                              (pre + "adapter_up.weight", rand(d, m)),
                              (pre + "adapter_up.bias", rand(d))]
    os.makedirs(args.out, exist_ok=True)
    top = {"config": conf, "hidden_size": None, "model_class": "CLIPModel",
           "model_name": os.path.basename(os.path.abspath(args.model)), "model_type": "clip",
           "name": name, "version": "adapters.1.2.0"}
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump(top, f, indent=2, sort_keys=True)
    write_safetensors(os.path.join(args.out, "adapter.safetensors"), items, "F32")


if __name__ == "__main__":
    main()
