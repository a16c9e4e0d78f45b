#!/usr/bin/env bash
# Installs the independent WebTransport client of the interop test (e2e/interop/): aioquic and
# msgpack from PyPI, pinned, into a Python venv outside the repo, in $ODIN_GRID_CACHE (default
# ~/.cache/odin-grid) under aioquic-<versions>/. Idempotent: a machine that has it only checks
# a stamp. Needs python3 with the venv module and PyPI; nothing else is downloaded.
#
# Usage: e2e/setup/aioquic.sh          install when missing (progress on stderr), then print
#                                        the venv's python on stdout
#        e2e/setup/aioquic.sh --check  exit 0 if installed, 1 if not
set -euo pipefail
AIOQUIC_VERSION=1.7.2
MSGPACK_VERSION=1.2.4
cache="${ODIN_GRID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/odin-grid}"
venv="$cache/aioquic-$AIOQUIC_VERSION-msgpack-$MSGPACK_VERSION"
stamp="$venv/.installed"

if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  [ "${1:-}" = "--check" ] && exit 0
  echo "$venv/bin/python"
  exit 0
fi
[ "${1:-}" = "--check" ] && exit 1

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "python3 is missing: the aioquic interop test needs python3 (>= 3.10) with venv" >&2
  exit 2
fi
echo "[aioquic setup] installing aioquic $AIOQUIC_VERSION and msgpack $MSGPACK_VERSION into $venv" >&2
rm -rf "$venv.tmp"
"$python" -m venv "$venv.tmp"
"$venv.tmp/bin/pip" install --quiet --disable-pip-version-check \
  "aioquic==$AIOQUIC_VERSION" "msgpack==$MSGPACK_VERSION" >&2
rm -rf "$venv"
mv "$venv.tmp" "$venv"
# A venv records its own path in its scripts; the interpreter itself does not care, and only
# bin/python is used.
touch "$stamp"
echo "$venv/bin/python"
