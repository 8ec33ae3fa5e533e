#!/bin/sh
# Runs a command inside the Debian root of setup_debian_chroot.sh, with /proc, /sys,
# /dev and this folder (as /bench) mounted in a private mount namespace, so that
# nothing stays mounted when it ends. Root only.
#   sh bench/peers/chroot_run.sh ROOT python3 /bench/bench_torch.py --dtype bf16 ...
set -e
R=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$R/bench"
exec unshare --mount --propagation private sh -c '
  R=$1 HERE=$2
  shift 2
  for d in proc sys dev; do mount --rbind "/$d" "$R/$d"; done
  mount --bind "$HERE" "$R/bench"
  exec chroot "$R" "$@"' chroot_run "$R" "$HERE" "$@"
