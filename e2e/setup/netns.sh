#!/usr/bin/env bash
# Installs what the no-UDP browser test (e2e/sdk/web-sdk-tcp.test.ts) uses to build its network
# namespace, when missing: `ip` (iproute2), `nft` (nftables), `unshare` (util-linux).
# Idempotent: a machine that has them only pays for `command -v`. Needs root and Debian's mirror.
set -euo pipefail

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${missing[*]}; installing needs root: run 'sudo $0' (apt-get install ${missing[*]})" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "installing Debian's ${missing[*]} (apt-get)" >&2
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
