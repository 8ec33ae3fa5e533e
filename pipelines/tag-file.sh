#!/bin/sh
# tag-file.sh - tag a video file with CLIP labels, one JSON line per frame.
#
# Shows the plain file pipeline: decodebin ! videoconvert ! clipclassify !
# clipjson. clipclassify runs in sync mode here: every classified frame gets
# its labels in order and nothing is skipped, however slow the model; -e turns
# Ctrl-C into EOS so the output ends on a complete line.
#
# Usage: tag-file.sh INPUT [OUTPUT.jsonl]      (OUTPUT defaults to INPUT.jsonl)
#
# Environment (all optional):
#   CLIP_MODEL     Hugging Face CLIP directory   (default: tests/data/tiny-clip)
#   CLIP_LABELS    comma-separated labels        (default: a few everyday ones)
#   CLIP_INTERVAL  classify every Nth frame      (default: 1)
#   CLIP_THREADS   engine threads, 0 = all cores (default: 0)
#   CLIP_SOURCE    gst-launch fragment replacing "filesrc ! decodebin",
#                  e.g. "videotestsrc num-buffers=30" (used by the tests)
#   CLIP_SINK      where the video goes afterwards (default: fakesink)
#
# Example:
#   CLIP_MODEL=~/models/clip-vit-base-patch32 CLIP_LABELS="a goal,a crowd" \
#     pipelines/tag-file.sh match.mp4 match.jsonl
set -eu

here=$(cd "$(dirname "$0")" && pwd)
model=${CLIP_MODEL:-$here/../tests/data/tiny-clip}
labels=${CLIP_LABELS:-"a person,a car,a dog,a cat,a building,a landscape"}
interval=${CLIP_INTERVAL:-1}
threads=${CLIP_THREADS:-0}
sink=${CLIP_SINK:-fakesink}

if [ $# -lt 1 ]; then
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
  if [ ! -r "$input" ]; then
    echo "$0: cannot read '$input'" >&2
    exit 1
  fi
  set -- filesrc "location=$input" ! decodebin
fi

# Each property is one argv word: gst-launch escapes the spaces in it.
# shellcheck disable=SC2086
exec gst-launch-1.0 -q -e "$@" ! videoconvert ! \
  clipclassify "model=$model" "labels=$labels" "interval=$interval" \
    "threads=$threads" ! \
  clipjson "location=$output" ! $sink
