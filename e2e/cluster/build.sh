#!/usr/bin/env bash
# Builds the e2e control plane from the official Go modules, pinned in versions.env and in
# the wrapper modules' go.sum under kube/: kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd), kwok
# (sigs.k8s.io/kwok) and helm (helm.sh/helm).
#
# Binaries are cached outside the repo in $ODIN_GRID_CACHE (default ~/.cache/odin-grid),
# under k8s-<version>/bin, keyed by the versions, the wrapper go.mod/go.sum and the Go
# version: a warm run only checks the stamps and exits. Module downloads and Go's build
# cache live in the same root, so an interrupted cold build resumes where it stopped.
#
# Usage: e2e/cluster/build.sh            build what is missing (progress on stderr),
#                                          then print the bin directory on stdout
#        e2e/cluster/build.sh --bin-dir  only print the bin directory
#        e2e/cluster/build.sh --check    exit 0 if everything is built, 1 if not
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
# shellcheck source=/dev/null
. "$here/kube/goenv.sh"

bin="$ODIN_CACHE_ROOT/k8s-$KUBERNETES_VERSION/bin"
if [ "${1:-}" = "--bin-dir" ]; then echo "$bin"; exit 0; fi

log() { printf '[e2e-cluster build] %s\n' "$*" >&2; }

require_go "$GO_MIN_VERSION" "Kubernetes $KUBERNETES_VERSION"

sumof() { cat "$@" | sha256sum | cut -c1-16; }
k8s_key="$KUBERNETES_VERSION $gover $(sumof "$here/kube/kubernetes/go.mod" "$here/kube/kubernetes/go.sum")"
etcd_key="$ETCD_VERSION $gover $(sumof "$here/kube/etcd/go.mod" "$here/kube/etcd/go.sum")"
kwok_key="$KWOK_VERSION $gover $(sumof "$here/kube/kwok/go.mod" "$here/kube/kwok/go.sum")"
helm_key="$HELM_VERSION $gover $(sumof "$here/kube/helm/go.mod" "$here/kube/helm/go.sum")"

# name|wrapper module dir|package|stamp key
targets=(
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$k8s_key"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$k8s_key"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$k8s_key"
  "kubectl|kubernetes|k8s.io/kubernetes/cmd/kubectl|$k8s_key"
  "etcd|etcd|go.etcd.io/etcd/server/v3|$etcd_key"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|$kwok_key"
  "helm|helm|helm.sh/helm/v4/cmd/helm|$helm_key"
)

is_built() {
  [ -x "$bin/$1" ] && [ -f "$bin/.stamp-$1" ] && [ "$(cat "$bin/.stamp-$1")" = "$2" ] &&
    { [ "$1" != kwok ] || [ -f "$bin/kwok-stages.yaml" ]; }
}

# kwok needs Stage objects to drive fake nodes and pods. Like `kwokctl` does by default,
# use kwok's own stages from the pinned module: node initialise + heartbeat with lease,
# pod ready/complete/delete.
kwok_stages() {
  local dir
  dir="$(cd "$here/kube/kwok" && "$GO" list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo '---'
    cat "$dir/kustomize/stage/$f"
  done >"$bin/.kwok-stages.yaml.tmp"
  mv -f "$bin/.kwok-stages.yaml.tmp" "$bin/kwok-stages.yaml"
}

missing=()
for t in "${targets[@]}"; do
  IFS='|' read -r name _ _ key <<<"$t"
  is_built "$name" "$key" || missing+=("$t")
done
if [ "${1:-}" = "--check" ]; then [ "${#missing[@]}" -eq 0 ]; exit $?; fi
if [ "${#missing[@]}" -eq 0 ]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
# A cold build needs about 8 GiB (module downloads and Go's build cache); say so up front
# instead of failing halfway with a full disk.
avail_kib="$(df -Pk "$ODIN_CACHE_ROOT" | awk 'NR == 2 {print $4}')"
if [ -n "$avail_kib" ] && [ "$avail_kib" -lt $((9 * 1024 * 1024)) ]; then
  log "warning: only $((avail_kib / 1024)) MiB free under $ODIN_CACHE_ROOT; a cold build needs about 8 GiB"
fi
# One build at a time per cache (parallel test files, several checkouts).
exec 9>"$ODIN_CACHE_ROOT/k8s-$KUBERNETES_VERSION/.build.lock"
if ! flock -n 9; then
  log "another build holds $ODIN_CACHE_ROOT/k8s-$KUBERNETES_VERSION/.build.lock: waiting"
  flock 9
fi

k8s_minor="${KUBERNETES_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
ldflags_for() {
  case "$1" in
    kubernetes) echo "$k8s_ldflags" ;;
    kwok) echo "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBERNETES_VERSION" ;;
    helm) echo "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    *) echo "-s -w" ;;
  esac
}

total_start=$SECONDS
ticker=""
# The EXIT trap must not change the script's status: under `set -e` a failing command in it
# (kill on a ticker that is already gone) would turn a finished build into exit 1.
# A subshell killed by a signal runs the EXIT trap it inherited (bash does, before it can
# reset it), so the clean-up acts only in the script's own process: in the ticker it would
# delete the binary being built.
cleanup() {
  [ "$BASHPID" = "$$" ] || return 0
  if [ -n "$ticker" ]; then kill "$ticker" 2>/dev/null || true; fi
  rm -f "$bin"/.*.tmp || true
}
trap cleanup EXIT
log "building ${#missing[@]} binaries into $bin with $gover on $(nproc) cores (cold: many minutes)"
i=0
for t in "${missing[@]}"; do
  i=$((i + 1))
  IFS='|' read -r name mod pkg key <<<"$t"
  is_built "$name" "$key" && continue # built by the holder of the lock meanwhile
  log "[$i/${#missing[@]}] $name ($pkg)"
  start=$SECONDS
  t0="$(date +%s)"
  # The progress ticker. Its sleep must not outlive it: an orphaned `sleep 30` holds the
  # caller's stdout/stderr pipes open, so whoever reads them (a test, CI) waits for it.
  (
    nap=""
    trap '[ -z "$nap" ] || kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 >/dev/null 2>&1 &
      nap=$!
      wait "$nap" 2>/dev/null || true
      log "    ... $name: $(($(date +%s) - t0))s"
    done
  ) &
  ticker=$!
  rc=0
  (cd "$here/kube/$mod" && nice -n "${ODIN_BUILD_NICE:-10}" "$GO" build -mod=readonly -trimpath \
    -ldflags "$(ldflags_for "$mod")" -o "$bin/.$name.tmp" "$pkg") || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    rm -f "$bin/.$name.tmp"
    log "FAILED: $name (go build exit $rc)"
    exit "$rc"
  fi
  mv -f "$bin/.$name.tmp" "$bin/$name"
  if [ "$name" = kwok ]; then kwok_stages; fi
  printf '%s' "$key" >"$bin/.stamp-$name"
  log "    $name built in $((SECONDS - start))s"
done
log "all built in $((SECONDS - total_start))s; cache: $(du -sh "$ODIN_CACHE_ROOT" 2>/dev/null | cut -f1) in $ODIN_CACHE_ROOT"
echo "$bin"
