#!/usr/bin/env bash
# Installs what building the native QUIC addon needs beside Rust (docs/native-quic.md): cmake and
# a C++ compiler (BoringSSL), patch (the quiche patch) and libclang (bindgen), from Debian's
# packages, when they are missing. A developer runs it once (`npm install` names it when the
# build cannot run); CI before its `npm install`, which then builds the addon.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
command -v patch >/dev/null || missing+=(patch) # prepare-quiche.sh applies the quiche patch
dpkg -s libclang1-14 >/dev/null 2>&1 || missing+=(libclang1-14)
dpkg -s libclang-common-14-dev >/dev/null 2>&1 || missing+=(libclang-common-14-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages) for the native QUIC build"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || {
  echo "the native QUIC build needs cargo (Rust 1.85 or newer): install it with rustup (https://rustup.rs)" >&2
  exit 1
}
echo "native build tools: $(cargo --version), $(cmake --version | head -1)"
