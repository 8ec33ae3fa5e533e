#!/bin/sh
# index-archive.sh - index every video of an archive for search by text, on
# one machine or as one shard of a cluster sweep.
#
# Shows the archive use: decodebin ! videoconvert ! clipclassify ! clipindex
# per file, every Nth frame's CLIP embedding written as a float16 row of an
# index folder (img_emb/*.npy + metadata/*.jsonl + manifest.json, the layout
# clip-retrieval and autofaiss read), searched afterwards without the video:
#   clip-tool search INDEX_DIR "a red car at night"
# Each file gets its own shard, named after its path, written aside and
# renamed when complete, so an interrupted sweep never leaves half a shard.
# A rerun resumes: a file is skipped when its shard exists and was made with
# the same model, interval and precision (an index holds one model: the
# manifest refuses another). A broken file is reported on stderr and in
# INDEX_DIR/.index-archive/failed/ and the sweep goes on (exit status 1 at
# the end); no file can hang it (clip-launch). Progress (files done of
# total, frames, rate, time left) goes to stderr.
#
# Usage: index-archive.sh [--shard I/N] INPUT INDEX_DIR
#   INPUT     a folder (every file under it whose type is swept, recursively)
#             or a manifest: a text file with one path a line (relative
#             paths are relative to the manifest's folder; '#' comments)
#   --shard I/N  index only the files k with k % N == I (k: the file's place
#             in the sorted list, from 0), for a cluster sweep. Unset: from
#             SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) of
#             SLURM_ARRAY_TASK_COUNT tasks, or Kubernetes' JOB_COMPLETION_INDEX
#             of CLIP_SHARDS; else the whole list. Shards share INDEX_DIR: the
#             union of their outputs is the index, each file's rows once.
#
# Environment (all optional):
#   CLIP_MODEL       Hugging Face CLIP directory (default: models/tiny-demo-clip)
#   CLIP_INTERVAL    embed every Nth frame, counted in frames (default: 25)
#   CLIP_PRECISION   fp32, bf16 or int8 (default: fp32)
#   CLIP_THREADS     engine threads, 0 = all cores (default:
#                    SLURM_CPUS_PER_TASK, else 0)
#   CLIP_EXTENSIONS  file types swept in a folder (default: video + images)
#   CLIP_LABELS      clipclassify's labels; the index keeps embeddings only
#                    (default: "a video frame")
#   CLIP_SEGMENTS=1  in the same pass, the labels' time segments of each file
#                    (clipsegment, as pipelines/find-actions.sh writes them)
#                    in INDEX_DIR/segments/SHARD.jsonl, written aside and
#                    renamed with the shard; needs CLIP_LABELS or
#                    CLIP_LABELS_FILE. CLIP_NEGATIVES, CLIP_WINDOW,
#                    CLIP_MIN_DURATION, CLIP_MERGE_GAP as in find-actions.sh
#   CLIP_SHARDS      the shard count N that goes with JOB_COMPLETION_INDEX
#   CLIP_FORCE=1     index every file again, done or not
#
# Example:
#   CLIP_INTERVAL=50 pipelines/index-archive.sh ~/Videos ~/videos.index
#   clip-tool search ~/videos.index "a birthday cake" --top 5
set -eu

. "$(dirname "$0")/lib/launch.sh"
interval=${CLIP_INTERVAL:-25}
precision=${CLIP_PRECISION:-fp32}
threads=${CLIP_THREADS:-${SLURM_CPUS_PER_TASK:-0}}
extensions=${CLIP_EXTENSIONS:-"mp4 mkv webm mov avi ogv ogg ts mpg png jpg jpeg"}
model=${CLIP_MODEL:-$clip_default_model}
# clipclassify needs a label set even when only its embeddings are kept
labels=${CLIP_LABELS:-"a video frame"}
segments=${CLIP_SEGMENTS:-}

usage () {
  echo "usage: $0 [--shard I/N] INPUT INDEX_DIR" >&2
  exit 2
}

shard=""
case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
  --shard) [ $# -ge 2 ] || usage; shard=$2; shift 2 ;;
  --shard=*) shard=${1#--shard=}; shift ;;
esac
[ $# -eq 2 ] || usage
input=$1
index_dir=$2
if [ ! -e "$input" ]; then
  echo "$0: '$input' does not exist" >&2
  exit 2
fi
if [ ! -d "$model" ]; then
  echo "$0: CLIP_MODEL '$model' is not a model folder" >&2
  exit 2
fi
model=$(cd "$model" && pwd)
case $precision in fp32|bf16|int8) ;; *)
  echo "$0: CLIP_PRECISION must be fp32, bf16 or int8, not '$precision'" >&2
  exit 2 ;;
