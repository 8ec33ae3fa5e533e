#!/bin/sh
# test-clip-tool.sh - runs clip-tool (path in $1) on the tiny model in the
# tests/data folder ($2): every command, the exact shape of its JSON lines
# (checked with grep -E, no python or jq), and the exit codes of bad input.

TOOL=${1:?usage: test-clip-tool.sh CLIP-TOOL TESTS-DATA-DIR}
DATA=${2:?usage: test-clip-tool.sh CLIP-TOOL TESTS-DATA-DIR}
# absolute, for the runs in another folder (run_in)
case $TOOL in /*) ;; *) TOOL=$PWD/$TOOL ;; esac
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
MODEL=$DATA/tiny-clip
IMAGES=$MODEL/reference/images

TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
OUT=$TMP/stdout
ERR=$TMP/stderr
passed=0
failed=0

# JSON pieces as extended regular expressions.
NUM='-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?'
STR='"([^"\\]|\\.)*"'
EMB="\\[$NUM(, $NUM){31}\\]"          # projection_dim of tiny-clip is 32

ok () {
  passed=$((passed + 1))
  printf "ok - %s\n" "$1"
}

not_ok () {
  failed=$((failed + 1))
  printf "not ok - %s\n" "$1"
  for f in "$OUT" "$ERR"; do
    [ -s "$f" ] && sed -n '1,5s/^/#   /p' "$f" | cut -c 1-300
  done
}

# run ARGS...: runs the tool, keeping stdout, stderr and the exit status.
run () {
  "$TOOL" "$@" >"$OUT" 2>"$ERR"
  rc=$?
}

# run_in DIR ARGS...: run, in DIR (for relative names that begin with '-').
run_in () {
  dir=$1
  shift
  (cd "$dir" && exec "$TOOL" "$@") >"$OUT" 2>"$ERR"
  rc=$?
}

# expect NAME CONDITION...: records whether the shell condition holds.
expect () {
  name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

lines () {
  wc -l <"$OUT" | tr -d ' '
}

# every_line_matches ERE: stdout is non-empty and each line matches.
every_line_matches () {
  [ -s "$OUT" ] && ! grep -Evq "^$1\$" "$OUT"
}

one_per_line () {
  awk '{ gsub (/,/, " "); for (i = 1; i <= NF; i++) print $i }' |
    grep -E "^$NUM\$"
}

# same_numbers FILE_A FILE_B TOL: the two files hold the same count of
# numbers (whitespace or commas between them) that agree within TOL,
# relative to max(1, |a|).
same_numbers () {
  one_per_line <"$1" >"$TMP/na"
  one_per_line <"$2" >"$TMP/nb"
  [ -s "$TMP/na" ] &&
    [ "$(wc -l <"$TMP/na")" -eq "$(wc -l <"$TMP/nb")" ] &&
    paste "$TMP/na" "$TMP/nb" | awk -v tol="$3" '
      { d = $1 - $2; if (d < 0) d = -d; a = $1 < 0 ? -$1 : $1;
        if (a < 1) a = 1; if (d > tol * a) bad++ }
      END { exit bad > 0 }'
}

# array KEY: the numbers of "KEY": [...] on each line of stdout.
array () {
  sed -n "s/.*\"$1\": \\[\\([^]]*\\)\\].*/\\1/p" "$OUT"
}

# f32 FILE FIRST COUNT: COUNT little-endian float32 values of FILE, from
# index FIRST.
f32 () {
  od -An -v -tf4 -j $(($2 * 4)) -N $(($3 * 4)) "$1"
}

# confidences_sum_to_one: on each line of stdout the "confidences" array
# sums to 1.
confidences_sum_to_one () {
  [ -s "$OUT" ] && awk '{
      split ($0, a, "\"confidences\": \\["); split (a[2], b, "]");
      n = split (b[1], p, ", "); s = 0;
      for (i = 1; i <= n; i++) s += p[i];
      if (s < 0.9999 || s > 1.0001) bad++ }
    END { exit bad > 0 }' "$OUT"
}

