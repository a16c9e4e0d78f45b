#!/usr/bin/env bash
# Makes native/quic/patched/quiche: quiche 0.30.0 from crates.io with patches/ applied in order,
# which native/quic/Cargo.toml uses through `[patch.crates-io]`. quiche-0.30.0-reset-stream-at.patch
# adds draft-ietf-quic-reliable-stream-reset (the `reset_stream_at` transport parameter and
# receiving RESET_STREAM_AT frames), which the current WebTransport drafts and webtransport-go
# require and no quiche release has; quiche-0.30.0-idle-stream-buffers.patch frees a stream's
# emptied buffers (memory per idle peer, issue 17). See docs/native-quic.md.
#
# The pristine crate comes through `cargo fetch` of patches/fetch-quiche (its Cargo.lock pins the
# checksum), so it is the same file cargo would have used, and an offline or mirrored cargo
# works as it does for the rest of the build. The copy is kept while the stamp (crate version
# and patch checksum) matches; it is rebuilt whole otherwise, never patched twice.
#
# Usage: prepare-quiche.sh          make the copy when missing or stale
#        prepare-quiche.sh --check  exit 0 if up to date, 1 if not
set -euo pipefail
cd "$(dirname "$0")"
version=0.30.0
# Both overridable for test/native/prepareQuiche.test.ts (a stand-in crate and patch). The
# patches are applied in this order (the second is written against the first's result).
patch_files="${ODIN_QUICHE_PATCH:-patches/quiche-$version-reset-stream-at.patch patches/quiche-$version-idle-stream-buffers.patch}"
dest="${ODIN_QUICHE_PATCHED_DIR:-patched/quiche}"
# shellcheck disable=SC2086 # a list of paths without spaces
key="quiche-$version $(cat $patch_files | sha256sum | cut -c1-16)"
if [ -f "$dest/Cargo.toml" ] && [ -f "$dest/.odin-stamp" ] && [ "$(cat "$dest/.odin-stamp")" = "$key" ]; then
  exit 0
fi
[ "${1:-}" = "--check" ] && exit 1
for tool in cargo patch tar; do
  if ! command -v "$tool" >/dev/null; then
    echo "build:native needs $tool to prepare the patched quiche (docs/native-quic.md)" >&2
    exit 1
  fi
done
cargo fetch --locked --manifest-path patches/fetch-quiche/Cargo.toml
crate="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name "quiche-$version.crate" -print -quit 2>/dev/null || true)"
if [ -z "$crate" ]; then
  echo "cargo fetch did not leave quiche-$version.crate under ${CARGO_HOME:-$HOME/.cargo}/registry/cache" >&2
  exit 1
fi
tmp="$dest.tmp"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT # a failed extract or patch leaves nothing half-made
mkdir -p "$tmp"
tar -xzf "$crate" -C "$tmp" --strip-components=1
for patch_file in $patch_files; do
  patch --batch --forward --quiet -p1 -d "$tmp" <"$patch_file"
done
echo "$key" >"$tmp/.odin-stamp"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "prepared $dest ($key)" >&2
