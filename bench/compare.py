#!/usr/bin/env python3
"""Medians and ratios of the RESULT lines that bench/run-peers.sh prints.

  python3 bench/compare.py [--markdown] [--max-load 0.3] LOG...

One row per preset, tower, batch, prompt length and OPENBLAS_CORETYPE setting:
the median throughput of ours, ONNX Runtime and PyTorch over the rounds, and
the ratios ours/ORT and ours/PyTorch, each the median over the rounds of the
ratio of two runs of the same round (the runs of a round follow each other, so
what else the machine did then hits both). Runs during which other processes
kept more than --max-load cores busy (others_load) count as disturbed and are left
out when undisturbed ones exist; a value marked ~ had only disturbed runs.
Our text rows at fewer than 77 tokens (any batch) are compared with the peers
at 77 tokens, batch 1 (the peers, like OpenAI CLIP, always run 77).
"""
import argparse
import re
import statistics
import sys
from collections import OrderedDict

# ours-passive: OURS_PASSIVE=1 (OMP_WAIT_POLICY=passive); ours-bf16, ours-int8:
# clip-tool --precision (the peers always run fp32)
OURS = ("ours", "ours-bf16", "ours-int8", "ours-passive")
PEERS = ("ort", "ort-int8", "torch", "torch2-bf16")
TOOLS = OURS + PEERS
NAMES = {"ours": "ours", "ours-bf16": "ours bf16", "ours-int8": "ours int8",
         "ours-passive": "ours passive", "ort": "ORT", "ort-int8": "ORT int8",
         "torch": "PyTorch", "torch2-bf16": "PyTorch 2 bf16"}
PRESET_NAMES = {"b32": "ViT-B/32", "b16": "ViT-B/16", "l14": "ViT-L/14", "l14-336": "ViT-L/14-336"}


def parse(paths):
    runs, info = [], OrderedDict()
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.startswith("INFO "):
                    for k, v in re.findall(r"(\w+)=(.*?)(?=\s+\w+=|$)", line[5:].strip()):
                        info.setdefault(k, v)
                if not line.startswith("RESULT tool="):
                    continue
                kv = dict(re.findall(r"(\w+)=(\S+)", line))
                runs.append(kv)
    return runs, info


def pick(values, max_load):
    """values: [(rate, load)] -> (list of rates used, all disturbed?)"""
    quiet = [r for r, load in values if load <= max_load]
    return (quiet, False) if quiet else ([r for r, _ in values], True)


def summarize(runs, max_load):
    # rows[key][tool][round] = [(rate, load)]
    rows = OrderedDict()
    order = {"vision": 0, "text": 1}
    for r in runs:
        key = (r["preset"], r["tower"], int(r["batch"]), r["tokens"], r["coretype"])
        rows.setdefault(key, {}).setdefault(r["tool"], {}).setdefault(int(r["round"]), []).append(
            (float(r["per_s"]), float(r["others_load"]), float(r.get("gflop_s", 0))))
    out = []
    presets = list(OrderedDict.fromkeys(k[0] for k in rows))
    coretypes = list(OrderedDict.fromkeys(k[4] for k in rows))
    for key in sorted(rows, key=lambda k: (presets.index(k[0]), coretypes.index(k[4]),
                                           order[k[1]], -int(k[3]) if k[3] != "-" else 0, k[2])):
        preset, tower, batch, tokens, ct = key
        row = {"key": key, "median": {}, "approx": {}, "runs": {}, "disturbed": {}, "ratio": {}}
        peer_key = key
        if tower == "text" and tokens != "77":
            # the peers' prompts/s at 77 tokens, batch 1
            peer_key = (preset, tower, 1, "77", ct)
        for tool in TOOLS:
            src = rows[key] if tool in OURS else rows.get(peer_key, {})
            if tool not in src:
                continue
            vals = [(v[0], v[1]) for rs in src[tool].values() for v in rs]
            used, approx = pick(vals, max_load)
            row["median"][tool] = statistics.median(used)
            row["approx"][tool] = approx
            row["runs"][tool] = len(vals)
            row["disturbed"][tool] = sum(1 for _, load in vals if load > max_load)
            if tool == "ours":
                row["gflop_s"] = statistics.median(
                    [v[2] for rs in src[tool].values() for v in rs if v[1] <= max_load]
                    or [v[2] for rs in src[tool].values() for v in rs])
        for mine in OURS:
            ours = rows[key].get(mine, {})
            for tool in PEERS:
                peer = rows.get(peer_key, {}).get(tool, {})
                pairs = []
                for rnd in sorted(set(ours) & set(peer)):
                    a, b = ours[rnd][-1], peer[rnd][-1]
                    pairs.append((a[0] / b[0], max(a[1], b[1])))
                if pairs:
                    used, approx = pick(pairs, max_load)
                    row["ratio"][mine, tool] = (statistics.median(used), approx, len(pairs))
        out.append(row)
    return out


def fmt(v, approx=False, digits=2):
    if v is None:
        return "-"
    s = ("%.*f" % (digits, v)) if v < 100 else ("%.0f" % v)
    return ("~" + s) if approx else s


def table(rows, markdown):
    present = [t for t in TOOLS if any(t in r["runs"] for r in rows)]
    mine = [t for t in OURS if t in present]
    # ORT and PyTorch always have their columns, the other peers when measured
    peers = [t for t in PEERS if t in present or t in ("ort", "torch")]
    head = ["model", "tower", "batch", "tokens", "OPENBLAS_CORETYPE", "ours GFLOP/s"]
    head += [NAMES[t] + " /s" for t in TOOLS if t in present or t in peers]
    head += ["%s/%s" % (NAMES[m], NAMES[p]) for m in mine for p in peers]
    head += ["runs (disturbed) " + "/".join(NAMES[t] for t in present)]
    lines = []
    for r in rows:
        preset, tower, batch, tokens, ct = r["key"]
        unit = " img" if tower == "vision" else " prompt"
        tok = "-" if tower == "vision" else (tokens if tokens == "77" else tokens + " (peers 77)")
        ct_name = {"haswell": "Haswell", "unset": "unset", "asis": "as is"}.get(ct, ct)
        line = [PRESET_NAMES.get(preset, preset), tower, str(batch), tok, ct_name,
                fmt(r.get("gflop_s"), digits=0)]
        for t in TOOLS:
            if t in present or t in peers:
                v = r["median"].get(t)
                line.append(fmt(v, r["approx"].get(t, False)) + (unit if t in OURS and v else ""))
        for m in mine:
            for p in peers:
                x = r["ratio"].get((m, p))
                line.append(fmt(x[0], x[1]) if x else "-")
        line.append("/".join("%d (%d)" % (r["runs"][t], r["disturbed"][t]) if t in r["runs"]
                             else "-" for t in present))
        lines.append(line)
    if markdown:
        res = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        res += ["| " + " | ".join(l) + " |" for l in lines]
        return "\n".join(res)
    width = [max(len(x) for x in col) for col in zip(head, *lines)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(l, width)).rstrip()
                     for l in [head] + lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--max-load", type=float, default=0.3,
                    help="others_load above which a run counts as disturbed (cores)")
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    runs, info = parse(args.logs)
    if not runs:
        print("compare: no RESULT lines in " + " ".join(args.logs), file=sys.stderr)
        return 1
    if info:
        print(("" if args.markdown else "# ") + ", ".join("%s %s" % kv for kv in info.items()))
        print()
    print(table(summarize(runs, args.max_load), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