# labels_sorted: on each line the "confidence" values of "labels" never
# increase.
labels_sorted () {
  [ -s "$OUT" ] && awk '{
      n = split ($0, a, "\"confidence\": "); prev = 2; if (n < 2) bad++;
      for (i = 2; i <= n; i++) { v = a[i] + 0; if (v > prev) bad++; prev = v } }
    END { exit bad > 0 }' "$OUT"
}

not () {
  ! "$@"
}

# status_and_stderr CODE WORD: the exit status was CODE and stderr names WORD.
status_and_stderr () {
  [ "$rc" -eq "$1" ] && grep -q "$2" "$ERR"
}

# ------------------------------------------------------------- usage --
run
expect "no arguments: exit 2" [ "$rc" -eq 2 ]
expect "no arguments: usage on stderr" grep -q "Usage" "$ERR"

run --help
expect "--help: exit 0" [ "$rc" -eq 0 ]
expect "--help: commands on stdout" grep -q "embed-image" "$OUT"
for c in info tokenize preprocess embed-text embed-image classify bench; do
  expect "--help: lists $c with a summary" \
    grep -Eq "^  $c +[A-Z].*\.\$" "$OUT"
done
for o in "--threads=N" "--precision=fp32|bf16|int8" "--text-cache=DIR"; do
  expect "--help: common option $o" grep -qF -- "$o" "$OUT"
done
expect "--help: explains --" grep -qF "after '--'" "$OUT"
expect "--help: ends with a full sentence" \
  sh -c 'sed "/^\$/d" "$1" | tail -n 1 | grep -q "\.\$"' sh "$OUT"
expect "--help: no line over 79 columns" not grep -q '.\{80\}' "$OUT"

for c in info tokenize preprocess embed-text embed-image classify bench; do
  run "$c" --help
  expect "$c --help: exit 0, usage, common options, explains --" \
    sh -c '[ "$1" -eq 0 ] && grep -q "clip-tool $2 .*MODEL" "$3" &&
      grep -q -- "--precision" "$3" && grep -q -- "--text-cache" "$3" &&
      grep -qF "after '"'--'"'" "$3"' sh "$rc" "$c" "$OUT"
done
run help classify
expect "help classify: the help of classify" grep -q -- "--top-k" "$OUT"

run --precision int8 --text-cache "$TMP/tc0" info "$MODEL"
expect "common options before COMMAND: --precision, --text-cache" \
  grep -q '"precision": "int8"' "$OUT"

run frobnicate "$MODEL"
expect "unknown command: exit 2" [ "$rc" -eq 2 ]
expect "unknown command: named" grep -q "frobnicate" "$ERR"

run info "$MODEL" --no-such-option
expect "unknown option: exit 2" [ "$rc" -eq 2 ]

run info
expect "info without MODEL: exit 2" [ "$rc" -eq 2 ]

# -------------------------------------------------------------- info --
run info "$MODEL"
expect "info: exit 0" [ "$rc" -eq 0 ]
expect "info: one line" [ "$(lines)" -eq 1 ]
expect "info: projection_dim 32" grep -q '"projection_dim": 32[,}]' "$OUT"
expect "info: towers, sizes, dtype" every_line_matches \
  "\\{\"model\": $STR, \"towers\": \\[\"vision\", \"text\"\\], .*\"dtype\": \"F16\".*\"image_size\": 224, \"patch_size\": 16,.*\"context_length\": 77.*\\}"
expect "info: preprocessing" grep -Eq "\"image_mean\": \\[$NUM, $NUM, $NUM\\]" "$OUT"

run --threads 1 info "$MODEL" --towers text
expect "info --towers text: exit 0" [ "$rc" -eq 0 ]
expect "info --towers text: text fields" grep -q '"width_text": 64' "$OUT"
expect "info --towers text: no vision fields" not grep -q image_size "$OUT"

