# Sourced by build.sh and update.sh (and bench/livekit/build.sh, e2e/interop/build-webtransport-go.sh):
# the Go environment of the cached Go builds.
# Module downloads and the build cache live outside the repo, so a second run costs nothing.
# shellcheck shell=bash
ODIN_CACHE_ROOT="${ODIN_GRID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/odin-grid}"
if [ -z "${GO:-}" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"; else GO=/usr/local/go/bin/go; fi
fi
export GOPATH="$ODIN_CACHE_ROOT/go"
export GOMODCACHE="$GOPATH/mod"
export GOCACHE="$GOPATH/build"
export GOFLAGS="-modcacherw"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOWORK=off

# require_go MIN WHAT: exits 2 (through the caller's `log`) unless $GO is there and at least
# go MIN, which WHAT needs; sets `gover` (what `go env GOVERSION` says) for the cache keys.
require_go() {
  if [ ! -x "$GO" ] && ! command -v "$GO" >/dev/null 2>&1; then
    log "no Go toolchain found (looked for 'go' on PATH and /usr/local/go/bin/go); need go >= $1"
    exit 2
  fi
  gover="$("$GO" env GOVERSION)"
  if ! printf '%s\n%s\n' "go$1" "$gover" | sort -V -C; then
    log "$gover is too old: $2 needs go >= $1"
    exit 2
  fi
}
