#!/usr/bin/env bash
# Builds the two Go programs of `npm run bench -- --peer livekit`:
#   livekit-server  github.com/livekit/livekit-server/cmd/server at $LIVEKIT_VERSION, from the
#                   Go module proxy with its own go.mod (`go install pkg@version`, no replaces),
#   lk-load         the load client in this folder (main.go on server-sdk-go, pinned by go.sum).
#
# Binaries are cached outside the repo in $ODIN_GRID_CACHE (default ~/.cache/odin-grid) under
# livekit-<version>/bin, each with a stamp: the server's is its version and the Go version,
# the client's adds a hash of go.mod, go.sum and its sources. A warm run only checks the
# stamps. Module downloads and Go's build cache are those of the e2e control plane
# (e2e/cluster/kube/goenv.sh), so an interrupted cold build resumes where it stopped.
#
# Usage: bench/livekit/build.sh            build what is missing (progress on stderr), then
#                                            print the bin directory on stdout
#        bench/livekit/build.sh --check    exit 0 if both are built, 1 if not
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LIVEKIT_VERSION=v1.13.5 # v1.13.8+ replace pion with LiveKit forks the proxy does not serve
SDK_VERSION=v2.19.0     # server-sdk-go in go.mod (v2.20.0 did not build from the proxy)
GO_MIN_VERSION=1.26.8   # server-sdk-go v2.19.0 needs it
# shellcheck source=/dev/null
. "$here/../../e2e/cluster/kube/goenv.sh"
bin="$ODIN_CACHE_ROOT/livekit-$LIVEKIT_VERSION/bin"
log() { printf '[livekit build] %s\n' "$*" >&2; }

require_go "$GO_MIN_VERSION" "server-sdk-go $SDK_VERSION"
client_sum="$(cat "$here/go.mod" "$here/go.sum" "$here"/*.go | sha256sum | cut -c1-16)"
server_key="$LIVEKIT_VERSION $gover"
client_key="$SDK_VERSION $gover $client_sum"

is_built() { [ -x "$bin/$1" ] && [ -f "$bin/.stamp-$1" ] && [ "$(cat "$bin/.stamp-$1")" = "$2" ]; }
missing=()
is_built livekit-server "$server_key" || missing+=(livekit-server)
is_built lk-load "$client_key" || missing+=(lk-load)
if [ "${1:-}" = "--check" ]; then [ "${#missing[@]}" -eq 0 ]; exit $?; fi
if [ "${#missing[@]}" -eq 0 ]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
# One build at a time per cache (parallel runs, several checkouts).
exec 9>"$bin/../.build.lock"
if ! flock -n 9; then
  log "another build holds $bin/../.build.lock: waiting"
  flock 9
fi
# Only the script's own process cleans up (a subshell that inherits the trap must not).
cleanup() {
  [ "$BASHPID" = "$$" ] || return 0
  rm -rf "$bin"/.*.tmp "$bin/.install.tmp" || true
}
trap cleanup EXIT
for name in "${missing[@]}"; do
  start=$SECONDS
  rc=0
  if [ "$name" = livekit-server ]; then
    is_built livekit-server "$server_key" && continue # built by the holder of the lock meanwhile
    log "building livekit-server $LIVEKIT_VERSION with $gover (cold: about 3 min)"
    # `go install pkg@version` builds with the module's own go.mod, as LiveKit ships it.
    rm -rf "$bin/.install.tmp"
    (cd "$here" && GOBIN="$bin/.install.tmp" GOFLAGS="$GOFLAGS -trimpath" nice -n "${ODIN_BUILD_NICE:-10}" \
      "$GO" install -ldflags "-s -w" "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION") || rc=$?
    if [ "$rc" -eq 0 ]; then
      if [ -x "$bin/.install.tmp/server" ]; then mv -f "$bin/.install.tmp/server" "$bin/.livekit-server.tmp"; else rc=1; fi
    fi
    key="$server_key"
  else
    is_built lk-load "$client_key" && continue
    log "building lk-load (server-sdk-go $SDK_VERSION) with $gover"
    (cd "$here" && nice -n "${ODIN_BUILD_NICE:-10}" "$GO" build -mod=readonly -trimpath -ldflags "-s -w" \
      -o "$bin/.lk-load.tmp" .) || rc=$?
    key="$client_key"
  fi
  if [ "$rc" -ne 0 ]; then
    rm -rf "$bin/.$name.tmp" "$bin/.install.tmp"
    log "FAILED: $name (go exit $rc)"
    exit "$rc"
  fi
  mv -f "$bin/.$name.tmp" "$bin/$name"
  printf '%s' "$key" >"$bin/.stamp-$name"
  log "    $name built in $((SECONDS - start))s"
done
echo "$bin"
