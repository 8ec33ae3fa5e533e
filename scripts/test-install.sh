#!/bin/sh
# meson install into a fresh prefix, then use that copy and nothing from a
# build tree: gst-inspect-1.0 finds the elements through the prefix, a
# small C program (tests/install/read-labels.c) builds with pkg-config
# against the installed header and library and reads labels, and the
# installed Python example reads them through the installed typelib
# (tests/python/test-python-example.py). scripts/check.sh install runs it.
#   PREFIX  where to install (default: build-install/prefix, emptied first)
set -eu
cd "$(dirname "$0")/.."
src=$PWD
prefix=${PREFIX:-$src/build-install/prefix}
[ -d build-install ] || meson setup build-install --prefix="$prefix" \
  --libdir=lib -Dintrospection=enabled
meson configure build-install --prefix="$prefix" > /dev/null
rm -rf "$prefix"
meson compile -C build-install
meson install -C build-install --quiet

for f in lib/gstreamer-1.0/libgstclip.so lib/libgstclipmeta-1.0.so \
  include/gstreamer-1.0/gst/clip/gstclipmeta.h \
  lib/pkgconfig/gstreamer-clipmeta-1.0.pc \
  lib/girepository-1.0/GstClip-1.0.typelib share/gir-1.0/GstClip-1.0.gir \
  share/gst-clip/examples/clip-events.py bin/clip-launch; do
  [ -e "$prefix/$f" ] || { echo "install: $prefix/$f is missing" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# only the prefix: no build tree on any search path
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib"
export GI_TYPELIB_PATH="$prefix/lib/girepository-1.0"
export GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0"
export GST_REGISTRY="$work/registry.bin"
export XDG_CACHE_HOME="$work/cache"
unset CLIP_SOURCE_ROOT GST_PLUGIN_PATH_1_0 GST_REGISTRY_1_0

for e in clipclassify clipjson clipsegment clipoverlay clipindex clippublish; do
  gst-inspect-1.0 "$e" | grep -q "$prefix/lib/gstreamer-1.0/libgstclip.so" || {
    echo "install: gst-inspect-1.0 does not find $e in $prefix" >&2; exit 1; }
done
echo "install: gst-inspect-1.0 finds clipclassify clipjson clipsegment clipoverlay clipindex clippublish in $prefix" >&2

# shellcheck disable=SC2046
${CC:-cc} -o "$work/read-labels" tests/install/read-labels.c \
  $(pkg-config --cflags --libs gstreamer-clipmeta-1.0)
"$work/read-labels" "$src/tests/data/tiny-clip" "a cat,a dog" > "$work/labels.txt"
if [ "$(wc -l < "$work/labels.txt")" -ne 5 ] ||
  ! grep -q "a cat=" "$work/labels.txt"; then
  echo "install: read-labels printed:" >&2; cat "$work/labels.txt" >&2; exit 1
fi
echo "install: an external C program read 5 frames' labels" >&2

CLIP_EVENTS="$prefix/share/gst-clip/examples/clip-events.py" \
CLIP_TEST_MODEL="$src/tests/data/tiny-clip" \
  sh tests/python/run-python.sh tests/python/test-python-example.py
