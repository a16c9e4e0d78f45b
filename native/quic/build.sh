#!/usr/bin/env bash
# Builds the native QUIC addon (docs/native-quic.md): cargo compiles native/quic (quiche 0.30,
# BoringSSL from source through boring-sys, which needs cmake and libclang; quiche patched by
# prepare-quiche.sh for reset_stream_at) into
# native/quic/odin_quic.node, where server/transports/quic/nativeAddon.ts loads it.
# One target dir (native/quic/target, or $CARGO_TARGET_DIR) keeps rebuilds incremental:
# a cold build takes 6 to 20 minutes on two cores (with their load), a rebuild of the addon
# alone under one, an unchanged one a second. `npm install` runs it through install.sh.
set -euo pipefail
cd "$(dirname "$0")"
for tool in cargo cmake; do
  if ! command -v "$tool" >/dev/null; then
    echo "build:native needs $tool: bash native/quic/setup.sh installs what is missing (docs/native-quic.md)" >&2
    exit 1
  fi
done
target="${CARGO_TARGET_DIR:-target}"
# quiche with reset_stream_at, which Cargo.toml's [patch.crates-io] points at.
bash prepare-quiche.sh
cargo build --release --locked
cp "$target/release/libodin_quic.so" odin_quic.node.tmp
mv odin_quic.node.tmp odin_quic.node
echo "built $(pwd)/odin_quic.node"