run info "$TMP/no-such-model"
expect "missing model: exit 1" [ "$rc" -eq 1 ]
expect "missing model: path on stderr" grep -q "no-such-model" "$ERR"
expect "missing model: clip-tool: prefix" grep -q "^clip-tool: " "$ERR"

# ---------------------------------------------------------- tokenize --
CAT_IDS='\[49406, 320, 1125, 539, 320, 2368, 49407\]'
run tokenize "$MODEL" "a photo of a cat"
expect "tokenize: exit 0" [ "$rc" -eq 0 ]
expect "tokenize: ids of 'a photo of a cat'" every_line_matches \
  "\\{\"text\": \"a photo of a cat\", \"ids\": $CAT_IDS\\}"

printf 'a photo of a cat\r\n\nsay "hi" \\ there\t!\n' >"$TMP/texts.txt"
run tokenize "$MODEL" --file "$TMP/texts.txt"
expect "tokenize --file: one line per text line" [ "$(lines)" -eq 3 ]
expect "tokenize --file: trailing \\r stripped" \
  grep -q "^{\"text\": \"a photo of a cat\", \"ids\": $CAT_IDS}\$" "$OUT"
expect "tokenize --file: empty line is [start, end]" \
  grep -q '^{"text": "", "ids": \[49406, 49407\]}$' "$OUT"
expect "tokenize: quotes, backslash and tab escaped" \
  grep -qF '"text": "say \"hi\" \\ there\t!"' "$OUT"

awk 'BEGIN { s = "a"; for (i = 0; i < 200; i++) s = s " cat"; print s }' \
  >"$TMP/long.txt"
run tokenize "$MODEL" --file "$TMP/long.txt"
expect "tokenize: truncated to 77 ids, end token last" \
  every_line_matches "\\{\"text\": $STR, \"ids\": \\[49406(, [0-9]+){75}, 49407\\]\\}"

printf 'ok\n\377\376bad\n' >"$TMP/bad-utf8.txt"
run tokenize "$MODEL" --file "$TMP/bad-utf8.txt"
expect "tokenize: invalid UTF-8 line: exit 1" [ "$rc" -eq 1 ]
expect "tokenize: invalid UTF-8 line: file and line named" \
  grep -q "bad-utf8.txt:2" "$ERR"

run tokenize "$MODEL"
expect "tokenize without text: exit 2" [ "$rc" -eq 2 ]

run tokenize "$MODEL" "-foo"
expect "tokenize -foo: exit 2, the error says to use --" \
  status_and_stderr 2 "use '--' before arguments that begin with '-'"
expect "tokenize -foo: the error names -foo" grep -qF "'-foo'" "$ERR"
run classify "$MODEL" --labels cat "$IMAGES/img0_224x224.png" -x.png
expect "classify -x.png: exit 2, the error says to use --" \
  status_and_stderr 2 "use '--' before"

run tokenize "$MODEL" -- "-foo" "--bar"
expect "tokenize -- -foo --bar: both are texts" every_line_matches \
  "\\{\"text\": \"-(foo|-bar)\", \"ids\": \\[49406(, [0-9]+)+, 49407\\]\\}"
expect "tokenize -- -foo --bar: two lines" [ "$(lines)" -eq 2 ]

run tokenize "$MODEL" --file "$TMP/no-such-file.txt"
expect "tokenize: missing --file: exit 1, named" \
  status_and_stderr 1 no-such-file.txt

# -------------------------------------------------------- embed-text --
run embed-text "$MODEL" "a photo of a cat" "a photo of a dog" ""
expect "embed-text: exit 0" [ "$rc" -eq 0 ]
expect "embed-text: one line per text" [ "$(lines)" -eq 3 ]
expect "embed-text: JSON with 32 numbers" every_line_matches \
  "\\{\"text\": $STR, \"embedding\": $EMB\\}"
