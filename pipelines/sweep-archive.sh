#!/bin/sh
# sweep-archive.sh - tag every video in a folder, one JSON Lines file each.
#
# Shows batch use over an archive: one tag-file.sh pipeline per file, in turn,
# with a sparse interval (archives are long). Each file gets its own output,
# named after the whole file name (clip.webm -> clip.webm.jsonl, so clip.webm
# and clip.ogv never collide), written aside and renamed when complete. A
# rerun resumes: it skips a file only when its output is complete, newer than
# the video, and was made with the same model, labels and interval (a change
# of any of them re-tags). A broken file is reported and the sweep goes on
# (exit status 1 at the end); no file can hang it (clip-launch). Progress
# (files done of total, frames, rate, time left) goes to stderr.
#
# Usage: sweep-archive.sh INPUT_DIR [OUTPUT_DIR]   (OUTPUT_DIR defaults to INPUT_DIR)
#
# Environment (all optional):
#   CLIP_MODEL       Hugging Face CLIP directory (default: models/tiny-demo-clip)
#   CLIP_LABELS      comma-separated labels      (default: see tag-file.sh)
#   CLIP_INTERVAL    classify every Nth frame, counted in frames: 25 is one a
#                    second at 25 fps, two a second at 50 fps (default: 25)
#   CLIP_EXTENSIONS  file types swept            (default: video + still images)
#   CLIP_FORCE=1     re-tag every file, done or not
#
# Example:
#   CLIP_LABELS="a wedding,a birthday,a beach" pipelines/sweep-archive.sh ~/Videos /tmp/tags
set -eu

. "$(dirname "$0")/lib/launch.sh"
here=$clip_root/pipelines
export CLIP_INTERVAL="${CLIP_INTERVAL:-25}"
export CLIP_MODEL="${CLIP_MODEL:-$clip_default_model}"
extensions=${CLIP_EXTENSIONS:-"mp4 mkv webm mov avi ogv ogg ts mpg png jpg jpeg"}

case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
esac
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
  echo "usage: $0 INPUT_DIR [OUTPUT_DIR]" >&2
  exit 2
fi
input_dir=$1
output_dir=${2:-$1}
stamp_dir=$output_dir/.sweep
mkdir -p "$output_dir" "$stamp_dir"

# What an output depends on: the model's files (names, sizes, times), the
# labels and the interval. An output whose stamp differs is stale.
settings=$(
  echo "model $(cd "$CLIP_MODEL" 2>/dev/null && pwd || echo "$CLIP_MODEL")"
  stat -L -c '%n %s %Y' "$CLIP_MODEL"/* 2>/dev/null || true
  echo "labels ${CLIP_LABELS:-default}"
  echo "interval $CLIP_INTERVAL"
)

is_swept () {
  case " $extensions " in
    *" $(echo "${1##*.}" | tr '[:upper:]' '[:lower:]') "*) return 0 ;;
  esac
  return 1
}

is_done () {   # is_done VIDEO OUTPUT STAMP
  [ -z "${CLIP_FORCE:-}" ] && [ -f "$2" ] && [ -f "$3" ] &&
    [ -n "$(find "$2" -newer "$1" 2>/dev/null)" ] &&
    [ "$(cat "$3")" = "$settings" ]
}

n_total=0
bytes_total=0
for path in "$input_dir"/*; do
  [ -f "$path" ] && is_swept "$path" || continue
  n_total=$((n_total + 1))
  bytes_total=$((bytes_total + $(stat -L -c %s "$path")))
done

n_ok=0 n_failed=0 n_skipped=0 n_frames=0 bytes_done=0
start=$(date +%s)
for path in "$input_dir"/*; do
  [ -f "$path" ] && is_swept "$path" || continue
  name=$(basename "$path")
  out=$output_dir/$name.jsonl
  stamp=$stamp_dir/$name.settings
  size=$(stat -L -c %s "$path")
  n=$((n_ok + n_failed + n_skipped + 1))

  if is_done "$path" "$out" "$stamp"; then
    n_skipped=$((n_skipped + 1))
    bytes_total=$((bytes_total - size))
    echo "[$n/$n_total] done    $name (already tagged)" >&2
    continue
  fi

  # a partial file is written aside and renamed, so an output that exists is
  # always a finished one; its stamp is written last
  rm -f "$stamp"
  if "$here/tag-file.sh" "$path" "$out.part" </dev/null; then
    mv "$out.part" "$out"
    printf '%s\n' "$settings" > "$stamp"
    n_ok=$((n_ok + 1))
    frames=$(wc -l < "$out")
    n_frames=$((n_frames + frames))
    status="tagged  $name -> $out ($frames frames)"
  else
    rm -f "$out.part"
    n_failed=$((n_failed + 1))
    status="FAILED  $path"
  fi
  bytes_done=$((bytes_done + size))

  echo "[$n/$n_total] $status; $(clip_time_left "$start" "$n_frames" \
    "$bytes_done" "$bytes_total")" >&2
done

echo "sweep: $n_ok tagged, $n_skipped already done, $n_failed failed" >&2
[ $n_failed -eq 0 ]
