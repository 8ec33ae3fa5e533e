#!/bin/sh
# watch-cameras.sh - several live cameras on one model: when does each label
# start and end on each camera, drawn on the video and sent as events.
#
# Every camera gets its own clipclassify (mode=async: the video is never held
# up), all on the same model, so they share one loaded copy and one
# inference scheduler (one thread pool, frames of all cameras batched
# together). clipsegment turns each camera's labels into segments ("a truck
# from 12.4 s to 31.0 s"), clipoverlay draws the labels on its video, and
# each finished segment is a JSON line in OUT_DIR/cameraK.jsonl and, with
# CLIP_MQTT_HOST set, an MQTT message on CLIP_MQTT_TOPIC/cameraK. The run
# ends by itself when every camera has stopped, or at the first error
# (clip-launch); stderr says how many frames of each camera were classified.
#
# Usage: watch-cameras.sh [--test N] OUT_DIR [CAMERA...]
#   CAMERA     a V4L2 device (/dev/video0) or a URI uridecodebin plays
#              (rtsp://..., http://..., file:///...); cameraK is the Kth, from 0
#   --test N   N live test sources as well (no camera needed), after the
#              cameras, each showing another videotestsrc pattern the demo
#              model knows (ball, smpte, snow, checkers-8, pinwheel, ...)
#
# Environment (all optional):
#   CLIP_MODEL        Hugging Face CLIP directory  (default: models/tiny-demo-clip)
#   CLIP_LABELS       comma-separated labels       (default: the demo model's
#                     patterns with the demo model, else a few street scenes)
#   CLIP_NEGATIVES    comma-separated prompts that end a segment, never reported
#   CLIP_INTERVAL     classify every Nth frame of each camera (default 3)
#   CLIP_WINDOW       seconds of frames pooled per label (default 1)
#   CLIP_MIN_DURATION shortest segment reported, seconds (default 1)
#   CLIP_MQTT_HOST, CLIP_MQTT_PORT, CLIP_MQTT_TOPIC (default gst-clip)
#   CLIP_SINK         video sink of each camera    (default autovideosink)
#   CLIP_NUM_BUFFERS  stop after N frames, test sources only (default: endless)
#   CLIP_STALL_TIMEOUT  seconds without frames before giving up (default 60)
#
# Example:
#   CLIP_MODEL=~/models/clip-vit-base-patch32 \
#   CLIP_LABELS="a truck at the gate,a car at the gate,an empty gate" \
#     pipelines/watch-cameras.sh /var/log/gates rtsp://cam1/stream rtsp://cam2/stream
set -eu

. "$(dirname "$0")/lib/launch.sh"
demo_patterns="ball smpte snow checkers-8 pinwheel circular spokes"
if [ -n "${CLIP_MODEL:-}" ]; then
  model=$CLIP_MODEL
  labels=${CLIP_LABELS:-"a truck,a car,a person,an empty street"}
else
  model=$clip_default_model
  labels=${CLIP_LABELS:-"a bouncing ball,color bars,static noise,a checkerboard,a pinwheel,concentric circles,spokes"}
fi
sink=${CLIP_SINK:-autovideosink}
num_buffers=${CLIP_NUM_BUFFERS:--1}
interval=${CLIP_INTERVAL:-3}
topic=${CLIP_MQTT_TOPIC:-gst-clip}

window=$(clip_ns "${CLIP_WINDOW:-1}" CLIP_WINDOW)
min_duration=$(clip_ns "${CLIP_MIN_DURATION:-1}" CLIP_MIN_DURATION)

n_test=0
case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
  --test)
    n_test=${2:-}
    case $n_test in
      ''|*[!0-9]*|0) echo "$0: --test takes a number of sources" >&2; exit 2 ;;
    esac
    shift 2 ;;
  -*) echo "$0: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
if [ $# -lt 1 ]; then
  echo "usage: $0 [--test N] OUT_DIR [CAMERA...]" >&2
  exit 2
fi
out_dir=$1
shift
if [ "$n_test" -eq 0 ] && [ $# -eq 0 ]; then
  echo "$0: no camera given (or --test N)" >&2
  exit 2
fi
mkdir -p "$out_dir"

# The cameras, one per line: "test PATTERN", "v4l2 DEVICE" or "uri URI".
list_cameras () {
  for camera in "$@"; do
    case $camera in
      *://*) echo "uri $camera" ;;
      *) echo "v4l2 $camera" ;;
    esac
  done
  i=0
  while [ "$i" -lt "$n_test" ]; do
    # shellcheck disable=SC2086
    set -- $demo_patterns
    shift $((i % $#))
    echo "test $1"
    i=$((i + 1))
  done
}
cameras=$(list_cameras "$@")

# One branch per camera, in the positional parameters.
set --
k=0
while read -r kind what; do
  case $kind in
    test) set -- "$@" videotestsrc is-live=true "pattern=$what" \
        "num-buffers=$num_buffers" ! \
        video/x-raw,width=640,height=480,framerate=30/1 ;;
    v4l2) set -- "$@" v4l2src "device=$what" ;;
    uri) set -- "$@" uridecodebin "uri=$what" ;;
  esac
  set -- "$@" ! videoconvert ! \
    clipclassify "name=camera$k" "model=$model" "labels=$labels" \
      "negatives=${CLIP_NEGATIVES:-}" mode=async "interval=$interval" \
      "window=$window" top-k=0 ! \
    clipsegment "min-duration=$min_duration" ! \
    clipjson records=segments "location=$out_dir/camera$k.jsonl"
  if [ -n "${CLIP_MQTT_HOST:-}" ]; then
    set -- "$@" ! clippublish "host=$CLIP_MQTT_HOST" \
      "port=${CLIP_MQTT_PORT:-1883}" "topic=$topic/camera$k"
  fi
  # queue: a slow display never slows the classifier's branch
  # shellcheck disable=SC2086
  set -- "$@" ! clipoverlay ! queue ! videoconvert ! $sink
  k=$((k + 1))
done <<EOF
$cameras
EOF

clip_run "$@"
