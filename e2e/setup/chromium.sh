#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) for the browser tests (e2e/sdk), when missing.
# Idempotent: a machine that has it only pays for `command -v`. Needs root (CI runs as root)
# and Debian's package mirror; nothing is downloaded by a test tool (no `playwright install`).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing and installing it needs root: run 'sudo $0' (apt-get install chromium)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "installing Debian's chromium (apt-get)" >&2
# apt's own lock (another install running at the same time) is waited for, up to 5 minutes.
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
command -v chromium >/dev/null
chromium --version >&2
