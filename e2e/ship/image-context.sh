#!/usr/bin/env bash
# What of the container image can be checked without a Docker engine (there is none on the
# CI machines): the Dockerfile's build context and its production install, run from a clean
# directory exactly as the image lays it out.
#
#   bash e2e/ship/image-context.sh
#
# 1. The context: the tracked files the .dockerignore allow-list lets through (package.json,
#    package-lock.json, patches/, common/, server/, operator/), copied to a temp dir.
# 2. Stage 1: `ODIN_SKIP_NATIVE_BUILD=1 npm install --omit=dev` there (not `npm ci`:
#    npm/cli#9846, see .ci/run); no devDependency may be installed.
# 1b. Stage native: the Dockerfile builds the addon with native/quic/build.sh; here the addon
#    `npm install` built in this checkout stands in for it (the same build.sh), copied where
#    the runtime stage puts it.
# 3. Stage 2: `grid` and `odin-operator` as links to the .ts entry points, on Node 24 (the
#    image's base); `--help`, `grid check` and a real `grid` start with a mounted-style config
#    (examples/config/standalone.toml, certificate paths at /etc/grid/tls rewritten to a temp
#    dir), answering /readyz, its [quic] on the native engine (the default).
# Not checked here: the image build itself (so not the rust image's build of the addon either),
# the base image, the user 10001 inside it, EXPOSE.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
node_bin="$(dirname "$(readlink -f node_modules/.bin/node)")"
export PATH="$node_bin:$PATH"
[[ "$(node --version)" == v24.* ]] || { echo "need Node 24 (npm install first)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/odin-image-XXXXXX")
pid=
# Never fails: a failing command in an EXIT trap under `set -e` would become the exit status.
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp" || true
}
trap cleanup EXIT
fail() { echo "image-context: $*" >&2; exit 1; }

echo "== build context (.dockerignore allow-list)"
app="$tmp/app"
mkdir -p "$app"
git ls-files -z package.json package-lock.json patches common server operator |
  grep -zv -e '\.test\.ts$' -e '/\.grid-dev/' | xargs -0 cp --parents -t "$app"
for p in package.json package-lock.json patches common server operator; do
  grep -q "^!$p/\?$" .dockerignore || fail ".dockerignore does not allow $p"
  grep -q "^COPY $p\b\|^COPY .*\b$p\b" Dockerfile || fail "Dockerfile does not copy $p"
done
echo "   $(find "$app" -type f | wc -l) files, $(du -sh "$app" | cut -f1)"
# Nothing in the image may import from outside common/, server/ and operator/.
if grep -rnE "from '(\.\./)+(client|bench|test|e2e|docs)/" "$app/common" "$app/server" "$app/operator"; then
  fail "an import leaves the image's sources"
fi

echo "== stage 1: npm install --omit=dev"
grep -q '^RUN ODIN_SKIP_NATIVE_BUILD=1 npm install --omit=dev' Dockerfile ||
  fail "the Dockerfile's npm install must skip the native build (ODIN_SKIP_NATIVE_BUILD=1): its stage has no native/quic"
(cd "$app" && ODIN_SKIP_NATIVE_BUILD=1 npm install --omit=dev --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1) ||
  { cat "$tmp/npm.log"; fail "npm install --omit=dev failed"; }
for dev in typescript @biomejs/biome esbuild playwright-core @4players/odin node; do
  [[ ! -e "$app/node_modules/$dev" ]] || fail "devDependency $dev was installed"
done
echo "   node_modules: $(du -sh "$app/node_modules" | cut -f1)"

echo "== stage native: the addon (built here by npm install, in the image by its native stage)"
grep -q 'bash build.sh' Dockerfile || fail "the Dockerfile's native stage does not run native/quic/build.sh"
grep -q '^COPY --from=native /odin_quic.node ./native/quic/odin_quic.node' Dockerfile ||
  fail "the Dockerfile does not copy the addon to native/quic/odin_quic.node"
[[ -f native/quic/odin_quic.node ]] ||
  fail "native/quic/odin_quic.node is not built: run \`bash native/quic/setup.sh && npm run build:native\` (docs/native-quic.md)"
mkdir -p "$app/native/quic"
cp native/quic/odin_quic.node "$app/native/quic/odin_quic.node"

echo "== stage 2: entry points"
mkdir -p "$tmp/bin"
chmod 0755 "$app/server/main.ts" "$app/operator/main.ts"
ln -s "$app/server/main.ts" "$tmp/bin/grid"
ln -s "$app/operator/main.ts" "$tmp/bin/odin-operator"
cd "$tmp"
"$tmp/bin/grid" --help | head -1
"$tmp/bin/odin-operator" --help | head -1

echo "== grid with a mounted config (examples/config/standalone.toml)"
mkdir -p "$tmp/etc/grid/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -keyout "$tmp/etc/grid/tls/tls.key" -out "$tmp/etc/grid/tls/tls.crt" 2>/dev/null
sed "s#/etc/grid/#$tmp/etc/grid/#g" "$repo/examples/config/standalone.toml" >"$tmp/etc/grid/config.toml"
"$tmp/bin/grid" check --config "$tmp/etc/grid/config.toml" >/dev/null
port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
web=$(port); rtc=$(port); metrics=$(port)
GRID_HTTP_BINDING="127.0.0.1:$web" GRID_QUIC_BINDING="127.0.0.1:$web" GRID_HTTP_WEBRTC_BINDING="127.0.0.1:$rtc" \
  GRID_METRICS_BINDING="127.0.0.1:$metrics" NODE_ENV=production \
  "$tmp/bin/grid" --config "$tmp/etc/grid/config.toml" >"$tmp/grid.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/grid.log"; fail "grid exited"; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null || { cat "$tmp/grid.log"; fail "grid not ready"; }
curl -fsS "http://127.0.0.1:$metrics/metrics" | grep -q '^grid_' || fail "no grid_ metrics"
grep -q 'native engine' "$tmp/grid.log" || { cat "$tmp/grid.log"; fail "[quic] is not on the native engine"; }
kill -TERM "$pid"
wait "$pid" || fail "grid did not exit 0 on SIGTERM"
pid=
echo "image-context: ok (the image build itself was not run: no Docker engine here)"
