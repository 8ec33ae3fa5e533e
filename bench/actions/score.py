#!/usr/bin/env python3
"""score.py - segment precision, recall and F1 at temporal IoU >= 0.5, and
the mean boundary error, of find-actions.sh output against ground truth.

  score.py TRUTH.jsonl PRED_DIR [--iou 0.5] [--json]

TRUTH.jsonl: {"file", "label", "start", "end"} per true segment (ns).
PRED_DIR/FILE.jsonl: find-actions.sh's output for each FILE of the truth
(records with "type": "segment"; other lines are ignored). A file with no
output counts as no predictions. Matching is one to one, per file and
label, greedily by IoU, best first. Boundary error: the mean of
|start - true start| and |end - true end| over matched segments, seconds.
"""

import argparse
import json
import os
import sys


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def iou(a, b):
    inter = min(a[1], b[1]) - max(a[0], b[0])
    union = max(a[1], b[1]) - min(a[0], b[0])
    return max(inter, 0) / union if union > 0 else 0.0


def score(truth, preds, threshold, subset=None):
    """subset: a set of (key, index) true segments whose recall is counted
    apart (e.g. the off-centre ones); returned as subset_recall."""
    tp = 0
    sub_tp = 0
    errors = []
    n_pred = 0
    for key in sorted(set(truth) | set(preds)):
        t, p = truth.get(key, []), preds.get(key, [])
        n_pred += len(p)
        pairs = sorted(((iou(a, b), i, j) for i, a in enumerate(t)
                        for j, b in enumerate(p)), reverse=True)
        used_t, used_p = set(), set()
        for v, i, j in pairs:
            if v < threshold or i in used_t or j in used_p:
                continue
            used_t.add(i)
            used_p.add(j)
            tp += 1
            if subset and (key, i) in subset:
                sub_tp += 1
            errors.append(abs(t[i][0] - p[j][0]) / 1e9)
            errors.append(abs(t[i][1] - p[j][1]) / 1e9)
    n_true = sum(len(v) for v in truth.values())
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    out = {"true": n_true, "predicted": n_pred, "matched": tp,
            "precision": precision, "recall": recall, "f1": f1,
           "boundary_error_s": sum(errors) / len(errors) if errors else None}
    if subset:
        out["subset_true"] = len(subset)
        out["subset_recall"] = sub_tp / len(subset)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("truth")
    ap.add_argument("pred_dir")
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    truth, preds = {}, {}
    files = set()
    off_centre = set()
    for t in load_jsonl(args.truth):
        key = (t["file"], t["label"])
        truth.setdefault(key, []).append((t["start"], t["end"]))
        if t.get("off_centre"):
            off_centre.add((key, len(truth[key]) - 1))
        files.add(t["file"])
    for name in sorted(files):
        path = os.path.join(args.pred_dir, name + ".jsonl")
        if not os.path.exists(path):
            print("score.py: no output for %s" % name, file=sys.stderr)
            continue
        for p in load_jsonl(path):
            if p.get("type") == "segment":
                preds.setdefault((name, p["label"]), []).append(
                    (p["start"], p["end"]))
    result = score(truth, preds, args.iou, off_centre)
    if args.json:
        print(json.dumps(result))
    else:
        print("segments: %d true, %d predicted, %d matched (tIoU >= %.2f)" % (
            result["true"], result["predicted"], result["matched"], args.iou))
        print("precision %.3f  recall %.3f  F1 %.3f  boundary error %s" % (
            result["precision"], result["recall"], result["f1"],
            "%.3f s" % result["boundary_error_s"]
            if result["boundary_error_s"] is not None else "n/a"))
        if off_centre:
            print("off-centre subjects: recall %.3f of %d" % (
                result["subset_recall"], result["subset_true"]))


if __name__ == "__main__":
    main()
