#!/bin/sh
# Measures gst-clip (clip-tool bench) and its peers, ONNX Runtime (fp32 and int8)
# and PyTorch (Debian 12's 1.13 in fp32, PyTorch 2.x in bf16), in one run on this
# machine, and prints a table of medians and ratios.
#
#   bench/run-peers.sh [BUILD_DIR]          (default: build; uses BUILD_DIR/engine/clip-tool)
#   ROUNDS=5 PRESETS="b32 b16 l14" bench/run-peers.sh build 2>&1 | tee /tmp/peers.log
#   /usr/bin/python3 bench/compare.py --markdown /tmp/peers.log   (table again, for docs)
#
# For each round, preset, OPENBLAS_CORETYPE setting and configuration it runs
# ours, then ORT, then PyTorch back to back (ours, ort, torch, ours, ort, ...), so
# that whatever else the machine does hits all of them alike; compare.py takes
# medians over the rounds and the ratios ours/ORT and ours/PyTorch of the runs of
# the same round. Configurations: vision batch 1 and 8 (VISION_BATCHES), text
# batch 1 at 77 tokens (the peers always run 77 tokens: OpenAI CLIP pads every
# prompt to 77), and ours alone on text at TEXT_TOKENS (10: a typical 5-15 token
# prompt, which our encoder runs at its real length).
# Coretypes: "haswell" runs with OPENBLAS_CORETYPE=Haswell (what this development
# machine exports), "unset" without it (OpenBLAS picks AVX-512 kernels itself, as
# on a user's machine). ORT does not use OpenBLAS; it is measured under both only
# to pair it with the others of the same round.
#
# Environment (defaults):
#   ROUNDS=3            rounds of everything
#   PRESETS=b32         shapes (b32 b16 l14 l14-336, as bench/make_model.py)
#   CORETYPES="haswell unset"
#   PEERS="ort ort-int8 torch torch2-bf16"   which peers to try; each one missing is
#                       skipped with a message:
#       ort          onnxruntime-node, fp32 towers exported by peers/export_onnx.py
#       ort-int8     the same runtime on those towers dynamically quantized to int8 by
#                    peers/quantize_onnx_int8.py (Debian's python3-onnx; ORT fuses them
#                    into DynamicQuantizeMatMul: VNNI / AMX kernels)
#       torch        Debian 12's PyTorch 1.13, fp32
#       torch2-bf16  PyTorch 2.x from Debian sid in bf16 (oneDNN: AMX / AVX512_BF16
#                    matmuls), inside the Debian 13 root at CHROOT that
#                    peers/setup_debian_chroot.sh makes (root only)
#   CHROOT=/tmp/trixie  that root
#   THREADS=2           threads of every engine
#   SECONDS_PER=3       seconds of timed calls per measurement (after 1 warm-up call)
#   PEER_REPS=3         at least this many timed calls of each peer (1 for l14 on a busy machine)
#   VISION_BATCHES      "1 8" (l14, l14-336: "1")
#   TEXT_TOKENS=10      our extra text length ("" to skip)
#   TEXT_BATCHES="1 64" batches of those prompts (a label set is encoded in batches)
#   MODELS=/tmp/clipbench-models   random checkpoints (made by bench/make_model.py if missing)
#   ONNX=/tmp/clipbench-onnx       exported peer models (made by peers/export_onnx.py if missing)
#   NODE_PATH=/tmp/ort/node_modules  where onnxruntime-node is installed:
#       mkdir -p /tmp/ort && cd /tmp/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node
#   PY=/usr/bin/python3 (Debian's: torch from python3-torch, onnx from python3-onnx, numpy)
#   PRECISIONS="fp32 bf16 int8"  ours in each (clip-tool --precision; tools ours,
#                       ours-bf16, ours-int8); the peers always run fp32
#   OURS_PASSIVE=0      1: also run ours with OMP_WAIT_POLICY=passive (tool=ours-passive),
#                       right after ours: OpenMP threads that sleep instead of spinning
#                       at the end of a parallel region, which matters on a busy machine
#   MAXWAIT=60          seconds to wait for an idle machine before each measurement
#   MAXLOAD=0.3         a measurement during which others kept more cores busy is
#                       retried (RETRIES=1 times) and counted as disturbed by compare.py
#   OUT                 a file that keeps every line printed (default: a temporary one)
#
# Not run by the tests or CI: it takes minutes (about 4 per round for b32) and
# needs an otherwise idle machine to mean anything.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-build}
TOOL=$BUILD/engine/clip-tool
ROUNDS=${ROUNDS:-3}
PRESETS=${PRESETS:-b32}
CORETYPES=${CORETYPES:-"haswell unset"}
PEERS=${PEERS-"ort ort-int8 torch torch2-bf16"}
CHROOT=${CHROOT:-/tmp/trixie}
THREADS=${THREADS:-2}
SECONDS_PER=${SECONDS_PER:-3}
TEXT_TOKENS=${TEXT_TOKENS-10}
TEXT_BATCHES=${TEXT_BATCHES:-"1 64"}
MODELS=${MODELS:-/tmp/clipbench-models}
ONNX=${ONNX:-/tmp/clipbench-onnx}
NODE_PATH=${NODE_PATH:-/tmp/ort/node_modules}
PY=${PY:-/usr/bin/python3}
MAXWAIT=${MAXWAIT:-60}
MAXLOAD=${MAXLOAD:-0.3}
RETRIES=${RETRIES:-1}
OURS_PASSIVE=${OURS_PASSIVE:-0}
PRECISIONS=${PRECISIONS:-"fp32 bf16 int8"}
PEER_REPS=${PEER_REPS:-3}
export NODE_PATH MAXWAIT

