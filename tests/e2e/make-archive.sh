#!/bin/sh
# make-archive.sh - a small video archive with known scenes, for the index
# and search tests: Ogg/Theora files of videotestsrc scenes (the patterns
# the demo model knows, tests/e2e/cases.txt), one after another in each
# file, and a truth table "file|start_ns|end_ns|label" on stdout.
#
# Usage: make-archive.sh OUT_DIR [FRAMES_PER_SCENE [LONG_FILE_FRAMES]]
#   every file has 2 scenes of FRAMES_PER_SCENE frames (default 30, 25 fps),
#   but 05-long.ogv, whose scenes have LONG_FILE_FRAMES (default: the same);
#   broken.ogv is not a video.
set -eu
out=$1
frames=${2:-30}
long=${3:-$frames}
mkdir -p "$out"

# label|videotestsrc properties, as in cases.txt
scenes="bouncing ball|pattern=ball
color bars|pattern=smpte
static noise|pattern=snow
checkerboard|pattern=checkers-8
pinwheel|pattern=pinwheel
solid red screen|pattern=red
solid blue screen|pattern=blue"
n_scenes=$(printf '%s\n' "$scenes" | wc -l)
caps="video/x-raw,width=320,height=240,framerate=25/1"

scene () {
  printf '%s\n' "$scenes" | sed -n "$(( $1 % n_scenes + 1 ))p"
}

for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
  name=$(printf '%02d' "$i")
  n=$frames
  if [ "$i" -eq 5 ]; then name="$name-long"; n=$long; fi
  a=$(scene "$i")
  b=$(scene $((i * 3 + 2)))
  [ "$a" != "$b" ] || b=$(scene $((i + 1)))
  # shellcheck disable=SC2086
  gst-launch-1.0 -q concat name=c ! videoconvert ! theoraenc ! oggmux ! \
    filesink "location=$out/$name.ogv" \
    videotestsrc ${a#*|} num-buffers=$n ! "$caps" ! c. \
    videotestsrc ${b#*|} num-buffers=$n ! "$caps" ! c. >/dev/null
  end=$((n * 40000000))
  echo "$name.ogv|0|$((end - 1))|${a%%|*}"
  echo "$name.ogv|$end|$((2 * end - 1))|${b%%|*}"
done
head -c 20000 /dev/urandom > "$out/broken.ogv"
