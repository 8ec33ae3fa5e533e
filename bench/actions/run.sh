#!/bin/sh
# run.sh - the action-segment benchmark: renders an archive with ground
# truth (make_archive.py), runs pipelines/find-actions.sh on every video with
# CLIP's centre crop and with coverage=full, and a per-frame baseline (no
# pooling, no negatives, no hysteresis: top-1 runs), scores them
# (score.py), then times find-actions.sh on a 1080p 30 fps video against its
# duration. Prints a Markdown table and the CPU it ran on.
#
# Usage: bench/actions/run.sh        (VIDEOS=12 SEED=7 by default)
set -eu
cd "$(dirname "$0")/../.."
videos=${VIDEOS:-12}
seed=${SEED:-7}
work=$(mktemp -d "${TMPDIR:-/tmp}/actions-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

python3 bench/actions/make_archive.py "$work/archive" --videos "$videos" \
  --seed "$seed" 2>/dev/null

# run_case NAME ENV...: find-actions.sh on every video, then the score
run_case () {
  name=$1
  shift
  mkdir -p "$work/$name"
  for v in "$work"/archive/video*; do
    env "$@" sh pipelines/find-actions.sh "$v" \
      "$work/$name/$(basename "$v").jsonl" 2>/dev/null ||
      echo "find-actions.sh failed on $v" >&2
  done
  python3 bench/actions/score.py "$work/archive/truth.jsonl" "$work/$name" \
    --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("| %s | %d | %d | %.3f | %.3f | %.3f | %.3f s | %s |" % (sys.argv[1],
      r["true"], r["predicted"], r["precision"], r["recall"], r["f1"],
      r["boundary_error_s"] or 0, "%.2f" % r["subset_recall"]
      if "subset_recall" in r else "n/a"))' "$name"
}

echo "archive: $videos videos, seed $seed"
echo
echo "| run | true | predicted | precision | recall | F1 | boundary error | off-centre recall |"
echo "|---|---|---|---|---|---|---|---|"
run_case "per-frame top-1 (baseline)" CLIP_WINDOW=0 CLIP_NEGATIVES= \
  CLIP_MIN_DURATION=0 CLIP_MERGE_GAP=0 CLIP_INTERVAL=1
run_case "find-actions.sh (centre crop)" X=1
run_case "find-actions.sh CLIP_COVERAGE=full" CLIP_COVERAGE=full

# throughput on 1080p 30 fps
python3 bench/actions/make_archive.py "$work/hd" --videos 1 --seed 5 \
  --size 1920x1080 --fps 30 --container mkv 2>/dev/null
hd=$work/hd/video00.mkv
duration=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(a["videos"][0]["scenes"][-1]["end"])' "$work/hd/archive.json")
echo
echo "1080p 30 fps MJPEG, ${duration} s of video, 2 threads:"
echo
echo "| run | seconds | x real time |"
echo "|---|---|---|"
for case in "decode only" "interval 1, centre" "interval 2, centre" \
  "interval 1, full" "interval 2, full"; do
  start=$(date +%s.%N)
  case $case in
    "decode only")
      build/plugin/clip-launch -q filesrc "location=$hd" ! decodebin ! \
        fakesink 2>/dev/null ;;
    *)
      iv=${case#interval }; iv=${iv%%,*}
      cov=center; case $case in *full) cov=full ;; esac
      CLIP_THREADS=2 CLIP_INTERVAL=$iv CLIP_COVERAGE=$cov \
        sh pipelines/find-actions.sh "$hd" "$work/hd.jsonl" 2>/dev/null ;;
  esac
  end=$(date +%s.%N)
  python3 -c 'import sys; s=float(sys.argv[2])-float(sys.argv[1]); print("| %s | %.2f | %.1fx |" % (sys.argv[3], s, float(sys.argv[4])/s))' \
    "$start" "$end" "$case" "$duration"
done
echo
lscpu | grep -E 'Model name' | sed 's/^/CPU: /; s/  */ /g'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
