#!/bin/sh
# bench-adapters.sh - the cost of adapters on one checkpoint: clip-tool bench
# without an adapter and with each adapter directory given, in interleaved
# rounds (the machine's load drifts), vision batch 1 and 8 and text prompts;
# one JSON line per run on stdout, then the medians per adapter (stderr:
# progress). Adapters for a checkpoint: bench/make_adapter.py.
#
#   bench/bench-adapters.sh MODEL ROUNDS ADAPTER_DIR...
#   (CLIP_TOOL, THREADS, SECONDS, PRECISION from the environment)
set -e
MODEL=${1:?usage: bench-adapters.sh MODEL ROUNDS ADAPTER_DIR...}
ROUNDS=${2:-3}
shift 2
TOOL=${CLIP_TOOL:-build/engine/clip-tool}
THREADS=${THREADS:-2}
SECONDS_PER_RUN=${SECONDS:-3}
PRECISION=${PRECISION:-fp32}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT INT TERM
for round in $(seq 1 "$ROUNDS"); do
  for adapter in none "$@"; do
    extra=""
    [ "$adapter" = none ] || extra="--adapter $adapter"
    for what in "--tower vision --batch 1" "--tower vision --batch 8" \
        "--tower text --batch 64 --tokens 10"; do
      echo "round $round: $adapter $what" >&2
      # shellcheck disable=SC2086
      line=$("$TOOL" bench "$MODEL" $what $extra --threads "$THREADS" \
          --seconds "$SECONDS_PER_RUN" --precision "$PRECISION")
      echo "{\"round\": $round, \"adapter\": \"$(basename "$adapter")\", \"run\": \"$what\", \"result\": $line}" | tee -a "$LOG"
    done
  done
done
/usr/bin/python3 - "$LOG" <<'PY' >&2
# medians of the throughput and the best (least disturbed) time per call,
# each against the run without an adapter
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sorted({r["run"] for r in rows})
adapters = []
for r in rows:
    if r["adapter"] not in adapters:
        adapters.append(r["adapter"])
print("| adapter | " + " | ".join("%s: median/s, best ms" % r for r in runs) + " | load ms |")
print("|---" * (len(runs) + 2) + "|")
base = {}
for a in adapters:
    cells, load = [], []
    for run in runs:
        sel = [r["result"] for r in rows if r["adapter"] == a and r["run"] == run]
        med = statistics.median(x.get("images_per_s", x.get("prompts_per_s")) for x in sel)
        best = min(x["ms_per_batch_min"] for x in sel)
        load += [x["load_ms"] for x in sel]
        if a == "none":
            base[run] = (med, best)
        cells.append("%.1f (%+.1f%%), %.1f (%+.1f%%)" % (
            med, 100 * (med / base[run][0] - 1), best, 100 * (best / base[run][1] - 1)))
    print("| %s | %s | %.0f |" % (a, " | ".join(cells), statistics.median(load)))
PY
