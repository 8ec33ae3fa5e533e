#!/bin/sh
# test-demo-pipeline.sh - the demo model through the clipclassify element:
# videotestsrc scenes in every pixel format the element accepts must give
# the expected top-1 label (clipjson's first entry).
#
#   tests/e2e/test-demo-pipeline.sh MODEL_DIR PLUGIN_DIR
set -u
model=${1:?usage: $0 MODEL_DIR PLUGIN_DIR}
GST_PLUGIN_PATH=${2:?usage: $0 MODEL_DIR PLUGIN_DIR}
export GST_PLUGIN_PATH
XDG_CACHE_HOME=$(mktemp -d)     # the element's text cache, not ~/.cache
export XDG_CACHE_HOME
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
labels=$(grep -v '^#' "$(dirname "$0")/labels.txt" | paste -sd, -)
passed=0
failed=0

check () {  # expected pattern format [precision]
  out=$(gst-launch-1.0 -q videotestsrc pattern="$2" num-buffers=1 \
      ! video/x-raw,width=320,height=240 ! videoconvert \
      ! video/x-raw,format="$3" \
      ! clipclassify model="$model" labels="$labels" top-k=1 \
        precision="${4:-fp32}" \
      ! clipjson ! fakesink 2>&1)
  got=$(printf '%s\n' "$out" | sed -n 's/.*"tensors":\[{"label":"\([^"]*\)".*/\1/p')
  if [ "$got" = "$1" ]; then
    passed=$((passed + 1)); echo "ok   $2 $3 ${4:-fp32} -> $got"
  else
    failed=$((failed + 1)); echo "FAIL $2 $3 ${4:-fp32} -> '$got' (want '$1'): $out"
  fi
}

for format in RGB BGR RGBA BGRA ARGB ABGR RGBx BGRx xRGB xBGR I420 NV12; do
  check "bouncing ball" ball "$format"
  check "color bars" smpte "$format"
  check "solid red screen" red "$format"
done
# (checkers-8 converted to GRAY8 reads as "static noise" to this model,
# so the gray checks use patterns it gets right in colour and in gray)
for pattern in ball:bouncing\ ball snow:static\ noise pinwheel:pinwheel; do
  check "${pattern#*:}" "${pattern%%:*}" GRAY8
done
# the faster precisions give the same labels
for precision in bf16 int8; do
  for pattern in ball:bouncing\ ball smpte:color\ bars snow:static\ noise \
      red:solid\ red\ screen pinwheel:pinwheel; do
    check "${pattern#*:}" "${pattern%%:*}" I420 "$precision"
  done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
