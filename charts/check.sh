#!/usr/bin/env bash
# Static checks of the Helm chart, for CI (.ci/run) and by hand: helm lint, helm template
# with the defaults and with every optional part on, values.schema.json rejecting wrong
# values, and the chart's CRD being the generated one (crds/). The rendered manifests are
# validated against the real API server (server-side dry run) by e2e/ship/ship.test.ts.
#
#   bash charts/check.sh            # HELM=/path/to/helm to use another binary
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
chart=charts/odin-operator

if [[ -z "${HELM:-}" ]]; then
  # The helm that e2e/cluster/build.sh builds (a pinned v4 release from the Go modules).
  HELM="${ODIN_E2E_BIN_DIR:-$(bash e2e/cluster/build.sh --bin-dir)}/helm"
  [[ -x "$HELM" ]] || bash e2e/cluster/build.sh
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" || true' EXIT
export HELM_CACHE_HOME="$tmp/cache" HELM_CONFIG_HOME="$tmp/config" HELM_DATA_HOME="$tmp/data"

fail() { echo "charts/check.sh: $*" >&2; exit 1; }

echo "== the chart's CRD is the generated one"
cmp -s crds/odinservers.odin-grid.io.yaml "$chart/crds/odinservers.odin-grid.io.yaml" ||
  fail "$chart/crds/ differs from crds/: cp crds/*.yaml $chart/crds/"

echo "== helm lint"
"$HELM" lint --strict "$chart"
"$HELM" lint --strict "$chart" -f "$chart/ci/full-values.yaml"

echo "== helm template"
"$HELM" template odin-operator "$chart" -n odin-system >"$tmp/default.yaml"
"$HELM" template odin-operator "$chart" -n odin-system -f "$chart/ci/full-values.yaml" >"$tmp/full.yaml"
for kind in ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding Service Deployment; do
  grep -q "^kind: $kind$" "$tmp/default.yaml" || fail "default render has no $kind"
done
for kind in ServiceMonitor PodMonitor NetworkPolicy OdinServer; do
  grep -q "^kind: $kind$" "$tmp/full.yaml" || fail "full render has no $kind"
done
grep -q 'readOnlyRootFilesystem: true' "$tmp/default.yaml" || fail "root filesystem not read-only"
grep -q 'path: /leader' "$tmp/full.yaml" || fail "several replicas: readiness is not on /leader"
grep -q -- '--license-issuers=' "$tmp/full.yaml" || fail "licenseIssuers not passed to the operator"
grep -q -- '--license-issuers' "$tmp/default.yaml" && fail "no licenseIssuers, yet --license-issuers rendered"
"$HELM" template odin-operator "$chart" -n odin-system --set 'watchNamespaces={games,lobby}' >"$tmp/ns.yaml"
[ "$(grep -c '^kind: Role$' "$tmp/ns.yaml")" = 3 ] || fail "watchNamespaces: expected a Role in games, lobby and the Lease's"
grep -q -- '--watch-namespaces=games,lobby' "$tmp/ns.yaml" || fail "watchNamespaces: not passed to the operator"

echo "== the grid NetworkPolicy lets players in: webrtc on UDP and TCP (ICE-TCP), QUIC on UDP only"
gridpolicy() { "$HELM" template x "$chart" -n odin-system --show-only templates/gridnetworkpolicy.yaml "$@"; }
gridpolicy -f "$chart/ci/full-values.yaml" >"$tmp/np.yaml"
for rule in '{ port: 4433, protocol: TCP }' '{ port: 8844, protocol: UDP }' '{ port: 8844, protocol: TCP }' '{ port: 9000, protocol: TCP }'; do
  grep -qF -- "- $rule" "$tmp/np.yaml" || fail "grid NetworkPolicy lacks $rule"
done
grep -q 'kubernetes.io/metadata.name: monitoring' "$tmp/np.yaml" || fail "grid NetworkPolicy: metrics not limited to metricsFrom"
np() { gridpolicy --set networkPolicy.enabled=true --set 'odinServers[0].name=v' "$@" >"$tmp/np.yaml"; }
np --set 'odinServers[0].spec.config.quic.idle_timeout=1000' --set 'odinServers[0].spec.networking.ports.quic=4500'
grep -qF -- '- { port: 4500, protocol: UDP }' "$tmp/np.yaml" || fail "grid NetworkPolicy: no QUIC port"
grep -qF -- '- { port: 4500, protocol: TCP }' "$tmp/np.yaml" && fail "grid NetworkPolicy: QUIC opened on TCP"
np --set 'odinServers[0].spec.networking.webrtcTcp=false'
grep -qF -- '- { port: 8844, protocol: TCP }' "$tmp/np.yaml" && fail "grid NetworkPolicy: webrtcTcp=false, yet TCP 8844"
grep -qF -- '- { port: 8844, protocol: UDP }' "$tmp/np.yaml" || fail "grid NetworkPolicy: webrtcTcp=false lost UDP 8844"
np --set 'odinServers[0].spec.networking.mode=PortRange' --set 'odinServers[0].spec.networking.portRange.max=7099'
for proto in TCP UDP; do
  grep -qF -- "- { port: 7000, endPort: 7099, protocol: $proto }" "$tmp/np.yaml" || fail "grid NetworkPolicy: PortRange range not open on $proto"
done

echo "== values.schema.json rejects wrong values"
reject() {
  if "$HELM" template x "$chart" "$@" >/dev/null 2>"$tmp/err"; then fail "accepted: $*"; fi
  grep -q 'values don.t meet the specifications of the schema\|at ' "$tmp/err" || { cat "$tmp/err"; fail "no schema error for: $*"; }
}
reject --set replicaCount=0
reject --set unknownValue=1
reject --set connectService.type=Ingress
reject --set service.type=LoadBalancer
reject --set image.pullPolicy=Sometimes
reject --set service.supervisorPort=70000
reject --set 'odinServers[0].name=Bad_Name' --set 'odinServers[0].spec.replicas=1'
reject --set metrics.podMonitor.interval=soon
reject --set 'licenseIssuers[0]=not-a-key'
reject --set 'watchNamespaces={Bad_NS}'
echo "charts/check.sh: ok ($root/$chart)"