array embedding | sed -n 1p >"$TMP/cat-args.emb"
f32 "$MODEL/reference/text_embeds.f32" 0 32 >"$TMP/cat-ref.emb"
expect "embed-text: matches the reference embedding" \
  same_numbers "$TMP/cat-args.emb" "$TMP/cat-ref.emb" 1e-3

# 150 prompts: more than two batches, output in input order.
awk 'BEGIN { for (i = 1; i <= 150; i++) print "a photo of thing number " i }' \
  >"$TMP/prompts.txt"
run embed-text "$MODEL" --batch 64 --file "$TMP/prompts.txt"
expect "embed-text --file: 150 lines" [ "$(lines)" -eq 150 ]
expect "embed-text --file: JSON with 32 numbers" every_line_matches \
  "\\{\"text\": $STR, \"embedding\": $EMB\\}"
expect "embed-text --file: in order" \
  grep -q '^{"text": "a photo of thing number 150", ' "$OUT"

printf 'a photo of a cat\n' | "$TOOL" embed-text "$MODEL" --batch 1 --file - \
  >"$OUT" 2>"$ERR"
array embedding >"$TMP/cat-stdin.emb"
expect "embed-text: batch 1 from stdin equals batched arguments" \
  same_numbers "$TMP/cat-args.emb" "$TMP/cat-stdin.emb" 1e-5

# ------------------------------------------------------- embed-image --
run embed-image "$MODEL" "$IMAGES/img0_224x224.png" "$IMAGES/img0_224x224.ppm" \
  "$IMAGES/img7_97x61.png" "$IMAGES/img5_1920x1080.png"
expect "embed-image: exit 0" [ "$rc" -eq 0 ]
expect "embed-image: one line per image" [ "$(lines)" -eq 4 ]
expect "embed-image: JSON with 32 numbers" every_line_matches \
  "\\{\"image\": $STR, \"embedding\": $EMB\\}"
array embedding | sed -n 1p >"$TMP/png.emb"
array embedding | sed -n 2p >"$TMP/ppm.emb"
expect "embed-image: PNG and PPM of one image agree" \
  same_numbers "$TMP/png.emb" "$TMP/ppm.emb" 1e-6
f32 "$MODEL/reference/image_embeds.f32" 0 32 >"$TMP/img0-ref.emb"
expect "embed-image: matches the reference embedding" \
  same_numbers "$TMP/png.emb" "$TMP/img0-ref.emb" 1e-3

run embed-image "$MODEL" "$IMAGES/img0_224x224.png" "$TMP/missing.png"
expect "embed-image: missing image: exit 1" [ "$rc" -eq 1 ]
expect "embed-image: missing image: named" grep -q "missing.png" "$ERR"
expect "embed-image: images before it still printed" [ "$(lines)" -eq 1 ]

printf 'P6\n4 4\n255\nshort' >"$TMP/truncated.ppm"
run embed-image "$MODEL" "$TMP/missing.png" "$IMAGES/img0_224x224.png" \
  "$TMP/truncated.ppm" "$IMAGES/img7_97x61.png"
expect "embed-image: missing and corrupt images: both named" \
  sh -c 'grep -q missing.png "$1" && grep -q truncated.ppm "$1"' sh "$ERR"
expect "embed-image: missing and corrupt images: exit 1, the others encoded" \
  sh -c '[ "$1" -eq 1 ] && [ "$(grep -c img0_224 "$2")" -eq 1 ] &&
    [ "$(grep -c img7_97x61 "$2")" -eq 1 ] && [ "$(wc -l <"$2")" -eq 2 ]' \
  sh "$rc" "$OUT"
run embed-image "$MODEL" "$TMP/truncated.ppm"
expect "embed-image: truncated PPM: exit 1, named" \
  status_and_stderr 1 truncated.ppm

run embed-image "$MODEL"
expect "embed-image without images: exit 2" [ "$rc" -eq 2 ]

