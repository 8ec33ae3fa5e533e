#!/bin/sh
# bench-element.sh - issue target 6: clipclassify at interval=1 against the
# engine alone at the same batch size (1), 1080p. Waits for a quiet machine
# (peers/wait_quiet.sh), then runs bench-element (bench/bench-element.c): one
# process, the same frame pushed through appsrc ! clipclassify ! fakesink and
# encoded by the engine directly, in alternating rounds; per-round figures,
# a JSON line with the medians and the median ratio element / engine, and a
# summary line.
#
#   bench/bench-element.sh MODEL [BUILD_DIR=build] [FRAMES=200]
#   THREADS=2 PRECISION=fp32 ROUNDS=5 FORMAT=I420 \
#     bench/bench-element.sh /tmp/clipbench-models/b32
#
# Not run by the tests: it needs a quiet machine to mean anything.
set -eu
model=${1:?usage: $0 MODEL [BUILD_DIR] [FRAMES]}
build=${2:-build}
frames=${3:-200}
prog="$build/bench/bench-element"
if [ ! -x "$prog" ]; then
  echo "$0: $prog not built (ninja -C $build bench/bench-element)" >&2
  exit 1
fi
sh "$(dirname "$0")/peers/wait_quiet.sh"
exec "$prog" "$model" --threads "${THREADS:-2}" \
  --precision "${PRECISION:-fp32}" --frames "$frames" \
  --rounds "${ROUNDS:-5}" --format "${FORMAT:-I420}"
