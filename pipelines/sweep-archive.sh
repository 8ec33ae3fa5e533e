#!/bin/sh
# sweep-archive.sh - tag every video in a folder, one JSON Lines file each.
#
# Shows batch use over an archive: one tag-file.sh pipeline per file, in turn,
# a sparse interval (archives are long; one frame a second is plenty to find
# scenes), already-tagged files skipped so an interrupted sweep resumes, and a
# broken file reported without stopping the sweep (exit status 1 at the end).
#
# Usage: sweep-archive.sh INPUT_DIR [OUTPUT_DIR]   (OUTPUT_DIR defaults to INPUT_DIR)
#
# Environment (all optional):
#   CLIP_MODEL       Hugging Face CLIP directory (default: tests/data/tiny-clip)
#   CLIP_LABELS      comma-separated labels      (default: see tag-file.sh)
#   CLIP_INTERVAL    classify every Nth frame    (default: 25)
#   CLIP_EXTENSIONS  file types swept            (default: video + still images)
#   CLIP_FORCE=1     re-tag files whose .jsonl is newer than the video
#
# Example:
#   CLIP_LABELS="a wedding,a birthday,a beach" pipelines/sweep-archive.sh ~/Videos /tmp/tags
set -eu

here=$(cd "$(dirname "$0")" && pwd)
export CLIP_INTERVAL="${CLIP_INTERVAL:-25}"
extensions=${CLIP_EXTENSIONS:-"mp4 mkv webm mov avi ogv ogg ts mpg png jpg jpeg"}

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 INPUT_DIR [OUTPUT_DIR]" >&2
  exit 2
fi
input_dir=$1
output_dir=${2:-$1}
mkdir -p "$output_dir"

n_ok=0
n_failed=0
n_skipped=0
for path in "$input_dir"/*; do
  [ -f "$path" ] || continue
  name=$(basename "$path")
  ext=$(echo "${name##*.}" | tr '[:upper:]' '[:lower:]')
  case " $extensions " in
    *" $ext "*) ;;
    *) continue ;;
  esac

  out="$output_dir/${name%.*}.jsonl"
  if [ -z "${CLIP_FORCE:-}" ] && [ -s "$out" ] &&
    [ -n "$(find "$out" -newer "$path" 2>/dev/null)" ]; then
    n_skipped=$((n_skipped + 1))
    continue
  fi

  # a partial file is written aside and renamed, so a .jsonl that exists is
  # always a finished one (and resuming never trusts a half-done file)
  if "$here/tag-file.sh" "$path" "$out.part" </dev/null; then
    mv "$out.part" "$out"
    echo "tagged  $path -> $out" >&2
    n_ok=$((n_ok + 1))
  else
    rm -f "$out.part"
    echo "FAILED  $path" >&2
    n_failed=$((n_failed + 1))
  fi
done

echo "sweep: $n_ok tagged, $n_skipped already done, $n_failed failed" >&2
[ $n_failed -eq 0 ]
