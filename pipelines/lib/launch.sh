# launch.sh - sourced by the scripts in pipelines/, not run on its own.
#
# Finds clip-launch, the launcher every shipped pipeline runs through: unlike
# gst-launch-1.0 it always ends by itself (at EOS, on the first error, on a
# stall, or when shutting down hangs) and reports on stderr what became of
# the frames. In a source tree it also points GStreamer at the built plugin.
#
#   CLIP_LAUNCH          path of clip-launch (default: the build tree's, else
#                        the one on PATH)
#   CLIP_STALL_TIMEOUT   seconds without progress before a run is ended as
#                        failed (default 60; counted once the model is loaded)
#
# Defines: clip_root (the source tree), clip_launch (the command),
# clip_default_model, clip_run, clip_ns and clip_time_left.

clip_root=$(cd "$(dirname "$0")/.." && pwd)
clip_default_model=$clip_root/models/tiny-demo-clip
clip_stall_timeout=${CLIP_STALL_TIMEOUT:-60}

if [ -n "${CLIP_LAUNCH:-}" ]; then
  clip_launch=$CLIP_LAUNCH
elif [ -x "$clip_root/build/plugin/clip-launch" ]; then
  clip_launch=$clip_root/build/plugin/clip-launch
  GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$clip_root/build/plugin}
  export GST_PLUGIN_PATH
elif command -v clip-launch >/dev/null 2>&1; then
  clip_launch=clip-launch
else
  echo "$0: clip-launch not found: build gst-clip first (sh scripts/demo.sh)," \
    "install it, or set CLIP_LAUNCH" >&2
  exit 2
fi

# clip_run ARGS... : the pipeline description, one gst-launch word per arg
clip_run () {
  "$clip_launch" -q --stall-timeout="$clip_stall_timeout" "$@"
}

# clip_ns SECONDS NAME: SECONDS (decimals allowed) in nanoseconds, as the
# elements' time properties take them; not a number: a message naming the
# variable NAME on stderr, and exit status 2
clip_ns () {
  awk -v s="$1" -v name="$2" 'BEGIN {
    if (s !~ /^[0-9]*\.?[0-9]+$/) {
      printf "%s: not a number of seconds: %s\n", name, s > "/dev/stderr"; exit 2
    }
    printf "%.0f", s * 1e9 }'
}

# clip_time_left START FRAMES BYTES_DONE BYTES_TOTAL: the progress of a
# sweep that started at START (date +%s) and has read BYTES_DONE of
# BYTES_TOTAL: "E s elapsed, R frames/s, about L s left" (time left in
# proportion to the bytes still to read)
clip_time_left () {
  elapsed=$(( $(date +%s) - $1 ))
  rate=""
  [ "$elapsed" -gt 0 ] && rate=", $(($2 / elapsed)) frames/s"
  left="?"
  if [ "$3" -gt 0 ]; then
    left=$(( elapsed * ($4 - $3) / $3 ))
  fi
  echo "${elapsed} s elapsed$rate, about ${left} s left"
}
