#!/bin/sh
# The checking kit beyond the test suite (run by CI):
#   asan     the whole suite built with AddressSanitizer + UBSan (leaks too)
#   valgrind the suite under memcheck (shell-driven tests and the
#            state-cycle element tests excluded: see meson.build)
#   fuzz     every libFuzzer target for FUZZ_SECONDS (default 30) each
#   tsan     the engine suite built with ThreadSanitizer (clang, LLVM's
#            libomp + Archer); any report fails it
#   install  meson install into a fresh prefix, then only that copy: an
#            external C program built with pkg-config, the Python example
#            through the installed typelib, gst-inspect-1.0 finding the
#            elements (scripts/test-install.sh)
#   gst126   the plugin suite built against GStreamer 1.26 in a Debian 13
#            root (debootstrap, cached; root only; slow the first time):
#            the GstAnalytics path (scripts/gst126.sh)
# Usage: scripts/check.sh asan|valgrind|fuzz|tsan|install|gst126 ...
set -eu
cd "$(dirname "$0")/.."
for what in "$@"; do
  case "$what" in
    asan)
      [ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined
      meson compile -C build-asan
      meson test -C build-asan --setup asan --print-errorlogs
      ;;
    valgrind)
      [ -d build ] || meson setup build
      meson compile -C build
      meson test -C build --setup valgrind --print-errorlogs
      ;;
    fuzz)
      [ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=enabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dplugin=disabled
      meson compile -C build-fuzz
      CLE_TEST_DATA="$PWD/tests/data"
      export CLE_TEST_DATA
      for target in tests/fuzz/corpus/*; do
        name=$(basename "$target")
        work=$(mktemp -d)
        cp "$target"/* "$work"/
        echo "fuzz-$name: ${FUZZ_SECONDS:-30} s"
        rc=0
        build-fuzz/tests/fuzz/fuzz-"$name" -max_total_time="${FUZZ_SECONDS:-30}" \
          -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" \
          "$work" > "$work.log" 2>&1 || rc=$?
        grep -E "^(Done|stat::number_of_executed_units)" "$work.log" || true
        if [ "$rc" -ne 0 ]; then
          tail -40 "$work.log"
          echo "fuzz-$name failed (exit $rc); the input is in $work"
          exit 1
        fi
        rm -f "$work.log"
        rm -rf "$work"
      done
      ;;
    tsan)
      # GCC's libgomp is not instrumented, so clang and LLVM's libomp, whose
      # Archer tool tells TSan how OpenMP barriers, reductions and tasks
      # order memory (without it every parallel region is reported).
      # -fno-sanitize-thread-func-entry-exit: clang 14 instruments the
      # resolvers of target_clones functions, which run during relocation,
      # before TSan is up, and crash; without the entry/exit hooks a report
      # shows the racing accesses' frames but not their callers.
      # The plugin is not built: GLib and GStreamer are not instrumented and
      # GMutex/GCond are GLib's own futex code, invisible to TSan, so every
      # element test would report the plugin's correctly locked state (a
      # GMutex-protected counter in two GThreads is reported); the element
      # tests exercise its threads under asan and valgrind instead.
      [ -d build-tsan ] || CC=clang meson setup build-tsan \
        -Db_sanitize=thread -Db_lundef=false -Dplugin=disabled \
        -Dc_args=-fno-sanitize-thread-func-entry-exit
      meson compile -C build-tsan
      libomp=$(ldd build-tsan/tests/engine/test-model | awk '/libomp/ { print $3 }')
      archer="$(dirname "${libomp:-/nonexistent}")/libarcher.so"
      if [ ! -f "$archer" ]; then
        echo "tsan: no Archer next to libomp ('$libomp'): the engine must link" \
          "LLVM's libomp (clang, libomp-14-dev)" >&2
        exit 1
      fi
      OMP_TOOL_LIBRARIES="$archer"
      export OMP_TOOL_LIBRARIES
      meson test -C build-tsan --setup tsan --suite engine --print-errorlogs
      ;;
    install)
      sh scripts/test-install.sh
      ;;
    gst126)
      sh scripts/gst126.sh
      ;;
    *) echo "unknown check '$what' (asan, valgrind, fuzz, tsan, install, gst126)" >&2; exit 2 ;;
  esac
done
