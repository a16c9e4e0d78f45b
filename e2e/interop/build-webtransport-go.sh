#!/usr/bin/env bash
# Builds the webtransport-go interop client (e2e/interop/webtransport-go/, pinned in its go.mod
# and go.sum) from the Go module proxy, like e2e/cluster/build.sh builds the control plane:
# the binary is cached in $ODIN_GRID_CACHE (default ~/.cache/odin-grid) under
# interop/webtransport-go/, keyed by the module files and the Go version; a warm run only
# checks the stamp. Module downloads and the build cache are shared with the cluster build.
#
# Usage: build-webtransport-go.sh          build when missing, print the binary's path
#        build-webtransport-go.sh --check  exit 0 if built, 1 if not
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/../cluster/kube/goenv.sh"
src="$here/webtransport-go"
out="$ODIN_CACHE_ROOT/interop/webtransport-go"
bin="$out/webtransport-go-probe"

if [ ! -x "$GO" ] && ! command -v "$GO" >/dev/null 2>&1; then
  echo "no Go toolchain found (looked for 'go' on PATH and /usr/local/go/bin/go)" >&2
  exit 2
fi
key="$("$GO" env GOVERSION) $(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
if [ -x "$bin" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ]; then
  [ "${1:-}" = "--check" ] && exit 0
  echo "$bin"
  exit 0
fi
[ "${1:-}" = "--check" ] && exit 1
mkdir -p "$out"
echo "[webtransport-go build] building the interop client (quic-go + webtransport-go, about a minute cold)" >&2
(cd "$src" && "$GO" build -mod=readonly -trimpath -o "$bin.tmp" .)
mv -f "$bin.tmp" "$bin"
echo "$key" >"$out/.stamp"
echo "$bin"
