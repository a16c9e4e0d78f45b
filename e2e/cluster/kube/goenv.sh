# Sourced by build.sh and update.sh: the Go environment of the e2e control-plane build.
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
