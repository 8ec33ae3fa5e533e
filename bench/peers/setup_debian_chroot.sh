#!/bin/sh
# A Debian 13 (trixie) root with PyTorch 2.x from sid, for bench/run-peers.sh's
# torch2-bf16 peer (Debian 12's PyTorch 1.13 has no oneDNN bf16 matmuls: AMX /
# AVX512_BF16). Everything comes from Debian's own archive through debootstrap and
# apt; ~2.5 GB, a few minutes. Run as root:
#   sh bench/peers/setup_debian_chroot.sh [ROOT]     (default /tmp/trixie)
set -e
R=${1:-${CHROOT:-/tmp/trixie}}
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap
[ -x "$R/usr/bin/apt-get" ] || debootstrap --variant=minbase trixie "$R" "$MIRROR"
cp /etc/resolv.conf "$R/etc/resolv.conf"
echo "deb $MIRROR sid main" > "$R/etc/apt/sources.list.d/sid.list"
# sid's Release file can look expired to a VM whose clock drifted
chroot "$R" apt-get -o Acquire::Check-Valid-Until=false update
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  -t sid python3-torch python3-numpy libopenblas0-openmp
chroot "$R" python3 -c "import torch; print('setup_debian_chroot: torch', torch.__version__)"
