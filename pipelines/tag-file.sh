#!/bin/sh
# tag-file.sh - tag a video file with CLIP labels, one JSON line per frame.
#
# Shows the plain file pipeline: decodebin ! videoconvert ! clipclassify !
# clipjson. clipclassify runs in sync mode here: every Nth frame (CLIP_INTERVAL)
# is classified, in order, however slow the model; even a sink that drops late
# frames (qos=true) gets every one, since sync mode keeps QoS from reaching
# the decoder. The run always ends by itself (clip-launch): a broken or
# unreadable file, or one without a single decodable frame, is reported on
# stderr with exit status 1, never a hang;
# Ctrl-C ends the stream cleanly, so the output ends on a complete line.
# stderr also says what became of the frames (classified, skipped, rejected).
#
# Usage: tag-file.sh INPUT [OUTPUT.jsonl]      (OUTPUT defaults to INPUT.jsonl)
#
# Environment (all optional):
#   CLIP_MODEL     Hugging Face CLIP directory   (default: models/tiny-demo-clip)
#   CLIP_LABELS    comma-separated labels        (default: the demo model's)
#   CLIP_INTERVAL  classify every Nth frame      (default: 1)
#   CLIP_THREADS   engine threads, 0 = all cores (default: 0)
#   CLIP_SOURCE    gst-launch fragment replacing "filesrc ! decodebin",
#                  e.g. "videotestsrc num-buffers=30" (used by the tests)
#   CLIP_SINK      where the video goes afterwards (default: fakesink)
#   CLIP_STALL_TIMEOUT  seconds without progress before giving up (default 60)
#
# Example:
#   CLIP_MODEL=~/models/clip-vit-base-patch32 CLIP_LABELS="a goal,a crowd" \
#     pipelines/tag-file.sh match.mp4 match.jsonl
set -eu

. "$(dirname "$0")/lib/launch.sh"
model=${CLIP_MODEL:-$clip_default_model}
labels=${CLIP_LABELS:-"bouncing ball,color bars,static noise,checkerboard,pinwheel,solid red screen,solid blue screen"}
interval=${CLIP_INTERVAL:-1}
threads=${CLIP_THREADS:-0}
sink=${CLIP_SINK:-fakesink}

case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
esac
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 INPUT [OUTPUT.jsonl]" >&2
  exit 2
fi
input=$1
output=${2:-${input%.*}.jsonl}

if [ -n "${CLIP_SOURCE:-}" ]; then
  # a pipeline fragment: word splitting is wanted
  # shellcheck disable=SC2086
  set -- $CLIP_SOURCE
else
  if [ ! -f "$input" ] || [ ! -r "$input" ]; then
    echo "$0: cannot read '$input'" >&2
    exit 1
  fi
  set -- filesrc "location=$input" ! decodebin
fi

# Each property is one argv word: the launcher escapes the spaces in it.
# shellcheck disable=SC2086
if clip_run --expect-frames "$@" ! videoconvert ! \
  clipclassify "model=$model" "labels=$labels" "interval=$interval" \
    "threads=$threads" ! \
  clipjson "location=$output" ! $sink; then
  exit 0
else
  status=$?
  echo "$0: could not tag '$input' (exit status $status)" >&2
  exit "$status"
fi