# -------------------------------------------------------- preprocess --
run preprocess "$MODEL" "$IMAGES/img1_640x480.png" -o "$TMP/img1"
expect "preprocess: exit 0" [ "$rc" -eq 0 ]
expect "preprocess: JSON line" every_line_matches \
  "\\{\"image\": $STR, \"png\": $STR, \"f32\": $STR, \"shape\": \\[3, 224, 224\\]\\}"
expect "preprocess: OUT.png written" [ -s "$TMP/img1.png" ]
expect "preprocess: OUT.f32 is 3*224*224 floats" \
  [ "$(wc -c <"$TMP/img1.f32" | tr -d ' ')" -eq 602112 ]

run preprocess "$MODEL" "$IMAGES/img1_640x480.png"
expect "preprocess without -o: exit 2" [ "$rc" -eq 2 ]

cat "$TMP/img1.f32" "$TMP/img1.f32" >"$TMP/two.f32"
run embed-image "$MODEL" --pixel-values "$TMP/two.f32"
expect "embed-image --pixel-values: exit 0" [ "$rc" -eq 0 ]
expect "embed-image --pixel-values: one line per image" [ "$(lines)" -eq 2 ]
expect "embed-image --pixel-values: JSON" every_line_matches \
  "\\{\"image\": $STR, \"index\": [01], \"embedding\": $EMB\\}"
array embedding | sed -n 1p >"$TMP/pv.emb"
run embed-image "$MODEL" "$IMAGES/img1_640x480.png"
array embedding >"$TMP/img1.emb"
expect "embed-image: --pixel-values of preprocess output equals the image" \
  same_numbers "$TMP/pv.emb" "$TMP/img1.emb" 1e-5

head -c 1000 "$TMP/img1.f32" >"$TMP/odd.f32"
run embed-image "$MODEL" --pixel-values "$TMP/odd.f32"
expect "embed-image --pixel-values: bad size: exit 1" [ "$rc" -eq 1 ]
expect "embed-image --pixel-values: bad size: explained" \
  grep -q "odd.f32: 1000 bytes" "$ERR"

# ---------------------------------------------------------- classify --
run classify "$MODEL" --labels "cat, dog,car" --template "a photo of a {}." \
  "$IMAGES/img0_224x224.png" "$IMAGES/img3_480x640.png"
expect "classify: exit 0" [ "$rc" -eq 0 ]
expect "classify: one line per image" [ "$(lines)" -eq 2 ]
# the vocabulary of the clipjson element
L="\\{\"label\": $STR, \"label_id\": [0-2], \"confidence\": $NUM, \"logit\": $NUM, \"cosine\": $NUM\\}"
expect "classify: JSON with 3 logits, confidences, labels" every_line_matches \
  "\\{\"image\": $STR, \"logits\": \\[$NUM(, $NUM){2}\\], \"confidences\": \\[$NUM(, $NUM){2}\\], \"labels\": \\[$L(, $L){2}\\]\\}"
expect "classify: no \"prob\" field" not grep -q '"prob' "$OUT"
expect "classify: label_id is the place in --labels" \
  grep -q '{"label": "dog", "label_id": 1, ' "$OUT"
expect "classify: confidences sum to 1" confidences_sum_to_one
expect "classify: labels sorted by confidence, highest first" labels_sorted
cp "$OUT" "$TMP/classify-template.out"
expect "classify: logit = logit_scale * cosine" awk '{
    n = split ($0, a, "\"logit\": "); for (i = 2; i <= n; i++) {
      split (a[i], b, ", \"cosine\": "); l = b[1] + 0; c = b[2] + 0;
      d = l - 100.02986 * c; if (d < -1e-3 || d > 1e-3) bad++ } }
  END { exit !(n > 1 && bad == 0) }' "$OUT"

# The default template is the element's, CLE_DEFAULT_TEMPLATE.
run classify "$MODEL" --labels "cat, dog,car" --template "{}" \
  "$IMAGES/img0_224x224.png" "$IMAGES/img3_480x640.png"
cp "$OUT" "$TMP/classify-bare.out"
run classify "$MODEL" --labels "cat, dog,car" \
  "$IMAGES/img0_224x224.png" "$IMAGES/img3_480x640.png"
