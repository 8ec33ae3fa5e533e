#!/bin/sh
# bench-element.sh - clipclassify's overhead: 1080p I420 frames through the
# element (interval=1, sync mode) against the engine alone on the same
# frames (clip-tool bench --frame, cle_encode_frames, batch 1: the element
# scores one frame at a time), same threads and precision.
#
#   bench/bench-element.sh MODEL [BUILD_DIR=build] [FRAMES=120]
#   THREADS=2 PRECISION=fp32 bench/bench-element.sh /tmp/clipbench-models/b32
#
# The element's rate comes from two runs of the pipeline, FRAMES / 4 and
# FRAMES frames, so that start-up (model load, prompt encoding) cancels:
# (FRAMES - FRAMES / 4) / (t_long - t_short). The source's own cost
# (videotestsrc drawing 1080p frames) is measured the same way without the
# element and subtracted. Prints both rates and the ratio element/engine.
# Not run by the tests: it needs a quiet machine to mean anything.
set -eu
model=${1:?usage: $0 MODEL [BUILD_DIR] [FRAMES]}
build=${2:-build}
frames=${3:-120}
threads=${THREADS:-2}
precision=${PRECISION:-fp32}
short=$((frames / 4))
export GST_PLUGIN_PATH="$build/plugin"
XDG_CACHE_HOME=$(mktemp -d)     # the element's text cache, not ~/.cache
export XDG_CACHE_HOME
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT

now () { date +%s.%N; }

# seconds for N frames of the pipeline, with or without the element
run () {
  n=$1 element=$2
  t0=$(now)
  if [ "$element" = yes ]; then
    gst-launch-1.0 -q videotestsrc num-buffers="$n" pattern=ball \
      ! video/x-raw,format=I420,width=1920,height=1080 \
      ! clipclassify model="$model" labels="a dog,a cat,a ball" interval=1 \
        threads="$threads" precision="$precision" ! fakesink > /dev/null
  else
    gst-launch-1.0 -q videotestsrc num-buffers="$n" pattern=ball \
      ! video/x-raw,format=I420,width=1920,height=1080 ! fakesink > /dev/null
  fi
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

src_short=$(run "$short" no); src_long=$(run "$frames" no)
el_short=$(run "$short" yes); el_long=$(run "$frames" yes)
engine=$("$build/engine/clip-tool" --threads "$threads" bench "$model" \
  --precision "$precision" --frame 1920x1080:I420 --batch 1 --seconds 5 \
  | sed -n 's/.*"frames_per_s": \([0-9.]*\).*/\1/p')
awk -v n="$((frames - short))" -v ss="$src_short" -v sl="$src_long" \
    -v es="$el_short" -v el="$el_long" -v eng="$engine" \
    -v th="$threads" -v pr="$precision" 'BEGIN {
  src = (sl - ss) / n; all = (el - es) / n
  element = 1 / (all - src)
  printf "threads %d, precision %s, 1080p I420, batch 1\n", th, pr
  printf "source alone      %8.2f ms/frame\n", src * 1e3
  printf "element (net)     %8.2f frames/s\n", element
  printf "engine            %8.2f frames/s (clip-tool bench --frame)\n", eng
  printf "element / engine  %8.3f\n", element / eng
}'
