#!/bin/sh
# Many live cameras on one model: N live 720p30 sources (imagefreeze), each into its own
# clipclassify mode=async (as pipelines/live-camera.sh runs one), all on the
# same model, for DURATION seconds. Prints, per configuration, the classified
# frames per second of each stream (least and most: fairness), the latency
# p50 and p99 of the worst stream, the frames dropped because the model was
# busy, and the aggregate classified img/s against the engine's own batch-8
# throughput on the same frames (clip-tool bench --frame, preprocessing
# included) measured in the same run.
#
#   bench/bench-streams.sh [BUILD_DIR]            (default: build)
#   STREAMS="1 2 4 8" SHARING="shared own" DURATION=20 bench/bench-streams.sh
#
# Environment (defaults):
#   MODELS      "demo b32": models/tiny-demo-clip, and a ViT-B/32 with random
#               weights made by bench/make_model.py (speed does not depend on
#               the values) in $MODEL_DIR
#   MODEL_DIR   /tmp/clipbench-models
#   STREAMS     "1 2 4 8"
#   SHARING     "shared own": shared-inference=true (one scheduler: one thread
#               pool, batches across streams) and false (each element its own
#               thread pool: what every element did before the scheduler)
#   THREADS     2 (threads= of every element; with "own", each has that many)
#   DURATION     20 (of live video per run)
#   WIDTH HEIGHT FPS  1280 720 30
#
# Not run by the tests: a benchmark needs a quiet machine. Says the CPU and
# the load average with the figures.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
MODELS=${MODELS:-"demo b32"}
MODEL_DIR=${MODEL_DIR:-/tmp/clipbench-models}
STREAMS=${STREAMS:-"1 2 4 8"}
SHARING=${SHARING:-"shared own"}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
WIDTH=${WIDTH:-1280}
HEIGHT=${HEIGHT:-720}
FPS=${FPS:-30}
LAUNCH=$BUILD/plugin/clip-launch
TOOL=$BUILD/engine/clip-tool
export GST_PLUGIN_PATH=$BUILD/plugin
LABELS="bouncing ball,color bars,static noise,a checkerboard,a black screen"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# the stream's picture: one frame of a videotestsrc pattern, repeated live
# by imagefreeze, so that making the video costs nothing (eight 720p30
# videotestsrc drawing each frame take a whole core of 2) and the figures
# are the classifier's; a real camera's decoding comes on top
pattern () {
  # shellcheck disable=SC2086
  set -- ball smpte snow checkers-8 pinwheel circular spokes gradient
  shift $(($1 % 8))
  echo "$1"
}

model_path () {
  case $1 in
    demo) echo "$ROOT/models/tiny-demo-clip" ;;
    *)
      [ -f "$MODEL_DIR/$1/config.json" ] ||
        /usr/bin/python3 "$HERE/make_model.py" "$MODEL_DIR/$1" --preset "$1" >&2
      echo "$MODEL_DIR/$1" ;;
  esac
}

echo "# $(lscpu | sed -n 's/^Model name: *//p'); $(nproc) cores;" \
  "flags: $(grep -o -w -E 'avx2|fma|avx512f|avx512_bf16|avx512_vnni|amx_tile|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; ${WIDTH}x${HEIGHT} I420 at $FPS fps, live, $DURATION s, threads=$THREADS"
echo "| model | streams | inference | classified fps per stream (min-max) | latency p50 / p99 (ms, worst stream) | dropped busy | aggregate img/s | engine batch 8 img/s | aggregate / engine | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"

for m in $MODELS; do
  dir=$(model_path "$m")
  engine=$("$TOOL" bench "$dir" --frame="${WIDTH}x${HEIGHT}:I420" -b 8 \
    -t "$THREADS" -s 5 | sed -n 's/.*"frames_per_s": \([0-9.]*\).*/\1/p')
  for n in $STREAMS; do
    for sharing in $SHARING; do
      shared=true
      [ "$sharing" = own ] && shared=false
      set --
      i=0
      while [ "$i" -lt "$n" ]; do
        set -- "$@" videotestsrc "pattern=$(pattern "$i")" num-buffers=1 ! \
          "video/x-raw,format=I420,width=$WIDTH,height=$HEIGHT,framerate=$FPS/1" ! \
          imagefreeze is-live=true "num-buffers=$((DURATION * FPS))" ! \
          clipclassify name="cam$i" "model=$dir" "labels=$LABELS" mode=async \
          "threads=$THREADS" "shared-inference=$shared" ! fakesink
        i=$((i + 1))
      done
      "$LAUNCH" -q --stall-timeout=60 "$@" >"$log" 2>&1 || {
        echo "run failed ($m, $n streams, $sharing):" >&2
        cat "$log" >&2
        exit 1
      }
      load=$(cut -d' ' -f1 /proc/loadavg)
      awk -v m="$m" -v n="$n" -v sharing="$sharing" -v secs="$DURATION" \
          -v engine="$engine" -v load="$load" '
        / frames: / {
          sub(":", "", $1); c = $4; busy += $10; total += c
          fps = c / secs
          if (min == "" || fps < min) min = fps
          if (max == "" || fps > max) max = fps
        }
        /: latency / {
          if ($6 + 0 > p50) p50 = $6 + 0
          if ($9 + 0 > p99) p99 = $9 + 0
        }
        END {
          agg = total / secs
          printf "| %s | %d | %s | %.1f-%.1f | %.0f / %.0f | %d | %.1f | %.1f | %.2f | %s |\n",
            m, n, sharing, min, max, p50, p99, busy, agg, engine,
            (engine > 0 ? agg / engine : 0), load
        }' "$log"
    done
  done
done
