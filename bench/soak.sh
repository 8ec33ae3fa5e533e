#!/bin/sh
# soak.sh - a long 1080p run through clipclassify that reports the process's
# resident memory at the start and the end (issue: growth must stay under
# 1 MB). Not a test: run it by hand for 30 minutes or more.
#
# Usage: bench/soak.sh [MINUTES] [MODEL]   (defaults: 30, tests/data/tiny-clip)
# Needs a build in ./build (sh scripts/test.sh makes one).
set -eu
cd "$(dirname "$0")/.."
minutes=${1:-30}
model=${2:-tests/data/tiny-clip}
GST_PLUGIN_PATH="$PWD/build/plugin"
export GST_PLUGIN_PATH

gst-launch-1.0 -q videotestsrc pattern=ball is-live=false \
  ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
  ! clipclassify model="$model" labels="a ball,color bars,noise" \
  ! fakesink sync=false &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT

rss () { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
sleep 60                         # past start-up and the first allocations
start=$(rss)
echo "rss after 1 min: $start kB"
end_time=$(( $(date +%s) + 60 * (minutes - 1) ))
while [ "$(date +%s)" -lt "$end_time" ]; do
  sleep 60
  echo "rss: $(rss) kB"
done
end=$(rss)
echo "RESULT soak minutes=$minutes rss_start_kb=$start rss_end_kb=$end growth_kb=$((end - start))"
