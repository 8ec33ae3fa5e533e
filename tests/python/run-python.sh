#!/bin/sh
# Runs a Python test with an interpreter that has Debian's python3-gi and
# python3-gst-1.0 (/usr/bin/python3 first: a python3 earlier in PATH, from
# pyenv or a venv, usually lacks them); exit 77 (skipped) when none has.
for py in /usr/bin/python3 python3; do
  if "$py" -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst' \
    > /dev/null 2>&1; then
    exec "$py" "$@"
  fi
done
echo "SKIP: no python3 with python3-gi and python3-gst-1.0 (apt-get install python3-gst-1.0)" >&2
exit 77
