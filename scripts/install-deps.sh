#!/bin/sh
# Installs what gst-clip needs to build and test on Debian 12 (run as root,
# or it uses sudo). Only Debian's own packages; no downloads from elsewhere.
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  gcc libc6-dev pkg-config meson ninja-build \
  libglib2.0-dev libjson-glib-dev libopenblas-dev libpng-dev libjpeg-dev \
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
