#!/bin/sh
# bench-e2e.sh - end-to-end encoder throughput of clip-tool bench for each
# gemm path and OPENBLAS_CORETYPE setting, repeated, reporting the median
# (and best) of the per-run medians. The machine may be shared: the load
# average before each configuration is printed beside it.
# Usage: bench/bench-e2e.sh CLIP_TOOL MODEL [REPEATS=5] [SECONDS=5] [THREADS=2]
# MODEL: e.g. /tmp/b32 from `python3 bench/make_model.py /tmp/b32 --preset b32`.
# PATHS (environment): gemm paths to compare, default "avx512 openblas".
set -eu

tool=$1
model=$2
repeats=${3:-5}
seconds=${4:-5}
threads=${5:-2}
paths=${PATHS:-avx512 openblas}

run_config () { # coretype path args...
  coretype=$1 path=$2
  shift 2
  load=$(cut -d' ' -f1 /proc/loadavg)
  values=""
  i=0
  while [ "$i" -lt "$repeats" ]; do
    if [ "$coretype" = unset ]; then
      out=$(env -u OPENBLAS_CORETYPE CLE_GEMM="$path" "$tool" --threads "$threads" bench "$model" --seconds "$seconds" "$@")
    else
      out=$(env OPENBLAS_CORETYPE="$coretype" CLE_GEMM="$path" "$tool" --threads "$threads" bench "$model" --seconds "$seconds" "$@")
    fi
    v=$(printf '%s\n' "$out" | sed -n 's/.*"\(images\|prompts\)_per_s": \([0-9.]*\).*/\2/p')
    values="$values $v"
    i=$((i + 1))
  done
  printf '%s\n' $values | sort -g | awk -v cfg="$*" -v ct="$coretype" -v p="$path" -v load="$load" '
    { v[NR] = $1 }
    END {
      med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-40s %-8s %-8s median %7.2f  best %7.2f  (n %d, load %s)\n", cfg, ct, p, med, v[NR], NR, load
    }'
}

for coretype in Haswell unset; do
  for path in $paths; do
    run_config "$coretype" "$path" --tower vision --batch 1
    run_config "$coretype" "$path" --tower vision --batch 8
    run_config "$coretype" "$path" --tower text --batch 8 --tokens 10
    run_config "$coretype" "$path" --tower text --batch 8 --tokens 77
  done
done