expect "classify: no --template is --template \"a photo of a {}.\", not {}" \
  sh -c 'cmp -s "$1" "$2" && ! cmp -s "$1" "$3"' sh "$OUT" \
  "$TMP/classify-template.out" "$TMP/classify-bare.out"
run classify "$MODEL" --help
expect "classify --help: names the default template" \
  grep -qF 'default: "a photo of a {}."' "$OUT"

run classify "$MODEL" --labels "a photo of a cat" --labels "a photo of a dog" \
  --template "{}" "$IMAGES/img0_224x224.png"
array logits >"$TMP/logits"
f32 "$MODEL/reference/logits_per_image.f32" 0 2 >"$TMP/logits-ref"
expect "classify: logits match the reference" \
  same_numbers "$TMP/logits" "$TMP/logits-ref" 1e-3

printf '# animals\ncat\n\n  dog  \r\n#car\n' >"$TMP/labels.txt"
run classify "$MODEL" --labels-file "$TMP/labels.txt" -k 1 \
  "$IMAGES/img4_300x300.png"
expect "classify --labels-file: comments and blanks skipped, --top-k 1" \
  every_line_matches "\\{\"image\": $STR, \"logits\": \\[$NUM, $NUM\\], \"confidences\": \\[$NUM, $NUM\\], \"labels\": \\[\\{\"label\": \"(cat|dog)\", \"label_id\": [01], \"confidence\": $NUM, \"logit\": $NUM, \"cosine\": $NUM\\}\\]\\}"

run classify "$MODEL" --labels "cat,dog" --template "a photo" \
  "$IMAGES/img0_224x224.png"
expect "classify: template without {}: exit 2" [ "$rc" -eq 2 ]

run classify "$MODEL" "$IMAGES/img0_224x224.png"
expect "classify without labels: exit 2" [ "$rc" -eq 2 ]

run classify "$MODEL" --labels "cat,dog" "$TMP/nope.jpg"
expect "classify: missing image: exit 1, named" status_and_stderr 1 nope.jpg

# A missing or corrupt image among others: reported, the others scored.
run classify "$MODEL" --labels "cat,dog" --batch 2 "$IMAGES/img0_224x224.png" \
  "$TMP/missing.png" "$TMP/truncated.ppm" "$IMAGES/img1_640x480.png" \
  "$IMAGES/img4_300x300.png"
expect "classify: missing and corrupt images in the middle: both named" \
  sh -c 'grep -q "missing.png.*No such file" "$1" &&
    grep -q truncated.ppm "$1"' sh "$ERR"
expect "classify: missing image in the middle: exit 1, the 3 others scored" \
  sh -c '[ "$1" -eq 1 ] && [ "$(wc -l <"$2")" -eq 3 ]' sh "$rc" "$OUT"
expect "classify: missing image in the middle: the images after it scored" \
  grep -q "img4_300x300.png" "$OUT"

# ------------------------------------ arguments that begin with '-' --
# After "--" every argument is positional, in every command.
mkdir "$TMP/dash"
ln -s "$MODEL" "$TMP/dash/-model"
cp "$IMAGES/img0_224x224.png" "$TMP/dash/-img0.png"
cp "$IMAGES/img7_97x61.png" "$TMP/dash/--img7.png"

run_in "$TMP/dash" info -- -model
expect "info -- -model: exit 0" \
  sh -c '[ "$1" -eq 0 ] && grep -q "^{\"model\": \"-model\"" "$2"' sh "$rc" "$OUT"
run_in "$TMP/dash" embed-text "$MODEL" -- -foo
expect "embed-text -- -foo: a text" every_line_matches \
  "\\{\"text\": \"-foo\", \"embedding\": $EMB\\}"
run_in "$TMP/dash" embed-image "$MODEL" -- -img0.png --img7.png
expect "embed-image -- -img0.png --img7.png: two images" every_line_matches \
  "\\{\"image\": \"--?img[07].png\", \"embedding\": $EMB\\}"
