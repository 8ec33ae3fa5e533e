#!/bin/sh
# test-search-archive.sh - index a small archive of known scenes with
# pipelines/index-archive.sh, then ask clip-tool search for every label, as
# a new user would: for a label found in S scenes, each of its S best
# moments must lie inside a scene of that label (best_pts, start and end),
# for at least 90% of all moments asked. Also: the rerun skips every file,
# the broken file is reported and skipped, an image query, two --shard
# halves in two folders merged by clip-tool index-merge equal the
# one-folder index, segments in the same pass, usage errors exit 2, and an index of another model is
# refused with a message saying so.
# Usage: test-search-archive.sh SOURCE_ROOT CLIP_TOOL
set -eu
root=$1
clip_tool=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail () { echo "FAIL: $*" >&2; exit 1; }

"$root/tests/e2e/make-archive.sh" "$dir/archive" 30 > "$dir/truth.txt"
export CLIP_MODEL="$root/models/tiny-demo-clip" CLIP_INTERVAL=3
if "$root/pipelines/index-archive.sh" "$dir/archive" "$dir/index" \
    2> "$dir/sweep.log"; then
  fail "the sweep of an archive with a broken file succeeded"
fi
grep -q 'FAILED  broken.ogv' "$dir/sweep.log" ||
  fail "broken.ogv not reported: $(cat "$dir/sweep.log")"
grep -q '12 indexed, 0 already done, 1 failed' "$dir/sweep.log" ||
  fail "sweep summary: $(tail -n 1 "$dir/sweep.log")"
"$root/pipelines/index-archive.sh" "$dir/archive" "$dir/index" \
  2> "$dir/rerun.log" || true
grep -q '0 indexed, 12 already done, 1 failed' "$dir/rerun.log" ||
  fail "rerun: $(tail -n 1 "$dir/rerun.log")"

n_ok=0 n_all=0
cut -d'|' -f4 "$dir/truth.txt" | sort -u > "$dir/labels.txt"
while IFS= read -r label; do
  n=$(grep -c "|$label\$" "$dir/truth.txt")
  "$clip_tool" search "$dir/index" --top "$n" -- "$label" > "$dir/hits.jsonl"
  # one line per moment: file start end best_pts
  sed 's/.*"file":"\([^"]*\)","start":\([0-9]*\),"end":\([0-9]*\),.*"best_pts":\([0-9]*\).*/\1 \2 \3 \4/' \
    "$dir/hits.jsonl" > "$dir/moments.txt"
  while read -r file start end best; do
    n_all=$((n_all + 1))
    if awk -F'|' -v f="$file" -v s="$start" -v e="$end" -v b="$best" \
        -v l="$label" '$1 == f && $4 == l && $2 <= s && e <= $3 &&
          $2 <= b && b <= $3 { found = 1 } END { exit !found }' \
        "$dir/truth.txt"; then
      n_ok=$((n_ok + 1))
    else
      echo "miss: '$label' -> $file [$start, $end] best $best" >&2
    fi
  done < "$dir/moments.txt"
done < "$dir/labels.txt"
echo "search: $n_ok of $n_all moments inside a true scene of their label"
[ "$n_all" -gt 0 ] && [ $((n_ok * 100)) -ge $((n_all * 90)) ] ||
  fail "fewer than 90% of the moments in their scenes"

# an image query: a frame of the red scenes finds a red scene first
gst-launch-1.0 -q videotestsrc pattern=red num-buffers=1 ! \
  video/x-raw,width=320,height=240 ! videoconvert ! pngenc ! \
  filesink "location=$dir/red.png"
"$clip_tool" search "$dir/index" --top 1 --image "$dir/red.png" > "$dir/image.jsonl"
set -- $(sed 's/.*"file":"\([^"]*\)".*"best_pts":\([0-9]*\).*/\1 \2/' "$dir/image.jsonl")
awk -F'|' -v f="$1" -v b="$2" '$1 == f && $4 == "solid red screen" &&
    $2 <= b && b <= $3 { found = 1 } END { exit !found }' "$dir/truth.txt" ||
  fail "--image red.png: $(cat "$dir/image.jsonl")"
echo "image query: $(cat "$dir/image.jsonl")"

# the same sweep as two shards into two folders, merged: the same index
for i in 0 1; do
  "$root/pipelines/index-archive.sh" --shard "$i/2" "$dir/archive" \
    "$dir/part$i" 2> /dev/null || true
done
"$clip_tool" index-merge "$dir/merged" "$dir/part0" "$dir/part1" > /dev/null ||
  fail "index-merge failed"
for sub in img_emb metadata manifest.json; do
  diff -r "$dir/index/$sub" "$dir/merged/$sub" > /dev/null ||
    fail "merged $sub differs from the one-folder sweep's"
done
"$clip_tool" index-merge "$dir/merged" "$dir/part1" | grep -q '"shards_already_there":6' ||
  fail "merging a folder twice copied it again"
echo "index-merge: two shard folders = the one-folder index"

# segments in the same pass (CLIP_SEGMENTS=1): a segments file per video,
# and the very same index
CLIP_SEGMENTS=1 CLIP_LABELS="pinwheel,solid red screen,bouncing ball" \
  "$root/pipelines/index-archive.sh" "$dir/archive" "$dir/segidx" \
  2> /dev/null || true
[ "$(ls "$dir/segidx/segments" | grep -c '\.jsonl$')" -eq 12 ] ||
  fail "CLIP_SEGMENTS=1: not 12 segment files: $(ls "$dir/segidx/segments")"
grep -q '"type":"segment","label":"pinwheel"' "$dir"/segidx/segments/03.ogv-*.jsonl ||
  fail "CLIP_SEGMENTS=1: no pinwheel segment in 03.ogv"
for sub in img_emb metadata; do
  diff -r "$dir/index/$sub" "$dir/segidx/$sub" > /dev/null ||
    fail "CLIP_SEGMENTS=1 changed the index ($sub)"
done
echo "segments: one file per video, the same index"

# usage errors: exit status 2
for args in "" "--top 0 x" "--template nobraces x"; do
  # shellcheck disable=SC2086
  if "$clip_tool" search "$dir/index" $args > /dev/null 2>&1; then
    fail "search '$args' succeeded"
  elif [ $? -ne 2 ]; then
    fail "search '$args': exit status other than 2"
  fi
done

# another model: refused, and the message says so
if "$clip_tool" search "$dir/index" --model "$root/tests/data/tiny-clip" \
    -- "pinwheel" > /dev/null 2> "$dir/refused.txt"; then
  fail "an index of another model was searched"
fi
grep -q 'made by another model' "$dir/refused.txt" ||
  fail "refusal message: $(cat "$dir/refused.txt")"
echo "ok"