esac

# The shard: --shard, else the scheduler's index
if [ -z "$shard" ] && [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  if [ -z "${SLURM_ARRAY_TASK_COUNT:-}" ]; then
    echo "$0: SLURM_ARRAY_TASK_ID without SLURM_ARRAY_TASK_COUNT: give --shard I/N" >&2
    exit 2
  fi
  shard="$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))/$SLURM_ARRAY_TASK_COUNT"
elif [ -z "$shard" ] && [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  if [ -z "${CLIP_SHARDS:-}" ]; then
    echo "$0: JOB_COMPLETION_INDEX without CLIP_SHARDS (the Job's completions): set it, or give --shard I/N" >&2
    exit 2
  fi
  shard="$JOB_COMPLETION_INDEX/$CLIP_SHARDS"
fi
shard=${shard:-0/1}
shard_i=${shard%/*}
shard_n=${shard#*/}
case "$shard_i/$shard_n" in
  *[!0-9/]*|/*|*/) echo "$0: --shard must be I/N, not '$shard'" >&2; exit 2 ;;
esac
if [ "$shard_n" -lt 1 ] || [ "$shard_i" -ge "$shard_n" ]; then
  echo "$0: --shard $shard: need 0 <= I < N" >&2
  exit 2
fi

if [ -n "$segments" ]; then
  if [ -z "${CLIP_LABELS:-}" ] && [ -z "${CLIP_LABELS_FILE:-}" ]; then
    echo "$0: CLIP_SEGMENTS=1 needs CLIP_LABELS or CLIP_LABELS_FILE" >&2
    exit 2
  fi
  window=$(clip_ns "${CLIP_WINDOW:-1}" CLIP_WINDOW)
  min_duration=$(clip_ns "${CLIP_MIN_DURATION:-1}" CLIP_MIN_DURATION)
  merge_gap=$(clip_ns "${CLIP_MERGE_GAP:-1}" CLIP_MERGE_GAP)
  label_prop="labels=$labels"
  [ -z "${CLIP_LABELS_FILE:-}" ] || label_prop="labels-file=$CLIP_LABELS_FILE"
  mkdir -p "$index_dir/segments"
fi

state=$index_dir/.index-archive
mkdir -p "$index_dir" "$state/done" "$state/failed"
list=$(mktemp)
trap 'rm -f "$list"' EXIT

# The list: "path<TAB>name", name the file as the index reports it (its
# path under the folder, or the manifest's line), sorted by name
is_swept () {
  case " $extensions " in
    *" $(echo "${1##*.}" | tr '[:upper:]' '[:lower:]') "*) return 0 ;;
  esac
  return 1
}
if [ -d "$input" ]; then
  (cd "$input" && find . -type f | sed 's|^\./||') | LC_ALL=C sort |
    while IFS= read -r name; do
      is_swept "$name" && printf '%s\t%s\n' "$input/$name" "$name"
    done > "$list" || true
else
  base=$(cd "$(dirname "$input")" && pwd)
  grep -v '^[[:space:]]*\(#\|$\)' "$input" | LC_ALL=C sort |
    while IFS= read -r name; do
      case $name in /*) path=$name ;; *) path=$base/$name ;; esac
      printf '%s\t%s\n' "$path" "$name"
    done > "$list" || true
fi

# What a shard depends on besides its file: the model (the manifest checks
# its fingerprint), the interval and the precision
settings="model $model
interval $interval
precision $precision"
if [ -n "$segments" ]; then
  settings="$settings
segments $label_prop
negatives ${CLIP_NEGATIVES:-}
window $window min-duration $min_duration merge-gap $merge_gap"
fi

# A shard name from the file's name: readable, and unique by a hash of it
shard_key () {
  printf '%s-%s' "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-80)" \
    "$(printf '%s' "$1" | md5sum | cut -c1-10)"
}

n_listed=$(wc -l < "$list")
n_total=0 bytes_total=0 k=0
while IFS="$(printf '\t')" read -r path name; do
  if [ $((k % shard_n)) -eq "$shard_i" ]; then
    n_total=$((n_total + 1))
    bytes_total=$((bytes_total + $(stat -L -c %s "$path" 2>/dev/null || echo 0)))
  fi
  k=$((k + 1))
done < "$list"
echo "index-archive: shard $shard_i/$shard_n: $n_total of $n_listed files -> $index_dir" >&2

# Ctrl-C or SIGTERM (scancel) reaches clip-launch too, which ends its
# stream at EOS, so its shard would be complete but cover part of the file:
# this sweep then removes it and stops (the rerun redoes the file)
interrupted=""
trap 'interrupted=1' INT TERM

n_ok=0 n_failed=0 n_skipped=0 n_frames=0 bytes_done=0 n=0 k=-1
start=$(date +%s)
while IFS="$(printf '\t')" read -r path name; do
  k=$((k + 1))
  [ -z "$interrupted" ] || exit 143
  [ $((k % shard_n)) -eq "$shard_i" ] || continue
  n=$((n + 1))
  key=$(shard_key "$name")
  npy=$index_dir/img_emb/$key.npy
  jsonl=$index_dir/metadata/$key.jsonl
  size=$(stat -L -c %s "$path" 2>/dev/null || echo 0)

  if [ -z "${CLIP_FORCE:-}" ] && [ -f "$npy" ] && [ -f "$state/done/$key" ] &&
    [ "$(cat "$state/done/$key")" = "$settings" ]; then
    n_skipped=$((n_skipped + 1))
    bytes_total=$((bytes_total - size))
    echo "[$n/$n_total] done    $name (already indexed)" >&2
    continue
  fi

  rm -f "$state/done/$key"
  log=$state/failed/$key.log
  seg=$index_dir/segments/$key.jsonl
  # the elements after decodebin: with segments, clipsegment and a clipjson
  # of segments ride in the same pass (every label's score: top-k=0)
  if [ -n "$segments" ]; then
    set -- clipclassify "model=$model" "interval=$interval" \
      "threads=$threads" "precision=$precision" "$label_prop" \
      "negatives=${CLIP_NEGATIVES:-}" "window=$window" top-k=0 ! \
      clipsegment "min-duration=$min_duration" "merge-gap=$merge_gap" \
        post-messages=false ! \
      clipjson records=segments "location=$seg.part" !
  else
    set -- clipclassify "model=$model" "interval=$interval" \
      "threads=$threads" "precision=$precision" "labels=$labels" !
  fi
  # clip-launch without -q: its log says when a signal ended the stream
  # (EOS, so the shard would be whole but cover part of the file)
  if [ -r "$path" ] && "$clip_launch" --stall-timeout="$clip_stall_timeout" \
      --expect-frames filesrc "location=$path" ! \
      decodebin ! videoconvert ! "$@" \
      clipindex "location=$index_dir" "shard=$key" "file=$name" ! \
      fakesink </dev/null >/dev/null 2>"$log.part" &&
      ! grep -q '^clip-launch: interrupted' "$log.part" &&
      [ -z "$interrupted" ]; then
    [ -z "$segments" ] || mv "$seg.part" "$seg"
    printf '%s\n' "$settings" > "$state/done/$key"
    rm -f "$log" "$log.part"
    n_ok=$((n_ok + 1))
    frames=$(wc -l < "$jsonl")
    n_frames=$((n_frames + frames))
    status="indexed $name ($frames frames)"
  elif [ -n "$interrupted" ]; then
    rm -f "$npy" "$jsonl" "$log.part" "$seg" "$seg.part"
    echo "[$n/$n_total] interrupted during $name: its shard is removed" >&2
    exit 143
  else
    rm -f "$seg.part"
    if grep -q '^clip-launch: interrupted' "$log.part"; then
      rm -f "$npy" "$jsonl"     # whole, but of part of the file
    fi
    [ -r "$path" ] || echo "cannot read '$path'" >> "$log.part"
    mv "$log.part" "$log"
    n_failed=$((n_failed + 1))
    why=$(grep -m1 -e '^clip-launch: interrupted' -e 'ERROR' "$log" ||
      tail -n 1 "$log")
    status="FAILED  $name: $why (log: $log)"
    # an index of another model fails every file the same way: stop
    if grep -q 'made by another model' "$log"; then
      echo "[$n/$n_total] $status" >&2
      echo "index-archive: $(grep -m1 -o 'the index in .*' "$log")" >&2
      exit 1
    fi
  fi
  bytes_done=$((bytes_done + size))

  echo "[$n/$n_total] $status; $n_frames frames, $(clip_time_left "$start" \
    "$n_frames" "$bytes_done" "$bytes_total")" >&2
done < "$list"

echo "index-archive: shard $shard_i/$shard_n: $n_ok indexed, $n_skipped already done, $n_failed failed" >&2
[ $n_failed -eq 0 ]
