#!/bin/sh
# test-demo-model.sh - end-to-end check of a trained demo model: renders
# videotestsrc frames with gst-launch-1.0, classifies them with clip-tool
# and compares the top-1 label with cases.txt. Labels are put in
# clipclassify's default template "a photo of a {}." (TEMPLATE=... to use
# another, TEMPLATE= for none). Needs no meson; does not test the GStreamer
# element (pipeline tests reuse cases.txt and labels.txt for that).
#
#   tests/e2e/test-demo-model.sh models/tiny-demo-clip build/engine/clip-tool
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 MODEL_DIR CLIP_TOOL" >&2
  exit 2
fi
model=$1
tool=$2
here=$(cd "$(dirname "$0")" && pwd)
cases=$here/cases.txt
labels=$here/labels.txt

for f in "$model/config.json" "$cases" "$labels"; do
  [ -f "$f" ] || { echo "$0: missing $f" >&2; exit 2; }
done
[ -x "$tool" ] || { echo "$0: $tool is not executable" >&2; exit 2; }
command -v gst-launch-1.0 >/dev/null ||
  { echo "$0: gst-launch-1.0 not found" >&2; exit 2; }

default_template='a photo of a {}.'
template=${TEMPLATE-$default_template}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Prints the top-1 label clip-tool gives an image.
top1() {
  if [ -n "$template" ]; then
    "$tool" classify "$model" --labels-file "$labels" --top-k 1 \
      --template "$template" "$1"
  else
    "$tool" classify "$model" --labels-file "$labels" --top-k 1 \
      --template "{}" "$1"
  fi | sed -n 's/.*"labels": \[{"label": "\([^"]*\)".*/\1/p'
}

trim() { printf '%s' "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }

passed=0
failed=0
n=0
while IFS='|' read -r expected props size; do
  case $expected in '#'* | '') continue ;; esac
  expected=$(trim "$expected")
  props=$(trim "$props")
  size=$(trim "$size")
  n=$((n + 1))
  w=${size%x*}
  h=${size#*x}
  dir=$tmp/case$n
  mkdir "$dir"
  # shellcheck disable=SC2086  # props is a list of property=value words
  if ! gst-launch-1.0 -q videotestsrc $props num-buffers=11 \
      ! "video/x-raw,width=$w,height=$h" ! videoconvert ! pngenc \
      ! multifilesink location="$dir/%02d.png" >"$dir/gst.log" 2>&1; then
    echo "FAIL $n: gst-launch-1.0 videotestsrc $props: $(cat "$dir/gst.log")"
    failed=$((failed + 1))
    continue
  fi
  got=$(top1 "$dir/10.png" 2>"$dir/err.log")
  if [ "$got" = "$expected" ]; then
    echo "ok   $n: $props $size -> $got"
    passed=$((passed + 1))
  else
    echo "FAIL $n: $props $size -> '${got:-<none>}', expected '$expected'" \
      "$(cat "$dir/err.log")"
    failed=$((failed + 1))
  fi
done <"$cases"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
