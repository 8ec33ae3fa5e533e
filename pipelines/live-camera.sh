#!/bin/sh
# live-camera.sh - label a live camera without ever holding its frames back.
#
# Shows clipclassify mode=async on a live source: frames flow at the camera's
# rate while a worker thread scores the newest one; each result rides on the
# next frame out, stamped with the timestamp of the frame it describes. With
# post-messages=true the labels also reach the bus (add -m to see them).
#
# Usage: live-camera.sh [--test] [DEVICE]      (DEVICE defaults to /dev/video0)
#   --test   use a live videotestsrc instead of v4l2src (no camera needed);
#            also used when DEVICE does not exist
#
# Environment (all optional):
#   CLIP_MODEL        Hugging Face CLIP directory  (default: tests/data/tiny-clip)
#   CLIP_LABELS       comma-separated labels       (default: a few indoor ones)
#   CLIP_OUTPUT       JSON Lines file              (default: stdout)
#   CLIP_SINK         video sink                   (default: autovideosink)
#   CLIP_NUM_BUFFERS  stop after N frames, test source only (default: endless)
#
# Example:
#   CLIP_LABELS="someone at the door,an empty porch,a parcel" \
#     pipelines/live-camera.sh /dev/video2
set -eu

here=$(cd "$(dirname "$0")" && pwd)
model=${CLIP_MODEL:-$here/../tests/data/tiny-clip}
labels=${CLIP_LABELS:-"a person,an empty room,a cat,a dog,a screen"}
sink=${CLIP_SINK:-autovideosink}
num_buffers=${CLIP_NUM_BUFFERS:--1}

test_source=no
device=/dev/video0
for arg in "$@"; do
  case $arg in
    --test) test_source=yes ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
    *) device=$arg ;;
  esac
done
if [ $test_source = no ] && [ ! -e "$device" ]; then
  echo "$0: no camera at $device, using a test source" >&2
  test_source=yes
fi

if [ $test_source = yes ]; then
  set -- videotestsrc is-live=true pattern=ball "num-buffers=$num_buffers" ! \
    video/x-raw,width=640,height=480,framerate=30/1
else
  set -- v4l2src "device=$device"
fi

if [ -n "${CLIP_OUTPUT:-}" ]; then
  set -- "$@" ! videoconvert ! \
    clipclassify "model=$model" "labels=$labels" mode=async top-k=3 \
      post-messages=true ! clipjson "location=$CLIP_OUTPUT"
else
  set -- "$@" ! videoconvert ! \
    clipclassify "model=$model" "labels=$labels" mode=async top-k=3 \
      post-messages=true ! clipjson
fi

# queue: the display runs in its own thread, so a slow sink never slows the
# classifier's branch either.
# shellcheck disable=SC2086
exec gst-launch-1.0 -q -e "$@" ! queue ! videoconvert ! $sink
