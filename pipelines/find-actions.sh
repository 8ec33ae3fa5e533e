#!/bin/sh
# find-actions.sh - when, in a video, does each label happen: one JSON line
# per segment.
#
# Shows the archive use of clipsegment: clipclassify scores every Nth frame,
# pools the scores over a window of time (CLIP's recipe for video), lets
# negative prompts claim the background, and clipsegment turns the labels
# into segments (hysteresis, a minimum duration, a merge gap so a brief
# interruption does not split a segment). OUT.jsonl gets only the segments,
# one per line, in the order they end:
#   {"type":"segment","label":"a truck","label_id":0,"start":NS,"end":NS,
#    "start_pts":NS,"end_pts":NS,"confidence":...,"peak":...,"peak_pts":NS,
#    "frames":N}
# (start and end in stream time, nanoseconds). A broken file, or one without
# a decodable frame, is reported on stderr with exit status 1; the run always
# ends by itself (clip-launch).
#
# Usage: find-actions.sh VIDEO OUT.jsonl
#
# Environment (all optional):
#   CLIP_MODEL        Hugging Face CLIP directory  (default: models/tiny-demo-clip)
#   CLIP_LABELS       comma-separated labels       (default: the demo model's)
#   CLIP_LABELS_FILE  one label per line, '#' comments (wins over CLIP_LABELS)
#   CLIP_NEGATIVES    comma-separated background prompts, never reported
#                     (default: the demo model's background scenes when the
#                     model and labels are the defaults, else none)
#   CLIP_INTERVAL     classify every Nth frame     (default: 2)
#   CLIP_WINDOW       pooling window in seconds    (default: 1)
#   CLIP_COVERAGE     center (CLIP's crop) or full (the whole frame as tiles;
#                     finds subjects near the edges, costs 2x for 16:9)
#                     (default: center)
#   CLIP_MIN_DURATION shortest segment reported, seconds (default: 1)
#   CLIP_MERGE_GAP    longest interruption bridged, seconds (default: 1)
#   CLIP_THREADS      engine threads, 0 = all cores (default: 0)
#   CLIP_STALL_TIMEOUT  seconds without progress before giving up (default 60)
#
# Example:
#   CLIP_MODEL=~/models/clip-vit-base-patch32 \
#   CLIP_LABELS="someone climbing a fence,a truck at the gate" \
#   CLIP_NEGATIVES="an empty yard,a parked car" \
#     pipelines/find-actions.sh yard-2026-11-30.mp4 events.jsonl
set -eu

. "$(dirname "$0")/lib/launch.sh"
demo_labels="a bouncing ball,color bars,static noise,a checkerboard,a pinwheel,concentric circles,spokes"
demo_negatives="a gradient,a solid black screen,a solid white screen"
model=${CLIP_MODEL:-$clip_default_model}
labels=${CLIP_LABELS:-$demo_labels}
if [ -z "${CLIP_MODEL:-}" ] && [ -z "${CLIP_LABELS:-}" ] &&
  [ -z "${CLIP_LABELS_FILE:-}" ]; then
  negatives=${CLIP_NEGATIVES-$demo_negatives}
else
  negatives=${CLIP_NEGATIVES:-}
fi
interval=${CLIP_INTERVAL:-2}
coverage=${CLIP_COVERAGE:-center}
threads=${CLIP_THREADS:-0}

case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
esac
if [ $# -ne 2 ]; then
  echo "usage: $0 VIDEO OUT.jsonl" >&2
  exit 2
fi
input=$1
output=$2
if [ ! -f "$input" ] || [ ! -r "$input" ]; then
  echo "$0: cannot read '$input'" >&2
  exit 1
fi

window=$(clip_ns "${CLIP_WINDOW:-1}" CLIP_WINDOW)
min_duration=$(clip_ns "${CLIP_MIN_DURATION:-1}" CLIP_MIN_DURATION)
merge_gap=$(clip_ns "${CLIP_MERGE_GAP:-1}" CLIP_MERGE_GAP)

if [ -n "${CLIP_LABELS_FILE:-}" ]; then
  set -- "labels-file=$CLIP_LABELS_FILE"
else
  set -- "labels=$labels"
fi

# top-k=0: clipsegment sees every label's probability
if clip_run --expect-frames filesrc "location=$input" ! decodebin ! \
  videoconvert ! \
  clipclassify "model=$model" "$@" "negatives=$negatives" \
    "interval=$interval" "window=$window" "coverage=$coverage" \
    "threads=$threads" top-k=0 ! \
  clipsegment "min-duration=$min_duration" "merge-gap=$merge_gap" \
    post-messages=false ! \
  clipjson records=segments "location=$output" ! fakesink; then
  exit 0
else
  status=$?
  echo "$0: could not find actions in '$input' (exit status $status)" >&2
  exit "$status"
fi
