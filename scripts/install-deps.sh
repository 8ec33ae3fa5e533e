#!/bin/sh
# Installs what gst-clip needs to build and test on Debian 12 (run as root,
# or it uses sudo). Only Debian's own packages; nothing from elsewhere.
#   --dev   also the checking tools: clang + libFuzzer, valgrind, Slurm +
#           munge for the cluster sweep test (tests/slurm; apt starts no
#           daemon where policy-rc.d forbids it, and the test runs its own),
#           the mosquitto broker and clients (clippublish's test starts its
#           own on loopback; on a systemd machine without such a policy
#           Debian enables the mosquitto service: systemctl disable --now
#           mosquitto), and debootstrap (scripts/check.sh gst126)
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
EXTRA=""
if [ "${1:-}" = "--dev" ]; then
  EXTRA="clang libclang-rt-14-dev libomp-14-dev valgrind
    slurmctld slurmd slurm-client munge mosquitto mosquitto-clients debootstrap"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends \
  gcc libc6-dev pkg-config meson ninja-build \
  libglib2.0-dev libjson-glib-dev libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev \
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
  libcairo2-dev libpango1.0-dev fonts-dejavu-core \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gobject-introspection libgirepository1.0-dev python3-gi python3-gst-1.0 \
  libmosquitto-dev \
  $EXTRA