expect "embed-image -- -img0.png --img7.png: two lines" [ "$(lines)" -eq 2 ]
run_in "$TMP/dash" classify --labels cat,dog "$MODEL" -- -img0.png --img7.png
expect "classify -- -img0.png --img7.png: two images scored" \
  sh -c '[ "$1" -eq 0 ] && [ "$(grep -c "^{\"image\": \"--*img" "$2")" -eq 2 ]' \
  sh "$rc" "$OUT"
run_in "$TMP/dash" preprocess -o out "$MODEL" -- -img0.png
expect "preprocess -o out MODEL -- -img0.png: exit 0, out.f32 written" \
  sh -c '[ "$1" -eq 0 ] && [ -s "$2/dash/out.f32" ]' sh "$rc" "$TMP"
run_in "$TMP/dash" bench --batch 1 --seconds 0 -- -model
expect "bench -- -model: exit 0" \
  sh -c '[ "$1" -eq 0 ] && grep -q "\"model\": \"-model\"" "$2"' sh "$rc" "$OUT"
run_in "$TMP/dash" embed-image "$MODEL" -img0.png
expect "embed-image -img0.png (no --): exit 2, the error says to use --" \
  status_and_stderr 2 "use '--' before"

# ------------------------------------------------ one-tower checkpoints --
GEN=$DATA/gen
if [ -d "$GEN/vision-only" ] && [ -d "$GEN/text-only" ]; then
  run info "$GEN/vision-only"
  expect "info vision-only: towers [vision], projection_dim 16" \
    grep -q '"towers": \["vision"\], "projection_dim": 16,' "$OUT"
  run info "$GEN/text-only" --towers text
  expect "info text-only --towers text: towers [text]" \
    grep -q '"towers": \["text"\], "projection_dim": 16,' "$OUT"
  run info "$GEN/text-only" --towers vision
  expect "info text-only --towers vision: exit 1, config named" \
    status_and_stderr 1 "text-only/config.json"

  EMB16="\\[$NUM(, $NUM){15}\\]"
  run embed-image "$GEN/vision-only" --batch 2 \
    --pixel-values "$GEN/vision-only/reference/pixel_values.f32"
  expect "embed-image --pixel-values: 3 images of 3x64x64" every_line_matches \
    "\\{\"image\": $STR, \"index\": [012], \"embedding\": $EMB16\\}"
  array embedding >"$TMP/vo.emb"
  f32 "$GEN/vision-only/reference/image_embeds.f32" 0 48 >"$TMP/vo-ref.emb"
  expect "embed-image --pixel-values: matches the reference embeddings" \
    same_numbers "$TMP/vo.emb" "$TMP/vo-ref.emb" 1e-3

  run preprocess "$GEN/vision-only" "$IMAGES/img5_1920x1080.png" -o "$TMP/vo5"
  expect "preprocess vision-only: shape [3, 64, 64]" \
    grep -q '"shape": \[3, 64, 64\]}$' "$OUT"
  f32 "$TMP/vo5.f32" 0 12288 >"$TMP/vo5.pv"
  f32 "$GEN/vision-only/reference/pixel_values.f32" 12288 12288 >"$TMP/vo5-ref.pv"
  expect "preprocess vision-only: OUT.f32 matches the reference pixel values" \
    same_numbers "$TMP/vo5.pv" "$TMP/vo5-ref.pv" 1e-5

  run embed-text "$GEN/text-only" "a photo of a cat" "a photo of a dog"
  expect "embed-text text-only: 2 lines" [ "$(lines)" -eq 2 ]
  array embedding >"$TMP/to.emb"
  f32 "$GEN/text-only/reference/text_embeds.f32" 0 32 >"$TMP/to-ref.emb"
  expect "embed-text text-only: matches the reference embeddings" \
    same_numbers "$TMP/to.emb" "$TMP/to-ref.emb" 1e-3
