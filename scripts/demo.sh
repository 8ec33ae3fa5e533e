#!/bin/sh
# The README's first command: installs the Debian packages, builds gst-clip,
# then tags three videotestsrc scenes with clipclassify and prints one JSON
# line per classified frame (clipjson). Pass --no-install to skip apt-get.
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--no-install" ]; then
  sh scripts/install-deps.sh
fi
[ -d build ] || meson setup build
meson compile -C build

# The plugin straight from the build tree (meson install puts it where
# GStreamer looks by itself).
GST_PLUGIN_PATH="$PWD/build/plugin"
export GST_PLUGIN_PATH

model=models/tiny-demo-clip
labels="bouncing ball,color bars,static noise,checkerboard,pinwheel,solid red screen,solid blue screen"
if [ ! -d "$model" ]; then
  model=tests/data/tiny-clip   # random weights: the labels are noise
fi
for pattern in ball smpte snow; do
  echo "# videotestsrc pattern=$pattern" >&2
  build/plugin/clip-launch -q videotestsrc pattern="$pattern" num-buffers=4 \
    ! video/x-raw,width=320,height=240,framerate=10/1 \
    ! clipclassify model="$model" labels="$labels" top-k=3 \
    ! clipjson ! fakesink
done