[ -x "$TOOL" ] || { echo "run-peers: no $TOOL (build it: meson setup $BUILD && ninja -C $BUILD)" >&2; exit 2; }
command -v "$PY" >/dev/null 2>&1 || PY=python3

LOG=$(mktemp)
ALL=${OUT:-$(mktemp)}
: > "$ALL"
trap 'rm -f "$LOG"; [ -n "${OUT:-}" ] || rm -f "$ALL"' EXIT

{
# ------------------------------------------------------------ what is there --
for p in $PRESETS; do
  if [ ! -f "$MODELS/$p/model.safetensors" ]; then
    echo "run-peers: writing a random $p checkpoint to $MODELS/$p"
    "$PY" "$HERE/make_model.py" "$MODELS/$p" --preset "$p" || exit 1
  fi
done

# ort_models SUFFIX: onnxruntime-node is there and every preset has
# $ONNX/$p/{vision,text}SUFFIX.onnx (exported, then quantized for -int8, if missing);
# otherwise prints why not and fails.
ort_models() {
  if ! command -v node >/dev/null 2>&1; then
    echo "no node (apt-get install nodejs npm)"; return 1
  fi
  if ! node -e "require('onnxruntime-node')" 2>/dev/null; then
    echo "onnxruntime-node not found in NODE_PATH=$NODE_PATH" \
      "(mkdir -p /tmp/ort && cd /tmp/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node)"
    return 1
  fi
  for p in $PRESETS; do
    if [ ! -f "$ONNX/$p/vision.onnx" ] || [ ! -f "$ONNX/$p/text.onnx" ]; then
      if ! "$PY" -c "import torch, onnx" 2>/dev/null; then
        echo "no $ONNX/$p/*.onnx and $PY cannot export them (needs torch and onnx:" \
          "apt-get install python3-torch python3-onnx)"
        return 1
      fi
      echo "run-peers: exporting the $p towers to $ONNX/$p" >&2
      "$PY" "$HERE/peers/export_onnx.py" "$ONNX/$p" --preset "$p" 2>/dev/null \
        | grep '^RESULT' >&2 || { echo "export of $p failed"; return 1; }
    fi
    [ -n "$1" ] || continue
    for t in vision text; do
      [ -f "$ONNX/$p/$t$1.onnx" ] && continue
      "$PY" -c "import onnx, numpy" 2>/dev/null \
        || { echo "$PY cannot import onnx (apt-get install python3-onnx)"; return 1; }
      "$PY" "$HERE/peers/quantize_onnx_int8.py" "$ONNX/$p/$t.onnx" "$ONNX/$p/$t$1.onnx" >&2 \
        || { echo "quantizing $ONNX/$p/$t.onnx failed"; return 1; }
    done
  done
}

HAVE_ORT=0 HAVE_ORT_INT8=0 HAVE_TORCH=0 HAVE_TORCH2=0
for peer in $PEERS; do
  case $peer in
  torch)
    if "$PY" -c "import torch" 2>/dev/null; then HAVE_TORCH=1
    else echo "SKIP torch: $PY cannot import torch (apt-get install python3-torch)"; fi;;
  ort)
    if why=$(ort_models ""); then HAVE_ORT=1; else echo "SKIP ort: $why"; fi;;
  ort-int8)
    if why=$(ort_models -int8); then HAVE_ORT_INT8=1; else echo "SKIP ort-int8: $why"; fi;;
  torch2-bf16)
    if [ "$(id -u)" != 0 ]; then
      echo "SKIP torch2-bf16: chroot needs root"
    elif [ ! -x "$CHROOT/usr/bin/python3" ]; then
      echo "SKIP torch2-bf16: no Debian 13 root at CHROOT=$CHROOT (sh $HERE/peers/setup_debian_chroot.sh)"
    elif ! sh "$HERE/peers/chroot_run.sh" "$CHROOT" python3 -c \
        "import torch, sys; sys.exit(int(torch.__version__.split('.')[0]) < 2)" 2>/dev/null; then
      echo "SKIP torch2-bf16: no PyTorch 2.x in $CHROOT (sh $HERE/peers/setup_debian_chroot.sh)"
    else HAVE_TORCH2=1; fi;;
  *) echo "run-peers: unknown peer '$peer' (ort, ort-int8, torch, torch2-bf16)" >&2; exit 2;;
  esac
