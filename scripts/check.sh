#!/bin/sh
# The checking kit beyond the test suite (run by CI):
#   asan     the whole suite built with AddressSanitizer + UBSan (leaks too)
#   valgrind the suite under memcheck (shell-driven tests and the two
#            100-cycle element tests excluded: see meson.build)
#   fuzz     every libFuzzer target for FUZZ_SECONDS (default 30) each
# Usage: scripts/check.sh asan|valgrind|fuzz ...
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
    *) echo "unknown check '$what' (asan, valgrind, fuzz)" >&2; exit 2 ;;
  esac
done
