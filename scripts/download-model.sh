#!/bin/sh
# Downloads a Hugging Face CLIP model directory (the files gst-clip reads)
# where the network allows it: config.json, model.safetensors (or a sharded
# index and its shards), vocab.json, merges.txt, preprocessor_config.json.
# Usage: download-model.sh REPO [DIR]   e.g. openai/clip-vit-base-patch32
set -eu
repo=${1:?usage: $0 REPO [DIR]}
dir=${2:-models/$(basename "$repo")}
base="https://huggingface.co/$repo/resolve/main"
mkdir -p "$dir"
fetch() {
  curl -fL --retry 3 -o "$dir/$1" "$base/$1"
}
for f in config.json vocab.json merges.txt preprocessor_config.json; do
  fetch "$f"
done
if ! fetch model.safetensors 2>/dev/null; then
  fetch model.safetensors.index.json
  # every shard the index names, once
  grep -o '"[^"]*\.safetensors"' "$dir/model.safetensors.index.json" \
    | tr -d '"' | sort -u | while read -r shard; do fetch "$shard"; done
fi
echo "$dir"