done

res_of() { "$PY" -c "import sys; sys.path.insert(0, '$HERE/peers'); from shapes import PRESETS; print(PRESETS['$1']['res'])"; }

# The commit the build was made from (its meson source dir), "-dirty" with local changes.
SRC=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['directories']['source'])" \
  "$BUILD/meson-info/meson-info.json" 2>/dev/null || echo "$HERE/..")
echo "INFO commit=$(git -C "$SRC" describe --always --dirty --abbrev=10 2>/dev/null || echo '?')" \
  "tool=$TOOL date=$(date -u +%Y-%m-%dT%H:%MZ)"
echo "INFO cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  "flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512_bf16|avx512_vnni|avx512_fp16|amx_tile|amx_bf16|amx_int8)$' | paste -sd, -)" \
  "cores=$(nproc) threads=$THREADS rounds=$ROUNDS seconds=$SECONDS_PER" \
  "env_OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
[ "$HAVE_TORCH" = 1 ] && echo "INFO torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
[ "$HAVE_ORT$HAVE_ORT_INT8" != 00 ] && echo "INFO onnxruntime_node=$(node -e "console.log(require('onnxruntime-node').env.versions.common)" 2>/dev/null)"
[ "$HAVE_TORCH2" = 1 ] && echo "INFO torch2=$(sh "$HERE/peers/chroot_run.sh" "$CHROOT" python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)"

# -------------------------------------------------------------- measuring --
# measure TOOL PRESET TOWER BATCH TOKENS CORETYPE ROUND -- CMD...
measure() {
  tool=$1 preset=$2 tower=$3 batch=$4 tokens=$5 ct=$6 round=$7
  shift 8
  try=0
  while :; do
    sh "$HERE/peers/wait_quiet.sh"
    "$PY" "$HERE/peers/run_one.py" --tool "$tool" --preset "$preset" --tower "$tower" \
      --batch "$batch" --tokens "$tokens" --coretype "$ct" --threads "$THREADS" \
      --round "$round" -- "$@" > "$LOG"
    load=$(sed -n 's/.*others_load=\([0-9.]*\).*/\1/p' "$LOG")
    try=$((try + 1))
    if [ -n "$load" ] && [ "$try" -le "$RETRIES" ] \
       && awk -v l="$load" -v m="$MAXLOAD" 'BEGIN { exit !(l > m) }'; then
      echo "RETRY $(sed 's/^RESULT //' "$LOG")"
      continue
    fi
    cat "$LOG"
    return
  done
}

