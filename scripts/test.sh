#!/bin/sh
# Builds (if needed) and runs the whole test suite: meson test in ./build.
set -eu
cd "$(dirname "$0")/.."
[ -d build ] || meson setup build
meson compile -C build
meson test -C build --print-errorlogs "$@"
