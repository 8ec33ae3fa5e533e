#!/bin/sh
# live-camera.sh - label a live camera without ever holding its frames back.
#
# Shows clipclassify mode=async on a live source: frames flow at the camera's
# rate while a worker thread scores the newest one; each result rides on the
# next frame out, and every field of its JSON line (pts, frame_number,
# resolution) describes the frame that was scored. clipoverlay draws the
# labels and their confidence on the video shown. The results still in flight
# at the end are written too. With post-messages=true the labels also reach
# the bus. The run ends by itself when the camera stops or errs (clip-launch),
# and stderr says how many frames were classified and how many the busy
# worker let pass.
#
# Usage: live-camera.sh [--test] [DEVICE]      (DEVICE defaults to /dev/video0)
#   --test   use a live videotestsrc instead of v4l2src (no camera needed);
#            also used when DEVICE does not exist
#
# Environment (all optional):
#   CLIP_MODEL        Hugging Face CLIP directory  (default: models/tiny-demo-clip)
#   CLIP_LABELS       comma-separated labels       (default: the demo model's
#                     with the demo model, else a few indoor ones)
#   CLIP_OUTPUT       JSON Lines file              (default: stdout)
#   CLIP_SINK         video sink                   (default: autovideosink)
#   CLIP_NUM_BUFFERS  stop after N frames, test source only (default: endless)
#   CLIP_STALL_TIMEOUT  seconds without frames before giving up (default 60)
#
# Example:
#   CLIP_MODEL=~/models/clip-vit-base-patch32 \
#   CLIP_LABELS="someone at the door,an empty porch,a parcel" \
#     pipelines/live-camera.sh /dev/video2
set -eu

. "$(dirname "$0")/lib/launch.sh"
if [ -n "${CLIP_MODEL:-}" ]; then
  model=$CLIP_MODEL
  labels=${CLIP_LABELS:-"a person,an empty room,a cat,a dog,a screen"}
else
  model=$clip_default_model
  labels=${CLIP_LABELS:-"bouncing ball,color bars,static noise,checkerboard,pinwheel,solid red screen,solid blue screen"}
fi
sink=${CLIP_SINK:-autovideosink}
num_buffers=${CLIP_NUM_BUFFERS:--1}

test_source=no
device=/dev/video0
for arg in "$@"; do
  case $arg in
    --test) test_source=yes ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "$0: unknown option '$arg' (see --help)" >&2; exit 2 ;;
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

set -- "$@" ! videoconvert ! \
  clipclassify "model=$model" "labels=$labels" mode=async top-k=3 \
    post-messages=true ! clipjson
if [ -n "${CLIP_OUTPUT:-}" ]; then
  set -- "$@" "location=$CLIP_OUTPUT"
fi

# clipoverlay draws the labels on the picture; queue: the display runs in
# its own thread, so a slow sink never slows the classifier's branch either.
# shellcheck disable=SC2086
clip_run "$@" ! clipoverlay ! queue ! videoconvert ! $sink