# ours PRESET TOWER BATCH TOKENS CORETYPE ROUND -- clip-tool bench arguments
ours() {
  a1=$1 a2=$2 a3=$3 a4=$4 a5=$5 a6=$6
  shift 7
  for prec in $PRECISIONS; do
    name=ours-$prec
    [ "$prec" = fp32 ] && name=ours
    measure "$name" "$a1" "$a2" "$a3" "$a4" "$a5" "$a6" -- "$TOOL" --threads "$THREADS" \
      bench --precision "$prec" "$@"
  done
  [ "$OURS_PASSIVE" = 1 ] && measure ours-passive "$a1" "$a2" "$a3" "$a4" "$a5" "$a6" -- \
    env OMP_WAIT_POLICY=passive "$TOOL" --threads "$THREADS" bench "$@"
  return 0
}

for round in $(seq "$ROUNDS"); do
  for p in $PRESETS; do
    case $p in l14*) vb=${VISION_BATCHES:-1};; *) vb=${VISION_BATCHES:-"1 8"};; esac
    res=$(res_of "$p")
    for ct in $CORETYPES; do
      for b in $vb; do
        ours "$p" vision "$b" 77 "$ct" "$round" -- "$MODELS/$p" --tower vision --batch "$b" --seconds "$SECONDS_PER"
        [ "$HAVE_ORT" = 1 ] && measure ort "$p" vision "$b" 77 "$ct" "$round" -- \
          node "$HERE/peers/bench_ort.js" --model "$ONNX/$p/vision.onnx" --res "$res" \
          --batch "$b" --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
        [ "$HAVE_ORT_INT8" = 1 ] && measure ort-int8 "$p" vision "$b" 77 "$ct" "$round" -- \
          node "$HERE/peers/bench_ort.js" --model "$ONNX/$p/vision-int8.onnx" --res "$res" \
          --batch "$b" --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
        [ "$HAVE_TORCH" = 1 ] && measure torch "$p" vision "$b" 77 "$ct" "$round" -- \
          "$PY" "$HERE/peers/bench_torch.py" --preset "$p" --tower vision --batch "$b" \
          --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
        [ "$HAVE_TORCH2" = 1 ] && measure torch2-bf16 "$p" vision "$b" 77 "$ct" "$round" -- \
          sh "$HERE/peers/chroot_run.sh" "$CHROOT" python3 /bench/bench_torch.py --dtype bf16 \
          --preset "$p" --tower vision --batch "$b" --threads "$THREADS" --reps "$PEER_REPS" \
          --min-time "$SECONDS_PER"
      done
      ours "$p" text 1 77 "$ct" "$round" -- "$MODELS/$p" --tower text --batch 1 --tokens 77 --seconds "$SECONDS_PER"
      [ "$HAVE_ORT" = 1 ] && measure ort "$p" text 1 77 "$ct" "$round" -- \
        node "$HERE/peers/bench_ort.js" --model "$ONNX/$p/text.onnx" \
        --batch 1 --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
      [ "$HAVE_ORT_INT8" = 1 ] && measure ort-int8 "$p" text 1 77 "$ct" "$round" -- \
        node "$HERE/peers/bench_ort.js" --model "$ONNX/$p/text-int8.onnx" \
        --batch 1 --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
      [ "$HAVE_TORCH" = 1 ] && measure torch "$p" text 1 77 "$ct" "$round" -- \
        "$PY" "$HERE/peers/bench_torch.py" --preset "$p" --tower text --batch 1 \
        --threads "$THREADS" --reps "$PEER_REPS" --min-time "$SECONDS_PER"
      [ "$HAVE_TORCH2" = 1 ] && measure torch2-bf16 "$p" text 1 77 "$ct" "$round" -- \
        sh "$HERE/peers/chroot_run.sh" "$CHROOT" python3 /bench/bench_torch.py --dtype bf16 \
        --preset "$p" --tower text --batch 1 --threads "$THREADS" --reps "$PEER_REPS" \
        --min-time "$SECONDS_PER"
      for tk in $TEXT_TOKENS; do
        for tb in $TEXT_BATCHES; do
          ours "$p" text "$tb" "$tk" "$ct" "$round" -- "$MODELS/$p" --tower text --batch "$tb" --tokens "$tk" --seconds "$SECONDS_PER"
        done
      done
    done
  done
done

} 2>&1 | tee "$ALL"

# The table of medians and ratios of what was just printed.
echo
"$PY" "$HERE/compare.py" "$ALL"