fi

# ----------------------------------------------------------- adapter --
GEN=$DATA/gen/f32-gelu
run --adapter "$DATA/gen/adapters/lora" info "$GEN"
expect "--adapter before COMMAND: info names it" \
  grep -q '"adapter": "lora (adapters '"'a'"')"' "$OUT"
run embed-text "$GEN" "a photo of a cat" --adapter "$DATA/gen/adapters/peft_lora"
expect "embed-text --adapter: exit 0" [ "$rc" -eq 0 ]
expect "embed-text --adapter: one line" [ "$(lines)" -eq 1 ]
cp "$OUT" "$TMP/with-adapter"
run embed-text "$GEN" "a photo of a cat"
expect "embed-text: the adapter changes the embedding" \
  not cmp -s "$OUT" "$TMP/with-adapter"
run classify "$GEN" "$IMAGES/img1_640x480.png" --labels cat,dog \
  --adapter "$DATA/gen/adapters/bad/use_gating"
expect "classify with a bad adapter: exit 1" [ "$rc" -eq 1 ]
expect "classify with a bad adapter: says why" grep -q "use_gating" "$ERR"
run embed-image "$GEN" "$IMAGES/img1_640x480.png" \
  --adapter "$DATA/gen/adapters/bad/other_model_size"
expect "embed-image, adapter for another size: exit 1" [ "$rc" -eq 1 ]
expect "embed-image, adapter for another size: tensor and shapes" \
  grep -q "lora_A.*\[4, 64\], expected \[4, 48\]" "$ERR"

# ------------------------------------------------------------- bench --
run bench "$MODEL" --batch 2 --seconds 0 --threads 1
expect "bench vision: JSON" every_line_matches \
  "\\{\"tower\": \"vision\", .*\"batch\": 2, \"threads\": 1, \"images_per_s\": $NUM, \"ms_per_batch\": $NUM, .*\"iterations\": 1, \"openblas_coretype\": (null|$STR)\\}"

env OPENBLAS_CORETYPE=Haswell "$TOOL" bench "$MODEL" --tower text \
  --tokens 77 --batch 3 --seconds 0.05 >"$OUT" 2>"$ERR"
expect "bench text: JSON" every_line_matches \
  "\\{\"tower\": \"text\", .*\"batch\": 3, \"threads\": [0-9]+, \"tokens\": 77, \"prompts_per_s\": $NUM, \"ms_per_batch\": $NUM, .*\"iterations\": [1-9][0-9]*, \"openblas_coretype\": \"Haswell\"\\}"

run --precision int8 info "$MODEL"
expect "info: the kernel of int8 (its own, or fp32 where that is faster)" \
  grep -Eq '"kernel": "[a-z0-9]+-(int8|fp32)"' "$OUT"
env CLE_KERNEL=fp32 "$TOOL" --precision bf16 bench "$MODEL" --seconds 0 \
  >"$OUT" 2>"$ERR"
expect "bench, CLE_KERNEL=fp32: bf16 runs the fp32 kernel, nothing converted" \
  sh -c 'grep -q "\"precision\": \"bf16\", \"kernel\": \"[a-z0-9]*-fp32\"" "$1" &&
    grep -q "\"quantized_bytes\": 0," "$1"' sh "$OUT"
env CLE_KERNEL=avx9-bf16 "$TOOL" --precision bf16 info "$MODEL" >"$OUT" 2>"$ERR"
rc=$?
expect "CLE_KERNEL naming no kernel: exit 1, named" \
  sh -c '[ "$1" -eq 1 ] && grep -q "CLE_KERNEL: .avx9-bf16. is not a kernel" "$2"' \
  sh "$rc" "$ERR"

run bench "$MODEL" --tower text --tokens 78
expect "bench: --tokens beyond the context: exit 2" [ "$rc" -eq 2 ]

run bench "$MODEL" --tower audio
expect "bench: unknown tower: exit 2" [ "$rc" -eq 2 ]

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
