#!/bin/sh
# Builds gst-clip against GStreamer 1.26 in a Debian 13 (trixie) root made
# by debootstrap from Debian's mirror, and runs the plugin suite there: the
# >= 1.24 path (GstAnalyticsClsMtd next to our meta) is compiled and
# tests/check/elements/clipanalytics.c checks that upstream readers
# (GstAnalyticsRelationMeta iteration, ClsMtd) see our labels and
# confidences. Run as root (scripts/check.sh gst126).
#   GST126_ROOT   where the root is kept (default /var/cache/gst-clip/trixie);
#                 made once (~400 MB), its packages updated on later runs
#   DEBIAN_MIRROR default: the first deb.debian.org-style URI apt uses here
set -eu
cd "$(dirname "$0")/.."
root=${GST126_ROOT:-/var/cache/gst-clip/trixie}
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(.*debian\)$/\1/p; s/^deb  *\(http[^ ]*debian\) .*/\1/p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
packages="gcc libc6-dev pkg-config meson ninja-build libglib2.0-dev
  libjson-glib-dev libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libcairo2-dev libpango1.0-dev
  fonts-dejavu-core gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-tools"

if [ "$(id -u)" -ne 0 ]; then
  echo "gst126: needs root (debootstrap, chroot, mount)" >&2
  exit 1
fi
if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap > /dev/null || {
    echo "gst126: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 1
  }
  echo "gst126: debootstrap trixie from $mirror into $root" >&2
  mkdir -p "$(dirname "$root")"
  rm -rf "$root.tmp"
  debootstrap --variant=minbase trixie "$root.tmp" "$mirror" >&2
  mv "$root.tmp" "$root"
fi

# /proc for the build and the tests; unmounted however this ends
mounted=""
cleanup () {
  for m in $mounted; do umount "$m" || umount -l "$m" || true; done
}
trap cleanup EXIT INT TERM
mount -t proc proc "$root/proc"
mounted="$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

stamp="$root/var/lib/gst-clip-packages"
if [ "$(cat "$stamp" 2>/dev/null)" != "$packages" ]; then
  echo "gst126: installing the build dependencies in the root" >&2
  # shellcheck disable=SC2086
  chroot "$root" sh -c 'export DEBIAN_FRONTEND=noninteractive;
    apt-get update -q && apt-get install -y -q --no-install-recommends "$@"' \
    sh $packages >&2
  printf '%s\n' "$packages" > "$stamp"
fi

# the tracked and new files of this checkout, no build trees; tar keeps
# their times, so the build there redoes only what changed
src="$root/root/gst-clip"
mkdir -p "$src"
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$src"
chroot "$root" gst-inspect-1.0 --version | sed -n 2p >&2
chroot "$root" sh -c 'cd /root/gst-clip &&
  { [ -d build ] || meson setup build > /dev/null; } &&
  pkg-config --modversion gstreamer-analytics-1.0 > /dev/null &&
  meson compile -C build -j2 > build/compile.log 2>&1 || { tail -40 build/compile.log; exit 1; }
  meson test -C build --suite plugin --no-suite pipelines --print-errorlogs'
